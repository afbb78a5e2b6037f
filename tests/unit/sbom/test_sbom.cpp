// SBOMs from a lock (sbom/sbom.hpp): the structure of the CycloneDX and SPDX
// documents, their determinism, and the content sha256 read from the cache.
#include <doctest/doctest.h>

#include <fstream>
#include <string>

#include <nlohmann/json.hpp>

#include "../temp_dir.hpp"
#include "kernel_lock/core/error.hpp"
#include "kernel_lock/core/hash.hpp"
#include "kernel_lock/core/lockfile.hpp"
#include "kernel_lock/sbom/sbom.hpp"

using namespace kernel_lock;
using json = nlohmann::json;

namespace {

constexpr const char* kVariant = "torch211-cxx11-cu130-x86_64-linux";
const std::string kInit = "# init\n";  // the git-sha1 file's content
const std::string kSo = std::string(64, 'a');
const std::string kTopSha = "1111111111111111111111111111111111111111";
const std::string kDepSha = "2222222222222222222222222222222222222222";

std::string lock_text(const std::string& signing_time = "2026-06-01T12:00:00Z") {
  json top = {
      {"repo_id", "org/top"},
      {"sha", kTopSha},
      {"variants", {{kVariant, {{"hash", "sha256-" + std::string(64, 'c')}, {"hash_type", "git_lfs_concat"}}}}},
      {"requirement", {{"version", 1}}},
      {"files",
       {{kVariant,
         json::array({{{"path", "__init__.py"}, {"size", kInit.size()}, {"digest", git_blob_sha1_hex(kInit)}, {"kind", "git-sha1"}},
                      {{"path", "_ops.so"}, {"size", 3}, {"digest", kSo}, {"kind", "sha256"}}})}}},
      {"signatures",
       {{kVariant,
         {{"issuer", "https://token.actions.githubusercontent.com"},
          {"source_repository", "https://github.com/org/top"},
          {"build_signer_uri", "https://github.com/org/top/.github/workflows/build.yaml@refs/heads/main"},
          {"log_index", 42},
          {"signing_time", signing_time}}}}}};
  json dep = {{"repo_id", "org/dep"},
              {"sha", kDepSha},
              {"variants", {{"torch-cpu", {{"hash", "sha256-" + std::string(64, 'd')}, {"hash_type", "git_lfs_concat"}}}}},
              {"requirement", {{"revision", "main"}, {"required-by", "org/top"}}}};
  return json::array({top, dep}).dump();
}

const json* find_property(const json& props, const std::string& name) {
  for (const auto& p : props)
    if (p["name"] == name) return &p["value"];
  return nullptr;
}

}  // namespace

TEST_CASE("format_cyclonedx: kernels, nested variants, files, signer and dependencies") {
  const auto lock = parse_lockfile(lock_text());
  const auto bom = json::parse(sbom::format_cyclonedx(lock));
  CHECK(bom["bomFormat"] == "CycloneDX");
  CHECK(bom["specVersion"] == "1.6");
  CHECK(bom["serialNumber"] == "urn:uuid:" + sbom::lock_uuid(lock));
  REQUIRE(bom["components"].size() == 2);
  const auto& dep = bom["components"][0];  // sorted by repo id
  const auto& top = bom["components"][1];
  CHECK(top["purl"] == "pkg:huggingface/org/top@" + kTopSha);
  CHECK(top["group"] == "org");
  CHECK(top["name"] == "top");
  REQUIRE(top["components"].size() == 1);
  const auto& variant = top["components"][0];
  CHECK(variant["purl"] == "pkg:huggingface/org/top@" + kTopSha + "#build/" + kVariant);
  CHECK(*find_property(variant["properties"], "kernel-lock:backend") == "cu");
  CHECK(*find_property(variant["properties"], "kernel-lock:backend-version") == "130");
  CHECK(*find_property(variant["properties"], "kernel-lock:arch") == "x86_64");
  CHECK(*find_property(variant["properties"], "kernel-lock:signer:log-index") == "42");
  CHECK(*find_property(variant["properties"], "kernel-lock:signer:source-repository") == "https://github.com/org/top");
  REQUIRE(variant["components"].size() == 2);
  const auto& init = variant["components"][0];
  CHECK_FALSE(init.contains("hashes"));  // only git's blob id is known
  CHECK(*find_property(init["properties"], "kernel-lock:git-blob-sha1") == git_blob_sha1_hex(kInit));
  CHECK(variant["components"][1]["hashes"][0] == json{{"alg", "SHA-256"}, {"content", kSo}});
  CHECK(find_property(dep["properties"], "kernel-lock:signer:issuer") == nullptr);
  CHECK(*find_property(dep["properties"], "kernel-lock:required-by") == "org/top");
  const auto& deps = bom["dependencies"];
  REQUIRE(deps.size() == 2);
  CHECK(deps[1]["ref"] == top["bom-ref"]);
  CHECK(deps[1]["dependsOn"] == json::array({dep["bom-ref"]}));
  CHECK(deps[0]["dependsOn"].empty());

  sbom::ContentDigests known{{sbom::FileKey{"org/top", kVariant, "__init__.py"}, {sha256_hex(kInit), "e"}}};
  const auto with_cache = json::parse(sbom::format_cyclonedx(lock, known));
  CHECK(with_cache["components"][1]["components"][0]["components"][0]["hashes"][0]["content"] == sha256_hex(kInit));
}

