// kernel.lock: Python interop (fixtures written by Python `kernels lock`), our
// extra keys, canonical bytes, validation errors with locations and paths.
#include <doctest/doctest.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <set>
#include <thread>

#include "../temp_dir.hpp"
#include "kernel_lock/core/error.hpp"
#include "kernel_lock/core/fs.hpp"
#include "kernel_lock/core/lockfile.hpp"

namespace fs = std::filesystem;
using namespace kernel_lock;

namespace {

const fs::path kSource = KERNEL_LOCK_SOURCE_DIR;
const fs::path kShared = KERNEL_LOCK_SHARED_FIXTURES;

// A fresh empty directory under the system temp dir, removed at scope exit.
using kltest::TempDir;

std::string error_of(std::string_view text, std::string_view source = "kernel.lock") {
  try {
    parse_lockfile(text, source);
  } catch (const Error& e) {
    CHECK(e.code() == ErrorCode::invalid_input);
    return e.what();
  }
  return "(accepted)";
}

}  // namespace

TEST_CASE("Python-written kernels.lock files read back and write back byte for byte (plus a trailing newline)") {
  for (const char* project : {"kernel_locking", "layer_locking"}) {
    CAPTURE(project);
    const auto path = kShared / "python-kernels" / project / "kernels.lock";
    const auto original = read_file(path);
    REQUIRE(!original.empty());
    REQUIRE(original.back() != '\n');  // Python's json.dump writes no trailing newline
    const auto lock = read_lockfile(path);
    CHECK(format_lockfile(lock) == original + "\n");
    CHECK(detect_lockfile_shape(original) == LockfileShape::variants);
  }
}

TEST_CASE("fields of a Python-written lock") {
  const auto lock = read_lockfile(kShared / "python-kernels/kernel_locking/kernels.lock");
  REQUIRE(lock.kernels.size() == 2);
  const auto* relu = lock.find("kernels-community/relu");
  REQUIRE(relu != nullptr);
  CHECK(relu->sha == "d649efb56fb249ac8f7a57fa1866728ad0c60e52");
  REQUIRE(relu->variants.count("torch210-cxx11-cu128-x86_64-linux") == 1);
  const auto& variant = relu->variants.at("torch210-cxx11-cu128-x86_64-linux");
  CHECK(variant.hash == "sha256-6608f0269bdf34745e8614383e92e03242fe5b7b1ecc2c1c0072aaa1c793faa9");
  CHECK(variant.hash_type == "git_lfs_concat");
  CHECK(variant.files.empty());
  CHECK(relu->variants.count("torch210-cpu-aarch64-darwin") == 1);
  CHECK(!relu->repo_type.has_value());
  CHECK(!relu->requirement.has_value());
  CHECK(relu->unknown_keys.empty());
  CHECK(lock.find("kernels-test/versions") != nullptr);
  CHECK(lock.find("kernels-test/nope") == nullptr);
}

TEST_CASE("our extra keys (repo_type, requirement, files) and unknown keys round-trip") {
  const auto path = kSource / "fixtures/requirements/locked/kernel.lock";
  const auto original = read_file(path);  // written by Python json.dumps(indent=2) + "\n"
  const auto lock = read_lockfile(path);
  CHECK(format_lockfile(lock) == original);

  const auto* activation = lock.find("kernels-test/activation");
  REQUIRE(activation != nullptr);
  CHECK(activation->repo_type == std::optional<std::string>("kernel"));
  CHECK(activation->requirement.value().to_json() == nlohmann::ordered_json::parse(R"({"version": 1})"));
  CHECK(activation->unknown_keys.size() == 1);
  CHECK(activation->unknown_keys["x-reviewed-by"]["name"] == "Ren\xc3\xa9" "e");
  const auto& cu = activation->variants.at("torch211-cxx11-cu130-x86_64-linux");
  REQUIRE(cu.files.size() == 5);
  CHECK(cu.files[1].path == "_activation_cuda_0a1b2c3.abi3.so");
  CHECK(cu.files[1].kind == DigestKind::lfs_sha256);
  CHECK(cu.files[1].size == 23);
  CHECK(cu.files[1].digest.size() == 64);
  CHECK(cu.files[0].kind == DigestKind::git_sha1);
  CHECK(cu.files[3].path == "layers/__init__.py");
  // The empty blob's git id.
  CHECK(cu.files[3].digest == "e69de29bb2d1d6434b8b29ae775ad8c2e48c5391");

  const auto* legacy = lock.find("kernels-test/legacy-tags");
  REQUIRE(legacy != nullptr);
  CHECK(legacy->repo_type == std::optional<std::string>("model"));
  CHECK(legacy->variants.at("torch27-cxx11-cu126-x86_64-linux").files.empty());
}

