// The loader's trusted root and its per-process Verifier cache (trust_root.hpp).
#include "trust_root.hpp"

#include <chrono>
#include <map>
#include <mutex>
#include <string>

#include "kernel_lock/core/error.hpp"
#include "kernel_lock/trust/trust_store.hpp"

namespace fs = std::filesystem;

namespace kernel_lock {
namespace {

trust::UnixTime now_unix() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

trust::CapturedTrustRoot read_root(const TrustRootSource& source) {
  if (source.explicit_file) {
    const fs::path& file = *source.explicit_file;
    return with_context("trusted root " + file.string(),
                        [&] { return trust::read_trust_root_file(file, trust::file_modification_time(file)); });
  }
  auto stored = trust::read_trust_store(source.cache_dir);
  if (!stored)
    throw Error(ErrorCode::not_found,
                "the lock pins a signature, but no Sigstore trusted root is available to verify it: the cache " +
                    source.cache_dir.string() + " has no " + trust::trust_store_dir(source.cache_dir).string(),
                "store one with `kernel-lock trust import trusted_root.json --cache " + source.cache_dir.string() +
                    "`, or install a bundle that carries one, or pass LoadOptions::trusted_root");
  return std::move(*stored);
}

}  // namespace

std::shared_ptr<const trust::Verifier> verifier_for(const TrustRootSource& source) {
  const auto root = read_root(source);
  trust::check_trust_fresh(root, now_unix(),
                           source.max_age_days ? *source.max_age_days : trust::trust_max_age_days_from_env());
  static std::mutex mutex;
  static std::map<std::string, std::shared_ptr<const trust::Verifier>> by_sha256;
  const std::string key = root.sha256_hex();
  std::lock_guard<std::mutex> lock(mutex);
  auto& verifier = by_sha256[key];
  if (!verifier) verifier = std::make_shared<const trust::Verifier>(trust::parse_trusted_root(root.json));
  return verifier;
}

}  // namespace kernel_lock
