// Verification of cached variants against the lock, before anything is loaded:
// every tamper case must refuse with Error(integrity) naming the file and digests.
#include <doctest/doctest.h>

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <string>

#include "cache_builder.hpp"
#include "kernel_lock/core/error.hpp"
#include "kernel_lock/loader/sealed_variant.hpp"

using namespace kernel_lock;
using namespace kl_test;

namespace {

const std::string kSha = "0123456789abcdef0123456789abcdef01234567";
const std::string kVariant = "torch211-cxx11-cpu-x86_64-linux";

std::vector<FakeFile> fake_kernel_files() {
  return {
      {"__init__.py", "from ._ops import ops\n"},
      {"_ops.py", "import torch\nops = torch.ops._fake_cpu_1234567\n"},
      {"_fake_cpu_1234567.abi3.so", std::string("\x7f" "ELF fake shared object\0 bytes", 29), true},
      {"layers/__init__.py", "class Fake: pass\n"},
      {"metadata.json", "{\"id\": \"_fake_cpu_1234567\"}"},
  };
}

struct Fixture {
  TempDir tmp;
  CacheBuilder cache{tmp.path() / "hub", "org/fake", kSha};
  LockedVariant locked = cache.add_variant(kVariant, fake_kernel_files());
};

// Runs `fn`, expecting Error(code); returns its what().
template <class Fn>
std::string expect_error(ErrorCode code, Fn&& fn) {
  try {
    fn();
  } catch (const Error& e) {
    CHECK_MESSAGE(e.code() == code, e.what());
    return e.what();
  }
  FAIL("no error thrown");
  return {};
}

bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

}  // namespace

TEST_CASE("an untouched variant verifies against a lock with per-file records") {
  Fixture f;
  auto v = read_locked_variant(f.cache.repo(), kSha, kVariant, f.locked);
  CHECK(v.trust == Trust::locked);
  CHECK(v.variant_hash == f.locked.hash);
  REQUIRE(v.files.size() == 5);
  const auto* so = v.find("_fake_cpu_1234567.abi3.so");
  REQUIRE(so != nullptr);
  CHECK(so->kind == DigestKind::lfs_sha256);
  CHECK(so->content.read() == fake_kernel_files()[2].content);
  const auto* ops = v.find("_ops.py");
  REQUIRE(ops != nullptr);
  CHECK(ops->kind == DigestKind::git_sha1);
  CHECK(ops->digest == git_blob_sha1_hex(fake_kernel_files()[1].content));
  CHECK(v.find("layers/__init__.py") != nullptr);
}

namespace {

// Bytes no two 1 MiB chunks of which are alike (the large-file path copies and
// hashes in 1 MiB chunks on two threads).
std::string large_bytes(std::size_t size) {
  std::string out(size, '\0');
  std::uint64_t x = 0x9e3779b97f4a7c15ULL;
  for (auto& c : out) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    c = static_cast<char>(x);
  }
  return out;
}

}  // namespace

TEST_CASE("a large .so (past the pipelined copy's threshold, odd size) is sealed byte for byte and verified") {
  TempDir tmp;
  CacheBuilder cache{tmp.path() / "hub", "org/fake", kSha};
  auto files = fake_kernel_files();
  files[2].content = large_bytes((std::size_t{9} << 20) + 12345);
  auto locked = cache.add_variant(kVariant, files);
  auto v = read_locked_variant(cache.repo(), kSha, kVariant, locked);
  CHECK(v.variant_hash == locked.hash);
  const auto* so = v.find("_fake_cpu_1234567.abi3.so");
  REQUIRE(so != nullptr);
  CHECK(so->content.size() == files[2].content.size());
  CHECK(so->content.read() == files[2].content);
  CHECK(so->digest == sha256_hex(files[2].content));

  // One byte changed in the last, partial chunk refuses, naming both digests.
  auto blob = cache.repo().blob(so->digest);
  auto bytes = slurp(blob);
  bytes[bytes.size() - 7] ^= 0x40;
  fs::remove(blob);
  spit(blob, bytes);
  const auto what = expect_error(ErrorCode::integrity, [&] { read_locked_variant(cache.repo(), kSha, kVariant, locked); });
  CHECK(contains(what, so->digest));
  CHECK(contains(what, sha256_hex(bytes)));
}