TEST_CASE("non-ASCII text is written \\u-escaped like Python json.dumps") {
  Lockfile lock;
  LockedKernel kernel;
  kernel.repo_id = "org/name";
  kernel.sha = std::string(40, 'b');
  kernel.unknown_keys["note"] = "caf\xc3\xa9 \xf0\x9f\x98\x80";  // U+00E9, U+1F600
  lock.kernels.push_back(kernel);
  const auto text = format_lockfile(lock);
  CHECK(text.find(R"("note": "caf\u00e9 \ud83d\ude00")") != std::string::npos);
  CHECK(parse_lockfile(text) == lock);
}

TEST_CASE("canonical order: kernels by repo_id, variants by name, files by path") {
  Lockfile lock;
  for (std::string id : {"zeta/k", "alpha/k"}) {
    LockedKernel kernel;
    kernel.repo_id = id;
    kernel.sha = std::string(40, 'c');
    LockedVariant variant;
    variant.hash = "sha256-" + std::string(64, 'd');
    variant.files.push_back({"z.py", 1, std::string(40, 'e'), DigestKind::git_sha1});
    variant.files.push_back({"a.so", 2, std::string(64, 'f'), DigestKind::lfs_sha256});
    kernel.variants["torch-cpu"] = variant;
    kernel.variants["torch211-cxx11-cpu-x86_64-linux"] = variant;
    lock.kernels.push_back(kernel);
  }
  const auto text = format_lockfile(lock);
  CHECK(text.find("alpha/k") < text.find("zeta/k"));
  CHECK(text.find("\"a.so\"") < text.find("\"z.py\""));
  CHECK(text.back() == '\n');
  const auto reread = parse_lockfile(text);
  CHECK(reread.kernels.front().repo_id == "alpha/k");
  CHECK(reread.kernels.front().variants.at("torch-cpu").files.front().path == "a.so");
  CHECK(format_lockfile(reread) == text);
  // Variant objects in the text hold exactly hash and hash_type (Python's kwargs).
  const auto json = nlohmann::json::parse(text);
  for (const auto& [name, variant] : json[0]["variants"].items()) {
    CAPTURE(name);
    CHECK(variant.size() == 2);
    CHECK(variant.contains("hash"));
    CHECK(variant.contains("hash_type"));
  }
  CHECK(json[0]["files"]["torch-cpu"][0]["kind"] == "sha256");
  CHECK(json[0]["files"]["torch-cpu"][1]["kind"] == "git-sha1");
}

TEST_CASE("every bad lock fixture is rejected with the expected location and message") {
  const auto manifest = nlohmann::json::parse(read_file(kSource / "fixtures/bad/lock.expected.json"));
  REQUIRE(manifest.size() >= 30);
  for (const auto& [name, expected] : manifest.items()) {
    CAPTURE(name);
    const auto path = kSource / "fixtures/bad" / name;
    const auto message = error_of(read_file(path), path.filename().string());
    CHECK_MESSAGE(message.find(expected["error"].get<std::string>()) != std::string::npos, message);
  }
}

TEST_CASE("JSON syntax errors carry file:line:column") {
  CHECK(error_of("[\n  {\n    \"repo_id\": ,\n  }\n]").starts_with("kernel.lock:3:16: invalid JSON: "));
  CHECK(error_of("[1, 2", "x.lock").starts_with("x.lock:1:6: invalid JSON"));
  CHECK(error_of("[]\n[]").starts_with("kernel.lock:2:1: invalid JSON"));
}

TEST_CASE("errors on schema violations carry a hint to fix or regenerate") {
  try {
    parse_lockfile(R"([{"repo_id": "a/b", "sha": "x", "variants": {}}])");
    FAIL("accepted a bad sha");
  } catch (const Error& e) {
    CHECK(std::string(e.what()) == R"(kernel.lock: [0].sha: expected a 40-hex lowercase commit sha, got "x")");
    CHECK(e.hint().find("kernel-lock resolve") != std::string::npos);
  }
}

