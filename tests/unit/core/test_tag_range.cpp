// Tag ranges (core/tag_range.hpp): one grammar for the requirements readers and
// the resolver.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "kernel_lock/core/error.hpp"
#include "kernel_lock/core/requirements.hpp"
#include "kernel_lock/core/tag_range.hpp"

using namespace kernel_lock;

namespace {

std::optional<std::string> pick_tag(const std::vector<std::string>& tags, std::string_view spec) {
  return TagRange::parse(spec).pick(tags);
}

}  // namespace

TEST_CASE("pick_tag picks the highest v<semver> tag in range") {
  std::vector<std::string> tags{"v0.0.3", "v0.1.0", "v0.1.10", "v0.1.9", "release", "v1.0.0", "0.2.0"};
  CHECK(pick_tag(tags, ">=0.1.0,<0.2.0") == std::optional<std::string>("v0.1.10"));
  CHECK(pick_tag(tags, "<0.1") == std::optional<std::string>("v0.0.3"));
  CHECK(pick_tag(tags, "~=0.1.0") == std::optional<std::string>("v0.1.10"));
  CHECK(pick_tag(tags, "==0.1.*,!=0.1.10") == std::optional<std::string>("v0.1.9"));
  CHECK(pick_tag(tags, ">= v1.0.0") == std::optional<std::string>("v1.0.0"));
  CHECK_FALSE(pick_tag(tags, ">2").has_value());
  CHECK_THROWS_AS(pick_tag(tags, "about 1"), Error);
}

TEST_CASE("tag range grammar: one rule set") {
  for (const char* good : {">=0.1.0,<0.2.0", "==1.2.*", "!=1.*", "~=1.2", "~=0.1.0", ">= v1.0.0", " >=1 , <2 ", "<1",
                           "==1", ">v1.2.3"}) {
    CAPTURE(good);
    CHECK(TagRange::is_valid(good));
    CHECK(TagRange::parse(good).text() == good);
  }
  for (const char* bad : {"", "~=1", "~=1.*", ">=1.*", "latest", ">=", ">=1,", ",>=1", ">=1.", ">=1..2", "=1", ">=a",
                          ">=1 .2", "about 1", ">=1234567890"}) {
    CAPTURE(bad);
    CHECK_FALSE(TagRange::is_valid(bad));
    CHECK_THROWS_AS(TagRange::parse(bad), Error);
  }
  CHECK_FALSE(TagRange::is_valid(std::string(257, '1')));
  try {
    (void)TagRange::parse(">=0.1, ~=1");
    FAIL("expected an error");
  } catch (const Error& e) {
    CHECK(e.code() == ErrorCode::invalid_input);
    CHECK(std::string(e.what()) == "invalid tag range clause '~=1' in '>=0.1, ~=1'");
    CHECK(!e.hint().empty());
  }
}

TEST_CASE("tag range matching") {
  const auto range = TagRange::parse("~=1.2,!=1.4.*");
  CHECK(range.matches("v1.2"));
  CHECK(range.matches("v1.3.7"));
  CHECK_FALSE(range.matches("v1.4.0"));
  CHECK_FALSE(range.matches("v2.0"));
  CHECK_FALSE(range.matches("v1.1.9"));
  CHECK_FALSE(range.matches("1.3"));  // tags need the leading v
  CHECK_FALSE(range.matches("release"));
  CHECK(TagRange::parse("==1.0").matches("v1"));        // missing parts are zeros
  CHECK(TagRange::parse("==1.0").matches("v1.0.0"));
  CHECK(parse_version_tag("v1.02.3") == std::optional<std::vector<long>>({1, 2, 3}));
  CHECK_FALSE(parse_version_tag("1.2").has_value());
  CHECK(parse_version_tag("1.2", false) == std::optional<std::vector<long>>({1, 2}));
  // Equal versions: the smaller tag name wins, whatever the input order.
  CHECK(TagRange::parse(">=1").pick({"v1.0", "v1"}) == std::optional<std::string>("v1"));
  CHECK(TagRange::parse(">=1").pick({"v1", "v1.0"}) == std::optional<std::string>("v1"));
}

TEST_CASE("a tag range is parsed when the requirements are read, at its file:line:col") {
  const auto yaml = parse_kernels_yaml("kernels:\n  - repo-id: org/a\n    tags: \"==1.2.*\"\n", "k.yaml");
  REQUIRE(yaml.kernels.at(0).tag_range.has_value());
  CHECK(yaml.kernels[0].tag_range->pick({"v1.2.9", "v1.3.0"}) == std::optional<std::string>("v1.2.9"));
  try {
    (void)parse_kernels_yaml("kernels:\n  - repo-id: org/a\n    tags: \"~=1\"\n", "k.yaml");
    FAIL("expected an error");
  } catch (const Error& e) {
    CHECK(std::string(e.what()).starts_with("k.yaml:3:11: org/a: tags: expected a tag range"));
    CHECK(std::string(e.what()).find("'~=1'") != std::string::npos);
  }
  CHECK_THROWS_AS(parse_pyproject_toml("[tool.kernels.dependencies]\n\"org/a\" = \"~=1\"\n", "p.toml"), Error);
  const auto toml = parse_pyproject_toml("[tool.kernels.dependencies]\n\"org/a\" = \"==1.2.*\"\n", "p.toml");
  CHECK(toml.kernels.at(0).tag_range.value().text() == "==1.2.*");
}
