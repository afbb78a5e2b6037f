// Test helper: a hand-made HF cache (what `kernel-lock install` and
// huggingface_hub write) in a temp directory, plus the matching lock entries:
//   <cache>/kernels--org--name/blobs/<digest>
//   <cache>/kernels--org--name/snapshots/<sha>/build/<variant>/<path> -> ../../../../blobs/<digest>
//   <cache>/kernels--org--name/refs/<name>   (40-hex sha, no newline)
#pragma once

#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "../temp_dir.hpp"
#include "kernel_lock/core/hash.hpp"
#include "kernel_lock/cache/hf_cache.hpp"
#include "kernel_lock/core/lockfile.hpp"

namespace kl_test {

namespace fs = std::filesystem;

using kltest::TempDir;

inline std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + p.string());
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

inline void spit(const fs::path& p, const std::string& bytes) {
  fs::create_directories(p.parent_path());
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out << bytes;
  if (!out) throw std::runtime_error("cannot write " + p.string());
}

struct FakeFile {
  std::string path;     // relative to build/<variant>/
  std::string content;
  bool lfs = false;     // named by sha256 (LFS) instead of the git blob sha1
};

inline std::string digest_of(const FakeFile& f) {
  return f.lfs ? kernel_lock::sha256_hex(f.content) : kernel_lock::git_blob_sha1_hex(f.content);
}

class CacheBuilder {
 public:
  CacheBuilder(fs::path cache, std::string repo_id, std::string sha)
      : cache_(std::move(cache)), repo_id_(std::move(repo_id)), sha_(std::move(sha)),
        repo_(kernel_lock::cache_repo_paths(cache_, "kernel", repo_id_)) {}

  // Writes blobs and snapshot symlinks for one variant; returns its lock entry
  // (with per-file records, as kernel-lock writes them).
  kernel_lock::LockedVariant add_variant(const std::string& variant, const std::vector<FakeFile>& files) {
    kernel_lock::LockedVariant locked;
    std::vector<kernel_lock::VariantFileDigest> digests;
    for (const auto& f : files) {
      std::string d = digest_of(f);
      add_blob(d, f.content);
      link(variant, f.path, d);
      locked.files.push_back({f.path, f.content.size(), d,
                              f.lfs ? kernel_lock::DigestKind::lfs_sha256 : kernel_lock::DigestKind::git_sha1});
      digests.push_back({f.path, d});
    }
    std::sort(locked.files.begin(), locked.files.end(),
              [](const auto& a, const auto& b) { return a.path < b.path; });
    locked.hash = kernel_lock::git_lfs_concat_hash(digests);
    locked.hash_type = "git_lfs_concat";
    variants_[variant] = locked;
    return locked;
  }

  // Pins a signer for `variant` in the lock written by write_lock.
  void set_signature(const std::string& variant, const kernel_lock::LockedSignature& signature) {
    variants_.at(variant).signature = signature;
  }

  void add_blob(const std::string& digest, const std::string& content) { spit(repo_.blob(digest), content); }

  // snapshots/<sha>/build/<variant>/<path> -> relative path to blobs/<digest>
  void link(const std::string& variant, const std::string& path, const std::string& digest) {
    fs::path l = variant_dir(variant) / path;
    fs::create_directories(l.parent_path());
    std::error_code ec;
    fs::remove(l, ec);
    fs::create_symlink(repo_.blob(digest).lexically_relative(l.parent_path()), l);
  }

  void write_ref(const std::string& name, const std::string& sha) { spit(repo_.refs() / name, sha); }

  fs::path variant_dir(const std::string& variant) const { return repo_.snapshot(sha_) / "build" / variant; }
  const kernel_lock::CacheRepoPaths& repo() const { return repo_; }
  const std::string& sha() const { return sha_; }
  const std::string& repo_id() const { return repo_id_; }

  kernel_lock::LockedKernel locked_kernel(bool with_files = true) const {
    kernel_lock::LockedKernel k;
    k.repo_id = repo_id_;
    k.sha = sha_;
    for (auto [name, v] : variants_) {
      if (!with_files) v.files.clear();
      k.variants[name] = v;
    }
    return k;
  }

  // The lock as kernel-lock writes it (per-file records on the kernel object).
  void write_lock(const fs::path& path) const {
    kernel_lock::Lockfile lock;
    lock.kernels.push_back(locked_kernel());
    kernel_lock::write_lockfile(path, lock);
  }

  // The lock as Python `kernels lock` writes it: no per-file data.
  void write_python_lock(const fs::path& path) const {
    std::string out = "[\n  {\n    \"repo_id\": \"" + repo_id_ + "\",\n    \"sha\": \"" + sha_ +
                      "\",\n    \"variants\": {";
    bool first = true;
    for (const auto& [name, v] : variants_) {
      out += first ? "\n" : ",\n";
      first = false;
      out += "      \"" + name + "\": {\n        \"hash\": \"" + v.hash +
             "\",\n        \"hash_type\": \"git_lfs_concat\"\n      }";
    }
    out += "\n    }\n  }\n]\n";
    spit(path, out);
  }

 private:
  fs::path cache_;
  std::string repo_id_;
  std::string sha_;
  kernel_lock::CacheRepoPaths repo_;
  std::map<std::string, kernel_lock::LockedVariant> variants_;
};

}  // namespace kl_test
