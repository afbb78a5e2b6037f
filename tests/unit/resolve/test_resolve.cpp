// Resolver against an in-process Hub (the product's HubServer over a
// MemoryStore, testing/scripted_hub.hpp): versions, tags, revisions, filters,
// hashes, keeping locked entries, --frozen coverage and lock diffs.
#include <doctest/doctest.h>

#include "kernel_lock/core/error.hpp"
#include "kernel_lock/core/hash.hpp"
#include "kernel_lock/resolve/resolve.hpp"
#include "kernel_lock/testing/scripted_hub.hpp"

using namespace kernel_lock;

namespace {

const std::string kShaV1 = std::string(39, '1') + "a";
const std::string kShaV2 = std::string(39, '2') + "b";
const std::string kShaTag = std::string(39, '3') + "c";

void add_repo(ScriptedHub& hub, const std::string& id) {
  hub.store().edit(id, [](MemoryRepo& r) {
    r.branches = {{"main", kShaV2}, {"v1", kShaV1}, {"v2", kShaV2}, {"vnext", kShaV1}};
    r.tags = {{"v0.0.3", kShaTag}, {"v0.1.0", kShaV1}, {"v0.1.10", kShaV2}, {"release", kShaV1}};
    r.commits[kShaV1] = {{"build/torch-cpu/__init__.py", {"v1\n", false}}, {"README.md", {"hi", false}}};
    r.commits[kShaTag] = {{"build/torch-universal/__init__.py", {"old\n", false}}};
    r.commits[kShaV2] = {
        {"build/torch211-cxx11-cu130-x86_64-linux/__init__.py", {"cu130\n", false}},
        {"build/torch211-cxx11-cu130-x86_64-linux/_k_cuda_abc1234.abi3.so", {std::string(3000, 'c'), true}},
        {"build/torch211-cxx11-cu130-x86_64-linux/__pycache__/x.cpython-311.pyc", {"pyc", false}},
        {"build/torch210-cxx11-cu128-x86_64-linux/__init__.py", {"cu128\n", false}},
        {"build/torch211-cxx11-cpu-aarch64-linux/__init__.py", {"arm\n", false}},
        {"build/tvm-ffi01-cpu-x86_64-linux/__init__.py", {"tvm\n", false}},
        {"build/torch-cpu/__init__.py", {"noarch\n", false}},
        {"build/torch-cpu/layers/__init__.py", {"layers\n", false}},
    };
  });
}

KernelRequirement req_version(const std::string& id, int v) {
  KernelRequirement r;
  r.repo_id = id;
  r.version = v;
  return r;
}

Requirements reqs(std::vector<KernelRequirement> ks) {
  Requirements r;
  r.source = "kernels.yaml";
  r.kernels = std::move(ks);
  return r;
}

std::string message_of(const std::function<void()>& fn, ErrorCode expected) {
  try {
    fn();
  } catch (const Error& e) {
    CHECK(e.code() == expected);
    return std::string(e.what()) + "\nhint: " + e.hint();
  }
  FAIL("expected an error");
  return {};
}

}  // namespace

TEST_CASE("effective filter: CLI over kernel over targets, per dimension") {
  VariantFilter targets{{"2.10", "2.11"}, {"12.8"}, {"x86_64"}, {}};
  VariantFilter kernel{{}, {"13.0"}, {}, {}};
  VariantFilter cli{{"2.11"}, {}, {}, {}};
  auto f = effective_filter(targets, kernel, cli);
  CHECK(f.torch == std::vector<std::string>{"2.11"});
  CHECK(f.cuda == std::vector<std::string>{"13.0"});
  CHECK(f.arch == std::vector<std::string>{"x86_64"});
}