TEST_CASE("an empty array is an empty lock; a missing hash_type defaults to git_lfs_concat") {
  CHECK(parse_lockfile("[]").kernels.empty());
  CHECK(format_lockfile(Lockfile{}) == "[]\n");
  const auto lock = parse_lockfile(
      R"([{"repo_id": "a/b", "sha": "0123456789abcdef0123456789abcdef01234567",
           "variants": {"torch-cpu": {"hash": "sha256-0000000000000000000000000000000000000000000000000000000000000000"}}}])");
  CHECK(lock.kernels.at(0).variants.at("torch-cpu").hash_type == "git_lfs_concat");
}

TEST_CASE("the writer refuses a lock the reader would reject and leaves the target untouched") {
  TempDir dir;
  Lockfile lock;
  LockedKernel kernel;
  kernel.repo_id = "org/name";
  kernel.sha = "not-a-sha";
  lock.kernels.push_back(kernel);
  const auto target = dir.path() / "kernel.lock";
  CHECK_THROWS_AS(write_lockfile(target, lock), Error);
  CHECK(!fs::exists(target));

  lock.kernels[0].sha = std::string(40, 'a');
  LockedVariant variant;
  variant.hash = "sha256-" + std::string(64, '0');
  variant.files.push_back({"../escape", 1, std::string(40, '1'), DigestKind::git_sha1});
  lock.kernels[0].variants["torch-cpu"] = variant;
  CHECK_THROWS_AS(format_lockfile(lock), Error);
  lock.kernels[0].variants["torch-cpu"].files[0].path = "ok.py";
  lock.kernels[0].unknown_keys["sha"] = "shadow";  // would collide with a key we write
  CHECK_THROWS_AS(format_lockfile(lock), Error);
  lock.kernels[0].unknown_keys = nlohmann::ordered_json::object();
  lock.kernels.push_back(lock.kernels[0]);  // duplicate repo id
  CHECK_THROWS_AS(format_lockfile(lock), Error);
  CHECK(dir.path().empty() == false);
  CHECK(fs::is_empty(dir.path()));
}

TEST_CASE("write_lockfile writes only when the bytes change") {
  TempDir dir;
  const auto target = dir.path() / "kernel.lock";
  const auto lock = read_lockfile(kShared / "python-kernels/layer_locking/kernels.lock");
  CHECK(write_lockfile(target, lock));
  const auto first = fs::last_write_time(target);
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  CHECK_FALSE(write_lockfile(target, lock));
  CHECK(fs::last_write_time(target) == first);
  CHECK(read_file(target) == read_file(kShared / "python-kernels/layer_locking/kernels.lock") + "\n");
  std::vector<fs::path> entries(fs::directory_iterator(dir.path()), fs::directory_iterator{});
  CHECK(entries.size() == 1);  // no temp files left behind
}

TEST_CASE("find_lockfile prefers kernel.lock, falls back to kernels.lock") {
  TempDir dir;
  try {
    find_lockfile(dir.path());
    FAIL("found a lock in an empty directory");
  } catch (const Error& e) {
    CHECK(e.code() == ErrorCode::not_found);
    CHECK(std::string(e.what()).find("no kernel.lock or kernels.lock in") != std::string::npos);
    CHECK(e.hint().find("kernel-lock resolve") != std::string::npos);
  }
  std::ofstream(dir.path() / "kernels.lock") << "[]";
  CHECK(find_lockfile(dir.path()) == dir.path() / "kernels.lock");
  std::ofstream(dir.path() / "kernel.lock") << "[]";
  CHECK(find_lockfile(dir.path()) == dir.path() / "kernel.lock");
}

