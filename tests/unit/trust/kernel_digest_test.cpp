// The kernel digest of metadata.json (signing.md) and the signed-variant check.
#include <doctest/doctest.h>

#include "kernel_lock/trust/kernel_digest.hpp"
#include "trust_fixtures.hpp"

using namespace kernel_lock::trust;
using namespace trust_test;
namespace fs = std::filesystem;

namespace {

constexpr const char* kHelloSha256 = "uU0nuZNNPgilLlLX2n2r+sSE7+N6U4DukIj3rOLvzek=";

// A variant directory: the .so, a nested layer, files the digest leaves out.
void make_variant(const fs::path& dir) {
  write_file(dir / "_extension.so", "hello world");
  write_file(dir / "layers" / "__init__.py", "x = 1\n");
  write_file(dir / "stale.pyc", "pyc outside __pycache__ counts");
  write_file(dir / "__pycache__" / "a.cpython-312.pyc", "ignored");
  write_file(dir / "layers" / "__pycache__" / "b.pyc", "ignored");
  write_file(dir / "metadata.json.sigstore", "ignored");
  write_file(dir / "layers" / "metadata.json", "ignored at any depth");
}

std::string metadata_with(const KernelDigest& digest) {
  nlohmann::json files = nlohmann::json::object();
  for (const auto& [path, value] : digest.files) files[path] = value;
  return nlohmann::json{{"name", "test"}, {"digest", {{"algorithm", to_string(digest.algorithm)}, {"files", files}}}}.dump();
}

}  // namespace

TEST_CASE("signing.md test vector: `hello world` as _extension.so") {
  ScratchDir dir;
  write_file(dir.path() / "_extension.so", "hello world");
  const auto digest = compute_kernel_digest(dir.path(), DigestAlgorithm::sha256);
  REQUIRE(digest.files.size() == 1);
  CHECK(digest.files.at("_extension.so") == kHelloSha256);
}

TEST_CASE("exclusions: metadata.json, metadata.json.sigstore, __pycache__; a loose .pyc counts") {
  CHECK_FALSE(is_digested_path("metadata.json"));
  CHECK_FALSE(is_digested_path("metadata.json.sigstore"));
  CHECK_FALSE(is_digested_path("sub/metadata.json"));
  CHECK_FALSE(is_digested_path("__pycache__/x.pyc"));
  CHECK_FALSE(is_digested_path("a/__pycache__/b/c.py"));
  CHECK(is_digested_path("x.pyc"));
  CHECK(is_digested_path("metadata.json.bak"));
  CHECK(is_digested_path("my__pycache__/x.py"));
  ScratchDir dir;
  make_variant(dir.path());
  write_file(dir.path() / "metadata.json", "{}");
  const auto digest = compute_kernel_digest(dir.path(), DigestAlgorithm::sha256);
  std::vector<std::string> paths;
  for (const auto& [path, value] : digest.files) paths.push_back(path);
  CHECK(paths == std::vector<std::string>{"_extension.so", "layers/__init__.py", "stale.pyc"});
}

TEST_CASE("in-memory file digests equal the directory walk's (the loader's sealed copies)") {
  CHECK(kernel_file_digest("hello world", DigestAlgorithm::sha256) == kHelloSha256);
  ScratchDir dir;
  write_file(dir.path() / "_extension.so", "hello world");
  CHECK(kernel_file_digest("hello world", DigestAlgorithm::sha512) ==
        compute_kernel_digest(dir.path(), DigestAlgorithm::sha512).files.at("_extension.so"));
  const auto raw = b64decode(kHelloSha256);
  CHECK(encode_kernel_file_digest(raw) == kHelloSha256);
  const std::uint8_t short_digest[20] = {};
  CHECK_THROWS_AS(encode_kernel_file_digest(short_digest), kernel_lock::Error);
}

TEST_CASE("sha512 digests are 64 bytes") {
  ScratchDir dir;
  write_file(dir.path() / "_extension.so", "hello world");
  const auto digest = compute_kernel_digest(dir.path(), DigestAlgorithm::sha512);
  CHECK(b64decode(digest.files.at("_extension.so")).size() == 64);
}

TEST_CASE("the walk follows symlinks, as in the HF cache") {
  ScratchDir blobs;
  ScratchDir dir;
  write_file(blobs.path() / "blob1", "hello world");
  write_file(blobs.path() / "sub" / "blob2", "x = 1\n");
  fs::create_symlink(blobs.path() / "blob1", dir.path() / "_extension.so");
  fs::create_directory_symlink(blobs.path() / "sub", dir.path() / "layers");
  const auto digest = compute_kernel_digest(dir.path(), DigestAlgorithm::sha256);
  CHECK(digest.files.at("_extension.so") == kHelloSha256);
  CHECK(digest.files.contains("layers/blob2"));
}

TEST_CASE("a symlink loop or a broken link is an error, not a hang") {
  ScratchDir dir;
  write_file(dir.path() / "a.py", "");
  fs::create_directory_symlink(dir.path(), dir.path() / "loop");
  CHECK_THROWS_AS(compute_kernel_digest(dir.path(), DigestAlgorithm::sha256), kernel_lock::Error);
  ScratchDir broken;
  fs::create_symlink(broken.path() / "nowhere", broken.path() / "x.so");
  try {
    compute_kernel_digest(broken.path(), DigestAlgorithm::sha256);
    FAIL("a broken link was accepted");
  } catch (const kernel_lock::Error& e) {
    CHECK(e.code() == kernel_lock::ErrorCode::not_found);
  }
}