TEST_CASE("one byte changed in the .so blob refuses, naming the file and both digests") {
  Fixture f;
  auto so = fake_kernel_files()[2];
  auto blob = f.cache.repo().blob(digest_of(so));
  auto bytes = slurp(blob);
  bytes[5] ^= 0x01;
  fs::remove(blob);  // blobs are read-only copies in real caches; rewrite it
  spit(blob, bytes);
  auto what = expect_error(ErrorCode::integrity, [&] { read_locked_variant(f.cache.repo(), kSha, kVariant, f.locked); });
  CHECK(contains(what, "_fake_cpu_1234567.abi3.so"));
  CHECK(contains(what, digest_of(so)));                  // expected
  CHECK(contains(what, sha256_hex(bytes)));              // actual
}

TEST_CASE("one byte changed in _ops.py refuses") {
  Fixture f;
  auto ops = fake_kernel_files()[1];
  auto blob = f.cache.repo().blob(digest_of(ops));
  auto bytes = slurp(blob);
  bytes[0] = 'J';
  spit(blob, bytes);
  auto what = expect_error(ErrorCode::integrity, [&] { read_locked_variant(f.cache.repo(), kSha, kVariant, f.locked); });
  CHECK(contains(what, "_ops.py"));
  CHECK(contains(what, git_blob_sha1_hex(bytes)));
}

TEST_CASE("a file added to the snapshot refuses") {
  Fixture f;
  FakeFile extra{"evil.py", "import os\n"};
  f.cache.add_blob(digest_of(extra), extra.content);
  f.cache.link(kVariant, extra.path, digest_of(extra));
  auto what = expect_error(ErrorCode::integrity, [&] { read_locked_variant(f.cache.repo(), kSha, kVariant, f.locked); });
  CHECK(contains(what, "evil.py"));
  CHECK(contains(what, "not in the lock"));
}

TEST_CASE("a plain file added next to the symlinks refuses too") {
  Fixture f;
  spit(f.cache.variant_dir(kVariant) / "sitecustomize.py", "x = 1\n");
  auto what = expect_error(ErrorCode::integrity, [&] { read_locked_variant(f.cache.repo(), kSha, kVariant, f.locked); });
  CHECK(contains(what, "sitecustomize.py"));
}

TEST_CASE("a file removed from the snapshot refuses") {
  Fixture f;
  fs::remove(f.cache.variant_dir(kVariant) / "layers/__init__.py");
  auto what = expect_error(ErrorCode::integrity, [&] { read_locked_variant(f.cache.repo(), kSha, kVariant, f.locked); });
  CHECK(contains(what, "layers/__init__.py"));
  CHECK(contains(what, "missing"));
}

TEST_CASE("a symlink swapped to another blob refuses") {
  Fixture f;
  FakeFile other{"_ops.py", "import torch\nops = torch.ops.something_else\n"};
  f.cache.add_blob(digest_of(other), other.content);
  f.cache.link(kVariant, "_ops.py", digest_of(other));
  auto what = expect_error(ErrorCode::integrity, [&] { read_locked_variant(f.cache.repo(), kSha, kVariant, f.locked); });
  CHECK(contains(what, "_ops.py"));
  CHECK(contains(what, digest_of(fake_kernel_files()[1])));
  CHECK(contains(what, digest_of(other)));
}

TEST_CASE("a symlink pointing outside blobs/ refuses") {
  Fixture f;
  spit(f.tmp.path() / "elsewhere" / "x.py", "print('hi')\n");
  auto l = f.cache.variant_dir(kVariant) / "__init__.py";
  fs::remove(l);
  fs::create_symlink(f.tmp.path() / "elsewhere" / "x.py", l);
  auto what = expect_error(ErrorCode::integrity, [&] { read_locked_variant(f.cache.repo(), kSha, kVariant, f.locked); });
  CHECK(contains(what, "outside"));
}

TEST_CASE("a lock whose variant hash disagrees with its files refuses") {
  Fixture f;
  auto bad = f.locked;
  bad.hash = "sha256-" + std::string(64, 'a');
  auto what = expect_error(ErrorCode::integrity, [&] { read_locked_variant(f.cache.repo(), kSha, kVariant, bad); });
  CHECK(contains(what, bad.hash));
  CHECK(contains(what, f.locked.hash));
}

