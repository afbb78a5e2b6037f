// Shared helpers for the bundle / install / verify unit tests: a temp dir, a
// source HF cache built from in-memory kernels, raw archive writing for hostile
// bundles, and a cache tree snapshot for "nothing changed" checks.
#pragma once

#include <archive.h>
#include <archive_entry.h>
#include <sys/stat.h>
#include <unistd.h>

#include <doctest/doctest.h>
#include "../temp_dir.hpp"

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "kernel_lock/bundle/bundle.hpp"
#include "kernel_lock/cache/cache_writer.hpp"
#include "kernel_lock/core/fs.hpp"
#include "kernel_lock/core/hash.hpp"
#include "kernel_lock/cache/hf_cache.hpp"
#include "kernel_lock/core/lockfile.hpp"

namespace kltest {
namespace fs = std::filesystem;

inline std::string slurp(const fs::path& p) { return kernel_lock::read_file(p); }

inline void spit(const fs::path& p, const std::string& bytes) {
  fs::create_directories(p.parent_path());
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out << bytes;
}

// One kernel: variant -> (path below the variant -> content). Files ending in
// ".so" are "LFS" (named by sha256), the rest git blobs (sha1).
struct TestKernel {
  std::string repo_id;
  std::string sha;
  std::map<std::string, std::map<std::string, std::string>> variants;
  int version = 1;  // requirement {"version": N} -> refs/v<N>
};

inline std::string digest_for(const std::string& path, const std::string& content, kernel_lock::DigestKind* kind) {
  bool lfs = path.size() > 3 && path.ends_with(".so");
  if (kind) *kind = lfs ? kernel_lock::DigestKind::lfs_sha256 : kernel_lock::DigestKind::git_sha1;
  return lfs ? kernel_lock::sha256_hex(content) : kernel_lock::git_blob_sha1_hex(content);
}

// Fills `cache` with the kernels (blobs + snapshot symlinks, no refs) and
// returns the matching lock (with per-file records unless `per_file` is false).
inline kernel_lock::Lockfile make_cache(const fs::path& cache, const std::vector<TestKernel>& kernels,
                                        bool per_file = true) {
  kernel_lock::Lockfile lock;
  for (const auto& k : kernels) {
    kernel_lock::LockedKernel lk;
    lk.repo_id = k.repo_id;
    lk.sha = k.sha;
    lk.requirement = kernel_lock::LockedRequirement{};
    lk.requirement->version = k.version;
    auto repo = kernel_lock::cache_repo_paths(cache, "kernel", k.repo_id);
    for (const auto& [variant, files] : k.variants) {
      kernel_lock::LockedVariant lv;
      std::vector<kernel_lock::VariantFileDigest> digests;
      for (const auto& [path, content] : files) {
        kernel_lock::DigestKind kind;
        std::string digest = digest_for(path, content, &kind);
        spit(repo.blob(digest), content);
        const std::string repo_path = "build/" + variant + "/" + path;
        fs::path link = repo.snapshot(k.sha) / repo_path;
        fs::create_directories(link.parent_path());
        fs::remove(link);
        fs::create_symlink(kernel_lock::snapshot_link_target(repo_path, digest), link);
        digests.push_back({path, digest});
        if (per_file) lv.files.push_back(kernel_lock::LockedFile{path, content.size(), digest, kind});
      }
      lv.hash = kernel_lock::git_lfs_concat_hash(digests);
      lk.variants[variant] = lv;
    }
    lock.kernels.push_back(std::move(lk));
  }
  return lock;
}

// The bundle of `lock` planned from the cache at `cache` (no network), written to `out`.
inline kernel_lock::BundleSummary bundle_from(const kernel_lock::Lockfile& lock, const fs::path& cache,
                                              const fs::path& out, const kernel_lock::VariantFilter& filter = {},
                                              const kernel_lock::BundleOptions& options = {}) {
  return kernel_lock::write_bundle(kernel_lock::plan_bundle(lock, cache, filter), out, options);
}

inline std::string random_bytes(std::size_t n, unsigned seed) {
  std::mt19937 rng(seed);
  std::string s(n, '\0');
  for (auto& c : s) c = static_cast<char>(rng() & 0xff);
  return s;
}

// Two kernels sharing one identical file across variants and repos.
inline std::vector<TestKernel> sample_kernels() {
  TestKernel a{"kernels-test/relu", std::string(40, 'a'), {}, 1};
  a.variants["torch211-cxx11-cpu-x86_64-linux"] = {
      {"__init__.py", "from ._ops import ops\n"},
      {"_ops.py", "import torch\nops = torch.ops._relu_cpu_abc1234\n"},
      {"_relu_cpu_abc1234.abi3.so", random_bytes(300000, 1)},
      {"layers/__init__.py", "# shared\n"},
      {"metadata.json", "{\"name\": \"relu\"}\n"}};
  a.variants["torch211-cxx11-cu130-x86_64-linux"] = {
      {"__init__.py", "from ._ops import ops\n"},
      {"_ops.py", "import torch\nops = torch.ops._relu_cuda_abc1234\n"},
      {"_relu_cuda_abc1234.abi3.so", random_bytes(200000, 2)},
      {"layers/__init__.py", "# shared\n"},
      {"metadata.json", "{\"name\": \"relu\"}\n"}};
  a.variants["torch-cpu"] = {{"__init__.py", "# noarch\n"}, {"metadata.json", "{\"name\": \"relu\"}\n"}};
  TestKernel b{"kernels-test/gelu", std::string(40, 'b'), {}, 2};
  b.variants["torch211-cxx11-cpu-x86_64-linux"] = {
      {"__init__.py", "from ._ops import ops\n"},
      {"_gelu_cpu_1111111.abi3.so", random_bytes(100000, 3)},
      {"layers/__init__.py", "# shared\n"}};
  return {a, b};
}

// Paths (and symlink targets / sizes) below a cache, minus lock and staging
// bookkeeping: equal snapshots mean nothing visible changed.
inline std::map<std::string, std::string> tree_snapshot(const fs::path& root) {
  std::map<std::string, std::string> out;
  if (!fs::exists(root)) return out;
  for (auto it = fs::recursive_directory_iterator(root); it != fs::recursive_directory_iterator(); ++it) {
    std::string rel = it->path().lexically_relative(root).generic_string();
    if (rel.starts_with(".locks") || rel.starts_with(".kernel-lock-staging")) continue;
    if (it->is_symlink()) {
      out[rel] = "-> " + fs::read_symlink(it->path()).string();
    } else if (it->is_regular_file()) {
      out[rel] = std::to_string(it->file_size());
    } else {
      out[rel] = "dir";
    }
  }
  return out;
}

// A raw tar.zst entry for crafting hostile bundles.
struct RawEntry {
  std::string name;
  std::string content;
  unsigned type = AE_IFREG;
  std::int64_t declared_size = -1;  // -1: content.size()
  std::string link{};               // symlink target (AE_IFLNK) or hardlink target
  bool hardlink = false;
};

inline void write_raw_archive(const fs::path& out, const std::vector<RawEntry>& entries, bool zstd = true) {
  struct archive* a = archive_write_new();
  archive_write_set_format_pax_restricted(a);
  if (zstd) archive_write_add_filter_zstd(a);
  REQUIRE(archive_write_open_filename(a, out.c_str()) == ARCHIVE_OK);
  for (const auto& e : entries) {
    struct archive_entry* entry = archive_entry_new();
    archive_entry_set_pathname(entry, e.name.c_str());
    archive_entry_set_filetype(entry, e.type);
    archive_entry_set_perm(entry, 0644);
    if (e.type == AE_IFLNK) archive_entry_set_symlink(entry, e.link.c_str());
    if (e.hardlink) archive_entry_set_hardlink(entry, e.link.c_str());
    if (e.type == AE_IFCHR) archive_entry_set_rdev(entry, 0x0103);
    std::int64_t size = e.declared_size >= 0 ? e.declared_size : static_cast<std::int64_t>(e.content.size());
    if (e.type == AE_IFREG) archive_entry_set_size(entry, size);
    REQUIRE(archive_write_header(a, entry) >= ARCHIVE_WARN);
    if (e.type == AE_IFREG && !e.content.empty())
      archive_write_data(a, e.content.data(), std::min<std::size_t>(e.content.size(), static_cast<std::size_t>(size)));
    archive_entry_free(entry);
  }
  archive_write_close(a);
  archive_write_free(a);
}

// All entries of an archive (name, content), in order.
inline std::vector<std::pair<std::string, std::string>> read_raw_archive(const fs::path& in,
                                                                          std::vector<struct stat>* stats = nullptr) {
  std::vector<std::pair<std::string, std::string>> out;
  struct archive* a = archive_read_new();
  archive_read_support_filter_all(a);
  archive_read_support_format_all(a);
  REQUIRE(archive_read_open_filename(a, in.c_str(), 1 << 16) == ARCHIVE_OK);
  struct archive_entry* entry = nullptr;
  while (archive_read_next_header(a, &entry) == ARCHIVE_OK) {
    std::string content;
    char buf[65536];
    la_ssize_t n;
    while ((n = archive_read_data(a, buf, sizeof buf)) > 0) content.append(buf, static_cast<std::size_t>(n));
    if (stats) stats->push_back(*archive_entry_stat(entry));
    out.emplace_back(archive_entry_pathname(entry), std::move(content));
  }
  archive_read_free(a);
  return out;
}

}  // namespace kltest
