// The registry flags of push, pull, install oci:// and serve oci:// (docs/oci.md):
// --username/--password-stdin, --docker-config, --ca-file, --insecure.
#pragma once

#include <memory>
#include <string>

#include <CLI/CLI.hpp>

#include "kernel_lock/hub/http.hpp"
#include "kernel_lock/registry/registry.hpp"

namespace kernel_lock::cli {

struct RegistryFlags {
  std::string username;
  bool password_stdin = false;
  std::string docker_config;
  std::string ca_file;
  bool insecure = false;

  // RegistryOptions from the environment knobs and these flags (reads the
  // password from stdin). Throws Error(usage).
  RegistryOptions options() const;
  // The curl transport with --ca-file (else SSL_CERT_FILE) and the proxy variables.
  std::shared_ptr<HttpTransport> transport() const;
};

void add_registry_flags(CLI::App* cmd, RegistryFlags& flags);

// The --variant flag of pull/install oci://: "auto" (default), names, or --all.
struct VariantChoice {
  std::vector<std::string> names;  // empty or {"auto"}: auto
  bool all = false;
  // The filter: --all keeps every variant; names keep those; auto keeps, of each
  // kernel, the variant the loader would pick on this machine (core's selection
  // rules; backend cuda when an NVIDIA driver is present, else cpu) for each torch
  // (and CUDA) version the artifact offers, since torch is not known before load.
  OciVariantFilter filter() const;
};

// Pulls `ref` and installs it (pull and install oci://): progress on stderr
// unless quiet, a summary on stdout. Returns the exit status.
int pull_and_install(const std::string& ref, const RegistryFlags& flags, const VariantChoice& variants,
                     const InstallOptions& install, bool quiet);

}  // namespace kernel_lock::cli