TEST_CASE("the dependency shape written by Python kernels 0.17.2 reads, and we write it byte for byte") {
  const auto path = kSource / "fixtures/requirements/python-0.17.2/kernels.lock";  // KernelLocks.to_json()
  const auto original = read_file(path);
  CHECK(detect_lockfile_shape(original) == LockfileShape::dependency);
  const auto lock = read_lockfile(path);
  REQUIRE(lock.kernels.size() == 2);
  const auto* relu = lock.find("kernels-community/relu");
  REQUIRE(relu != nullptr);
  CHECK(relu->sha == "d649efb56fb249ac8f7a57fa1866728ad0c60e52");
  CHECK(relu->requirement.value().to_json() == nlohmann::ordered_json::parse(R"({"version": 1})"));
  CHECK(relu->variants.empty());
  CHECK(format_python_lockfile(lock) == original);

  // Revision dependencies, and commits Python accepts in upper case.
  const auto upper = parse_lockfile(
      R"([{"dependency": {"repo-id": "a/b", "revision": "main"}, "lock": {"commit": "ABCDEF0123456789ABCDEF0123456789ABCDEF01"}}])");
  CHECK(upper.kernels.at(0).sha == "abcdef0123456789abcdef0123456789abcdef01");
  CHECK(upper.kernels.at(0).requirement.value().to_json() == nlohmann::ordered_json::parse(R"({"revision": "main"})"));
}

TEST_CASE("format_python_lockfile takes the dependency from the requirement, else pins the sha") {
  const auto lock = read_lockfile(kSource / "fixtures/requirements/locked/kernel.lock");
  const auto text = format_python_lockfile(lock);
  CHECK(text.back() == ']');  // like Python: no trailing newline
  const auto json = nlohmann::json::parse(text);
  REQUIRE(json.size() == 2);
  CHECK(json[0] == nlohmann::json::parse(R"({"dependency": {"repo-id": "kernels-test/activation", "version": 1},
                                            "lock": {"commit": "1f0c3e5a7b9d2e4f6a8c0b1d3e5f7a9c2b4d6e8f"}})"));
  // A tag-range requirement has no Python spelling: the commit itself is the revision.
  CHECK(json[1]["dependency"]["revision"] == std::string(40, 'a'));
  CHECK(parse_lockfile(text).kernels.size() == 2);
}

TEST_CASE("one entry per (repo, version): order, lookups and the Python spelling of a lock with D v1 and D v2") {
  // As Python `kernels lock` 0.17.2 locks A = 1, D = 2 where A v1 depends on D v1:
  // its KernelLocks.to_json() sorts by repo id, then versions numerically, then revisions.
  auto entry = [](std::string repo, char sha, std::optional<std::uint64_t> version, std::optional<std::string> revision,
                  std::optional<std::string> required_by) {
    LockedKernel k;
    k.repo_id = std::move(repo);
    k.sha = std::string(40, sha);
    k.requirement = LockedRequirement{};
    k.requirement->version = version;
    k.requirement->revision = std::move(revision);
    k.requirement->required_by = std::move(required_by);
    return k;
  };
  Lockfile lock;
  lock.kernels.push_back(entry("org/d", 'b', 10, {}, "org/b"));
  lock.kernels.push_back(entry("org/d", 'c', {}, "main", "org/c"));
  lock.kernels.push_back(entry("org/d", 'a', 1, {}, "org/a"));
  lock.kernels.push_back(entry("org/d", 'd', 2, {}, {}));
  lock.kernels.push_back(entry("org/a", 'e', 1, {}, {}));
  const auto text = format_lockfile(lock);
  const auto back = parse_lockfile(text);
  REQUIRE(back.kernels.size() == 5);
  std::vector<std::string> order;
  for (const auto& k : back.kernels) order.push_back(k.repo_id + "@" + k.sha.substr(0, 1));
  CHECK(order == std::vector<std::string>{"org/a@e", "org/d@a", "org/d@d", "org/d@b", "org/d@c"});
  // find: the direct requirement (no required-by), whatever the order.
  CHECK(back.find("org/d")->sha == std::string(40, 'd'));
  CHECK(back.find_pinned("org/d", 1, std::nullopt)->sha == std::string(40, 'a'));
  CHECK(back.find_pinned("org/d", std::nullopt, std::string("main"))->sha == std::string(40, 'c'));
  CHECK(back.find_pinned("org/d", 3, std::nullopt) == nullptr);
  CHECK(back.find_commit("org/d", std::string(40, 'b'))->requirement->version == 10u);
  CHECK(back.find_commit("org/d", std::string(40, 'e')) == nullptr);
  CHECK(back.find_all("org/d").size() == 4);
  CHECK(back.find_like(entry("org/d", '0', {}, "main", {}))->sha == std::string(40, 'c'));
  CHECK(back.find_like(entry("org/d", '0', 7, {}, {}))->sha == std::string(40, 'd'));
  // Only dependencies of a repo: find gives the first in lock order.
  Lockfile deps_only;
  deps_only.kernels = {back.kernels[2], back.kernels[1]};
  deps_only.kernels[0].requirement->required_by = "org/x";
  CHECK(deps_only.find("org/d")->sha == std::string(40, 'd'));

  const auto py = nlohmann::json::parse(format_python_lockfile(lock));
  std::vector<std::string> py_order;
  for (const auto& e : py) py_order.push_back(e["dependency"].dump());
  CHECK(py_order == std::vector<std::string>{R"({"repo-id":"org/a","version":1})", R"({"repo-id":"org/d","version":1})",
                                             R"({"repo-id":"org/d","version":2})", R"({"repo-id":"org/d","version":10})",
                                             R"({"repo-id":"org/d","revision":"main"})"});
  CHECK(parse_lockfile(format_python_lockfile(lock)).kernels.size() == 5);

  // Two tag ranges of one repo at one commit (found by fuzz_lockfile): both
  // spell {"revision": sha} in Python's shape, written once (the same commit).
  Lockfile tags;
  tags.kernels.push_back(entry("org/t", 'a', {}, {}, {}));
  tags.kernels.push_back(entry("org/t", 'a', {}, {}, {}));
  tags.kernels.push_back(entry("org/t", 'b', {}, {}, "org/a"));
  tags.kernels[0].requirement->tags = ">=1,<2";
  tags.kernels[1].requirement->tags = ">=1.5,<2";
  tags.kernels[2].requirement->tags = ">=3";
  CHECK(parse_lockfile(format_lockfile(tags)).kernels.size() == 3);
  const auto py_tags = parse_lockfile(format_python_lockfile(tags));
  REQUIRE(py_tags.kernels.size() == 2);
  CHECK(py_tags.kernels[0].requirement->revision == std::string(40, 'a'));
  CHECK(py_tags.kernels[1].requirement->revision == std::string(40, 'b'));

  // The same (repo, version) twice is still a duplicate.
  lock.kernels.push_back(entry("org/d", 'f', 1, {}, "org/z"));
  try {
    format_lockfile(lock);
    FAIL("wrote org/d v1 twice");
  } catch (const Error& e) {
    CHECK(std::string(e.what()).find("each (repo, version) once") != std::string::npos);
  }
}

