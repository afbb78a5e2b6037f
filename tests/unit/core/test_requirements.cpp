// kernels.yaml and pyproject.toml requirements: every accepted form, the
// Python `kernels lock` inputs, and errors with file:line:column.
#include <doctest/doctest.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <set>

#include "../temp_dir.hpp"
#include "kernel_lock/core/error.hpp"
#include "kernel_lock/core/fs.hpp"
#include "kernel_lock/core/requirements.hpp"

namespace fs = std::filesystem;
using namespace kernel_lock;

namespace {

const fs::path kSource = KERNEL_LOCK_SOURCE_DIR;
const fs::path kShared = KERNEL_LOCK_SHARED_FIXTURES;
const fs::path kGood = kSource / "fixtures/requirements";

using kltest::TempDir;

using Strings = std::vector<std::string>;

}  // namespace

TEST_CASE("the demo example: kernels-test/activation at version 2 (signed), kernels-test/rmsnorm at version 1") {
  const auto req = read_requirements(kGood / "example");
  CHECK(req.source == kGood / "example/kernels.yaml");
  REQUIRE(req.kernels.size() == 2);
  CHECK(req.kernels[0].repo_id == "kernels-test/activation");
  CHECK(req.kernels[0].version == std::optional<int>(2));
  CHECK(!req.kernels[0].revision);
  CHECK(!req.kernels[0].tag_range);
  CHECK(!req.kernels[0].repo_type);
  CHECK(req.kernels[0].filter.empty());
  CHECK(req.kernels[1].repo_id == "kernels-test/rmsnorm");
  CHECK(req.kernels[1].version == std::optional<int>(1));
  CHECK(req.targets.empty());
}

TEST_CASE("every kernels.yaml feature") {
  const auto req = read_requirements(kGood / "full/kernels.yaml");
  CHECK(req.targets.torch == Strings{"2.10", "2.11"});
  CHECK(req.targets.cuda == Strings{"12.8", "13.0"});
  CHECK(req.targets.arch == Strings{"x86_64", "aarch64"});
  CHECK(req.targets.os == Strings{"linux"});
  REQUIRE(req.kernels.size() == 5);  // file order
  CHECK(req.kernels[0].repo_id == "kernels-community/activation");
  CHECK(req.kernels[1].repo_id == "kernels-community/flash-attn");
  CHECK(req.kernels[1].version == std::optional<int>(2));
  CHECK(req.kernels[2].revision == std::optional<std::string>("0123456789abcdef0123456789abcdef01234567"));
  CHECK(req.kernels[3].tag_range.value().text() == ">=0.0.2,<0.1.0");
  CHECK(req.kernels[3].repo_type == std::optional<std::string>("model"));
  CHECK(req.kernels[4].revision == std::optional<std::string>("main"));
  CHECK(req.kernels[4].filter.torch == Strings{"2.11"});
  CHECK(req.kernels[4].filter.cuda == Strings{"13.0"});
  CHECK(req.kernels[4].filter.arch == Strings{"x86_64"});
  CHECK(req.kernels[4].filter.os.empty());

  CHECK(req.kernels[3].to_json().dump() == R"({"tags":">=0.0.2,<0.1.0","repo-type":"model"})");
  CHECK(req.kernels[4].to_json().dump() == R"({"revision":"main","torch":["2.11"],"cuda":["13.0"],"arch":["x86_64"]})");
  CHECK(req.kernels[0].to_json().dump() == R"({"version":1})");
}

TEST_CASE("the list form with repo-id") {
  const auto req = read_requirements(kGood / "list-form");
  REQUIRE(req.kernels.size() == 2);
  CHECK(req.kernels[0].repo_id == "kernels-test/activation");
  CHECK(req.kernels[0].version == std::optional<int>(1));
  CHECK(req.kernels[1].repo_id == "kernels-test/rmsnorm");
  CHECK(req.kernels[1].revision == std::optional<std::string>("v1"));
  CHECK(req.kernels[1].filter.os == Strings{"linux"});
  CHECK(req.targets.torch == Strings{"2.11"});
}

TEST_CASE("pyproject.toml as Python kernels lock reads it") {
  for (const char* project : {"kernel_locking", "layer_locking"}) {
    CAPTURE(project);
    const auto req = read_requirements(kShared / "python-kernels" / project);
    CHECK(req.source.filename() == "pyproject.toml");
    REQUIRE(!req.kernels.empty());
    CHECK(req.kernels.back().repo_id == "kernels-test/versions");
    CHECK(req.kernels.back().version == std::optional<int>(2));
  }
  const auto req = read_requirements(kShared / "python-kernels/kernel_locking/pyproject.toml");
  REQUIRE(req.kernels.size() == 2);
  CHECK(req.kernels[0].repo_id == "kernels-community/relu");
  CHECK(req.kernels[0].version == std::optional<int>(1));
}

