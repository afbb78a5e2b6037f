#include "kernel_lock/core/error.hpp"

#include <filesystem>
#include <new>

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
    case ErrorCode::stale_trust: return "stale trust root";
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

Error error_from_exception(const std::exception& e, ErrorCode fallback) {
  if (dynamic_cast<const std::bad_alloc*>(&e))
    return Error(ErrorCode::generic, std::string("out of memory (") + e.what() + ")",
                 "free memory, then try again");
  if (const auto* fs_error = dynamic_cast<const std::filesystem::filesystem_error*>(&e)) {
    std::string where = fs_error->path1().string();
    if (!fs_error->path2().empty()) where += " -> " + fs_error->path2().string();
    return Error(ErrorCode::io, (where.empty() ? std::string() : where + ": ") + fs_error->code().message() + " (" +
                                    fs_error->what() + ")");
  }
  return Error(fallback, e.what());
}

}  // namespace kernel_lock
