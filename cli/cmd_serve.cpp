// `kernel-lock serve DIR`: a Hub-compatible mirror over a fixture Hub (and the
// other stores open_repo_store knows). Prints the URL on stdout, one line,
// then serves until SIGINT/SIGTERM.
#include <pthread.h>
#include <signal.h>

#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "commands.hpp"
#include "kernel_lock/core/error.hpp"
#include "kernel_lock/core/fs.hpp"
#include "kernel_lock/mirror/hub_server.hpp"
#include "kernel_lock/mirror/repo_store.hpp"
#include "kernel_lock/testing/fixture_hub.hpp"

namespace kernel_lock::cli {
namespace {

struct ServeArgs {
  std::string dir;
  HubServerOptions server;
  std::string token;
  std::string port_file;
  std::string log;
  long latency_ms = 0;
};

int run_serve(const ServeArgs& args, const CliContext& ctx) {
  HubServerOptions options = args.server;
  if (!args.token.empty()) options.token = args.token;
  if (!args.log.empty()) options.log_path = args.log;
  options.faults.latency = std::chrono::milliseconds(args.latency_ms);
  const auto& f = options.faults;
  for (double r : {f.rate_429, f.rate_5xx, f.rate_reset, f.rate_truncate, f.rate_corrupt})
    if (r < 0 || r > 1) throw Error(ErrorCode::usage, "fault rates must lie in [0, 1]");
  if (f.rate_429 + f.rate_5xx + f.rate_reset + f.rate_truncate + f.rate_corrupt > 1.0 + 1e-9)
    throw Error(ErrorCode::usage, "fault rates add up to more than 1");
  if (options.page_size == 0) throw Error(ErrorCode::usage, "--page-size must be at least 1");

  auto store = open_test_store(args.dir);

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
    std::cerr << "kernel-lock: serving " << store->list_repos().size() << " repos from " << args.dir << " at " << server.url()
              << (options.token ? " (token required)" : "") << (options.faults.any() ? " with fault injection" : "")
              << "; Ctrl-C stops\n";

  int signal_number = 0;
  sigwait(&stop_signals, &signal_number);
  server.stop();
  if (!ctx.quiet) std::cerr << "kernel-lock: stopped after " << server.requests() << " requests\n";
  return 0;
}

}  // namespace

void add_serve_command(CLI::App& app, CliContext& ctx) {
  auto args = std::make_shared<ServeArgs>();
  auto* cmd = app.add_subcommand("serve", "Serve a fixture Hub, an HF cache or a bundle as a Hub-compatible mirror (HF_ENDPOINT=<printed URL>)");
  cmd->add_option("DIR", args->dir, "Fixture Hub directory (hub.json)")->required();
  cmd->add_option("--host", args->server.host, "Address to listen on")->capture_default_str();
  cmd->add_option("--port", args->server.port, "Port; 0 picks a free one")->capture_default_str();
  cmd->add_option("--port-file", args->port_file, "Also write the chosen port to this file");
  cmd->add_option("--token", args->token, "Require 'Authorization: Bearer TOKEN' on every request");
  cmd->add_option("--page-size", args->server.page_size, "Tree entries per page (Link rel=next pagination)")->capture_default_str();
  cmd->add_option("--threads", args->server.threads, "Worker threads")->capture_default_str();
  cmd->add_option("--untrusted-org", args->server.untrusted_orgs, "Organization reported as not a trusted kernel publisher");
  cmd->add_option("--public-url", args->server.public_url, "Base URL clients use, for absolute Link URLs (default: from Host)");
  cmd->add_option("--log", args->log, "Append one JSON line per request to FILE");
  auto* faults = cmd->add_option_group("Fault injection", "Deterministic per-request faults, for tests");
  faults->add_option("--fault-seed", args->server.faults.seed, "Seed of the fault draws")->capture_default_str();
  faults->add_option("--fault-latency-ms", args->latency_ms, "Delay every matching request by MS");
  faults->add_option("--fault-429-rate", args->server.faults.rate_429, "Share of requests answered 429 + Retry-After");
  faults->add_option("--fault-5xx-rate", args->server.faults.rate_5xx, "Share answered 500/502/503/504");
  faults->add_option("--fault-reset-rate", args->server.faults.rate_reset, "Share closed after the headers, before the body");
  faults->add_option("--fault-truncate-rate", args->server.faults.rate_truncate, "Share closed after half the body");
  faults->add_option("--fault-corrupt-rate", args->server.faults.rate_corrupt, "Share of file bodies with one byte flipped");
  faults->add_option("--fault-retry-after", args->server.faults.retry_after_s, "Retry-After seconds on 429")->capture_default_str();
  faults->add_option("--fault-match", args->server.faults.match, "Only requests whose 'METHOD target' matches this regex");
  faults->add_option("--fault-times", args->server.faults.times, "At most N faults per distinct 'METHOD target' (0: no limit)");
  cmd->callback([args, &ctx] { ctx.action = [args, &ctx] { return run_serve(*args, ctx); }; });
}

}  // namespace kernel_lock::cli
