// Percent-encoding for URLs, as huggingface_hub quotes them (one home for the
// Hub client, which builds URLs, and the mirror, which parses them).
#pragma once

#include <string>
#include <string_view>

namespace kernel_lock {

// Percent-encodes everything but RFC 3986 unreserved characters
// [A-Za-z0-9-._~], upper-case hex (Python quote(x, safe="")). Never throws
// (beyond std::bad_alloc).
std::string url_encode(std::string_view text);
// Like url_encode, keeping '/' (Python quote(x), safe="/").
std::string url_encode_path(std::string_view path);
// Decodes %XX (either hex case); a '%' not followed by two hex digits is kept
// as is. '+' becomes a space only when `plus_is_space` (query strings). Never
// throws (beyond std::bad_alloc).
std::string url_decode(std::string_view text, bool plus_is_space);

}  // namespace kernel_lock
