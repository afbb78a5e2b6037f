// variants_from_tree (tree_variants.hpp): grouping, bytecode, hash, names.
#include <doctest/doctest.h>

#include "kernel_lock/core/error.hpp"
#include "kernel_lock/core/hash.hpp"
#include "kernel_lock/core/tree_variants.hpp"

using namespace kernel_lock;

namespace {
TreeEntry file(std::string path, std::string content) {
  TreeEntry e;
  e.size = content.size();
  e.oid = git_blob_sha1_hex(content);
  e.path = std::move(path);
  return e;
}
TreeEntry dir(std::string path) {
  TreeEntry e;
  e.path = std::move(path);
  e.is_directory = true;
  return e;
}
}  // namespace

TEST_CASE("variants_from_tree groups build/<variant>/ files, drops bytecode, hashes") {
  TreeEntry lfs = file("build/torch-cpu/_ops.so", "x");
  lfs.size = 5000;
  lfs.lfs_sha256 = std::string(64, 'c');
  const std::vector<TreeEntry> tree = {
      dir("build/torch-cpu"), file("build/torch-cpu/__init__.py", "a\n"), lfs,
      dir("build/torch-cpu/__pycache__"), file("build/torch-cpu/__pycache__/x.cpython-311.pyc", "pyc"),
      dir("build/empty"), dir("build/only-pyc"), file("build/only-pyc/x.pyc", "pyc"),
      file("build/README.md", "not a variant"), file("README.md", "outside build/")};
  const auto tv = variants_from_tree(tree);
  CHECK(tv.names == std::vector<std::string>{"empty", "only-pyc", "torch-cpu"});
  REQUIRE(tv.variants.size() == 1);
  const auto& v = tv.variants.at("torch-cpu");
  REQUIRE(v.files.size() == 2);
  CHECK(v.files[0] == LockedFile{"__init__.py", 2, git_blob_sha1_hex("a\n"), DigestKind::git_sha1});
  CHECK(v.files[1] == LockedFile{"_ops.so", 5000, std::string(64, 'c'), DigestKind::lfs_sha256});
  CHECK(v.hash == git_lfs_concat_hash({{"__init__.py", git_blob_sha1_hex("a\n")}, {"_ops.so", std::string(64, 'c')}}));
}

TEST_CASE("variants_from_tree: an empty listing has no variants; a bad digest throws") {
  CHECK(variants_from_tree({}).variants.empty());
  TreeEntry bad = file("build/v/a.py", "a");
  bad.oid = "xyz";
  CHECK_THROWS_AS(variants_from_tree({bad}), Error);
}
