// Digests checked against independent references: published test vectors,
// `git hash-object`, `sha256sum`, and the variant hash rebuilt with
// printf | xxd -r -p | sha256sum from the docs/formats.md definition.
#include <doctest/doctest.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "../hash_reference.hpp"
#include "kernel_lock/core/error.hpp"
#include "kernel_lock/core/hash.hpp"

namespace fs = std::filesystem;
using namespace kernel_lock;

using namespace kltest;

TEST_CASE("published digest vectors") {
  CHECK(sha256_hex("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  CHECK(sha256_hex("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  // docs/hf-cache.md (blob names) and git itself.
  CHECK(git_blob_sha1_hex("Hello, World!") == "b45ef6fec89518d314f546fd6c3025367b721684");
  CHECK(git_blob_sha1_hex("") == "e69de29bb2d1d6434b8b29ae775ad8c2e48c5391");
}

TEST_CASE("Hasher streams, moves and refuses reuse") {
  Hasher a(Hasher::Algorithm::sha256);
  a.update(std::string_view("a"));
  Hasher b = std::move(a);
  b.update(std::string_view("bc"));
  CHECK(b.finish_hex() == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  CHECK_THROWS_AS(b.finish(), Error);
  CHECK_THROWS_AS(b.update(std::string_view("x")), Error);
  Hasher sha1(Hasher::Algorithm::sha1);
  sha1.update(std::string_view("abc"));
  CHECK(sha1.finish_hex() == "a9993e364706816aba3e25717850c26c9cd0d89d");
}

TEST_CASE("hex and digest kinds") {
  const std::vector<std::uint8_t> bytes{0x00, 0x7f, 0x80, 0xff};
  CHECK(to_hex(bytes) == "007f80ff");
  CHECK(from_hex("007F80ff") == bytes);
  CHECK_THROWS_AS(from_hex("abc"), Error);
  CHECK_THROWS_AS(from_hex("zz"), Error);
  try {
    from_hex("0g");
    FAIL("expected throw");
  } catch (const Error& e) {
    CHECK(e.code() == ErrorCode::invalid_input);
  }
  CHECK(digest_kind_from_hex(std::string(40, 'a')) == DigestKind::git_sha1);
  CHECK(digest_kind_from_hex(std::string(64, 'a')) == DigestKind::lfs_sha256);
  CHECK_THROWS_AS(digest_kind_from_hex(std::string(41, 'a')), Error);
  CHECK(to_string(DigestKind::git_sha1) == "git-sha1");
  CHECK(to_string(DigestKind::lfs_sha256) == "sha256");
  CHECK(parse_digest_kind("git-sha1") == DigestKind::git_sha1);
  CHECK(parse_digest_kind("sha256") == DigestKind::lfs_sha256);
  CHECK_THROWS_AS(parse_digest_kind("sha1"), Error);
}

TEST_CASE("file digests match git hash-object and sha256sum") {
  TempDir tmp;
  const std::size_t mib = std::size_t{1} << 20;
  const std::vector<std::size_t> sizes{0, 1, 4095, 4096, mib - 1, mib, mib + 1, 3 * mib + 7};
  std::vector<fs::path> paths;
  for (std::size_t i = 0; i < sizes.size(); ++i) {
    auto p = tmp.path() / ("file " + std::to_string(i) + ".bin");
    write(p, random_bytes(sizes[i], static_cast<unsigned>(i + 1)));
    paths.push_back(p);
  }
  for (const auto& p : paths) {
    CAPTURE(p);
    const auto git = git_hash_object(p);
    const auto sha = sha256sum(p);
    CHECK(git_blob_sha1_hex_file(p) == git);
    CHECK(sha256_hex_file(p) == sha);
    CHECK(file_digest_hex(p, DigestKind::git_sha1) == git);
    CHECK(file_digest_hex(p, DigestKind::lfs_sha256) == sha);
    const auto both = digest_file_both(p);
    CHECK(both.git_sha1_hex == git);
    CHECK(both.sha256_hex == sha);
    CHECK(both.size == fs::file_size(p));
  }

  SUBCASE("parallel API keeps the order and agrees") {
    for (unsigned threads : {1U, 2U, 3U, 0U}) {
      CAPTURE(threads);
      const auto all = digest_files(paths, threads);
      REQUIRE(all.size() == paths.size());
      std::vector<FileDigestRequest> requests;
      for (std::size_t i = 0; i < paths.size(); ++i) {
        CHECK(all[i].sha256_hex == sha256sum(paths[i]));
        CHECK(all[i].git_sha1_hex == git_hash_object(paths[i]));
        requests.push_back({paths[i], i % 2 == 0 ? DigestKind::git_sha1 : DigestKind::lfs_sha256});
      }
      const auto one = digest_files_hex(requests, threads);
      for (std::size_t i = 0; i < paths.size(); ++i)
        CHECK(one[i] == (i % 2 == 0 ? all[i].git_sha1_hex : all[i].sha256_hex));
    }
    CHECK(digest_files({}, 4).empty());
  }

  SUBCASE("errors name the path; the first failing path in order wins") {
    auto with_missing = paths;
    with_missing.insert(with_missing.begin() + 2, tmp.path() / "missing-a");
    with_missing.push_back(tmp.path() / "missing-b");
    for (unsigned threads : {1U, 4U}) {
      try {
        digest_files(with_missing, threads);
        FAIL("expected throw");
      } catch (const Error& e) {
        CHECK(e.code() == ErrorCode::not_found);
        CHECK(std::string(e.what()).find("missing-a") != std::string::npos);
      }
    }
    try {
      sha256_hex_file(tmp.path());
      FAIL("expected throw");
    } catch (const Error& e) {
      CHECK(e.code() == ErrorCode::invalid_input);
      CHECK(std::string(e.what()).find(tmp.path().string()) != std::string::npos);
    }
  }
}

TEST_CASE("is_hashed_variant_path skips bytecode") {
  CHECK(is_hashed_variant_path("__init__.py"));
  CHECK(is_hashed_variant_path("layers/norm.py"));
  CHECK(is_hashed_variant_path("_ops.so"));
  CHECK(is_hashed_variant_path("pycache/x.py"));
  CHECK(is_hashed_variant_path("a.pyc.txt"));
  CHECK_FALSE(is_hashed_variant_path("x.pyc"));
  CHECK_FALSE(is_hashed_variant_path("layers/x.pyc"));
  CHECK_FALSE(is_hashed_variant_path("__pycache__/x.cpython-311.pyc"));
  CHECK_FALSE(is_hashed_variant_path("__pycache__/notes.txt"));
  CHECK_FALSE(is_hashed_variant_path("pkg/__pycache__/x.py"));
  CHECK_FALSE(is_hashed_variant_path("__pycache__"));
}


TEST_CASE("git_lfs_concat_hash follows the docs/formats.md definition") {
  TempDir tmp;
  std::vector<VariantFileDigest> files{
      {"b.py", git_blob_sha1_hex("print('b')\n")},
      {"_ops.so", sha256_hex("ELF...")},
      {"B.py", git_blob_sha1_hex("upper\n")},
      {"layers/__init__.py", git_blob_sha1_hex("")},
      {"layers.py", git_blob_sha1_hex("x = 1\n")},
      {"caf\xc3\xa9.txt", git_blob_sha1_hex("utf-8 name\n")},
      {"__pycache__/b.cpython-311.pyc", git_blob_sha1_hex("bytecode")},
      {"x.pyc", sha256_hex("bytecode")},
  };
  std::vector<std::pair<std::string, std::string>> kept;
  for (const auto& f : files)
    if (is_hashed_variant_path(f.path)) kept.emplace_back(f.path, f.digest_hex);
  REQUIRE(kept.size() == 6);
  CHECK(git_lfs_concat_hash(files) == reference_variant_hash(kept, tmp.path() / "stream"));
  // Order of input does not matter.
  std::reverse(files.begin(), files.end());
  CHECK(git_lfs_concat_hash(files) == reference_variant_hash(kept, tmp.path() / "stream"));
  // Empty variant: sha256 of nothing.
  CHECK(git_lfs_concat_hash({}) == "sha256-e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  // Malformed digests are refused, naming the file.
  try {
    git_lfs_concat_hash({{"a.py", "abcd"}});
    FAIL("expected throw");
  } catch (const Error& e) {
    CHECK(e.code() == ErrorCode::invalid_input);
    CHECK(std::string(e.what()).find("a.py") != std::string::npos);
  }
  CHECK_THROWS_AS(git_lfs_concat_hash({{"a.py", std::string(40, 'g')}}), Error);
}
