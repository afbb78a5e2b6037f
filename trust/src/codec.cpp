#include "codec.hpp"

#include "kernel_lock/core/json.hpp"

#include <array>

#include "kernel_lock/core/error.hpp"

namespace kernel_lock::trust::detail {
namespace {

// 0..63 for the standard and URL-safe alphabets, -1 otherwise.
constexpr std::array<int, 256> make_base64_table() {
  std::array<int, 256> table{};
  for (auto& v : table) v = -1;
  const char* alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  for (int i = 0; i < 64; ++i) table[static_cast<unsigned char>(alphabet[i])] = i;
  table[static_cast<unsigned char>('-')] = 62;
  table[static_cast<unsigned char>('_')] = 63;
  return table;
}
constexpr auto kBase64Table = make_base64_table();

Error invalid(std::string_view what, std::string_view message) {
  return Error(ErrorCode::invalid_input, std::string(what) + ": " + std::string(message));
}

}  // namespace

std::vector<std::uint8_t> base64_decode(std::string_view text, std::string_view what, std::size_t max_bytes) {
  if (text.size() % 4 == 0 && !text.empty()) {
    std::size_t pad = 0;
    while (pad < 2 && text.size() > pad && text[text.size() - 1 - pad] == '=') ++pad;
    text.remove_suffix(pad);
  }
  if (text.size() % 4 == 1) throw invalid(what, "invalid base64 length");
  const std::size_t out_size = text.size() / 4 * 3 + (text.size() % 4 == 0 ? 0 : text.size() % 4 - 1);
  if (out_size > max_bytes) {
    throw invalid(what, "base64 data larger than " + std::to_string(max_bytes) + " bytes");
  }
  std::vector<std::uint8_t> out;
  out.reserve(out_size);
  std::uint32_t acc = 0;
  int bits = 0;
  for (char c : text) {
    const int v = kBase64Table[static_cast<unsigned char>(c)];
    if (v < 0) throw invalid(what, "invalid base64 character");
    acc = (acc << 6) | static_cast<std::uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<std::uint8_t>((acc >> bits) & 0xFFu));
    }
  }
  return out;
}

std::string base64_encode(std::span<const std::uint8_t> bytes) {
  static constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  std::size_t i = 0;
  for (; i + 2 < bytes.size(); i += 3) {
    const std::uint32_t n = (std::uint32_t{bytes[i]} << 16) | (std::uint32_t{bytes[i + 1]} << 8) | bytes[i + 2];
    for (int shift = 18; shift >= 0; shift -= 6) out.push_back(kAlphabet[(n >> shift) & 63u]);
  }
  if (i < bytes.size()) {
    std::uint32_t n = std::uint32_t{bytes[i]} << 16;
    if (i + 1 < bytes.size()) n |= std::uint32_t{bytes[i + 1]} << 8;
    out.push_back(kAlphabet[(n >> 18) & 63u]);
    out.push_back(kAlphabet[(n >> 12) & 63u]);
    out.push_back(i + 1 < bytes.size() ? kAlphabet[(n >> 6) & 63u] : '=');
    out.push_back('=');
  }
  return out;
}

nlohmann::json parse_json(std::string_view text, std::string_view what, std::size_t max_bytes) {
  return parse_json_bounded<nlohmann::json>(text, what, max_bytes, "");
}

const nlohmann::json& field(const nlohmann::json& object, std::string_view key, std::string_view what) {
  if (!object.is_object()) throw invalid(what, "expected a JSON object");
  auto it = object.find(key);
  if (it == object.end() || it->is_null()) throw invalid(what, "missing field `" + std::string(key) + "`");
  return *it;
}

const nlohmann::json* optional_field(const nlohmann::json& object, std::string_view key) {
  if (!object.is_object()) return nullptr;
  auto it = object.find(key);
  return it == object.end() || it->is_null() ? nullptr : &*it;
}

std::string string_field(const nlohmann::json& object, std::string_view key, std::string_view what) {
  const auto& value = field(object, key, what);
  if (!value.is_string()) throw invalid(what, "field `" + std::string(key) + "` is not a string");
  return value.get<std::string>();
}

std::int64_t int64_field(const nlohmann::json& object, std::string_view key, std::string_view what) {
  const auto& value = field(object, key, what);
  if (value.is_number_unsigned()) {
    const auto n = value.get<std::uint64_t>();
    if (n > static_cast<std::uint64_t>(INT64_MAX)) throw invalid(what, "`" + std::string(key) + "` out of range");
    return static_cast<std::int64_t>(n);
  }
  if (!value.is_string()) throw invalid(what, "field `" + std::string(key) + "` is not an integer");
  const auto& s = value.get_ref<const std::string&>();
  if (s.empty() || s.size() > 18) throw invalid(what, "`" + std::string(key) + "` is not a valid integer");
  std::int64_t n = 0;
  for (char c : s) {
    if (c < '0' || c > '9') throw invalid(what, "`" + std::string(key) + "` is not a valid integer");
    n = n * 10 + (c - '0');
  }
  return n;
}

}  // namespace kernel_lock::trust::detail