TEST_CASE("resolve pins versions, tags and revisions and hashes every variant") {
  ScriptedHub hub;
  add_repo(hub, "org/a");
  add_repo(hub, "org/b");
  add_repo(hub, "org/c");
  HubClient client(fast_hub_config(hub.url()));
  KernelRequirement tag;
  tag.repo_id = "org/b";
  tag.tag_range = TagRange::parse(">=0.0.1,<0.1.0");
  KernelRequirement rev;
  rev.repo_id = "org/c";
  rev.revision = "release";
  Resolver resolver(client, {});
  auto result = resolver.resolve(reqs({req_version("org/a", 2), tag, rev}));
  REQUIRE(result.lock.kernels.size() == 3);
  const auto& a = *result.lock.find("org/a");
  CHECK(a.sha == kShaV2);
  CHECK(a.repo_type == std::optional<std::string>("kernel"));
  CHECK(a.requirement.value().to_json() == req_version("org/a", 2).to_json());
  CHECK(a.variants.size() == 5);  // every variant, tvm-ffi and noarch too
  const auto& cu = a.variants.at("torch211-cxx11-cu130-x86_64-linux");
  // The .pyc is skipped; the .so is LFS (sha256), __init__.py a git blob.
  REQUIRE(cu.files.size() == 2);
  CHECK(cu.files[0].path == "__init__.py");
  CHECK(cu.files[0].kind == DigestKind::git_sha1);
  CHECK(cu.files[0].digest == git_blob_sha1_hex("cu130\n"));
  CHECK(cu.files[1].kind == DigestKind::lfs_sha256);
  CHECK(cu.files[1].size == 3000);
  CHECK(cu.hash == git_lfs_concat_hash({{"__init__.py", git_blob_sha1_hex("cu130\n")},
                                        {"_k_cuda_abc1234.abi3.so", sha256_hex(std::string(3000, 'c'))}}));
  CHECK(a.variants.at("torch-cpu").files.size() == 2);  // nested layers/ included
  CHECK(result.lock.find("org/b")->sha == kShaTag);
  CHECK(result.lock.find("org/b")->variants.count("torch-universal") == 1);
  CHECK(result.lock.find("org/c")->sha == kShaV1);
  CHECK(result.report.kernels[1].resolved_from == "tag v0.0.3");
  CHECK(result.report.kernels[2].resolved_from == "revision release");
  // Two round trips per kernel (refs or revision, then one tree page), all batched.
  CHECK(result.report.stats.requests == 6);
}

TEST_CASE("filters narrow the variants; unmeetable requirements explain themselves") {
  ScriptedHub hub;
  add_repo(hub, "org/a");
  HubClient client(fast_hub_config(hub.url()));
  ResolveOptions options;
  options.filter.torch = {"2.11"};
  options.filter.cuda = {"13.0"};
  options.filter.arch = {"x86_64"};
  auto lock = Resolver(client, options).resolve(reqs({req_version("org/a", 2)})).lock;
  std::vector<std::string> names;
  for (const auto& [n, v] : lock.kernels[0].variants) names.push_back(n);
  CHECK(names == std::vector<std::string>{"torch-cpu", "torch211-cxx11-cu130-x86_64-linux", "tvm-ffi01-cpu-x86_64-linux"});
  CHECK(lock.kernels[0].requirement.value().targets.has_value());

  auto msg = message_of([&] { Resolver(client, {}).resolve(reqs({req_version("org/a", 7)})); }, ErrorCode::not_found);
  CHECK(msg.find("version 7") != std::string::npos);
  CHECK(msg.find("available versions: 1, 2") != std::string::npos);

  ResolveOptions narrow;
  narrow.filter.torch = {"2.9"};
  // v1 only has the noarch torch-cpu, which fits any torch.
  auto v1 = Resolver(client, narrow).resolve(reqs({req_version("org/a", 1)})).lock;
  CHECK(v1.kernels[0].variants.count("torch-cpu") == 1);
  narrow.filter = {};
  narrow.filter.arch = {"riscv64"};
  hub.store().edit("org/cu", [](MemoryRepo& cu) {
    cu.branches = {{"v1", kShaV2}};
    cu.commits[kShaV2] = {{"build/torch211-cxx11-cu130-x86_64-linux/__init__.py", {"a", false}},
                          {"build/torch210-cxx11-cu128-x86_64-linux/__init__.py", {"b", false}}};
  });
  msg = message_of([&] { Resolver(client, narrow).resolve(reqs({req_version("org/cu", 1)})); }, ErrorCode::not_found);
  CHECK(msg.find("no variant matches arch riscv64") != std::string::npos);
  CHECK(msg.find("torch210-cxx11-cu128-x86_64-linux") != std::string::npos);

  KernelRequirement tag;
  tag.repo_id = "org/a";
  tag.tag_range = TagRange::parse(">=9");
  msg = message_of([&] { Resolver(client, {}).resolve(reqs({tag})); }, ErrorCode::not_found);
  CHECK(msg.find("v0.0.3, v0.1.0, v0.1.10") != std::string::npos);
  msg = message_of([&] { Resolver(client, {}).resolve(reqs({req_version("org/none", 1)})); }, ErrorCode::not_found);
  CHECK(msg.find("org/none") != std::string::npos);
}

