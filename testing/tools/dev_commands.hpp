// Subcommands of kernel-lock-dev, the developer tool of the testing library:
// fixture Hubs and a mirror with fault injection. Registered like the
// kernel-lock commands (cli/commands.hpp), run by the same run_cli().
#pragma once

#include "commands.hpp"

namespace kernel_lock::dev {

// `hub publish|tag|branch` (cmd_hub.cpp).
void add_hub_command(CLI::App& app, cli::CliContext& ctx);
// `serve DIR` over a fixture Hub, an HF cache or a bundle, with --fault-* (cmd_serve.cpp).
void add_serve_command(CLI::App& app, cli::CliContext& ctx);

}  // namespace kernel_lock::dev
