// Registry flags, the --variant choice, and the pull-and-install every oci://
// command shares.
#include "registry_flags.hpp"

#include <unistd.h>

#include <cstdio>
#include <iostream>

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

OciVariantFilter VariantChoice::filter() const {
  if (all) {
    if (!names.empty() && !(names.size() == 1 && names[0] == "auto"))
      throw Error(ErrorCode::usage, "--all and --variant exclude each other");
    return {};
  }
  if (names.empty() || (names.size() == 1 && names[0] == "auto")) {
    // This machine's arch and OS (torch and backend versions are the loader's to pick at load time).
    const Environment host = Environment::host(Version2{2, 0}, "cpu", std::nullopt);
    VariantFilter f;
    f.arch = {host.arch};
    f.os = {host.os};
    return [f](std::string_view, std::string_view variant) { return variant_name_matches_filter(variant, f); };
  }
  return [n = names](std::string_view, std::string_view variant) {
    return std::find(n.begin(), n.end(), variant) != n.end();
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
    std::cout << "installed " << s.kernels << " kernel(s), " << s.variants << " variant(s) (" << s.variants_changed
              << " new or replaced), " << s.blobs << " blob(s), " << s.bytes << " bytes verified\n";
    for (const auto& r : s.refs) std::cout << "  ref " << r << "\n";
  }
  return 0;
}

}  // namespace kernel_lock::cli