TEST_CASE("repo id and relative path validators") {
  for (const char* good : {"kernels-community/activation", "a/b", "Org_1/name.v2", "kernels-test/flash-attn3"}) {
    CAPTURE(good);
    CHECK(is_valid_repo_id(good));
  }
  for (const char* bad : {"", "a", "/b", "a/", "a/b/c", "-a/b", "a/b-", "a--b/c", "a/b..c", "a b/c", "a/.b",
                          "a/b\\c"}) {
    CAPTURE(bad);
    CHECK_FALSE(is_valid_repo_id(bad));
  }
  CHECK_FALSE(is_valid_repo_id(std::string("a/") + std::string(97, 'b')));
  CHECK(is_valid_repo_id(std::string("a/") + std::string(96, 'b')));
  for (const char* good : {"a.py", "layers/__init__.py", "activation/_ops.py", ".sigstore", "a..b"}) {
    CAPTURE(good);
    CHECK(is_safe_relative_path(good));
  }
  for (const char* bad : {"", "/abs", "a/../b", "..", ".", "./a", "a//b", "a/", "a\\b", "C:\\x"}) {
    CAPTURE(bad);
    CHECK_FALSE(is_safe_relative_path(bad));
  }
  CHECK_FALSE(is_safe_relative_path(std::string_view("a\0b", 3)));
}

