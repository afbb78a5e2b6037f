// oci:// references, the loopback rule, and the environment knobs.
#include <cctype>
#include <cstdlib>

#include "kernel_lock/core/error.hpp"
#include "kernel_lock/core/ids.hpp"
#include "kernel_lock/registry/registry.hpp"

namespace kernel_lock {
namespace {

constexpr std::string_view kScheme = "oci://";

// distribution's path-component grammar: [a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*, joined by '/'.
bool valid_repository(std::string_view repo) {
  if (repo.empty() || repo.size() > 255 || repo.front() == '/' || repo.back() == '/') return false;
  char prev = '/';
  for (char c : repo) {
    const bool alnum = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
    const bool sep = c == '.' || c == '_' || c == '-' || c == '/';
    if (!alnum && !sep) return false;
    if (sep && c != '-' && c != '_' && (prev == '/' || prev == '.' || prev == '-' || prev == '_')) return false;
    prev = c;
  }
  return true;
}

int env_int(const char* name, int fallback, int min, int max) {
  const char* v = std::getenv(name);
  if (!v || !*v) return fallback;
  char* end = nullptr;
  const long n = std::strtol(v, &end, 10);
  if (*end != '\0' || n < min || n > max)
    throw Error(ErrorCode::usage, std::string(name) + "=" + v + " is not a number in [" + std::to_string(min) + ", " +
                                      std::to_string(max) + "]");
  return static_cast<int>(n);
}

}  // namespace

std::string OciReference::to_string() const {
  return std::string(kScheme) + host + "/" + repository + (digest.empty() ? ":" + tag : "@" + digest);
}

bool is_oci_reference(std::string_view text) noexcept { return text.starts_with(kScheme); }

OciReference parse_oci_reference(std::string_view text) {
  const std::string hint = "write oci://HOST[:PORT]/REPO[:TAG|@sha256:HEX], e.g. oci://127.0.0.1:5000/kernels/fleet:v1";
  if (!is_oci_reference(text)) throw Error(ErrorCode::usage, "'" + std::string(text) + "' is not an oci:// reference", hint);
  std::string_view rest = text.substr(kScheme.size());
  const auto slash = rest.find('/');
  if (slash == std::string_view::npos || slash == 0)
    throw Error(ErrorCode::usage, "'" + std::string(text) + "' names no repository", hint);
  OciReference ref;
  ref.host = std::string(rest.substr(0, slash));
  for (char c : ref.host)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-' || c == ':' || c == '[' || c == ']'))
      throw Error(ErrorCode::usage, "'" + std::string(text) + "': bad registry host '" + ref.host + "'", hint);
  std::string_view path = rest.substr(slash + 1);
  if (const auto at = path.find('@'); at != std::string_view::npos) {
    ref.digest = std::string(path.substr(at + 1));
    path = path.substr(0, at);
    if (ref.digest.size() != 71 || !ref.digest.starts_with("sha256:") || !is_lower_hex(std::string_view(ref.digest).substr(7)))
      throw Error(ErrorCode::usage, "'" + std::string(text) + "': the digest is not sha256:<64 lowercase hex>", hint);
  } else if (const auto colon = path.rfind(':'); colon != std::string_view::npos) {
    ref.tag = std::string(path.substr(colon + 1));
    path = path.substr(0, colon);
    if (!is_valid_oci_tag(ref.tag))
      throw Error(ErrorCode::usage, "'" + std::string(text) + "': bad tag '" + ref.tag + "'", "tags match [A-Za-z0-9_][A-Za-z0-9._-]{0,127}");
  } else {
    ref.tag = std::string(kOciDefaultTag);
  }
  ref.repository = std::string(path);
  if (!valid_repository(ref.repository))
    throw Error(ErrorCode::usage, "'" + std::string(text) + "': bad repository '" + ref.repository + "'",
                "repository names are lower-case [a-z0-9] components joined by '/', '.', '_' or '-'");
  return ref;
}

bool is_loopback_host(std::string_view host_port) {
  std::string_view host = host_port;
  if (host.starts_with("[")) {
    host = host.substr(1, host.find(']') == std::string_view::npos ? host.size() : host.find(']') - 1);
  } else if (const auto colon = host.rfind(':'); colon != std::string_view::npos) {
    host = host.substr(0, colon);
  }
  if (host == "localhost" || host == "::1") return true;
  if (!host.starts_with("127.")) return false;
  int dots = 0;
  for (char c : host) {
    if (c == '.') ++dots;
    else if (c < '0' || c > '9') return false;
  }
  return dots == 3;
}

RegistryOptions RegistryOptions::from_environment() {
  RegistryOptions o;
  o.max_attempts = env_int("KERNEL_LOCK_OCI_RETRIES", o.max_attempts, 1, 100);
  o.initial_backoff = std::chrono::milliseconds(
      env_int("KERNEL_LOCK_OCI_BACKOFF_MS", static_cast<int>(o.initial_backoff.count()), 0, 600000));
  o.max_backoff = std::chrono::milliseconds(
      env_int("KERNEL_LOCK_OCI_MAX_BACKOFF_MS", static_cast<int>(o.max_backoff.count()), 0, 600000));
  return o;
}

}  // namespace kernel_lock
