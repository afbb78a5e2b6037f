// The "requirement" object of a kernel.lock entry: what a kernel was resolved
// from (docs/formats.md). One typed home for the keys every reader needs: the
// resolver (is the entry still current? which dependency is it?), the bundler
// (which refs to write), the Python lock writer (its dependency spelling).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "kernel_lock/core/variant.hpp"

namespace kernel_lock {

// One accepted signer of a kernel's builds (kernels.yaml `signers:`): the
// certificate must carry exactly this issuer and source repository, and one of
// the build signer URIs (any one matches; empty = any workflow of that repository).
struct SignerRule {
  std::string issuer;
  std::string source_repository;
  std::vector<std::string> build_signer_uris;
  friend bool operator==(const SignerRule&, const SignerRule&) = default;
};

// What a kernel's signatures must satisfy (docs/trust.md "Policy"):
// `signers` (any one rule matches; empty = the default for the kernel's org),
// `allow_unsigned` (variants without a signature are accepted, with a warning),
// `require_signature` (a variant without a signature is an error, whatever the org).
struct SigningRequirement {
  std::vector<SignerRule> signers;
  bool allow_unsigned = false;
  bool require_signature = false;
  bool empty() const noexcept { return signers.empty() && !allow_unsigned && !require_signature; }
  friend bool operator==(const SigningRequirement&, const SigningRequirement&) = default;
};

struct LockedRequirement {
  std::optional<std::uint64_t> version;    // "version": branch v<N>
  std::optional<std::string> revision;     // "revision": branch, tag or sha
  std::optional<std::string> tags;         // "tags": tag range text, e.g. ">=0.1,<0.2"
  std::optional<std::string> repo_type;    // "repo-type": "kernel" or "model"
  VariantFilter filter;                    // "torch", "cuda", "arch", "os" of the kernel entry
  std::optional<VariantFilter> targets;    // "targets": the effective filter, when it differs from `filter`
  std::optional<std::string> required_by;  // "required-by": the kernel that declared this dependency
  SigningRequirement signing;              // "signers", "allow-unsigned", "require-signature" (absent when empty)
  // Keys this version does not interpret, kept verbatim (written after ours).
  nlohmann::ordered_json extra = nlohmann::ordered_json::object();

  // Reads a requirement object. Throws Error(invalid_input) "<key>: expected
  // <what>, got <type>" for a known key of the wrong type (the lock parser adds
  // the file and JSON path) or when `value` is not an object.
  static LockedRequirement from_json(const nlohmann::ordered_json& value);
  // Keys in the order the lock has always held them: version, revision, tags,
  // repo-type, torch, cuda, arch, os, targets, required-by, then signers,
  // allow-unsigned, require-signature, then `extra`;
  // absent / empty fields are left out. from_json(to_json()) == *this, and
  // to_json(from_json(j)) == j for every object written in that order.
  nlohmann::ordered_json to_json() const;
  friend bool operator==(const LockedRequirement&, const LockedRequirement&) = default;
};

// The filter as a requirement object writes it ({"torch": [...], ...}; empty
// lists left out).
nlohmann::ordered_json filter_to_json(const VariantFilter& filter);

}  // namespace kernel_lock