TEST_CASE("format_spdx: packages, files, relationships, the lock's time") {
  const auto lock = parse_lockfile(lock_text());
  const auto doc = json::parse(sbom::format_spdx(lock));
  CHECK(doc["spdxVersion"] == "SPDX-2.3");
  CHECK(doc["creationInfo"]["created"] == "2026-06-01T12:00:00Z");  // the signing time, not the clock
  CHECK(doc["documentNamespace"] == "https://spdx.org/spdxdocs/kernel-lock-" + sbom::lock_uuid(lock));
  REQUIRE(doc["packages"].size() == 4);  // 2 kernels, 2 variants
  CHECK(doc["packages"][0]["name"] == "org/dep");
  CHECK(doc["packages"][2]["externalRefs"][0]["referenceLocator"] == "pkg:huggingface/org/top@" + kTopSha);
  REQUIRE(doc["files"].size() == 2);
  CHECK(doc["files"][0]["checksums"][0]["algorithm"] == "SHA1");
  CHECK(doc["files"][0]["checksums"][0]["checksumValue"] == git_blob_sha1_hex(kInit));
  CHECK(doc["files"][0]["comment"].get<std::string>().find("git's blob id") != std::string::npos);
  CHECK(doc["files"][1]["checksums"][0] == json{{"algorithm", "SHA256"}, {"checksumValue", kSo}});
  const json depends = {{"spdxElementId", "SPDXRef-Kernel-1"}, {"relationshipType", "DEPENDS_ON"},
                        {"relatedSpdxElement", "SPDXRef-Kernel-0"}};
  CHECK(std::find(doc["relationships"].begin(), doc["relationships"].end(), depends) != doc["relationships"].end());
  CHECK(sbom::lock_timestamp(Lockfile{}) == "1970-01-01T00:00:00Z");
}

TEST_CASE("SBOM bytes depend on the lock only") {
  const auto a = parse_lockfile(lock_text());
  const auto pretty = parse_lockfile(json::parse(lock_text()).dump(4));  // other bytes, same lock
  CHECK(sbom::format_cyclonedx(a) == sbom::format_cyclonedx(pretty));
  CHECK(sbom::format_spdx(a) == sbom::format_spdx(pretty));
  auto reordered = json::parse(lock_text());
  std::swap(reordered[0], reordered[1]);
  CHECK(sbom::format_cyclonedx(parse_lockfile(reordered.dump())) == sbom::format_cyclonedx(a));
  CHECK(sbom::format_spdx(parse_lockfile(reordered.dump())) == sbom::format_spdx(a));
  const auto b = parse_lockfile(lock_text("2026-07-01T00:00:00Z"));
  CHECK(sbom::lock_uuid(a) != sbom::lock_uuid(b));
  const auto uuid = sbom::lock_uuid(a);
  CHECK(uuid.size() == 36);
  CHECK(uuid[14] == '5');  // version 5
  CHECK((uuid[19] == '8' || uuid[19] == '9' || uuid[19] == 'a' || uuid[19] == 'b'));
}

TEST_CASE("content_digests_from_cache reads files of the locked commit, and refuses a bad blob") {
  kltest::TempDir cache;
  const auto lock = parse_lockfile(lock_text());
  const auto repo = cache.path() / "kernels--org--top";
  const auto blob = repo / "blobs" / git_blob_sha1_hex(kInit);
  const auto dir = repo / "snapshots" / kTopSha / "build" / kVariant;
  std::filesystem::create_directories(blob.parent_path());
  std::filesystem::create_directories(dir);
  std::ofstream(blob) << kInit;
  std::filesystem::create_symlink("../../../../blobs/" + git_blob_sha1_hex(kInit), dir / "__init__.py");
  const auto found = sbom::content_digests_from_cache(lock, cache.path());
  REQUIRE(found.size() == 1);
  Hasher sha1(Hasher::Algorithm::sha1);
  sha1.update(kInit);
  CHECK(found.at(sbom::FileKey{"org/top", kVariant, "__init__.py"}) == sbom::ContentDigest{sha256_hex(kInit), sha1.finish_hex()});
  const auto spdx = json::parse(sbom::format_spdx(lock, found));
  CHECK(spdx["files"][0]["checksums"] == json::array({{{"algorithm", "SHA256"}, {"checksumValue", sha256_hex(kInit)}},
                                                      {{"algorithm", "SHA1"}, {"checksumValue", found.begin()->second.sha1}}}));

  std::ofstream(blob) << "tampered";
  CHECK_THROWS_AS(sbom::content_digests_from_cache(lock, cache.path()), Error);
  kltest::TempDir empty;
  CHECK(sbom::content_digests_from_cache(lock, empty.path()).empty());
}

