// The one snapshot reader (kernel_lock/cache/snapshot.hpp): what the strict
// policy refuses, each refusal naming the entry; the plain policy; and the
// variant hash of a directory read through it, checked against git hash-object,
// sha256sum and the coreutils rebuild of git_lfs_concat.
#include <doctest/doctest.h>
#include <sys/stat.h>

#include <filesystem>
#include <string>
#include <vector>

#include "../hash_reference.hpp"
#include "kernel_lock/cache/snapshot.hpp"
#include "kernel_lock/core/error.hpp"
#include "kernel_lock/core/hash.hpp"

namespace fs = std::filesystem;
using namespace kernel_lock;
using namespace kltest;

namespace {

const SnapshotOptions kPlain{SnapshotPolicy::plain, {}};

// A cache repository with one snapshot variant of real blob links.
struct SnapshotFixture {
  TempDir tmp;
  fs::path repo = tmp.path() / "kernels--org--act";
  fs::path blobs = repo / "blobs";
  fs::path variant = repo / "snapshots" / std::string(40, 'a') / "build" / "torch-cpu";
  std::string py_digest;
  std::string so_digest;

  SnapshotFixture() {
    py_digest = add("layers/__init__.py", "x = 1\n", false);
    so_digest = add("_ops.abi3.so", random_bytes(3000, 1), true);
  }
  // Stores `bytes` as a blob and links `rel` to it the way huggingface_hub does.
  std::string add(const std::string& rel, const std::string& bytes, bool lfs) {
    const std::string digest = lfs ? sha256_hex(bytes) : git_blob_sha1_hex(bytes);
    write(blobs / digest, bytes);
    fs::create_directories((variant / rel).parent_path());
    fs::create_symlink(fs::relative(blobs / digest, (variant / rel).parent_path()), variant / rel);
    return digest;
  }
  SnapshotOptions strict() const { return SnapshotOptions{SnapshotPolicy::strict, blobs}; }
};

// Expects read_snapshot to refuse with `code`, naming `rel`; returns the message.
std::string expect_refusal(const SnapshotFixture& f, ErrorCode code, const std::string& rel) {
  try {
    read_snapshot(f.variant, f.strict());
    FAIL("expected the strict policy to refuse " << rel);
  } catch (const Error& e) {
    CHECK_MESSAGE(e.code() == code, e.what());
    CHECK_MESSAGE(std::string(e.what()).find(rel) != std::string::npos, e.what());
    // scan_snapshot reports the same entry without throwing; the good ones stay listed.
    const auto listing = scan_snapshot(f.variant, f.strict());
    REQUIRE(listing.problems.size() == 1);
    CHECK(listing.problems[0].path == rel);
    CHECK(listing.entries.size() == 2);
    return e.what();
  }
  return {};
}

}  // namespace

TEST_CASE("strict snapshot: entries with digest, kind, size and blob, sorted bytewise") {
  SnapshotFixture f;
  f.add("B.py", "upper\n", false);
  write(f.variant / "__pycache__" / "x.cpython-311.pyc", "junk");  // skipped, even as a plain file
  write(f.variant / "stale.pyc", "junk");
  const auto entries = read_snapshot(f.variant, f.strict());
  REQUIRE(entries.size() == 3);
  CHECK(entries[0].path == "B.py");  // bytewise: 'B' < '_' < 'l'
  CHECK(entries[1].path == "_ops.abi3.so");
  CHECK(entries[2].path == "layers/__init__.py");
  CHECK(entries[1].digest == f.so_digest);
  CHECK(entries[1].kind == DigestKind::lfs_sha256);
  CHECK(entries[1].size == 3000);
  CHECK(entries[1].file == fs::absolute(f.blobs / f.so_digest).lexically_normal());
  CHECK(entries[1].link_target == "../../../../blobs/" + f.so_digest);
  CHECK(entries[2].digest == f.py_digest);
  CHECK(entries[2].kind == DigestKind::git_sha1);
  CHECK(entries[2].link_target == "../../../../../blobs/" + f.py_digest);
  // Without skipping, bytecode is listed, and a plain .pyc is a refusal.
  SnapshotOptions all = f.strict();
  all.skip_unhashed = false;
  const auto listing = scan_snapshot(f.variant, all);
  CHECK(listing.entries.size() == 3);
  REQUIRE(listing.problems.size() == 2);
  CHECK(listing.problems[0].path == "__pycache__/x.cpython-311.pyc");
  CHECK(listing.problems[1].path == "stale.pyc");
}

