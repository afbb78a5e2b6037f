// `kernel-lock resolve`: requirements -> kernel.lock. The resolver pins every
// requirement to a commit, lists build/ at that commit and records each
// variant's git_lfs_concat hash and per-file digests. All network work goes
// through ResolveSource batches (source.hpp: the Hub or an HF cache), so a lock
// of many kernels costs about as many round trips as one kernel (refs or
// revision, then the tree pages).
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <map>
#include <string>
#include <utility>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include <memory>

#include "kernel_lock/hub/hub_client.hpp"
#include "kernel_lock/resolve/source.hpp"
#include "kernel_lock/core/lockfile.hpp"
#include "kernel_lock/core/requirements.hpp"
#include "kernel_lock/core/variant.hpp"
#include "kernel_lock/trust/verify.hpp"

namespace kernel_lock {

struct ResolveOptions {
  // Command-line narrowing (--torch/--cuda/--arch). Each non-empty dimension
  // replaces the kernel's own filter, which replaces the requirements' targets.
  VariantFilter filter;
  bool upgrade = false;                       // re-resolve every kernel
  std::vector<std::string> upgrade_packages;  // re-resolve these repo ids
  // Download every locked file and check the bytes against the listing
  // (size + digest) before writing the lock. Files go to a temp dir, removed after.
  bool verify_content = false;
  std::filesystem::path scratch_dir;  // for verify_content; default: system temp dir
  // Verifies the signatures of newly locked variants (docs/trust.md "Policy") and
  // records each signer in the lock. Null: no trusted root; a kernel whose policy
  // needs its signature checked then fails, others are locked with a warning.
  std::shared_ptr<const trust::Verifier> verifier;
  // A re-lock that changes the signer of a kernel signed in the previous lock
  // throws Error(lock_changed) unless this is set.
  bool allow_signer_change = false;
  // Human progress lines ("resolving 3 kernels"); the CLI shows them on a terminal.
  std::function<void(std::string_view)> on_progress;
};

struct KernelResolution {
  std::string repo_id;
  std::string repo_type;      // "kernel" / "model"
  std::string sha;
  std::string resolved_from;  // "branch v1", "tag v0.0.3", "revision main", "sha", "lock"
  std::size_t variants = 0;
  std::size_t files = 0;
  bool from_lock = false;     // kept from the previous lock without network access
  std::string required_by;    // set for a dependency: the kernel whose metadata.json declared it
  std::size_t signed_variants = 0;  // variants whose signature was verified and pinned
  std::string signer;               // LockedSignature::describe() of the first signed variant
};

struct ResolveReport {
  std::vector<KernelResolution> kernels;  // in requirement order
  std::vector<std::string> warnings;      // e.g. unparseable variant names kept
  HubStats stats;                         // requests made
};

struct ResolveResult {
  Lockfile lock;
  ResolveReport report;
};

struct ResolvePending;  // resolve.cpp: one requirement that needs the source

class Resolver {
 public:
  // Over the Hub (a HubSource on `client`, which must outlive the resolver).
  Resolver(HubClient& client, ResolveOptions options);
  // Over any source (e.g. CacheSource), which must outlive the resolver.
  Resolver(ResolveSource& source, ResolveOptions options);
  // `previous`: the existing lock, whose entries are kept when their recorded
  // requirement is unchanged (unless upgraded). Throws Error(not_found) for
  // unmeetable requirements, naming what was asked, what exists and what to change.
  // Kernel dependencies (`kernel-depends` in the locked variants' metadata.json)
  // are locked too, level by level (one round of requests per level), each
  // recording "required-by" in its requirement, one entry per (repo, version)
  // as Python `kernels lock` does: a dependency on a kernel already locked at
  // that version (or a cycle) adds nothing; at another version it is locked
  // too, as its own entry (the dependent loads the version it declares).
  ResolveResult resolve(const Requirements& requirements, const Lockfile* previous = nullptr);

 private:
  ResolveResult resolve_round(const Requirements& requirements, const Lockfile* previous,
                              const std::vector<std::string>& required_by);  // by requirement index
  std::vector<ResolvePending> keep_or_queue(const Requirements& requirements, const Lockfile* previous,
                                            const std::vector<std::string>& required_by,
                                            std::vector<std::optional<LockedKernel>>& locked, ResolveReport& report);
  void pin_commits(const Requirements& requirements, std::vector<ResolvePending>& pending);
  std::vector<DownloadRequest> lock_variants(const std::vector<ResolvePending>& pending,
                                             std::vector<std::optional<LockedKernel>>& locked, ResolveReport& report);
  void verify_content(std::vector<DownloadRequest>& verify);
  std::vector<std::pair<std::string, KernelRequirement>> declared_dependencies(const ResolveResult& round,
                                                                              const Lockfile* previous);

  std::unique_ptr<ResolveSource> owned_source_;  // set by the HubClient constructor
  ResolveSource& source_;
  ResolveOptions options_;
};

// Effective variant filter of one kernel (see ResolveOptions::filter).
VariantFilter effective_filter(const VariantFilter& targets, const VariantFilter& kernel, const VariantFilter& cli);

// What the lock records under "requirement": the requirement's JSON plus the
// effective filter when one applies, so that changing either re-resolves it.
LockedRequirement requirement_record(const KernelRequirement& requirement, const VariantFilter& effective);

// --frozen: checks without any network access that `lock` satisfies every
// requirement (entry present, same recorded requirement, variants matching the
// filter). Throws Error(lock_changed) listing every gap.
void check_lock_covers(const Requirements& requirements, const Lockfile& lock, const VariantFilter& cli_filter);

// The signer changes between two locks ("~ org/x: signer A -> B"), one line each;
// only kernels signed in `before` count. Empty when none.
std::vector<std::string> describe_signer_changes(const Lockfile& before, const Lockfile& after);

// Human, diff-like description of how `after` differs from `before`
// ("+ org/new", "- org/gone", "~ org/x: sha 1234567 -> 89abcde", ...); empty when equal.
std::string describe_lock_changes(const Lockfile& before, const Lockfile& after);

}  // namespace kernel_lock