namespace {
const std::string kMetadata = R"({
  "name": "top", "id": "_top_cuda_1", "version": 1, "license": "Apache-2.0",
  "python-depends": [], "kernel-depends": [],
  "backend": {"type": "cuda", "archs": ["10.0", "8.0", "9.0a+PTX"]},
  "provenance": {"kernel-builder": {"version": "0.12.0", "sha": "abc", "dirty": false},
                 "kernel": {"commit": "def", "dirty": true}}
})";
}  // namespace

TEST_CASE("parse_variant_metadata: backend, archs, license, provenance (legacy sha key); bad types refused") {
  const auto meta = sbom::parse_variant_metadata(kMetadata, "m.json");
  CHECK(meta.backend == "cuda");
  CHECK(meta.archs == std::vector<std::string>{"10.0", "8.0", "9.0a+PTX"});
  CHECK(meta.license == "Apache-2.0");
  CHECK(meta.builder_version == "0.12.0");
  CHECK(meta.builder_commit == "abc");
  CHECK(meta.builder_dirty == false);
  CHECK(meta.source_commit == "def");
  CHECK(meta.source_dirty == true);
  CHECK(sbom::parse_variant_metadata("{}", "m.json") == sbom::VariantMetadata{});
  for (const char* bad : {R"({"backend": {"archs": "8.0"}})", R"({"backend": []})", R"({"license": 1})",
                          R"({"provenance": {"kernel": {"dirty": "no"}}})", "[]", "{"}) {
    try {
      sbom::parse_variant_metadata(bad, "m.json");
      FAIL("accepted " << bad);
    } catch (const Error& e) {
      CHECK(e.code() == ErrorCode::invalid_input);
      CHECK(std::string(e.what()).find("m.json") != std::string::npos);
    }
  }
}

TEST_CASE("SBOM variant properties come from metadata.json where given, from the name otherwise") {
  const auto lock = parse_lockfile(lock_text());
  sbom::VariantMetadataMap metadata{{{"org/top", kVariant}, sbom::parse_variant_metadata(kMetadata, "m.json")}};
  const auto bom = json::parse(sbom::format_cyclonedx(lock, {}, metadata));
  const auto& props = bom["components"][1]["components"][0]["properties"];
  CHECK(*find_property(props, "kernel-lock:backend") == "cuda");
  CHECK(*find_property(props, "kernel-lock:archs") == "10.0,8.0,9.0a+PTX");
  CHECK(*find_property(props, "kernel-lock:provenance:builder-version") == "0.12.0");
  CHECK(*find_property(props, "kernel-lock:provenance:source-dirty") == "true");
  CHECK(*find_property(props, "kernel-lock:facts-source") == "metadata.json");
  const auto& dep_props = bom["components"][0]["components"][0]["properties"];
  CHECK(*find_property(dep_props, "kernel-lock:facts-source") == "variant name");
  CHECK(find_property(dep_props, "kernel-lock:archs") == nullptr);
  const auto spdx = sbom::format_spdx(lock, {}, metadata);
  CHECK(spdx.find("kernel-lock:archs=10.0,8.0,9.0a+PTX") != std::string::npos);
}

TEST_CASE("variant_metadata_from_cache reads the locked metadata.json, and refuses other bytes") {
  kltest::TempDir cache;
  auto lock = parse_lockfile(lock_text());
  lock.find("org/top")->variants.at(kVariant).files.push_back(
      LockedFile{"metadata.json", kMetadata.size(), git_blob_sha1_hex(kMetadata), DigestKind::git_sha1});
  const auto dir = cache.path() / "kernels--org--top" / "snapshots" / kTopSha / "build" / kVariant;
  std::filesystem::create_directories(dir);
  std::ofstream(dir / "metadata.json") << kMetadata;
  const auto found = sbom::variant_metadata_from_cache(lock, cache.path());
  REQUIRE(found.size() == 1);
  CHECK(found.at({"org/top", kVariant}).backend == "cuda");
  std::ofstream(dir / "metadata.json") << R"({"backend": {"type": "rocm"}})";
  CHECK_THROWS_AS(sbom::variant_metadata_from_cache(lock, cache.path()), Error);
  kltest::TempDir empty;
  CHECK(sbom::variant_metadata_from_cache(lock, empty.path()).empty());
}