TEST_CASE("lockfile.schema.json names exactly the keys our writer emits") {
  const auto schema = nlohmann::json::parse(read_file(kSource / "core/schema/lockfile.schema.json"));
  const auto& defs = schema.at("$defs");
  auto property_names = [](const nlohmann::json& object_schema) {
    std::set<std::string> names;
    for (const auto& [key, unused] : object_schema.at("properties").items()) names.insert(key);
    return names;
  };
  auto keys_of = [](const nlohmann::json& object) {
    std::set<std::string> names;
    for (const auto& [key, unused] : object.items()) names.insert(key);
    return names;
  };
  // A kernel with every optional field set: our writer's full key set.
  const auto lock = read_lockfile(kSource / "fixtures/requirements/locked/kernel.lock");
  auto full = lock.kernels.at(0);
  full.unknown_keys = nlohmann::ordered_json::object();
  full.variants.begin()->second.signature =
      LockedSignature{"https://issuer.example", "https://github.com/org/k", "https://github.com/org/k/w.yaml@refs/heads/main",
                      7, "2026-06-01T12:00:00Z"};
  const auto written = nlohmann::json::parse(format_lockfile(Lockfile{{full}}));
  CHECK(property_names(defs.at("kernel")) == keys_of(written[0]));
  CHECK(property_names(defs.at("signature")) ==
        keys_of(written[0]["signatures"][full.variants.begin()->first]));
  CHECK(property_names(defs.at("variant")) ==
        keys_of(written[0]["variants"]["torch211-cxx11-cu130-x86_64-linux"]));
  CHECK(property_names(defs.at("file")) == keys_of(written[0]["files"]["torch-cpu"][0]));
  CHECK(defs.at("variant").at("additionalProperties") == false);
  CHECK(defs.at("file").at("additionalProperties") == false);
  // Unknown kernel keys are preserved, so the schema must allow them.
  CHECK(defs.at("kernel").value("additionalProperties", true) == true);

  const auto dep = nlohmann::json::parse(format_python_lockfile(lock));
  CHECK(property_names(defs.at("dependency_entry")) == keys_of(dep[0]));
  CHECK(property_names(defs.at("dependency")) ==
        std::set<std::string>{"repo-id", "version", "revision"});
  CHECK(property_names(defs.at("dependency_lock")) == keys_of(dep[0]["lock"]));
}

TEST_CASE("signatures: per-variant signer records round-trip on the kernel object, and bad ones are refused") {
  const std::string sha(40, 'a');
  const std::string hash = "sha256-" + std::string(64, 'b');
  const std::string text = R"([
  {
    "repo_id": "org/k",
    "sha": ")" + sha + R"(",
    "variants": {
      "torch-cpu": {
        "hash": ")" + hash + R"(",
        "hash_type": "git_lfs_concat"
      }
    },
    "signatures": {
      "torch-cpu": {
        "issuer": "https://token.actions.githubusercontent.com",
        "source_repository": "https://github.com/org/k",
        "build_signer_uri": "https://github.com/org/k/.github/workflows/build.yaml@refs/heads/main",
        "log_index": 42,
        "signing_time": "2026-06-01T12:00:00Z"
      }
    }
  }
]
)";
  const auto lock = parse_lockfile(text);
  const auto& signature = lock.kernels.at(0).variants.at("torch-cpu").signature;
  REQUIRE(signature.has_value());
  CHECK(signature->log_index == 42);
  CHECK(signature->source_repository == "https://github.com/org/k");
  CHECK(signature->describe() ==
        "https://github.com/org/k/.github/workflows/build.yaml@refs/heads/main (issuer "
        "https://token.actions.githubusercontent.com)");
  CHECK(format_lockfile(lock) == text);

  auto other = *signature;
  other.log_index = 43;
  other.signing_time = "2026-07-01T00:00:00Z";
  CHECK(other.same_signer(*signature));
  other.build_signer_uri += "x";
  CHECK_FALSE(other.same_signer(*signature));

  auto mutate = [&](const std::string& from, const std::string& to) {
    auto bad = text;
    bad.replace(bad.find(from), from.size(), to);
    return bad;
  };
  const std::pair<std::string, std::string> refusals[] = {
      {"\"log_index\": 42", "\"log_index\": -1"},
      {"2026-06-01T12:00:00Z", "2026-06-01 12:00"},
      {"\"signatures\": {\n      \"torch-cpu\"", "\"signatures\": {\n      \"torch-cuda\""},
      {"\"log_index\": 42", "\"log_index\": 42, \"extra\": 1"},
      {"\"issuer\": \"https://token.actions.githubusercontent.com\",", ""},
  };
  for (const auto& [from, to] : refusals) {
    CAPTURE(to);
    CHECK_THROWS_AS(parse_lockfile(mutate(from, to)), Error);
  }
}