TEST_CASE("re-resolving keeps unchanged locked entries unless upgraded") {
  ScriptedHub hub;
  add_repo(hub, "org/a");
  add_repo(hub, "org/b");
  HubClient client(fast_hub_config(hub.url()));
  auto requirements = reqs({req_version("org/a", 1), req_version("org/b", 1)});
  auto first = Resolver(client, {}).resolve(requirements).lock;
  // The Hub moves v1; a plain re-resolve keeps the lock as it is, without any request.
  hub.store().edit("org/a", [](MemoryRepo& r) { r.branches["v1"] = kShaV2; });
  hub.store().edit("org/b", [](MemoryRepo& r) { r.branches["v1"] = kShaV2; });
  const auto before = hub.seen().size();
  auto again = Resolver(client, {}).resolve(requirements, &first);
  CHECK(again.lock == first);
  CHECK(hub.seen().size() == before);
  CHECK(again.report.kernels[0].from_lock);
  // --upgrade-package re-resolves only that kernel.
  ResolveOptions up;
  up.upgrade_packages = {"org/b"};
  auto upgraded = Resolver(client, up).resolve(requirements, &first).lock;
  CHECK(upgraded.find("org/a")->sha == kShaV1);
  CHECK(upgraded.find("org/b")->sha == kShaV2);
  auto diff = describe_lock_changes(first, upgraded);
  CHECK(diff.find("~ org/b: sha 1111111 -> 2222222") != std::string::npos);
  CHECK(diff.find("org/a") == std::string::npos);
  CHECK(describe_lock_changes(first, first).empty());
  // A changed requirement re-resolves that entry.
  auto changed = reqs({req_version("org/a", 2), req_version("org/b", 1)});
  auto relocked = Resolver(client, {}).resolve(changed, &first).lock;
  CHECK(relocked.find("org/a")->sha == kShaV2);
  CHECK(relocked.find("org/b")->sha == kShaV1);
  ResolveOptions upgrade_unknown;
  upgrade_unknown.upgrade_packages = {"org/zzz"};
  CHECK_THROWS_AS(Resolver(client, upgrade_unknown).resolve(requirements, &first), Error);
}

TEST_CASE("frozen coverage check needs no network") {
  ScriptedHub hub;
  add_repo(hub, "org/a");
  HubClient client(fast_hub_config(hub.url()));
  auto requirements = reqs({req_version("org/a", 2)});
  auto lock = Resolver(client, {}).resolve(requirements).lock;
  CHECK_NOTHROW(check_lock_covers(requirements, lock, {}));
  VariantFilter cuda12;
  cuda12.cuda = {"12.8"};
  // The requirement record now carries different targets: the lock is stale.
  auto msg = message_of([&] { check_lock_covers(requirements, lock, cuda12); }, ErrorCode::lock_changed);
  CHECK(msg.find("requirement changed") != std::string::npos);
  auto more = reqs({req_version("org/a", 2), req_version("org/new", 1)});
  msg = message_of([&] { check_lock_covers(more, lock, {}); }, ErrorCode::lock_changed);
  CHECK(msg.find("org/new: required but not in the lock") != std::string::npos);
}

