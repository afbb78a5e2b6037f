// Subcommands of the `kernel-lock` CLI (library kernel_lock_cli, which the
// developer tool kernel-lock-dev links too). Each add_*_command registers one
// CLI11 subcommand; when it is chosen, its callback stores the action to run in
// `ctx.action`. run_cli() runs the action and maps kernel_lock::Error to the exit code.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include <CLI/CLI.hpp>

#include "kernel_lock/mirror/hub_server.hpp"
#include "kernel_lock/mirror/repo_store.hpp"

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
void add_lock_fmt_command(CLI::App& app, CliContext& ctx);
void add_resolve_command(CLI::App& app, CliContext& ctx);
void add_verify_blob_command(CLI::App& app, CliContext& ctx);
void add_trust_command(CLI::App& app, CliContext& ctx);
void add_verify_signature_command(CLI::App& app, CliContext& ctx);
void add_export_command(CLI::App& app, CliContext& ctx);
void add_tree_command(CLI::App& app, CliContext& ctx);
void add_why_command(CLI::App& app, CliContext& ctx);
void add_outdated_command(CLI::App& app, CliContext& ctx);
void add_diff_command(CLI::App& app, CliContext& ctx);
void add_push_command(CLI::App& app, CliContext& ctx);
void add_pull_command(CLI::App& app, CliContext& ctx);
void add_check_command(CLI::App& app, CliContext& ctx);
void add_audit_command(CLI::App& app, CliContext& ctx);

// Parses argv, runs the chosen action; prints errors as "<app name>: <code>:
// <message>" plus the hint, and returns the exit code. Never throws.
int run_cli(CLI::App& app, CliContext& ctx, int argc, char** argv);

// ---- The serve loop, shared by `kernel-lock serve` and `kernel-lock-dev serve`.

struct ServeArgs {
  std::string dir;
  HubServerOptions server;
  std::string token;
  std::string port_file;
  std::string log;
};

// Registers DIR and the server options (--host, --port, --token, ...) on `cmd`.
void add_serve_options(CLI::App* cmd, ServeArgs& args, const std::string& dir_help);
// Serves `store` until SIGINT/SIGTERM: prints the URL on stdout (one line,
// flushed), progress on stderr unless quiet. `note` ends the "serving" line
// (e.g. " with fault injection"). Throws Error(usage / network / io).
int serve_store(std::shared_ptr<const RepoStore> store, const ServeArgs& args, const CliContext& ctx,
                const std::string& program, const std::string& note);
}  // namespace kernel_lock::cli