TEST_CASE("strict snapshot: every entry that is not a relative link to this repo's blobs/ is refused, by name") {
  SnapshotFixture f;
  SUBCASE("a link leaving blobs/") {
    write(f.repo / "elsewhere" / f.py_digest, "x = 1\n");
    fs::create_symlink("../../../../elsewhere/" + f.py_digest, f.variant / "leaves.py");
    auto what = expect_refusal(f, ErrorCode::integrity, "leaves.py");
    CHECK(what.find("outside the repository's blobs/") != std::string::npos);
  }
  SUBCASE("an absolute link, even into blobs/") {
    fs::create_symlink(f.blobs / f.py_digest, f.variant / "absolute.py");
    auto what = expect_refusal(f, ErrorCode::integrity, "absolute.py");
    CHECK(what.find("absolute") != std::string::npos);
  }
  SUBCASE("a link to another repository's blobs") {
    const fs::path other = f.tmp.path() / "kernels--evil--x" / "blobs";
    write(other / f.py_digest, "x = 1\n");
    fs::create_symlink(fs::relative(other / f.py_digest, f.variant), f.variant / "other.py");
    expect_refusal(f, ErrorCode::integrity, "other.py");
  }
  SUBCASE("a dangling link") {
    fs::create_symlink("../../../../blobs/" + std::string(40, 'e'), f.variant / "dangling.py");
    auto what = expect_refusal(f, ErrorCode::not_found, "dangling.py");
    CHECK(what.find("dangling") != std::string::npos);
  }
  SUBCASE("a link to a directory") {
    fs::create_directories(f.blobs / std::string(40, 'd'));
    fs::create_symlink("../../../../blobs/" + std::string(40, 'd'), f.variant / "dirlink");
    expect_refusal(f, ErrorCode::integrity, "dirlink");
  }
  SUBCASE("a directory link leaving the snapshot") {
    fs::create_directories(f.tmp.path() / "outside");
    fs::create_directory_symlink(f.tmp.path() / "outside", f.variant / "outside");
    expect_refusal(f, ErrorCode::integrity, "outside");
  }
  SUBCASE("a regular file") {
    write(f.variant / "plain.py", "x = 1\n");
    auto what = expect_refusal(f, ErrorCode::integrity, "plain.py");
    CHECK(what.find("regular file") != std::string::npos);
  }
  SUBCASE("a special file") {
    REQUIRE(::mkfifo((f.variant / "fifo").c_str(), 0600) == 0);
    auto what = expect_refusal(f, ErrorCode::integrity, "fifo");
    CHECK(what.find("special file") != std::string::npos);
  }
  SUBCASE("bad blob names") {
    for (const std::string& name : {std::string(39, 'a'), std::string(40, 'A'), std::string(64, 'g'), std::string("x")}) {
      CAPTURE(name);
      write(f.blobs / name, "x = 1\n");
      fs::create_symlink("../../../../blobs/" + name, f.variant / "badname.py");
      auto what = expect_refusal(f, ErrorCode::integrity, "badname.py");
      CHECK(what.find("not a 40- or 64-hex digest") != std::string::npos);
      fs::remove(f.variant / "badname.py");
    }
  }
  SUBCASE("a blob that is itself a link") {
    const std::string name(40, 'c');
    write(f.tmp.path() / "target", "x");
    fs::create_symlink(f.tmp.path() / "target", f.blobs / name);
    fs::create_symlink("../../../../blobs/" + name, f.variant / "chained.py");
    expect_refusal(f, ErrorCode::integrity, "chained.py");
  }
}

