// kernel-lock: thin CLI over the kernel_lock libraries. run_cli (run.cpp)
// prints errors and maps them to exit codes; all work happens in the libraries.
#include <string>

#include "commands.hpp"
#include "kernel_lock/core/version.hpp"

int main(int argc, char** argv) {
  using namespace kernel_lock;
  CLI::App app{"kernel-lock: reproducible, offline, verified Hugging Face Hub kernels", "kernel-lock"};
  app.set_version_flag("-V,--version", std::string("kernel-lock ") + std::string(kVersion));
  app.require_subcommand(1);
  app.footer(
      "Exit codes: 0 ok, 1 error, 2 usage, 3 invalid input, 4 network, 5 not found,\n"
      "            6 integrity (hash mismatch), 7 lock would change (--locked), 8 i/o, 9 unsupported.\n"
      "Run 'kernel-lock COMMAND --help' for the options of one command.");
  cli::CliContext ctx;
  app.add_flag("-q,--quiet", ctx.quiet, "Print only errors");

  cli::add_hash_command(app, ctx);
  cli::add_bundle_command(app, ctx);
  cli::add_install_command(app, ctx);
  cli::add_verify_command(app, ctx);
  cli::add_variants_command(app, ctx);
  cli::add_serve_command(app, ctx);
  cli::add_lock_fmt_command(app, ctx);
  cli::add_resolve_command(app, ctx);
  cli::add_verify_blob_command(app, ctx);
  cli::add_trust_command(app, ctx);
  cli::add_verify_signature_command(app, ctx);
  cli::add_export_command(app, ctx);
  cli::add_tree_command(app, ctx);
  cli::add_why_command(app, ctx);
  cli::add_outdated_command(app, ctx);
  cli::add_diff_command(app, ctx);
  cli::add_push_command(app, ctx);
  cli::add_pull_command(app, ctx);
  cli::add_check_command(app, ctx);
  cli::add_audit_command(app, ctx);
  return cli::run_cli(app, ctx, argc, argv);
}