TEST_CASE("pyproject.toml value forms: integer, tag-range string, table; file order kept") {
  const auto req = read_requirements(kGood / "pyproject");
  REQUIRE(req.kernels.size() == 3);
  CHECK(req.kernels[0].repo_id == "kernels-community/relu");  // not toml++'s sorted key order
  CHECK(req.kernels[0].version == std::optional<int>(1));
  CHECK(req.kernels[1].repo_id == "kernels-community/activation");
  CHECK(req.kernels[1].tag_range.value().text() == ">=0.0.2,<0.1.0");
  CHECK(req.kernels[2].repo_id == "kernels-test/versions");
  CHECK(req.kernels[2].revision == std::optional<std::string>("v2"));
  CHECK(req.kernels[2].repo_type == std::optional<std::string>("kernel"));
  CHECK(req.kernels[2].filter.torch == Strings{"2.11"});
  CHECK(req.targets.empty());
}

TEST_CASE("read_requirements prefers kernels.yaml over pyproject.toml; names both when neither exists") {
  const auto req = read_requirements(kGood / "both");
  CHECK(req.source.filename() == "kernels.yaml");
  REQUIRE(req.kernels.size() == 1);
  CHECK(req.kernels[0].repo_id == "kernels-test/activation");

  TempDir dir;
  try {
    read_requirements(dir.path());
    FAIL("found requirements in an empty directory");
  } catch (const Error& e) {
    CHECK(e.code() == ErrorCode::not_found);
    CHECK(std::string(e.what()).find("no kernels.yaml or pyproject.toml in") != std::string::npos);
  }
  CHECK_THROWS_AS(read_requirements(dir.path() / "kernels.yaml"), Error);
}

TEST_CASE("the same kernel is accepted in the map shorthand, map and list forms") {
  const auto a = parse_kernels_yaml("kernels:\n  org/k: 3\n");
  const auto b = parse_kernels_yaml("kernels:\n  org/k:\n    version: 3\n");
  const auto c = parse_kernels_yaml("kernels:\n  - repo-id: org/k\n    version: 3\n");
  const auto d = parse_kernels_yaml("{kernels: [{repo-id: org/k, version: 3}]}");
  for (const auto* r : {&a, &b, &c, &d}) {
    REQUIRE(r->kernels.size() == 1);
    CHECK(r->kernels[0].repo_id == "org/k");
    CHECK(r->kernels[0].version == std::optional<int>(3));
  }
}

namespace {

void check_bad_fixtures(const char* manifest_name, bool yaml) {
  const auto manifest = nlohmann::json::parse(read_file(kSource / "fixtures/bad" / manifest_name));
  REQUIRE(manifest.size() >= 10);
  for (const auto& [name, expected] : manifest.items()) {
    CAPTURE(name);
    const auto path = kSource / "fixtures/bad" / name;
    const auto text = read_file(path);
    const auto source = path.filename().string();
    std::string message = "(accepted)";
    try {
      if (yaml) {
        parse_kernels_yaml(text, source);
      } else {
        parse_pyproject_toml(text, source);
      }
    } catch (const Error& e) {
      CHECK(e.code() == ErrorCode::invalid_input);
      CHECK(!e.hint().empty());
      message = e.what();
    }
    CHECK_MESSAGE(message.find(expected["error"].get<std::string>()) != std::string::npos, message);
  }
}

}  // namespace

TEST_CASE("every bad kernels.yaml fixture is rejected with file:line:column and the field") {
  check_bad_fixtures("yaml.expected.json", true);
}

TEST_CASE("every bad pyproject.toml fixture is rejected with file:line:column and the field") {
  check_bad_fixtures("toml.expected.json", false);
}

