// `kernel-lock-dev serve DIR`: the kernel-lock mirror (cli::serve_store) over a
// fixture Hub (a directory with hub.json), an HF cache or a bundle, with
// deterministic fault injection (kernel_lock/testing/faults.hpp).
#include <chrono>
#include <memory>
#include <utility>

#include "dev_commands.hpp"
#include "kernel_lock/testing/faults.hpp"
#include "kernel_lock/testing/fixture_hub.hpp"

namespace kernel_lock::dev {
namespace {

struct DevServeArgs {
  cli::ServeArgs serve;
  FaultOptions faults;
  long latency_ms = 0;
};

void add_fault_options(CLI::App* cmd, DevServeArgs& a) {
  auto* g = cmd->add_option_group("Fault injection", "Deterministic per-request faults");
  g->add_option("--fault-seed", a.faults.seed, "Seed of the fault draws")->capture_default_str();
  g->add_option("--fault-latency-ms", a.latency_ms, "Delay every matching request by MS");
  g->add_option("--fault-429-rate", a.faults.rate_429, "Share of requests answered 429 + Retry-After");
  g->add_option("--fault-5xx-rate", a.faults.rate_5xx, "Share answered 500/502/503/504");
  g->add_option("--fault-reset-rate", a.faults.rate_reset, "Share closed after the headers, before the body");
  g->add_option("--fault-truncate-rate", a.faults.rate_truncate, "Share closed after half the body");
  g->add_option("--fault-corrupt-rate", a.faults.rate_corrupt, "Share of file bodies with one byte flipped");
  g->add_option("--fault-retry-after", a.faults.retry_after_s, "Retry-After seconds on 429")->capture_default_str();
  g->add_option("--fault-match", a.faults.match, "Only requests whose 'METHOD target' matches this regex");
  g->add_option("--fault-times", a.faults.times, "At most N faults per distinct 'METHOD target' (0: no limit)");
}

int run_serve(DevServeArgs& a, const cli::CliContext& ctx) {
  a.faults.latency = std::chrono::milliseconds(a.latency_ms);
  auto interceptor = make_fault_interceptor(a.faults);  // validates the flags even when no fault is asked for
  if (a.faults.any()) a.serve.server.interceptor = std::move(interceptor);
  auto store = open_test_store(a.serve.dir);
  return cli::serve_store(store, a.serve, ctx, "kernel-lock-dev", a.faults.any() ? " with fault injection" : "");
}

}  // namespace

void add_serve_command(CLI::App& app, cli::CliContext& ctx) {
  auto args = std::make_shared<DevServeArgs>();
  auto* cmd = app.add_subcommand("serve", "Serve a fixture Hub, an HF cache or a bundle as a Hub mirror, with optional faults");
  cli::add_serve_options(cmd, args->serve, "Fixture Hub directory (hub.json), HF cache directory or bundle archive");
  add_fault_options(cmd, *args);
  cmd->callback([args, &ctx] { ctx.action = [args, &ctx] { return run_serve(*args, ctx); }; });
}

}  // namespace kernel_lock::dev
