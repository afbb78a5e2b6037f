#include "kernel_lock/core/env.hpp"

#include <cstdlib>
#include <string_view>

namespace kernel_lock {

bool env_true(const char* name) noexcept {
  const char* value = std::getenv(name);
  if (value == nullptr) return false;
  const std::string_view v(value);
  if (v.size() > 4) return false;
  char upper[5] = {};
  for (std::size_t i = 0; i < v.size(); ++i) {
    const char c = v[i];
    upper[i] = (c >= 'a' && c <= 'z') ? static_cast<char>(c - 'a' + 'A') : c;
  }
  const std::string_view u(upper, v.size());
  return u == "1" || u == "ON" || u == "YES" || u == "TRUE";
}

}  // namespace kernel_lock
