// `kernel-lock serve DIR|BUNDLE`: a Hub-compatible mirror over an installed HF
// cache or a bundle archive (open_repo_store). Prints the URL on stdout, one
// line, then serves until SIGINT/SIGTERM. serve_store() is the loop that
// `kernel-lock-dev serve` (fixture Hubs, faults) shares.
#include <pthread.h>
#include <signal.h>

#include <iostream>
#include <filesystem>
#include <memory>
#include <string>

#include "commands.hpp"
#include "registry_flags.hpp"
#include "kernel_lock/core/error.hpp"
#include "kernel_lock/core/fs.hpp"
#include "kernel_lock/mirror/hub_server.hpp"
#include "kernel_lock/mirror/repo_store.hpp"

namespace kernel_lock::cli {

int serve_store(std::shared_ptr<const RepoStore> store, const ServeArgs& args, const CliContext& ctx,
                const std::string& program, const std::string& note) {
  HubServerOptions options = args.server;
  if (!args.token.empty()) options.token = args.token;
  if (!args.log.empty()) options.log_path = args.log;
  if (options.page_size == 0) throw Error(ErrorCode::usage, "--page-size must be at least 1");

  // Block the stop signals in every thread (the server's threads inherit the
  // mask) and wait for them synchronously below: no async handler needed.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  HubServer server(store, options);
  server.bind();
  if (!args.port_file.empty()) {
    auto url = server.url();
    write_file_atomic(args.port_file, url.substr(url.rfind(':') + 1) + "\n");
  }
  server.start();
  std::cout << server.url() << std::endl;  // the contract: one line, flushed
  if (!ctx.quiet)
    std::cerr << program << ": serving " << store->list_repos().size() << " repos from " << args.dir << " at " << server.url()
              << (options.token ? " (token required)" : "") << note << "; Ctrl-C stops\n";

  int signal_number = 0;
  sigwait(&stop_signals, &signal_number);
  server.stop();
  if (!ctx.quiet) std::cerr << program << ": stopped after " << server.requests() << " requests\n";
  return 0;
}

void add_serve_options(CLI::App* cmd, ServeArgs& args, const std::string& dir_help) {
  cmd->add_option("DIR", args.dir, dir_help)->required();
  cmd->add_option("--host", args.server.host, "Address to listen on")->capture_default_str();
  cmd->add_option("--port", args.server.port, "Port; 0 picks a free one")->capture_default_str();
  cmd->add_option("--port-file", args.port_file, "Also write the chosen port to this file");
  cmd->add_option("--token", args.token, "Require 'Authorization: Bearer TOKEN' on every request");
  cmd->add_option("--page-size", args.server.page_size, "Tree entries per page (Link rel=next pagination)")->capture_default_str();
  cmd->add_option("--threads", args.server.threads, "Worker threads")->capture_default_str();
  cmd->add_option("--untrusted-org", args.server.untrusted_orgs, "Organization reported as not a trusted kernel publisher");
  cmd->add_option("--public-url", args.server.public_url, "Base URL clients use, for absolute Link URLs (default: from Host)");
  cmd->add_option("--log", args.log, "Append one JSON line per request to FILE");
}

namespace {

// `serve oci://...`: the registry's kernels pulled (verified, every variant
// unless --variant) into --cache, then that cache served.
struct RegistrySource {
  std::string cache;
  VariantChoice variants;
  RegistryFlags registry;
};

int serve_registry(ServeArgs args, const RegistrySource& source, const CliContext& ctx) {
  if (source.cache.empty())
    throw Error(ErrorCode::usage, "serve " + args.dir + " needs --cache DIR", "the registry's kernels are pulled into it first");
  VariantChoice variants = source.variants;
  if (variants.names.empty()) variants.all = true;  // a mirror serves every node of the fleet
  InstallOptions install;
  install.cache_dir = std::filesystem::path(source.cache);
  pull_and_install(args.dir, source.registry, variants, install, true);  // stdout carries only the URL
  const std::string note = " (pulled from " + args.dir + ")";
  args.dir = source.cache;
  return serve_store(open_repo_store(args.dir), args, ctx, "kernel-lock", note);
}

}  // namespace

void add_serve_command(CLI::App& app, CliContext& ctx) {
  auto args = std::make_shared<ServeArgs>();
  auto source = std::make_shared<RegistrySource>();
  auto* cmd = app.add_subcommand("serve", "Serve an HF cache or a bundle as a Hub-compatible mirror (HF_ENDPOINT=<printed URL>)");
  add_serve_options(cmd, *args, "An HF cache directory (hub/ of HF_HOME), a bundle archive, or oci://HOST[:PORT]/REPO:TAG");
  cmd->add_option("--cache", source->cache, "oci:// only: the cache the registry's kernels are pulled into, then served");
  cmd->add_option("--variant", source->variants.names, "oci:// only: variants to pull (default: all)");
  add_registry_flags(cmd, source->registry);
  cmd->callback([args, source, &ctx] {
    ctx.action = [args, source, &ctx] {
      if (is_oci_reference(args->dir)) return serve_registry(*args, *source, ctx);
      return serve_store(open_repo_store(args->dir), *args, ctx, "kernel-lock", "");
    };
  });
}

}  // namespace kernel_lock::cli
