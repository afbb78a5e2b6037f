// Private: base64, hex, bounded JSON parsing and bounded file reads.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace kernel_lock::trust::detail {

// Decodes standard or URL-safe base64, padding optional (protobuf JSON accepts both).
// Throws Error(invalid_input) naming `what` for bad characters, bad length or
// more than `max_bytes` decoded bytes (checked before allocating).
std::vector<std::uint8_t> base64_decode(std::string_view text, std::string_view what, std::size_t max_bytes);
std::string base64_encode(std::span<const std::uint8_t> bytes);


// Parses JSON of at most `max_bytes` with core's bounded parser (depth kMaxJsonDepth, no duplicate keys).
// Throws Error(invalid_input) naming `what`.
nlohmann::json parse_json(std::string_view text, std::string_view what, std::size_t max_bytes);

// Field access with typed errors (Error(invalid_input) "<what>: missing field <key>").
const nlohmann::json& field(const nlohmann::json& object, std::string_view key, std::string_view what);
const nlohmann::json* optional_field(const nlohmann::json& object, std::string_view key);
std::string string_field(const nlohmann::json& object, std::string_view key, std::string_view what);
// protobuf-JSON int64: a decimal string or a number; >= 0. Throws Error(invalid_input).
std::int64_t int64_field(const nlohmann::json& object, std::string_view key, std::string_view what);


}  // namespace kernel_lock::trust::detail
