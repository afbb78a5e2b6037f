// A RepoStore over a bundle: verify + unpack into a private cache, serve that.
#include <stdlib.h>

#include <cstring>

#include "kernel_lock/bundle/bundle.hpp"
#include "kernel_lock/cache/cache_writer.hpp"
#include "kernel_lock/core/fs.hpp"
#include "kernel_lock/core/error.hpp"
#include "kernel_lock/bundle/install.hpp"
#include "kernel_lock/mirror/repo_store.hpp"

namespace kernel_lock {
namespace fs = std::filesystem;
namespace {

// Forwards to the cache store; owns (and removes) its temp directory.
class BundleStore final : public RepoStore {
 public:
  BundleStore(std::shared_ptr<RepoStore> inner, fs::path owned) : inner_(std::move(inner)), owned_(std::move(owned)) {}
  ~BundleStore() override {
    if (!owned_.empty()) {
      std::error_code ec;
      remove_tree(owned_, ec);
    }
  }
  BundleStore(const BundleStore&) = delete;
  BundleStore& operator=(const BundleStore&) = delete;
  std::vector<StoreRepo> list_repos() const override { return inner_->list_repos(); }
  std::optional<StoreRepo> find_repo(const RepoRef& r) const override { return inner_->find_repo(r); }
  RepoRefs refs(const RepoRef& r) const override { return inner_->refs(r); }
  std::optional<std::string> resolve(const RepoRef& r, std::string_view rev) const override {
    return inner_->resolve(r, rev);
  }
  std::shared_ptr<const StoreCommit> commit(const RepoRef& r, std::string_view sha) const override {
    return inner_->commit(r, sha);
  }
  std::unique_ptr<BlobReader> open(const RepoRef& r, std::string_view digest) const override {
    return inner_->open(r, digest);
  }

 private:
  std::shared_ptr<RepoStore> inner_;
  fs::path owned_;
};

}  // namespace

std::shared_ptr<RepoStore> open_bundle_store(const fs::path& bundle, std::optional<fs::path> work_dir) {
  fs::path dir;
  fs::path owned;
  if (work_dir) {
    dir = *work_dir;
    std::error_code ec;
    fs::create_directories(dir, ec);
    if (ec) throw Error(ErrorCode::io, "cannot create " + dir.string() + ": " + ec.message());
  } else {
    std::string tmpl = (fs::temp_directory_path() / "kernel-lock-bundle-XXXXXX").string();
    if (::mkdtemp(tmpl.data()) == nullptr)
      throw Error(ErrorCode::io, "cannot create a temp directory: " + std::string(std::strerror(errno)));
    dir = owned = tmpl;
  }
  try {
    InstallOptions options;
    options.cache_dir = dir;
    options.durable = false;
    install_bundle(bundle, options);
    // The manifest's kernels are the commits; refs come from their requirements.
    return std::make_shared<BundleStore>(open_cache_store(dir), owned);
  } catch (...) {
    if (!owned.empty()) {
      std::error_code ec;
      remove_tree(owned, ec);
    }
    throw;
  }
}

}  // namespace kernel_lock
