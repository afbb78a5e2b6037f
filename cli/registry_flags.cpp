// Registry flags, the --variant choice, and the pull-and-install every oci://
// command shares.
#include "registry_flags.hpp"

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <optional>
#include <set>
#include <utility>
#include <iostream>

#include "install_summary.hpp"
#include "kernel_lock/core/error.hpp"
#include "kernel_lock/core/variant.hpp"

namespace kernel_lock::cli {

RegistryOptions RegistryFlags::options() const {
  RegistryOptions o = RegistryOptions::from_environment();
  o.insecure = insecure;
  o.docker_config = docker_config;
  o.force_https = !ca_file.empty();  // a CA file means the registry speaks TLS, loopback included
  if (password_stdin) {
    if (username.empty()) throw Error(ErrorCode::usage, "--password-stdin needs --username");
    std::string password;
    std::getline(std::cin, password);
    if (!password.empty() && password.back() == '\r') password.pop_back();
    o.credential = RegistryCredential{username, password};
  } else if (!username.empty()) {
    throw Error(ErrorCode::usage, "--username needs --password-stdin", "echo \"$PASSWORD\" | kernel-lock ... --username U --password-stdin");
  }
  return o;
}

std::shared_ptr<HttpTransport> RegistryFlags::transport() const {
  auto o = CurlTransportOptions::from_environment();
  if (!ca_file.empty()) o.ca_file = ca_file;
  return make_curl_transport(o);
}

void add_registry_flags(CLI::App* cmd, RegistryFlags& flags) {
  cmd->add_option("--username", flags.username, "Registry user (with --password-stdin; default: the docker config)");
  cmd->add_flag("--password-stdin", flags.password_stdin, "Read the registry password (or token) from stdin");
  cmd->add_option("--docker-config", flags.docker_config,
                  "Docker config file or directory for credentials (default: $DOCKER_CONFIG, else ~/.docker)");
  cmd->add_option("--ca-file", flags.ca_file, "PEM CA bundle to verify the registry's TLS certificate (implies https, also for loopback hosts)");
  cmd->add_flag("--insecure", flags.insecure, "Plain http to a non-loopback registry (loopback always may)");
}

namespace {

// The backend a loader on this machine would use: cuda when an NVIDIA driver is loaded.
std::string host_backend() {
  std::error_code ec;
  return std::filesystem::exists("/proc/driver/nvidia/version", ec) ? "cuda" : "cpu";
}

// For each (torch, CUDA) version pair among `variants`, the variant core's selection
// rules rank first on this machine; noarch kernels get exactly one.
std::vector<std::string> pick_for_host(const std::vector<std::string>& variants, const std::string& backend) {
  std::set<std::pair<std::optional<Version2>, std::optional<Version2>>> versions;
  for (const auto& name : variants)
    if (auto v = try_parse_variant(name)) versions.emplace(v->framework, backend == "cuda" ? backend_version2(*v) : std::nullopt);
  std::set<std::string> chosen;
  for (const auto& [framework, cuda] : versions) {
    const Environment env = Environment::host(framework.value_or(Version2{2, 0}), backend, cuda);
    const auto selection = select_variants(variants, env);
    if (!selection.ranked.empty()) chosen.insert(selection.ranked.front());
  }
  return {chosen.begin(), chosen.end()};
}

}  // namespace

OciVariantFilter VariantChoice::filter() const {
  if (all) {
    if (!names.empty() && !(names.size() == 1 && names[0] == "auto"))
      throw Error(ErrorCode::usage, "--all and --variant exclude each other");
    return {};
  }
  if (names.empty() || (names.size() == 1 && names[0] == "auto"))
    return [backend = host_backend()](std::string_view, const std::vector<std::string>& variants) {
      return pick_for_host(variants, backend);
    };
  return [n = names](std::string_view, const std::vector<std::string>& variants) {
    std::vector<std::string> kept;
    for (const auto& v : variants)
      if (std::find(n.begin(), n.end(), v) != n.end()) kept.push_back(v);
    return kept;
  };
}

int pull_and_install(const std::string& ref, const RegistryFlags& flags, const VariantChoice& variants,
                     const InstallOptions& install, bool quiet) {
  const OciReference source = parse_oci_reference(ref);
  const RegistryOptions options = flags.options();
  PullOptions pull;
  pull.keep = variants.filter();
  if (!quiet)
    pull.progress = [](const RegistryEvent& e) {
      std::fprintf(stderr, "fetched %s (%llu bytes)\n", e.digest.c_str(), static_cast<unsigned long long>(e.done));
    };
  auto transport = flags.transport();
  PullSummary pulled;
  const InstallSummary s = install_from_registry(*transport, source, options, pull, install, &pulled);
  if (!quiet) {
    std::cout << "pulled " << source.to_string() << ": " << pulled.blobs << " blob(s), " << pulled.bytes << " bytes ("
              << pulled.layers_skipped << " layer(s) of other variants skipped)\n";
    print_install_summary(source.to_string(), s);
  }
  return 0;
}

}  // namespace kernel_lock::cli
