// The bounded JSON parser every parser of outside JSON uses (core/json.hpp).
#include <doctest/doctest.h>

#include <string>

#include "kernel_lock/core/error.hpp"
#include "kernel_lock/core/json.hpp"

using kernel_lock::Error;
using kernel_lock::ErrorCode;
using kernel_lock::kMaxJsonDepth;
using kernel_lock::parse_json_bounded;

namespace {
template <class Json>
std::string refusal(const std::string& text, std::size_t max_bytes = 1 << 20) {
  try {
    parse_json_bounded<Json>(text, "doc.json", max_bytes, "the hint");
  } catch (const Error& e) {
    CHECK(e.code() == ErrorCode::invalid_input);
    CHECK(e.hint() == "the hint");
    return e.what();
  }
  FAIL("accepted: " << text.substr(0, 80));
  return "";
}
}  // namespace

TEST_CASE_TEMPLATE("parse_json_bounded refuses by size, depth, duplicate key and syntax", Json, nlohmann::json,
                   nlohmann::ordered_json) {
  const std::string ok_depth = std::string(kMaxJsonDepth, '[') + std::string(kMaxJsonDepth, ']');
  CHECK(parse_json_bounded<Json>(ok_depth, "doc.json", 1 << 20, "").is_array());
  CHECK(refusal<Json>("[" + ok_depth + "]").starts_with("doc.json: JSON nested deeper than 64 levels"));
  CHECK(refusal<Json>(R"({"a": 1, "a": 2})").starts_with("doc.json: duplicate key \"a\" in one object"));
  CHECK(refusal<Json>("[1,\n 2,]").starts_with("doc.json:2:4: invalid JSON"));
  CHECK(refusal<Json>("[1, 2, 3]", 8).starts_with("doc.json: 9 bytes of JSON, over the limit of 8"));
  // Keys may repeat in different objects.
  CHECK(parse_json_bounded<Json>(R"([{"a": 1}, {"a": 2}])", "doc.json", 1 << 20, "").size() == 2);
}

TEST_CASE("parse_json_bounded refuses 60 MiB of '[' at the depth limit, without building it") {
  const std::string hostile(60u << 20, '[');
  // Over the size limit: refused before parsing.
  CHECK(refusal<nlohmann::json>(hostile, 1u << 20).find("over the limit") != std::string::npos);
  // Under it: the parser stops at level 65 instead of allocating 60 million arrays.
  CHECK(refusal<nlohmann::json>(hostile, 64u << 20).find("nested deeper") != std::string::npos);
}
