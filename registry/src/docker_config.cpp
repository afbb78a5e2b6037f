// Credentials from a docker config.json: credHelpers, auths, credsStore.
#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>

#include <nlohmann/json.hpp>

#include "kernel_lock/core/error.hpp"
#include "kernel_lock/core/fs.hpp"
#include "kernel_lock/core/json.hpp"
#include "kernel_lock/core/unique_fd.hpp"
#include "kernel_lock/registry/registry.hpp"
#include "session.hpp"

extern char** environ;

namespace kernel_lock {
namespace fs = std::filesystem;
using nlohmann::json;
namespace {

constexpr std::size_t kMaxConfigBytes = 4u << 20;
constexpr std::size_t kMaxHelperReply = 64u << 10;

fs::path config_file(const fs::path& given) {
  if (!given.empty()) return fs::is_directory(given) ? given / "config.json" : given;
  if (const char* dir = std::getenv("DOCKER_CONFIG"); dir && *dir) return fs::path(dir) / "config.json";
  const char* home = std::getenv("HOME");
  return home && *home ? fs::path(home) / ".docker" / "config.json" : fs::path();
}

// "https://host:5000/v1/" -> "host:5000": how docker login keys `auths`.
std::string auth_key_host(std::string key) {
  if (auto p = key.find("://"); p != std::string::npos) key = key.substr(p + 3);
  if (auto p = key.find('/'); p != std::string::npos) key = key.substr(0, p);
  return key;
}

// Runs `docker-credential-<helper> get` with `host` on stdin; nullopt when the
// helper is missing or knows no credentials for the host.
std::optional<RegistryCredential> run_helper(const std::string& helper, std::string_view host) {
  int in[2], out[2];
  if (::pipe2(in, O_CLOEXEC) != 0) return std::nullopt;
  UniqueFd in_r(in[0]), in_w(in[1]);
  if (::pipe2(out, O_CLOEXEC) != 0) return std::nullopt;
  UniqueFd out_r(out[0]), out_w(out[1]);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, in_r.get(), 0);
  posix_spawn_file_actions_adddup2(&actions, out_w.get(), 1);
  const std::string program = "docker-credential-" + helper;
  char* argv[] = {const_cast<char*>(program.c_str()), const_cast<char*>("get"), nullptr};
  pid_t pid = 0;
  const int rc = posix_spawnp(&pid, program.c_str(), &actions, nullptr, argv, environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) return std::nullopt;  // no such helper on PATH
  in_r.reset();
  out_w.reset();
  (void)!::write(in_w.get(), host.data(), host.size());
  in_w.reset();
  std::string reply;
  char buf[4096];
  for (ssize_t n; (n = ::read(out_r.get(), buf, sizeof buf)) > 0 && reply.size() < kMaxHelperReply;)
    reply.append(buf, static_cast<std::size_t>(n));
  int status = 0;
  ::waitpid(pid, &status, 0);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) return std::nullopt;
  const auto doc = parse_json_bounded<json>(reply, program + " reply", kMaxHelperReply, "");
  if (!doc.is_object() || !doc.contains("Username") || !doc.contains("Secret") || !doc["Username"].is_string() ||
      !doc["Secret"].is_string())
    return std::nullopt;
  return RegistryCredential{doc["Username"].get<std::string>(), doc["Secret"].get<std::string>()};
}

std::optional<RegistryCredential> from_auths(const json& auths, std::string_view host, const std::string& where) {
  if (!auths.is_object()) return std::nullopt;
  for (const auto& [key, entry] : auths.items()) {
    if (auth_key_host(key) != host || !entry.is_object()) continue;
    if (entry.contains("auth") && entry["auth"].is_string() && !entry["auth"].get<std::string>().empty()) {
      const std::string pair = registry_detail::base64_decode_text(entry["auth"].get<std::string>(), where + " auths." + key + ".auth");
      const auto colon = pair.find(':');
      if (colon == std::string::npos)
        throw Error(ErrorCode::invalid_input, where + ": auths." + key + ".auth is not base64 of user:password",
                    "run `docker login " + std::string(host) + "` again");
      return RegistryCredential{pair.substr(0, colon), pair.substr(colon + 1)};
    }
    if (entry.value("username", "") != "")
      return RegistryCredential{entry.value("username", ""), entry.value("password", "")};
  }
  return std::nullopt;
}

}  // namespace

std::optional<RegistryCredential> docker_config_credential(std::string_view host, const fs::path& config) {
  const fs::path file = config_file(config);
  std::error_code ec;
  if (file.empty() || !fs::is_regular_file(file, ec)) return std::nullopt;
  const std::string where = file.string();
  const auto doc = parse_json_bounded<json>(read_file_at_most(file, kMaxConfigBytes), where, kMaxConfigBytes,
                                            "fix or remove the docker config (DOCKER_CONFIG, --docker-config)");
  if (!doc.is_object()) throw Error(ErrorCode::invalid_input, where + ": not a JSON object");
  if (auto h = doc.find("credHelpers"); h != doc.end() && h->is_object())
    for (const auto& [key, helper] : h->items())
      if (auth_key_host(key) == host && helper.is_string()) return run_helper(helper.get<std::string>(), host);
  if (auto found = from_auths(doc.value("auths", json::object()), host, where)) return found;
  if (auto store = doc.find("credsStore"); store != doc.end() && store->is_string() && !store->get<std::string>().empty())
    return run_helper(store->get<std::string>(), host);
  return std::nullopt;
}

}  // namespace kernel_lock
