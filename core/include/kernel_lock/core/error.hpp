// Error type shared by every kernel-lock library. Library code never prints or
// exits: it throws kernel_lock::Error and callers add context while it unwinds;
// the CLI turns the code into the process exit status (see README "Exit codes").
#pragma once

#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace kernel_lock {

// Stable categories; the CLI maps each to a documented exit code.
enum class ErrorCode {
  generic = 1,        // anything not covered below
  usage = 2,          // bad command line
  invalid_input = 3,  // malformed lockfile, requirements, archive, server reply
  network = 4,        // HTTP/transport failure after retries
  not_found = 5,      // repo, revision, file, variant or cache entry missing
  integrity = 6,      // a digest or hash does not match the lock
  lock_changed = 7,   // --locked and the lock would change
  io = 8,             // local file-system failure
  unsupported = 9,    // no variant fits this environment, unknown format version
  stale_trust = 10,   // the Sigstore trusted root is older than the freshness limit (docs/trust.md)
};

// Returns the documented process exit status for an error code.
int exit_code_for(ErrorCode code) noexcept;
const char* to_string(ErrorCode code) noexcept;

// An error with a chain of context, outermost first when printed:
//   "resolving kernels.yaml: kernel kernels-community/activation: revision v9: not found"
// `hint` is an optional next step for the user ("run `kernel-lock resolve` first").
class Error : public std::exception {
 public:
  Error(ErrorCode code, std::string message, std::string hint = {});
  explicit Error(std::string message) : Error(ErrorCode::generic, std::move(message)) {}

  ErrorCode code() const noexcept { return code_; }
  const std::string& message() const noexcept { return message_; }
  const std::vector<std::string>& context() const noexcept { return context_; }
  const std::string& hint() const noexcept { return hint_; }

  // Adds an outer context frame; returns *this so `throw e.add_context(..)` works.
  Error& add_context(std::string frame);
  Error& set_hint(std::string hint);

  // Full chain, "outer: inner: message".
  const char* what() const noexcept override { return what_.c_str(); }

 private:
  void rebuild();
  ErrorCode code_;
  std::string message_;
  std::vector<std::string> context_;  // outermost first
  std::string hint_;
  std::string what_;
};

// The Error for an exception that is not one: std::bad_alloc -> generic ("out
// of memory"); std::filesystem::filesystem_error -> io, naming its path(s) and
// the system error; anything else -> `fallback` with its what(). The one place that classifies foreign exceptions.
Error error_from_exception(const std::exception& e, ErrorCode fallback = ErrorCode::generic);

// Runs `fn`; any kernel_lock::Error escaping it gets `frame` added as context.
// Other std::exceptions become error_from_exception(e, fallback) with `frame`.
template <class Fn>
decltype(auto) with_context(const std::string& frame, Fn&& fn, ErrorCode fallback = ErrorCode::generic) {
  try {
    return fn();
  } catch (Error& e) {
    e.add_context(frame);
    throw;
  } catch (const std::exception& e) {
    throw error_from_exception(e, fallback).add_context(frame);
  }
}

}  // namespace kernel_lock
