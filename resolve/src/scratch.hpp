// Internal to resolve: a scratch directory for downloads that are only checked.
#pragma once

#include <filesystem>
#include <random>
#include <string>
#include <string_view>
#include <system_error>

#include "kernel_lock/core/fs.hpp"

namespace kernel_lock {

// A fresh path under `base` (default: the system temp dir) for downloads that
// are only checked, never kept; whatever was written there is removed with it.
// The downloader creates the directories it writes into.
class ScratchDir {
 public:
  ScratchDir(const std::filesystem::path& base, std::string_view prefix) {
    std::random_device rd;
    path_ = (base.empty() ? std::filesystem::temp_directory_path() : base) /
            (std::string(prefix) + std::to_string(rd()));
  }
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;
  ~ScratchDir() {
    std::error_code ec;
    remove_tree(path_, ec);
  }
  const std::filesystem::path& path() const noexcept { return path_; }

 private:
  std::filesystem::path path_;
};

}  // namespace kernel_lock
