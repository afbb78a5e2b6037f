// Signed variants in the loader: the lock's pinned signer is verified on the
// sealed bytes (signature of metadata.json, then its kernel digest), with the
// trusted root of LoadOptions or of the cache. The signed artifact here is a
// real Sigstore bundle (fixtures/sigstore/bundle_v3_github.whl, a GitHub
// Actions keyless signature, production trust root) standing in for
// metadata.json: its signature verifies, and the kernel digest step then finds
// no digest in it. The fixture Hub's signed kernels are loaded end to end in
// tests/e2e/test_loader_signed.py.
#include <doctest/doctest.h>

#include <chrono>
#include <cstdlib>

#include "cache_builder.hpp"
#include "kernel_lock/core/error.hpp"
#include "kernel_lock/loader/loader.hpp"

// c10 (through loader.hpp) defines a glog-style CHECK that aborts uncounted; use doctest's.
#undef CHECK
#define CHECK DOCTEST_CHECK

using namespace kernel_lock;
using namespace kl_test;

namespace {

const std::string kSha = "5555555555555555555555555555555555555555";
const std::string kRepo = "org/signed";

fs::path sigstore_fixture(const std::string& name) { return fs::path(KERNEL_LOCK_SOURCE_DIR) / "fixtures" / "sigstore" / name; }

// The identity that signed bundle_v3_github.whl (fixtures/sigstore/README.md).
LockedSignature real_signer() {
  LockedSignature s;
  s.issuer = "https://token.actions.githubusercontent.com";
  s.source_repository = "https://github.com/trailofbits/rfc8785.py";
  s.build_signer_uri = "https://github.com/trailofbits/rfc8785.py/.github/workflows/release.yml@refs/tags/v0.1.2";
  s.log_index = 1;
  s.signing_time = "2024-01-01T00:00:00Z";
  return s;
}

std::string any_variant() { return "torch211-cxx11-cpu-x86_64-linux"; }

struct SignedCache {
  TempDir tmp;
  fs::path cache = tmp.path() / "hub";
  fs::path lock = tmp.path() / "kernel.lock";
  fs::path root = tmp.path() / "trusted_root.json";
  CacheBuilder cb{cache, kRepo, kSha};

  // A variant whose metadata.json and metadata.json.sigstore are the signed
  // fixture (or without the bundle), locked with `signer` pinned (or none).
  SignedCache(std::optional<LockedSignature> signer, bool with_bundle = true) {
    std::vector<FakeFile> files = {{"__init__.py", "x = 1\n"},
                                   {"metadata.json", slurp(sigstore_fixture("bundle_v3_github.whl"))}};
    if (with_bundle) files.push_back({"metadata.json.sigstore", slurp(sigstore_fixture("bundle_v3_github.whl.sigstore"))});
    cb.add_variant(any_variant(), files);
    if (signer) cb.set_signature(any_variant(), *signer);
    cb.write_lock(lock);
    spit(root, slurp(sigstore_fixture("trusted_root.production.json")));
  }
  LoadOptions options(bool explicit_root = true) const {
    LoadOptions o;
    o.cache_dir = cache;
    o.variant = any_variant();
    o.ignore_fit = true;
    if (explicit_root) o.trusted_root = root;
    return o;
  }
};

Error load_error(const SignedCache& c, const LoadOptions& o) {
  try {
    load_kernel(kRepo, c.lock, o);
  } catch (const Error& e) {
    return e;
  }
  FAIL("loaded");
  return Error("unreachable");
}

bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

}  // namespace

TEST_CASE("a pinned signature is verified on the sealed metadata.json before its digest is read") {
  SignedCache c(real_signer());
  const auto e = load_error(c, c.options());
  CHECK(e.code() == ErrorCode::integrity);
  // The signature verified: the refusal comes from the next step (a .whl has no digest).
  CHECK(contains(e.what(), "the signed metadata.json has no usable kernel digest"));
  CHECK(contains(e.what(), any_variant()));
  CHECK(contains(e.what(), kRepo));
}

TEST_CASE("a lock whose pinned signer was edited is refused at the identity step; the lock hash still matches") {
  auto other = real_signer();
  other.build_signer_uri = "https://github.com/trailofbits/rfc8785.py/.github/workflows/evil.yml@refs/heads/main";
  SignedCache c(other);
  const auto e = load_error(c, c.options());
  CHECK(e.code() == ErrorCode::integrity);
  CHECK(contains(e.what(), "signature of metadata.json is rejected at identity"));
  CHECK(contains(e.what(), "evil.yml"));
  CHECK_FALSE(contains(e.what(), "variant hash"));
}

TEST_CASE("a signed variant without its bundle (in neither cache nor lock) is refused by the signature check") {
  SignedCache c(real_signer(), /*with_bundle=*/false);
  const auto e = load_error(c, c.options());
  CHECK(e.code() == ErrorCode::integrity);
  CHECK(contains(e.what(), "metadata.json.sigstore is missing"));
  CHECK(contains(e.what(), real_signer().build_signer_uri));
}

TEST_CASE("no trusted root: not_found naming `kernel-lock trust import`; a stale one: stale_trust") {
  SignedCache c(real_signer());
  const auto none = load_error(c, c.options(/*explicit_root=*/false));
  CHECK(none.code() == ErrorCode::not_found);
  CHECK(contains(none.hint(), "kernel-lock trust import"));
  CHECK(contains(none.hint(), "bundle"));

  fs::last_write_time(c.root, fs::file_time_type::clock::now() - std::chrono::hours(24 * 10));
  auto o = c.options();
  o.trust_max_age_days = 5;
  const auto stale = load_error(c, o);
  CHECK(stale.code() == ErrorCode::stale_trust);
  o.trust_max_age_days = 30;  // fresh enough again: back to the digest step
  CHECK(contains(load_error(c, o).what(), "no usable kernel digest"));
}

TEST_CASE("require_signature refuses a variant the lock pins no signature for, and unpinned loads") {
  SignedCache c(std::nullopt);
  auto o = c.options();
  o.require_signature = true;
  const auto e = load_error(c, o);
  CHECK(e.code() == ErrorCode::integrity);
  CHECK(contains(e.what(), "a signature is required"));
  CHECK(contains(e.hint(), "re-lock"));
  c.cb.write_ref("v1", kSha);
  try {
    get_kernel(kRepo, KernelRef::of_version(1), o);
    FAIL("loaded");
  } catch (const Error& g) {
    CHECK(g.code() == ErrorCode::integrity);
    CHECK(contains(g.what(), "get_kernel"));
  }
  ::setenv("KERNEL_LOCK_REQUIRE_SIGNATURE", "1", 1);
  auto from_env = c.options();
  const auto env_error = load_error(c, from_env);
  ::unsetenv("KERNEL_LOCK_REQUIRE_SIGNATURE");
  CHECK(env_error.code() == ErrorCode::integrity);
  CHECK(contains(env_error.what(), "a signature is required"));
}
