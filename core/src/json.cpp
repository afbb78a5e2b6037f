// Bounded JSON parsing (see json.hpp).
#include "kernel_lock/core/json.hpp"

#include <algorithm>
#include <set>
#include <string>
#include <vector>

#include "kernel_lock/core/error.hpp"

namespace kernel_lock {
namespace {

// Thrown from the parser callback; turned into an Error with context outside.
struct JsonStructureError {
  std::string message;
};

// JSON string literal for messages (escaped, ASCII only).
std::string quote(const std::string& text) {
  return nlohmann::json(text).dump(-1, ' ', true, nlohmann::json::error_handler_t::replace);
}

// "<source>:<line>:<column>: invalid JSON: <detail>" for a parse error at 1-based byte `byte`.
std::string syntax_message(std::string_view text, std::string_view source, std::size_t byte, std::string detail) {
  const std::size_t offset = std::min<std::size_t>(byte == 0 ? 0 : byte - 1, text.size());
  std::size_t line = 1;
  std::size_t line_start = 0;
  for (std::size_t i = 0; i < offset; ++i) {
    if (text[i] == '\n') {
      ++line;
      line_start = i + 1;
    }
  }
  const std::size_t column = offset - line_start + 1;
  if (auto pos = detail.find("column "); pos != std::string::npos) {
    if (auto colon = detail.find(": ", pos); colon != std::string::npos) detail = detail.substr(colon + 2);
  }
  return std::string(source) + ":" + std::to_string(line) + ":" + std::to_string(column) + ": invalid JSON: " + detail;
}

}  // namespace

template <class Json>
Json parse_json_bounded(std::string_view text, std::string_view source, std::size_t max_bytes,
                        std::string_view hint) {
  const std::string hint_text(hint);
  if (text.size() > max_bytes)
    throw Error(ErrorCode::invalid_input,
                std::string(source) + ": " + std::to_string(text.size()) + " bytes of JSON, over the limit of " +
                    std::to_string(max_bytes),
                hint_text);
  std::vector<std::set<std::string>> keys_per_object;
  auto callback = [&](int depth, typename Json::parse_event_t event, Json& parsed) -> bool {
    using Event = typename Json::parse_event_t;
    // `depth` counts the containers around the one that starts: the 65th level starts at depth 64.
    const bool starts = event == Event::object_start || event == Event::array_start;
    if (starts && depth >= kMaxJsonDepth)
      throw JsonStructureError{"JSON nested deeper than " + std::to_string(kMaxJsonDepth) + " levels"};
    switch (event) {
      case Event::object_start: keys_per_object.emplace_back(); break;
      case Event::object_end:
        if (!keys_per_object.empty()) keys_per_object.pop_back();
        break;
      case Event::key: {
        const auto& key = parsed.template get_ref<const std::string&>();
        if (!keys_per_object.empty() && !keys_per_object.back().insert(key).second)
          throw JsonStructureError{"duplicate key " + quote(key) + " in one object"};
        break;
      }
      default: break;
    }
    return true;
  };
  try {
    return Json::parse(text.begin(), text.end(), callback, /*allow_exceptions=*/true, /*ignore_comments=*/false);
  } catch (const typename Json::parse_error& e) {
    throw Error(ErrorCode::invalid_input, syntax_message(text, source, e.byte, e.what()), hint_text);
  } catch (const JsonStructureError& e) {
    throw Error(ErrorCode::invalid_input, std::string(source) + ": " + e.message, hint_text);
  } catch (const typename Json::exception& e) {
    throw Error(ErrorCode::invalid_input, std::string(source) + ": invalid JSON: " + e.what(), hint_text);
  }
}

template nlohmann::json parse_json_bounded<nlohmann::json>(std::string_view, std::string_view, std::size_t,
                                                           std::string_view);
template nlohmann::ordered_json parse_json_bounded<nlohmann::ordered_json>(std::string_view, std::string_view,
                                                                           std::size_t, std::string_view);

}  // namespace kernel_lock