TEST_CASE("Python-written lock without per-file data: digest kinds come from the blob names") {
  Fixture f;
  auto python_locked = f.locked;
  python_locked.files.clear();
  auto v = read_locked_variant(f.cache.repo(), kSha, kVariant, python_locked);
  CHECK(v.variant_hash == f.locked.hash);
  CHECK(v.find("_fake_cpu_1234567.abi3.so")->kind == DigestKind::lfs_sha256);
  CHECK(v.find("metadata.json")->kind == DigestKind::git_sha1);

  SUBCASE("a corrupt blob refuses, naming its expected and actual digest") {
    auto so = fake_kernel_files()[2];
    auto blob = f.cache.repo().blob(digest_of(so));
    auto bytes = slurp(blob);
    bytes.back() = 'X';
    spit(blob, bytes);
    auto what = expect_error(ErrorCode::integrity,
                             [&] { read_locked_variant(f.cache.repo(), kSha, kVariant, python_locked); });
    CHECK(contains(what, digest_of(so)));
    CHECK(contains(what, sha256_hex(bytes)));
  }
  SUBCASE("a file added refuses through the variant hash") {
    FakeFile extra{"extra.py", "pass\n"};
    f.cache.add_blob(digest_of(extra), extra.content);
    f.cache.link(kVariant, extra.path, digest_of(extra));
    auto what = expect_error(ErrorCode::integrity,
                             [&] { read_locked_variant(f.cache.repo(), kSha, kVariant, python_locked); });
    CHECK(contains(what, python_locked.hash));
  }
  SUBCASE("a file removed refuses through the variant hash") {
    fs::remove(f.cache.variant_dir(kVariant) / "__init__.py");
    expect_error(ErrorCode::integrity, [&] { read_locked_variant(f.cache.repo(), kSha, kVariant, python_locked); });
  }
  SUBCASE("a symlink swapped to another (intact) blob refuses through the variant hash") {
    FakeFile other{"_ops.py", "ops = None\n"};
    f.cache.add_blob(digest_of(other), other.content);
    f.cache.link(kVariant, "_ops.py", digest_of(other));
    expect_error(ErrorCode::integrity, [&] { read_locked_variant(f.cache.repo(), kSha, kVariant, python_locked); });
  }
}

TEST_CASE("*.pyc and __pycache__ (written by Python imports) are ignored") {
  Fixture f;
  spit(f.cache.variant_dir(kVariant) / "__pycache__" / "_ops.cpython-311.pyc", "junk");
  spit(f.cache.variant_dir(kVariant) / "stale.pyc", "junk");
  auto v = read_locked_variant(f.cache.repo(), kSha, kVariant, f.locked);
  CHECK(v.files.size() == 5);
}

TEST_CASE("a missing variant is not_found with an install hint") {
  Fixture f;
  try {
    read_locked_variant(f.cache.repo(), kSha, "torch211-cxx11-cu130-x86_64-linux", f.locked);
    FAIL("no error");
  } catch (const Error& e) {
    CHECK(e.code() == ErrorCode::not_found);
    CHECK(contains(e.hint(), "kernel-lock install"));
  }
}

TEST_CASE("sealed copies cannot be written, and later changes on disk do not reach them") {
  Fixture f;
  auto v = read_locked_variant(f.cache.repo(), kSha, kVariant, f.locked);
  const auto* so = v.find("_fake_cpu_1234567.abi3.so");
  REQUIRE(so != nullptr);
  const std::string original = so->content.read();
  // Swap the blob on disk after verification (the check-then-load race).
  auto blob = f.cache.repo().blob(digest_of(fake_kernel_files()[2]));
  fs::remove(blob);
  spit(blob, "malicious replacement");
  CHECK(so->content.read() == original);
  // The memfd refuses writes and writable mappings through any descriptor.
  CHECK(::pwrite(so->content.fd(), "x", 1, 0) == -1);
  int rw = ::open(so->content.proc_path().c_str(), O_RDWR);
  if (rw >= 0) {
    CHECK(::write(rw, "x", 1) == -1);
    CHECK(::mmap(nullptr, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, rw, 0) == MAP_FAILED);
    ::close(rw);
  }
  int seals = ::fcntl(so->content.fd(), F_GET_SEALS);
  CHECK((seals & F_SEAL_WRITE) != 0);
  CHECK((seals & F_SEAL_SEAL) != 0);
  CHECK(so->content.read() == original);
}