TEST_CASE("offline resolve works from the lock and fails clearly otherwise") {
  ScriptedHub hub;
  add_repo(hub, "org/a");
  HubClient online(fast_hub_config(hub.url()));
  auto requirements = reqs({req_version("org/a", 1)});
  auto lock = Resolver(online, {}).resolve(requirements).lock;
  auto config = fast_hub_config(hub.url());
  config.offline = true;
  HubClient offline(config);
  const auto before = hub.seen().size();
  CHECK(Resolver(offline, {}).resolve(requirements, &lock).lock == lock);
  auto msg = message_of([&] { Resolver(offline, {}).resolve(reqs({req_version("org/a", 2)}), &lock); }, ErrorCode::network);
  CHECK(msg.find("offline") != std::string::npos);
  CHECK(hub.seen().size() == before);
}

TEST_CASE("verify-content downloads the bytes and rejects a listing that lies") {
  ScriptedHub hub;
  add_repo(hub, "org/a");
  HubClient client(fast_hub_config(hub.url()));
  ResolveOptions options;
  options.verify_content = true;
  auto result = Resolver(client, options).resolve(reqs({req_version("org/a", 1)}));
  CHECK(hub.count("/resolve/") == 1);
  hub.script([](const HubRequest& req, HubResponse& res, int) {
    if (req.target.find("/resolve/") == std::string::npos) return InterceptDecision{};
    res.blob.reset();  // same size, other bytes
    res.body = "v2\n";
    res.content_type = "text/plain";
    return InterceptDecision{};
  });
  message_of([&] { Resolver(client, options).resolve(reqs({req_version("org/a", 1)})); }, ErrorCode::integrity);
}

