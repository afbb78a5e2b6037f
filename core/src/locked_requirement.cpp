#include "kernel_lock/core/locked_requirement.hpp"

#include <string_view>
#include <utility>
#include <vector>

#include "kernel_lock/core/error.hpp"

namespace kernel_lock {
namespace {

using ojson = nlohmann::ordered_json;

// The filter lists in the order they are written.
using FilterList = std::vector<std::string> VariantFilter::*;
constexpr std::pair<std::string_view, FilterList> kFilterLists[] = {
    {"torch", &VariantFilter::torch}, {"cuda", &VariantFilter::cuda}, {"arch", &VariantFilter::arch}, {"os", &VariantFilter::os}};

// The list of `filter` named `key`, or nullptr when `key` names none.
std::vector<std::string>* filter_list(VariantFilter& filter, std::string_view key) {
  for (const auto& [name, member] : kFilterLists)
    if (name == key) return &(filter.*member);
  return nullptr;
}

[[noreturn]] void fail(std::string_view key, std::string_view expected, const ojson& value) {
  throw Error(ErrorCode::invalid_input,
              std::string(key) + ": expected " + std::string(expected) + ", got " + std::string(value.type_name()));
}

std::string read_string(const ojson& value, std::string_view key) {
  if (!value.is_string()) fail(key, "a string", value);
  return value.get<std::string>();
}

std::vector<std::string> read_list(const ojson& value, std::string_view key) {
  if (!value.is_array()) fail(key, "an array of strings", value);
  std::vector<std::string> out;
  for (const auto& item : value) out.push_back(read_string(item, key));
  return out;
}

VariantFilter read_filter(const ojson& value, std::string_view key) {
  if (!value.is_object()) fail(key, "an object of torch/cuda/arch/os lists", value);
  VariantFilter filter;
  for (const auto& [name, list] : value.items()) {
    auto* target = filter_list(filter, name);
    if (target == nullptr) fail(std::string(key) + "." + name, "one of torch, cuda, arch, os", list);
    *target = read_list(list, std::string(key) + "." + name);
  }
  return filter;
}

SignerRule read_signer(const ojson& value, std::string_view key) {
  if (!value.is_object()) fail(key, "a signer {\"issuer\", \"source-repository\", \"build-signer-uri\"}", value);
  SignerRule rule;
  for (const auto& [name, item] : value.items()) {
    const auto field = std::string(key) + "." + name;
    if (name == "issuer") {
      rule.issuer = read_string(item, field);
    } else if (name == "source-repository") {
      rule.source_repository = read_string(item, field);
    } else if (name == "build-signer-uri") {
      rule.build_signer_uris = read_list(item, field);
    } else {
      fail(field, "one of issuer, source-repository, build-signer-uri", item);
    }
  }
  return rule;
}

bool read_bool(const ojson& value, std::string_view key) {
  if (!value.is_boolean()) fail(key, "true or false", value);
  return value.get<bool>();
}

ojson signer_to_json(const SignerRule& rule) {
  ojson out = ojson::object();
  out["issuer"] = rule.issuer;
  out["source-repository"] = rule.source_repository;
  if (!rule.build_signer_uris.empty()) out["build-signer-uri"] = rule.build_signer_uris;
  return out;
}

}  // namespace

ojson filter_to_json(const VariantFilter& filter) {
  ojson out = ojson::object();
  for (const auto& [key, member] : kFilterLists)
    if (!(filter.*member).empty()) out[std::string(key)] = filter.*member;
  return out;
}

LockedRequirement LockedRequirement::from_json(const ojson& value) {
  if (!value.is_object()) fail("requirement", "an object", value);
  LockedRequirement r;
  for (const auto& [key, item] : value.items()) {
    if (key == "version") {
      if (!item.is_number_unsigned()) fail(key, "a non-negative integer", item);
      r.version = item.get<std::uint64_t>();
    } else if (key == "revision") {
      r.revision = read_string(item, key);
    } else if (key == "tags") {
      r.tags = read_string(item, key);
    } else if (key == "repo-type") {
      r.repo_type = read_string(item, key);
    } else if (auto* list = filter_list(r.filter, key)) {
      *list = read_list(item, key);
    } else if (key == "targets") {
      r.targets = read_filter(item, key);
    } else if (key == "required-by") {
      r.required_by = read_string(item, key);
    } else if (key == "signers") {
      if (!item.is_array()) fail(key, "an array of signers", item);
      for (const auto& signer : item) r.signing.signers.push_back(read_signer(signer, key));
    } else if (key == "allow-unsigned") {
      r.signing.allow_unsigned = read_bool(item, key);
    } else if (key == "require-signature") {
      r.signing.require_signature = read_bool(item, key);
    } else {
      r.extra[key] = item;
    }
  }
  return r;
}

ojson LockedRequirement::to_json() const {
  ojson out = ojson::object();
  if (version) out["version"] = *version;
  if (revision) out["revision"] = *revision;
  if (tags) out["tags"] = *tags;
  if (repo_type) out["repo-type"] = *repo_type;
  const ojson filter_json = filter_to_json(filter);  // named: items() does not extend a temporary's life
  for (const auto& [key, item] : filter_json.items()) out[key] = item;
  if (targets) out["targets"] = filter_to_json(*targets);
  if (required_by) out["required-by"] = *required_by;
  if (!signing.signers.empty()) {
    ojson signers = ojson::array();
    for (const auto& rule : signing.signers) signers.push_back(signer_to_json(rule));
    out["signers"] = std::move(signers);
  }
  if (signing.allow_unsigned) out["allow-unsigned"] = true;
  if (signing.require_signature) out["require-signature"] = true;
  for (const auto& [key, item] : extra.items()) out[key] = item;
  return out;
}

}  // namespace kernel_lock
