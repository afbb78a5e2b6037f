// The typed "requirement" of a lock entry (core/locked_requirement.hpp): it
// reads what we write and writes it back byte for byte.
#include <doctest/doctest.h>

#include <string>

#include "kernel_lock/core/error.hpp"
#include "kernel_lock/core/locked_requirement.hpp"
#include "kernel_lock/core/lockfile.hpp"
#include "kernel_lock/core/requirements.hpp"

using namespace kernel_lock;
using ojson = nlohmann::ordered_json;

TEST_CASE("LockedRequirement round-trips every key we write, in our order") {
  for (const char* text : {
           R"({})",
           R"({"version":1})",
           R"({"revision":"main"})",
           R"({"tags":">=0.0.2,<0.1.0","repo-type":"model"})",
           R"({"version":2,"torch":["2.11"],"cuda":["13.0","12.6"],"arch":["x86_64"],"os":["linux"]})",
           R"({"version":1,"targets":{"torch":["2.11"],"os":["linux"]},"required-by":"org/top"})",
           R"({"revision":"release","required-by":"org/mid","x-future":{"a":[1,2]},"another":null})",
       }) {
    CAPTURE(text);
    const auto json = ojson::parse(text);
    const auto req = LockedRequirement::from_json(json);
    CHECK(req.to_json().dump() == json.dump());
    CHECK(LockedRequirement::from_json(req.to_json()) == req);
  }
}

TEST_CASE("LockedRequirement reads typed fields") {
  const auto req = LockedRequirement::from_json(ojson::parse(
      R"({"version":3,"cuda":["13.0"],"targets":{"arch":["aarch64"]},"required-by":"org/top","x":1})"));
  CHECK(req.version == std::optional<std::uint64_t>(3));
  CHECK(!req.revision);
  CHECK(req.filter.cuda == std::vector<std::string>{"13.0"});
  REQUIRE(req.targets.has_value());
  CHECK(req.targets->arch == std::vector<std::string>{"aarch64"});
  CHECK(req.required_by == std::optional<std::string>("org/top"));
  CHECK(req.extra == ojson::parse(R"({"x":1})"));
}

TEST_CASE("LockedRequirement rejects known keys of the wrong type") {
  for (const char* text : {R"({"version":-1})", R"({"version":"1"})", R"({"revision":3})", R"({"torch":"2.11"})",
                           R"({"cuda":[13]})", R"({"targets":[]})", R"({"targets":{"gpu":["x"]}})",
                           R"({"required-by":null})", R"([])", R"(1)"}) {
    CAPTURE(text);
    CHECK_THROWS_AS(LockedRequirement::from_json(ojson::parse(text)), Error);
  }
  try {
    (void)LockedRequirement::from_json(ojson::parse(R"({"version":"1"})"));
  } catch (const Error& e) {
    CHECK(std::string(e.what()) == "version: expected a non-negative integer, got string");
  }
}

TEST_CASE("a lock's requirement is typed, and a malformed one fails at its JSON path") {
  const std::string head = R"([{"repo_id": "a/b", "sha": ")" + std::string(40, 'a') + R"(", "variants": {}, "requirement": )";
  const auto lock = parse_lockfile(head + R"({"version": 1, "required-by": "a/c"}}])");
  REQUIRE(lock.kernels.at(0).requirement.has_value());
  CHECK(lock.kernels[0].requirement->version == std::optional<std::uint64_t>(1));
  CHECK(lock.kernels[0].requirement->required_by == std::optional<std::string>("a/c"));
  try {
    (void)parse_lockfile(head + R"({"revision": 1}}])");
    FAIL("expected an error");
  } catch (const Error& e) {
    CHECK(std::string(e.what()) == "kernel.lock: [0].requirement: revision: expected a string, got number");
  }
}

TEST_CASE("KernelRequirement::locked is what to_json writes") {
  KernelRequirement k;
  k.repo_id = "org/a";
  k.version = 2;
  k.tag_range = TagRange::parse(">=1.0");
  k.filter.torch = {"2.11"};
  CHECK(k.locked().version == std::optional<std::uint64_t>(2));
  CHECK(k.locked().tags == std::optional<std::string>(">=1.0"));
  CHECK(k.to_json().dump() == R"({"version":2,"tags":">=1.0","torch":["2.11"]})");
}
