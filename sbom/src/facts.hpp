// Internal: the facts both SBOM formats write, computed once (docs/sbom.md).
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "kernel_lock/core/lockfile.hpp"
#include "kernel_lock/sbom/sbom.hpp"

namespace kernel_lock::sbom::detail {

using Properties = std::vector<std::pair<std::string, std::string>>;  // name, value (in order)

// The lock with its kernels sorted by repo id (as format_lockfile writes them).
Lockfile sorted_by_repo(Lockfile lock);
// "<kernel purl>#build/<variant>".
std::string variant_purl(const LockedKernel& kernel, const std::string& variant);
// kernel-lock:repo-type, kernel-lock:requirement (compact JSON), kernel-lock:required-by.
Properties kernel_properties(const LockedKernel& kernel);
// kernel-lock:variant, :variant-hash, :hash-type, :kind, :framework, :cxx-abi,
// :backend, :backend-version, :arch, :os (what the name gives), then the pinned
// signer: kernel-lock:signer:issuer, :source-repository, :build-signer-uri,
// :log-index, :signing-time.
Properties variant_properties(const std::string& name, const LockedVariant& variant);
// The entries a kernel depends on: those whose requirement says `required-by`
// it, in lock_order (a repo locked at two versions: the one it requires).
std::vector<const LockedKernel*> dependencies_of(const Lockfile& lock, const std::string& repo_id);

// A file's content sha256, when the lock or the cache knows it.
const std::string* content_sha256(const LockedFile& file, const FileKey& key, const ContentSha256& sha256);

}  // namespace kernel_lock::sbom::detail
