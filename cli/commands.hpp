// Subcommands of the `kernel-lock` CLI. Each add_*_command registers one CLI11
// subcommand; when it is chosen, its callback stores the action to run in
// `ctx.action`. main() runs the action and maps kernel_lock::Error to the exit code.
#pragma once

#include <functional>
#include <string>

#include <CLI/CLI.hpp>

namespace kernel_lock::cli {

struct CliContext {
  bool quiet = false;            // -q: no progress, only errors
  std::function<int()> action;   // set by the chosen subcommand
};

// One line per command; the implementing file is cmd_<name>.cpp.
void add_hash_command(CLI::App& app, CliContext& ctx);
void add_bundle_command(CLI::App& app, CliContext& ctx);
void add_install_command(CLI::App& app, CliContext& ctx);
void add_verify_command(CLI::App& app, CliContext& ctx);
void add_variants_command(CLI::App& app, CliContext& ctx);
void add_serve_command(CLI::App& app, CliContext& ctx);
void add_hub_command(CLI::App& app, CliContext& ctx);
void add_lock_fmt_command(CLI::App& app, CliContext& ctx);
void add_resolve_command(CLI::App& app, CliContext& ctx);
void add_verify_blob_command(CLI::App& app, CliContext& ctx);

}  // namespace kernel_lock::cli