TEST_CASE("snapshot root: missing, a symlink, not a directory, no blobs/ for strict") {
  SnapshotFixture f;
  auto code_of = [](auto&& fn) {
    try {
      fn();
    } catch (const Error& e) {
      return e.code();
    }
    FAIL("expected a throw");
    return ErrorCode::generic;
  };
  CHECK(code_of([&] { read_snapshot(f.variant / "absent", f.strict()); }) == ErrorCode::not_found);
  fs::create_directory_symlink(f.variant, f.tmp.path() / "linked-variant");
  CHECK(code_of([&] { read_snapshot(f.tmp.path() / "linked-variant", f.strict()); }) == ErrorCode::integrity);
  CHECK(code_of([&] { read_snapshot(f.blobs / f.so_digest, kPlain); }) == ErrorCode::invalid_input);
  CHECK(code_of([&] { read_snapshot(f.variant, SnapshotOptions{}); }) == ErrorCode::invalid_input);
  SnapshotOptions follow = kPlain;
  follow.follow_root_link = true;
  CHECK(read_snapshot(f.tmp.path() / "linked-variant", follow).size() == 2);
  CHECK(snapshot_repo_root(f.variant) == fs::absolute(f.repo).lexically_normal());
  CHECK(code_of([&] { snapshot_repo_root(f.tmp.path()); }) == ErrorCode::invalid_input);
}

TEST_CASE("plain policy: regular files and links (chains, absolute) to regular files; no digest") {
  TempDir tmp;
  const fs::path v = tmp.path() / "local";
  write(v / "a.py", "a\n");
  write(tmp.path() / "real.so", "so");
  fs::create_symlink(tmp.path() / "real.so", tmp.path() / "hop.so");
  fs::create_symlink(tmp.path() / "hop.so", v / "chained.so");
  const auto entries = read_snapshot(v, kPlain);
  REQUIRE(entries.size() == 2);
  CHECK(entries[0].path == "a.py");
  CHECK(entries[0].digest.empty());
  CHECK(entries[0].file == v / "a.py");
  CHECK(entries[1].path == "chained.so");
  CHECK(entries[1].file == fs::canonical(tmp.path() / "real.so"));
  CHECK(entries[1].size == 2);
  REQUIRE(::mkfifo((v / "fifo").c_str(), 0600) == 0);
  try {
    read_snapshot(v, kPlain);
    FAIL("expected throw");
  } catch (const Error& e) {
    CHECK(e.code() == ErrorCode::invalid_input);
    CHECK(std::string(e.what()).find("fifo") != std::string::npos);
  }
}