TEST_CASE("check_kernel_digest names added, missing and altered files") {
  ScratchDir dir;
  make_variant(dir.path());
  const auto digest = compute_kernel_digest(dir.path(), DigestAlgorithm::sha256);
  write_file(dir.path() / "metadata.json", metadata_with(digest));
  CHECK(check_kernel_digest(dir.path()).matches());
  CHECK(check_kernel_digest(dir.path()).describe() == "matches");
  write_file(dir.path() / "_extension.so", "hello world!");
  write_file(dir.path() / "extra.py", "");
  fs::remove(dir.path() / "layers" / "__init__.py");
  write_file(dir.path() / "__pycache__" / "new.pyc", "still ignored");
  const auto result = check_kernel_digest(dir.path());
  CHECK(result.altered == std::vector<std::string>{"_extension.so"});
  CHECK(result.unknown == std::vector<std::string>{"extra.py"});
  CHECK(result.missing == std::vector<std::string>{"layers/__init__.py"});
  CHECK(result.describe() == "1 altered (_extension.so); 1 missing (layers/__init__.py); 1 unknown (extra.py)");
}

TEST_CASE("parse_kernel_digest: missing, unsupported and malformed digests") {
  auto code_of = [](const std::string& json) {
    try {
      parse_kernel_digest(json);
    } catch (const kernel_lock::Error& e) {
      return e.code();
    }
    return kernel_lock::ErrorCode::generic;
  };
  CHECK(code_of(R"({"name": "x"})") == kernel_lock::ErrorCode::not_found);
  CHECK(code_of(R"({"digest": {"algorithm": "md5", "files": {}}})") == kernel_lock::ErrorCode::unsupported);
  CHECK(code_of(R"({"digest": {"algorithm": "sha256", "files": {"a": "AAAA"}}})") == kernel_lock::ErrorCode::invalid_input);
  CHECK(code_of(R"({"digest": {"algorithm": "sha256", "files": []}})") == kernel_lock::ErrorCode::invalid_input);
  CHECK(code_of("not json") == kernel_lock::ErrorCode::invalid_input);
  const auto digest = parse_kernel_digest(
      R"({"digest": {"algorithm": "sha256", "files": {"_extension.so": "uU0nuZNNPgilLlLX2n2r-sSE7-N6U4DukIj3rOLvzek"}}})");
  CHECK(digest.files.at("_extension.so") == kHelloSha256);  // normalised to standard base64
}

TEST_CASE("verify_kernel_variant checks the signature before it parses metadata.json") {
  ScratchDir dir;
  // A signed "metadata.json" that is not JSON: the GitHub vector's artifact.
  fs::copy_file(fixtures() / "bundle_v3_github.whl", dir.path() / "metadata.json");
  fs::copy_file(fixtures() / "bundle_v3_github.whl.sigstore", dir.path() / "metadata.json.sigstore");
  // Wrong signer: rejected, and metadata.json is never parsed (no exception).
  const auto rejected = verify_kernel_variant(dir.path(), production_root(), IdentityPolicy::kernels_community());
  CHECK(rejected.signature.failed_step == VerifyStep::identity_policy);
  CHECK_FALSE(rejected.digest.has_value());
  CHECK_FALSE(rejected.verified());
  // Right signer: the signature verifies, then metadata.json is parsed (and is not JSON).
  try {
    verify_kernel_variant(dir.path(), production_root(), github_policy());
    FAIL("non-JSON metadata.json was accepted");
  } catch (const kernel_lock::Error& e) {
    CHECK(e.code() == kernel_lock::ErrorCode::invalid_input);
  }
  fs::remove(dir.path() / "metadata.json.sigstore");
  CHECK_THROWS_AS(verify_kernel_variant(dir.path(), production_root(), github_policy()), kernel_lock::Error);
}

TEST_CASE("only a __pycache__ directory is left out, not a file of that name") {
  ScratchDir dir;
  write_file(dir.path() / "__pycache__", "a file");
  CHECK(compute_kernel_digest(dir.path(), DigestAlgorithm::sha256).files.contains("__pycache__"));
}

TEST_CASE("check_kernel_variant names the outcome in the categories of kernels.verify.verify_variant") {
  ScratchDir dir;
  const Verifier verifier(production_root());
  auto status = [&](const IdentityPolicy& policy) { return check_kernel_variant(dir.path(), verifier, policy).status; };
  CHECK(status(github_policy()) == VariantStatus::bundle_missing);
  fs::copy_file(fixtures() / "bundle_v3_github.whl.sigstore", dir.path() / "metadata.json.sigstore");
  CHECK(status(github_policy()) == VariantStatus::metadata_missing);
  write_file(dir.path() / "metadata.json.sigstore", "{not a bundle");
  CHECK(status(github_policy()) == VariantStatus::bundle_invalid);
  fs::remove(dir.path() / "metadata.json.sigstore");
  fs::copy_file(fixtures() / "bundle_v3_github.whl.sigstore", dir.path() / "metadata.json.sigstore");
  // A signed metadata.json that is not JSON: the GitHub vector's artifact.
  fs::copy_file(fixtures() / "bundle_v3_github.whl", dir.path() / "metadata.json");
  const auto rejected = check_kernel_variant(dir.path(), verifier, IdentityPolicy::kernels_community());
  CHECK(rejected.status == VariantStatus::signature_failed);
  CHECK(rejected.signature.failed_step == VerifyStep::identity_policy);
  const auto invalid = check_kernel_variant(dir.path(), verifier, github_policy());
  CHECK(invalid.status == VariantStatus::metadata_invalid);
  CHECK_FALSE(invalid.message.empty());
  CHECK_FALSE(invalid.verified());
  CHECK(to_string(VariantStatus::digest_violation) == "digest violation");
}
