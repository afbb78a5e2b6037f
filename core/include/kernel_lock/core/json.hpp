// Bounded JSON parsing: the one mechanism every parser of outside JSON uses
// (kernel.lock, the bundle manifest, the mirror's request bodies). The size is
// checked before nlohmann allocates anything, and nesting deeper than
// kMaxJsonDepth is refused by the parser callback as soon as it is seen, so a
// hostile text costs at most its own bytes plus a bounded parse stack.
#pragma once

#include <cstddef>
#include <string_view>

#include <nlohmann/json.hpp>

namespace kernel_lock {

// Deeper JSON is refused before it reaches recursive code. Our formats nest at
// most 6 levels (docs/formats.md, docs/bundle-format.md).
inline constexpr int kMaxJsonDepth = 64;

// Parses `text` as one JSON value, refusing (Error invalid_input, with `hint`):
// a text over `max_bytes` (before parsing), nesting deeper than kMaxJsonDepth,
// a duplicate key in one object, and invalid JSON ("<source>:<line>:<column>:
// invalid JSON: ..."). Messages start with `source`. Defined for nlohmann::json
// and nlohmann::ordered_json.
template <class Json>
Json parse_json_bounded(std::string_view text, std::string_view source, std::size_t max_bytes,
                        std::string_view hint);

}  // namespace kernel_lock