TEST_CASE("unpinned cache reads check blob names only") {
  Fixture f;
  auto v = read_cached_variant(f.cache.repo(), kSha, kVariant);
  CHECK(v.trust == Trust::cache_blobs);
  CHECK(v.variant_hash == f.locked.hash);
  auto blob = f.cache.repo().blob(digest_of(fake_kernel_files()[0]));
  spit(blob, "tampered");
  auto what = expect_error(ErrorCode::integrity, [&] { read_cached_variant(f.cache.repo(), kSha, kVariant); });
  CHECK(contains(what, "__init__.py"));
}

TEST_CASE("local variant directories are read as they are") {
  TempDir tmp;
  spit(tmp.path() / "v" / "metadata.json", "{}");
  spit(tmp.path() / "v" / "x.so", "bytes");
  auto v = read_local_variant(tmp.path() / "v");
  CHECK(v.trust == Trust::local);
  CHECK(v.files.size() == 2);
  CHECK(v.find("x.so")->content.read() == "bytes");
}

TEST_CASE("list_variant_dirs lists directories only, sorted") {
  Fixture f;
  f.cache.add_variant("torch29-cxx11-cu126-x86_64-linux", {{"a.py", "a"}});
  spit(f.cache.repo().snapshot(kSha) / "build" / "README", "not a variant");
  auto names = list_variant_dirs(f.cache.repo().snapshot(kSha) / "build");
  CHECK(names == std::vector<std::string>{kVariant, "torch29-cxx11-cu126-x86_64-linux"});
  CHECK(list_variant_dirs(f.tmp.path() / "nope").empty());
}

TEST_CASE("resolve_cached_revision reads refs and accepts cached shas") {
  Fixture f;
  f.cache.write_ref("v1", kSha);
  CHECK(resolve_cached_revision(f.cache.repo(), "v1") == kSha);
  CHECK(resolve_cached_revision(f.cache.repo(), kSha) == kSha);
  CHECK_FALSE(resolve_cached_revision(f.cache.repo(), "v2").has_value());
  CHECK_THROWS_AS(resolve_cached_revision(f.cache.repo(), "../../etc"), Error);
}

TEST_CASE("locate_lockfile: explicit path, KERNEL_LOCK_FILE, then exe dir and cwd; kernel.lock before kernels.lock") {
  TempDir tmp;
  auto dir = tmp.path();
  spit(dir / "kernels.lock", "[]\n");
  CHECK(locate_lockfile(dir) == dir / "kernels.lock");
  spit(dir / "kernel.lock", "[]\n");
  CHECK(locate_lockfile(dir) == dir / "kernel.lock");
  CHECK(locate_lockfile(dir / "kernels.lock") == dir / "kernels.lock");
  auto what = expect_error(ErrorCode::not_found, [&] { locate_lockfile(dir / "sub"); });
  CHECK(contains(what, (dir / "sub").string()));

  ::setenv("KERNEL_LOCK_FILE", (dir / "kernels.lock").c_str(), 1);
  CHECK(locate_lockfile() == dir / "kernels.lock");
  ::setenv("KERNEL_LOCK_FILE", (dir / "missing.lock").c_str(), 1);
  what = expect_error(ErrorCode::not_found, [&] { locate_lockfile(); });
  CHECK(contains(what, "KERNEL_LOCK_FILE"));
  ::unsetenv("KERNEL_LOCK_FILE");

  // Neither env nor explicit: the current directory is searched (after the exe dir).
  TempDir cwd;
  auto old = fs::current_path();
  fs::current_path(cwd.path());
  what = expect_error(ErrorCode::not_found, [&] { locate_lockfile(); });
  CHECK(contains(what, (cwd.path() / "kernel.lock").string()));
  CHECK(contains(what, (cwd.path() / "kernels.lock").string()));
  spit(cwd.path() / "kernels.lock", "[]\n");
  CHECK(locate_lockfile() == cwd.path() / "kernels.lock");
  fs::current_path(old);
}
