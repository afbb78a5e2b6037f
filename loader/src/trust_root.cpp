// The loader's trusted root and its per-process Verifier cache (trust_root.hpp).
#include "trust_root.hpp"

#include <sys/stat.h>

#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "kernel_lock/core/error.hpp"
#include "kernel_lock/trust/trust_store.hpp"

namespace fs = std::filesystem;

namespace kernel_lock {
namespace {

trust::CapturedTrustRoot read_root(const TrustRootSource& source) {
  auto stored = trust::load_trust_root(source.explicit_file, std::nullopt, source.cache_dir);
  if (!stored)
    throw Error(ErrorCode::not_found,
                "the lock pins a signature, but no Sigstore trusted root is available to verify it: the cache " +
                    source.cache_dir.string() + " has no " + trust::trust_store_dir(source.cache_dir).string(),
                "store one with `kernel-lock trust import trusted_root.json --cache " + source.cache_dir.string() +
                    "`, or install a bundle that carries one, or pass LoadOptions::trusted_root");
  return std::move(*stored);
}

// What identifies a file's content without reading it: an atomic replace
// changes the inode, any write the size, mtime and ctime (which no one can set back).
struct FileStamp {
  dev_t dev = 0;
  ino_t ino = 0;
  off_t size = 0;
  std::int64_t mtime_ns = 0;
  std::int64_t ctime_ns = 0;
  bool operator==(const FileStamp&) const = default;
};

std::vector<FileStamp> stamps_of(const TrustRootSource& source) {
  std::vector<fs::path> files;
  if (source.explicit_file) {
    files = {*source.explicit_file};
  } else {
    const auto dir = trust::trust_store_dir(source.cache_dir);
    files = {dir / "trusted_root.json", dir / "captured.json"};
  }
  std::vector<FileStamp> out;
  for (const auto& f : files) {
    struct stat st {};
    if (::stat(f.c_str(), &st) != 0) return {};  // absent: read_root says what is missing
    out.push_back({st.st_dev, st.st_ino, st.st_size, st.st_mtim.tv_sec * 1000000000LL + st.st_mtim.tv_nsec,
                   st.st_ctim.tv_sec * 1000000000LL + st.st_ctim.tv_nsec});
  }
  return out;
}

// A root read (and validated) before, with its files' stamps then.
struct CachedRoot {
  std::vector<FileStamp> stamps;
  trust::CapturedTrustRoot root;
  std::shared_ptr<const trust::Verifier> verifier;
};

}  // namespace

std::shared_ptr<const trust::Verifier> verifier_for(const TrustRootSource& source) {
  static std::mutex mutex;
  static std::map<std::string, CachedRoot> by_source;  // unchanged files are not read again
  static std::map<std::string, std::shared_ptr<const trust::Verifier>> by_sha256;  // one decode per root
  const std::string source_key = source.explicit_file ? "file:" + source.explicit_file->string()
                                                      : "cache:" + source.cache_dir.string();
  const auto stamps = stamps_of(source);
  std::unique_lock<std::mutex> lock(mutex);
  auto it = by_source.find(source_key);
  if (it == by_source.end() || stamps.empty() || it->second.stamps != stamps) {
    lock.unlock();
    CachedRoot fresh{stamps, read_root(source), nullptr};
    lock.lock();
    auto& verifier = by_sha256[fresh.root.sha256_hex()];
    if (!verifier) verifier = std::make_shared<const trust::Verifier>(trust::parse_trusted_root(fresh.root.json));
    fresh.verifier = verifier;
    it = by_source.insert_or_assign(source_key, std::move(fresh)).first;
  }
  const CachedRoot cached = it->second;
  lock.unlock();
  trust::check_trust_fresh(cached.root, trust::system_now(),
                           source.max_age_days ? *source.max_age_days : trust::trust_max_age_days_from_env());
  return cached.verifier;
}

}  // namespace kernel_lock
