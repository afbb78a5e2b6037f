// kernel-lock-dev: the developer tool of the testing library (fixture Hubs,
// a mirror with fault injection). Not installed unless KERNEL_LOCK_INSTALL_TESTING.
#include <string>

#include "dev_commands.hpp"
#include "kernel_lock/core/version.hpp"

int main(int argc, char** argv) {
  using namespace kernel_lock;
  CLI::App app{"kernel-lock-dev: fixture Hubs and a fault-injecting mirror, for tests, demos and benchmarks", "kernel-lock-dev"};
  app.set_version_flag("-V,--version", std::string("kernel-lock-dev ") + std::string(kVersion));
  app.require_subcommand(1);
  app.footer("Exit codes as kernel-lock's. Run 'kernel-lock-dev COMMAND --help' for the options of one command.");
  cli::CliContext ctx;
  app.add_flag("-q,--quiet", ctx.quiet, "Print only errors");
  dev::add_hub_command(app, ctx);
  dev::add_serve_command(app, ctx);
  return cli::run_cli(app, ctx, argc, argv);
}
