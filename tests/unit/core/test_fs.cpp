// File helpers: remove_tree (the std::filesystem::remove_all replacement).
#include <doctest/doctest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <new>
#include <stdexcept>
#include <system_error>
#include <utility>
#include <string>

#include "../temp_dir.hpp"
#include "kernel_lock/core/error.hpp"
#include "kernel_lock/core/fs.hpp"

namespace fs = std::filesystem;
using kltest::TempDir;

namespace {
void touch(const fs::path& p, const std::string& bytes = "x") {
  fs::create_directories(p.parent_path());
  std::ofstream(p, std::ios::binary) << bytes;
}
}  // namespace

TEST_CASE("remove_tree removes a nested tree and never follows symlinks") {
  TempDir tmp;
  const fs::path outside = tmp / "outside";
  touch(outside / "keep.txt", "precious");
  const fs::path tree = tmp / "tree";
  touch(tree / "a" / "b" / "c.bin");
  touch(tree / "a" / "d.txt");
  fs::create_directories(tree / "empty");
  fs::create_directory_symlink(outside, tree / "a" / "link-to-dir");
  fs::create_symlink(outside / "keep.txt", tree / "link-to-file");
  fs::create_symlink(tmp / "nowhere", tree / "dangling");

  std::error_code ec;
  // tree, a, b, c.bin, d.txt, empty, link-to-dir, link-to-file, dangling
  CHECK(kernel_lock::remove_tree(tree, ec) == 9);
  CHECK_FALSE(ec);
  CHECK_FALSE(fs::exists(fs::symlink_status(tree)));
  CHECK(fs::exists(outside / "keep.txt"));
  std::ifstream in(outside / "keep.txt");
  std::string content;
  in >> content;
  CHECK(content == "precious");
}

TEST_CASE("remove_tree: a missing path is no error, a file or a symlink is removed alone") {
  TempDir tmp;
  std::error_code ec;
  CHECK(kernel_lock::remove_tree(tmp / "missing", ec) == 0);
  CHECK_FALSE(ec);

  touch(tmp / "file");
  CHECK(kernel_lock::remove_tree(tmp / "file", ec) == 1);
  CHECK_FALSE(ec);
  CHECK_FALSE(fs::exists(tmp / "file"));

  touch(tmp / "target" / "inside");
  fs::create_directory_symlink(tmp / "target", tmp / "link");
  CHECK(kernel_lock::remove_tree(tmp / "link", ec) == 1);
  CHECK_FALSE(ec);
  CHECK(fs::exists(tmp / "target" / "inside"));
}

TEST_CASE("remove_tree reports the first error and keeps what it could not remove") {
  if (::geteuid() == 0) {
    // root ignores directory permissions: the failure cannot be provoked.
    MESSAGE("running as root: the permission case is not observable");
    TempDir tmp;
    std::error_code ec;
    touch(tmp / "d" / "f");
    CHECK(kernel_lock::remove_tree(tmp / "d", ec) == 2);
    CHECK_FALSE(ec);
    return;
  }
  TempDir tmp;
  touch(tmp / "locked" / "f");
  fs::permissions(tmp / "locked", fs::perms::owner_read | fs::perms::owner_exec);
  std::error_code ec;
  kernel_lock::remove_tree(tmp / "locked", ec);
  CHECK(ec);
  CHECK(fs::exists(tmp / "locked" / "f"));
  fs::permissions(tmp / "locked", fs::perms::owner_all);
}

TEST_CASE("with_context classifies foreign exceptions: memory, file system, other") {
  using kernel_lock::ErrorCode;
  auto caught = [](auto&& fn, ErrorCode fallback) {
    try {
      kernel_lock::with_context("installing b.tar.zst", fn, fallback);
    } catch (const kernel_lock::Error& e) {
      return std::make_pair(e.code(), std::string(e.what()));
    }
    FAIL("no error");
    return std::make_pair(ErrorCode::generic, std::string());
  };
  auto [oom_code, oom] = caught([] { throw std::bad_alloc(); }, ErrorCode::io);
  CHECK(oom_code == ErrorCode::generic);
  CHECK(oom.find("installing b.tar.zst: out of memory") == 0);

  auto [fs_code, fs_text] = caught([] {
    throw std::filesystem::filesystem_error("cannot create directory", "/ro/cache/blobs",
                                            std::make_error_code(std::errc::read_only_file_system));
  }, ErrorCode::generic);
  CHECK(fs_code == ErrorCode::io);
  CHECK(fs_text.find("installing b.tar.zst: /ro/cache/blobs: ") == 0);
  CHECK(fs_text.find("cannot create directory") != std::string::npos);

  auto [two_code, two] = caught([] {
    throw std::filesystem::filesystem_error("cannot rename", "/a", "/b", std::make_error_code(std::errc::io_error));
  }, ErrorCode::generic);
  CHECK(two_code == ErrorCode::io);
  CHECK(two.find("/a -> /b: ") != std::string::npos);

  auto [other_code, other] = caught([] { throw std::out_of_range("map::at"); }, ErrorCode::generic);
  CHECK(other_code == ErrorCode::generic);
  CHECK(other == "installing b.tar.zst: map::at");
  CHECK(caught([] { throw std::runtime_error("x"); }, ErrorCode::network).first == ErrorCode::network);

  // Our own errors keep their code and gain the frame.
  auto [own_code, own] = caught([] { throw kernel_lock::Error(ErrorCode::integrity, "blob differs"); }, ErrorCode::io);
  CHECK(own_code == ErrorCode::integrity);
  CHECK(own == "installing b.tar.zst: blob differs");
}
