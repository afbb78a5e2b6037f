// `kernel-lock install`: unpack a bundle into the Hugging Face cache layout
// (cache_writer.hpp), verifying every byte before it becomes visible.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "kernel_lock/bundle/bundle.hpp"
#include "kernel_lock/bundle/signatures.hpp"
#include "kernel_lock/core/repo.hpp"
#include "kernel_lock/core/lockfile.hpp"

namespace kernel_lock {

struct InstallOptions {
  // Target cache for every repo. Unset: KERNELS_CACHE (else the HF hub cache)
  // for kernel repos, the HF hub cache for model repos (hf_cache.hpp).
  std::optional<std::filesystem::path> cache_dir;
  // When given, the bundle's manifest must agree with this lock (same shas,
  // same variant hashes) or nothing is installed.
  std::optional<Lockfile> lock;
  bool write_refs = true;  // refs/<branch> from the lock's requirements
  bool durable = true;     // fsync each blob before it is renamed into place
  // A commit names exactly one content: an installed snapshot variant directory
  // of the same commit that holds other files is never replaced (Error(integrity)
  // naming both, before anything is written), unless `repair` is set, which is
  // allowed only together with `lock` (Error(usage) otherwise): the incoming
  // files then match the user's lock, so the installed copy is the damaged one.
  bool repair = false;
  BundleLimits limits;
  ProgressFn progress;     // content bytes verified / total
  // Signed variants: the root (`signatures.trusted_root`, else the bundle's,
  // else the target cache's store), its freshness, --require-signature.
  SignatureOptions signatures;
};

struct InstallSummary {
  std::size_t kernels = 0;
  std::size_t variants = 0;         // snapshot variant directories now in place
  std::size_t variants_changed = 0; // of which newly created or replaced
  std::size_t blobs = 0;
  std::uint64_t bytes = 0;          // content bytes verified
  std::vector<std::string> refs;    // "<repo_folder>/refs/<name>" written
  std::vector<VariantProvenance> provenance;  // per installed variant, manifest order
  // The carried trusted root, stored in each target cache's trust store (kept_newer
  // when a root captured later was there); nullopt when the bundle carries none.
  std::optional<trust::TrustStoreWrite> trust_store;
};

// Without `lock`, install proves only that the bundle is self-consistent (its
// files hash to the lock embedded in it) and never replaces installed content;
// it does not prove that the embedded lock is the one you reviewed: pass it.
// Streams the bundle: each blob is staged inside the target cache, hashed and
// size-checked against the manifest, then renamed into blobs/ under the
// filelock huggingface_hub uses. Only after every blob is verified are the
// snapshot variant directories renamed into place and refs written. On any
// error nothing references an unverified or missing blob, staged files are
// removed, and the error says what was wrong (Error(invalid_input) for a
// malformed or hostile archive, Error(integrity) for bytes that do not match).
// Signed variants: a carried trusted root must match the manifest's digest and
// be fresh (Error(stale_trust)); every variant the lock pins a signature for is
// checked in staging, after its blobs and before any snapshot is published:
// the signature over metadata.json with the pinned signer, then the kernel
// digest (Error(integrity) naming kernel, variant and the failed step or files);
// with `require_signature` a variant without a pinned signature is refused
// (Error(integrity)) before anything is written; a lock that pins signatures
// with no root available is Error(not_found). Verified blobs may stay in
// blobs/ after such a failure, referenced by nothing.
InstallSummary install_bundle(const std::filesystem::path& bundle, const InstallOptions& options);

// The same install (same checks, staging, verification and order) from a plan
// whose sources are files on disk, e.g. an OCI layout read by read_oci_layout
// (oci/layout.hpp). `source` names what is installed in errors. Every file is
// copied into staging (at most one byte over its declared size) and hashed
// there against its digest before it is committed; the plan's manifest is
// trusted as the embedded lock, as a bundle's is (pass `lock`).
InstallSummary install_plan(const BundlePlan& plan, const std::filesystem::path& source, const InstallOptions& options);

}  // namespace kernel_lock