TEST_CASE("kernel-depends in metadata.json are locked level by level, cycles and conflicts included") {
  ScriptedHub hub;
  auto add = [&](const std::string& id, const std::string& deps) {
    hub.store().edit(id, [&](MemoryRepo& r) {
      r.branches = {{"main", kShaV1}, {"v1", kShaV1}};
      r.tags = {{"release", kShaV1}};
      r.commits[kShaV1] = {
          {"build/torch-cpu/__init__.py", {id + "\n", false}},
          {"build/torch-cpu/metadata.json", {R"({"name": "x", "kernel-depends": )" + deps + "}", false}}};
    });
  };
  add("org/top", R"([{"repo-id": "org/mid", "version": 1}, {"repo-id": "org/other", "version": 1}])");
  add("org/mid", R"([{"repo-id": "org/leaf", "revision": "release"}])");
  add("org/leaf", R"([{"repo-id": "org/top", "version": 1}])");  // a cycle back to the top
  add("org/other", R"([{"repo-id": "org/leaf", "revision": "release"}])");  // shared with org/mid
  hub.store().edit("org/other", [](MemoryRepo& r) { r.branches = {{"main", kShaV1}, {"v1", kShaV1}, {"v2", kShaV1}}; });
  HubClient client(fast_hub_config(hub.url()));
  Resolver resolver(client, {});

  auto result = resolver.resolve(reqs({req_version("org/top", 1)}));
  REQUIRE(result.lock.kernels.size() == 4);
  CHECK(result.lock.find("org/top")->requirement.value().to_json() == req_version("org/top", 1).to_json());
  CHECK(result.lock.find("org/mid")->requirement.value().to_json() ==
        nlohmann::ordered_json({{"version", 1}, {"required-by", "org/top"}}));
  CHECK(result.lock.find("org/leaf")->requirement.value().to_json() ==
        nlohmann::ordered_json({{"revision", "release"}, {"required-by", "org/mid"}}));
  CHECK(result.lock.find("org/leaf")->sha == kShaV1);
  CHECK(result.report.kernels.size() == 4);
  CHECK(result.report.kernels[0].required_by.empty());
  CHECK(result.report.warnings.empty());

  // Kept from the lock, the whole tree re-resolves without a request.
  HubClient again_client(fast_hub_config(hub.url()));
  Resolver again(again_client, {});
  auto kept = again.resolve(reqs({req_version("org/top", 1)}), &result.lock);
  CHECK(kept.lock == result.lock);
  CHECK(kept.report.stats.requests == 0);

  // A dependency also required directly at another version: both are locked,
  // one entry per (repo, version) as Python `kernels lock` does (issue 14 item 6).
  hub.store().edit("org/other", [](MemoryRepo& r) {
    r.branches = {{"main", kShaV1}, {"v1", kShaV1}, {"v2", kShaV2}};
    r.commits[kShaV2] = {{"build/torch-cpu/__init__.py", {"other v2\n", false}},
                         {"build/torch-cpu/metadata.json", {R"({"name": "x", "kernel-depends": []})", false}}};
  });
  auto both = resolver.resolve(reqs({req_version("org/top", 1), req_version("org/other", 2)}));
  REQUIRE(both.lock.kernels.size() == 5);
  std::vector<std::string> order;
  for (const auto& k : both.lock.kernels) order.push_back(k.repo_id + " " + k.requirement.value().to_json().dump());
  CHECK(order == std::vector<std::string>{
                     R"(org/leaf {"revision":"release","required-by":"org/mid"})",
                     R"(org/mid {"version":1,"required-by":"org/top"})",
                     R"(org/other {"version":1,"required-by":"org/top"})",
                     R"(org/other {"version":2})",
                     R"(org/top {"version":1})"});
  CHECK(both.lock.find("org/other")->sha == kShaV2);  // what the requirements name
  CHECK(both.lock.find_pinned("org/other", 1, std::nullopt)->sha == kShaV1);  // what org/top declares
  CHECK(both.report.warnings.empty());
  CHECK(both.report.kernels.size() == 5);
  // Kept from the lock: both versions, no request; the same lock in Python's shape holds both too.
  HubClient both_client(fast_hub_config(hub.url()));
  Resolver both_again(both_client, {});
  auto both_kept = both_again.resolve(reqs({req_version("org/top", 1), req_version("org/other", 2)}), &both.lock);
  CHECK(both_kept.lock == both.lock);
  CHECK(both_kept.report.stats.requests == 0);
  CHECK(describe_lock_changes(both.lock, both_kept.lock).empty());
  CHECK(parse_lockfile(format_python_lockfile(both.lock)).kernels.size() == 5);
  // The direct requirement moves to v1 too: one entry of org/other remains.
  auto merged = resolver.resolve(reqs({req_version("org/top", 1), req_version("org/other", 1)}), &both.lock);
  CHECK(merged.lock.find_all("org/other").size() == 1);
  CHECK(!merged.lock.find("org/other")->requirement->required_by);
  const auto diff = describe_lock_changes(both.lock, merged.lock);
  CHECK(diff.find("- org/other (version 2)") != std::string::npos);

  // Malformed kernel-depends: an error naming the repo, the file and the entry.
  add("org/bad", R"([{"repo-id": "org/mid", "version": 1, "revision": "main"}])");
  auto msg = message_of([&] { resolver.resolve(reqs({req_version("org/bad", 1)})); }, ErrorCode::invalid_input);
  CHECK(msg.find("org/bad build/torch-cpu/metadata.json: kernel-depends[0]") != std::string::npos);
  CHECK(msg.find("exactly one of") != std::string::npos);

  // A hostile metadata.json (1 MiB of '[') is refused at the nesting limit of the bounded parser.
  hub.store().edit("org/deep", [](MemoryRepo& r) {
    r.branches = {{"main", kShaV1}, {"v1", kShaV1}};
    r.commits[kShaV1] = {{"build/torch-cpu/__init__.py", {"deep\n", false}},
                         {"build/torch-cpu/metadata.json", {std::string(1u << 20, '['), false}}};
  });
  msg = message_of([&] { resolver.resolve(reqs({req_version("org/deep", 1)})); }, ErrorCode::invalid_input);
  CHECK(msg.find("org/deep build/torch-cpu/metadata.json: JSON nested deeper than 64 levels") != std::string::npos);
}
