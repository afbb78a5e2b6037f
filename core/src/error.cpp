#include "kernel_lock/core/error.hpp"

namespace kernel_lock {

int exit_code_for(ErrorCode code) noexcept { return static_cast<int>(code); }

const char* to_string(ErrorCode code) noexcept {
  switch (code) {
    case ErrorCode::generic: return "error";
    case ErrorCode::usage: return "usage error";
    case ErrorCode::invalid_input: return "invalid input";
    case ErrorCode::network: return "network error";
    case ErrorCode::not_found: return "not found";
    case ErrorCode::integrity: return "integrity error";
    case ErrorCode::lock_changed: return "lock would change";
    case ErrorCode::io: return "i/o error";
    case ErrorCode::unsupported: return "unsupported";
  }
  return "error";
}

Error::Error(ErrorCode code, std::string message, std::string hint)
    : code_(code), message_(std::move(message)), hint_(std::move(hint)) {
  rebuild();
}

Error& Error::add_context(std::string frame) {
  context_.insert(context_.begin(), std::move(frame));
  rebuild();
  return *this;
}

Error& Error::set_hint(std::string hint) {
  hint_ = std::move(hint);
  return *this;
}

void Error::rebuild() {
  what_.clear();
  for (const auto& frame : context_) {
    what_ += frame;
    what_ += ": ";
  }
  what_ += message_;
}

}  // namespace kernel_lock