TEST_CASE("requirements.schema.json names exactly the keys kernels.yaml accepts") {
  const auto schema = nlohmann::json::parse(read_file(kSource / "core/schema/requirements.schema.json"));
  auto names = [](const nlohmann::json& object_schema) {
    std::set<std::string> out;
    for (const auto& [key, unused] : object_schema.at("properties").items()) out.insert(key);
    return out;
  };
  CHECK(names(schema) == std::set<std::string>{"kernels", "targets"});
  CHECK(schema.at("additionalProperties") == false);
  const auto& defs = schema.at("$defs");
  CHECK(names(defs.at("targets")) == std::set<std::string>{"torch", "cuda", "arch", "os"});
  // The keys of a kernel entry: what KernelRequirement::to_json emits, plus repo-id in the list form.
  KernelRequirement req;
  req.version = 1;
  req.revision = "x";
  req.tag_range = TagRange::parse(">=1");
  req.repo_type = "kernel";
  req.filter = {{"2.11"}, {"13.0"}, {"x86_64"}, {"linux"}};
  req.signing.signers = {SignerRule{"https://issuer.example", "https://github.com/org/k", {}}};
  req.signing.allow_unsigned = true;
  req.signing.require_signature = true;  // contradicts allow-unsigned for the parser; here only the keys count
  std::set<std::string> emitted;
  const auto json = req.to_json();
  for (const auto& [key, unused] : json.items()) emitted.insert(key);
  CHECK(names(defs.at("kernel_fields")) == emitted);
  auto with_repo = emitted;
  with_repo.insert("repo-id");
  CHECK(names(defs.at("kernel_list_item")) == with_repo);
  // Each field name in the schema is accepted by the parser.
  for (const auto& key : emitted) {
    CAPTURE(key);
    std::string value = key == "version"     ? "1"
                        : key == "revision"  ? "main"
                        : key == "tags"      ? "'>=0.1'"
                        : key == "repo-type" ? "kernel"
                        : key == "torch"     ? "['2.11']"
                        : key == "cuda"      ? "['13.0']"
                        : key == "signers"   ? "[{issuer: 'https://i.example', source-repository: 'https://r.example'}]"
                        : key == "allow-unsigned" || key == "require-signature" ? "true"
                                             : "[x86_64]";
    std::string extra = (key == "version" || key == "revision" || key == "tags") ? "" : "\n    version: 1";
    CHECK_NOTHROW(parse_kernels_yaml("kernels:\n  org/k:\n    " + key + ": " + value + extra + "\n"));
  }
}

TEST_CASE("kernels.yaml signer policy: signers, allow-unsigned, require-signature, recorded in the requirement") {
  const auto reqs = parse_kernels_yaml(R"(kernels:
  org/signed:
    version: 1
    signers:
      - issuer: https://token.actions.githubusercontent.com
        source-repository: https://github.com/org/signed
        build-signer-uri:
          - https://github.com/org/signed/.github/workflows/build.yaml@refs/heads/main
      - issuer: https://accounts.example
        source-repository: https://github.com/org/mirror
  org/old:
    revision: main
    allow-unsigned: true
  org/strict:
    version: 2
    require-signature: true
)");
  REQUIRE(reqs.kernels.size() == 3);
  const auto& signing = reqs.kernels[0].signing;
  REQUIRE(signing.signers.size() == 2);
  CHECK(signing.signers[0].build_signer_uris.size() == 1);
  CHECK(signing.signers[1].build_signer_uris.empty());
  CHECK(reqs.kernels[1].signing.allow_unsigned);
  CHECK(reqs.kernels[2].signing.require_signature);
  // The lock records it, so a policy change re-resolves the kernel; and reads it back.
  const auto record = reqs.kernels[0].locked();
  CHECK(record.to_json()["signers"][1]["source-repository"] == "https://github.com/org/mirror");
  CHECK(LockedRequirement::from_json(record.to_json()) == record);
  CHECK_FALSE(reqs.kernels[1].locked().to_json().contains("signers"));
  CHECK(reqs.kernels[1].locked().to_json()["allow-unsigned"] == true);

  const std::pair<const char*, const char*> refusals[] = {
      {"signers: []", "non-empty list of signers"},
      {"signers: [{issuer: https://i.example}]", "needs both"},
      {"signers: [{issuer: http://i.example, source-repository: https://r.example}]", "https:// URL"},
      {"signers: [{issuer: https://i.example, source-repository: https://r.example, subject: x}]", "unknown field"},
      {"allow-unsigned: yes", "true or false"},
      {"allow-unsigned: true\n    require-signature: true", "contradict"},
  };
  for (const auto& [field, expected] : refusals) {
    CAPTURE(field);
    try {
      parse_kernels_yaml(std::string("kernels:\n  org/k:\n    version: 1\n    ") + field + "\n");
      FAIL("accepted");
    } catch (const Error& e) {
      CHECK(std::string(e.what()).find(expected) != std::string::npos);
      CHECK(std::string(e.what()).find("kernels.yaml:") == 0);
    }
  }
}
