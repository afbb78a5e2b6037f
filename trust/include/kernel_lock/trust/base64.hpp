// Base64 for other libraries (the registry client's Basic credentials and
// docker config `auth` values); the one codec lives in trust/src/codec.cpp.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace kernel_lock::trust {

std::string base64_encode_text(std::string_view bytes);
// Standard or URL-safe, padding optional. Throws Error(invalid_input) naming
// `what` for bad input or more than `max_bytes` decoded bytes.
std::string base64_decode_text(std::string_view text, std::string_view what, std::size_t max_bytes);

}  // namespace kernel_lock::trust