TEST_CASE("hash_variant_directory on disk") {
  TempDir tmp;
  const fs::path v = tmp.path() / "torch211-cxx11-cu130-x86_64-linux";
  write(v / "__init__.py", "from ._ops import ops\n");
  write(v / "_ops.py", "import torch\nops = torch.ops._act_cuda_abc1234\n");
  write(v / "_act_cuda_abc1234.abi3.so", random_bytes(200000, 7));
  write(v / "metadata.json", "{\"name\": \"act\"}\n");
  write(v / "layers" / "__init__.py", "");
  write(v / "layers" / "deep" / "ops.so", random_bytes(1000, 8));
  write(v / "__pycache__" / "__init__.cpython-311.pyc", "junk");
  write(v / "layers" / "__pycache__" / "x.py", "junk");
  write(v / "stale.pyc", "junk");

  // Expected: each kept file's digest from git hash-object / sha256sum.
  const std::vector<std::pair<std::string, bool>> kept{{"__init__.py", false},
                                                       {"_ops.py", false},
                                                       {"_act_cuda_abc1234.abi3.so", true},
                                                       {"metadata.json", false},
                                                       {"layers/__init__.py", false},
                                                       {"layers/deep/ops.so", true}};
  std::vector<std::pair<std::string, std::string>> pairs;
  for (const auto& [rel, lfs] : kept) pairs.emplace_back(rel, lfs ? sha256sum(v / rel) : git_hash_object(v / rel));
  const auto expected = reference_variant_hash(pairs, tmp.path() / "stream");

  for (unsigned threads : {1U, 3U}) {
    const auto result = hash_variant_directory(v, kPlain, lfs_glob_chooser({"*.so"}), threads);
    CHECK(result.hash == expected);
    REQUIRE(result.files.size() == kept.size());
    for (std::size_t i = 1; i < result.files.size(); ++i) CHECK(result.files[i - 1].path < result.files[i].path);
    for (const auto& f : result.files) {
      CAPTURE(f.path);
      const bool lfs = f.path.ends_with(".so");
      CHECK(f.kind == (lfs ? DigestKind::lfs_sha256 : DigestKind::git_sha1));
      CHECK(f.size == fs::file_size(v / f.path));
    }
  }

  SUBCASE("glob on the relative path crosses '/'") {
    auto chooser = lfs_glob_chooser({"layers/*"});
    CHECK(chooser("layers/deep/ops.so", v / "layers/deep/ops.so") == DigestKind::lfs_sha256);
    CHECK(chooser("_ops.py", v / "_ops.py") == DigestKind::git_sha1);
    CHECK(lfs_glob_chooser({"ops.so"})("layers/deep/ops.so", v) == DigestKind::lfs_sha256);  // basename
    CHECK(lfs_glob_chooser({})("x.so", v) == DigestKind::git_sha1);
  }

  SUBCASE("bad entries are errors naming the path") {
    fs::create_directory_symlink(v / "layers", v / "linked-dir");
    try {
      hash_variant_directory(v, kPlain, lfs_glob_chooser({"*.so"}));
      FAIL("expected throw");
    } catch (const Error& e) {
      CHECK(e.code() == ErrorCode::invalid_input);
      CHECK(std::string(e.what()).find("linked-dir") != std::string::npos);
    }
    fs::remove(v / "linked-dir");
    fs::create_symlink(v / "nowhere", v / "dangling");
    try {
      hash_variant_directory(v, kPlain, lfs_glob_chooser({"*.so"}));
      FAIL("expected throw");
    } catch (const Error& e) {
      CHECK(e.code() == ErrorCode::not_found);
      CHECK(std::string(e.what()).find("dangling") != std::string::npos);
    }
    fs::remove(v / "dangling");
    CHECK_THROWS_AS(hash_variant_directory(tmp.path() / "absent", kPlain, lfs_glob_chooser({})), Error);
    CHECK_THROWS_AS(hash_variant_directory(v / "metadata.json", kPlain, lfs_glob_chooser({})), Error);
  }

  SUBCASE("HF cache snapshot: kind from the blob name, content checked") {
    const fs::path repo = tmp.path() / "kernels--org--act";
    const fs::path snap = repo / "snapshots" / std::string(40, 'a') / "build" / v.filename();
    for (const auto& [rel, lfs] : kept) {
      const auto digest = lfs ? sha256sum(v / rel) : git_hash_object(v / rel);
      fs::create_directories(repo / "blobs");
      fs::copy_file(v / rel, repo / "blobs" / digest, fs::copy_options::overwrite_existing);
      fs::create_directories((snap / rel).parent_path());
      // Relative link as huggingface_hub writes it.
      fs::create_symlink(fs::relative(repo / "blobs" / digest, (snap / rel).parent_path()), snap / rel);
    }
    const SnapshotOptions strict{SnapshotPolicy::strict, repo / "blobs"};
    const DigestKindChooser chooser = lfs_glob_chooser({});  // unused under the strict policy
    const auto result = hash_variant_directory(snap, strict, chooser, 2);
    CHECK(result.hash == expected);
    // Python leaves bytecode next to the links: it is ignored.
    write(snap / "__pycache__" / "__init__.cpython-311.pyc", "junk");
    CHECK(hash_variant_directory(snap, strict, chooser, 2).hash == expected);
    // A plain file in a snapshot is not a cache link.
    write(snap / "extra.txt", "x");
    CHECK_THROWS_AS(hash_variant_directory(snap, strict, chooser, 2), Error);
    fs::remove(snap / "extra.txt");
    // Tampered blob: integrity error naming the file.
    const auto blob = repo / "blobs" / git_hash_object(v / "_ops.py");
    fs::remove(blob);
    write(blob, "tampered\n");
    try {
      hash_variant_directory(snap, strict, chooser, 2);
      FAIL("expected throw");
    } catch (const Error& e) {
      CHECK(e.code() == ErrorCode::integrity);
      CHECK(std::string(e.what()).find("_ops.py") != std::string::npos);
    }
  }
}
