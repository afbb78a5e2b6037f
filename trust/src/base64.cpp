// Public base64 (base64.hpp) over the private codec.
#include "kernel_lock/trust/base64.hpp"

#include <cstdint>
#include <span>

#include "codec.hpp"

namespace kernel_lock::trust {

std::string base64_encode_text(std::string_view bytes) {
  return detail::base64_encode(std::span<const std::uint8_t>(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size()));
}

std::string base64_decode_text(std::string_view text, std::string_view what, std::size_t max_bytes) {
  const auto raw = detail::base64_decode(text, what, max_bytes);
  return std::string(raw.begin(), raw.end());
}

}  // namespace kernel_lock::trust
