// run_cli: parse, run the chosen command, print errors and map them to exit
// codes (README "Exit codes"). Shared by kernel-lock and kernel-lock-dev.
#include <algorithm>
#include <iostream>
#include <string>
#include <string_view>
#include <vector>

#include "commands.hpp"
#include "kernel_lock/core/error.hpp"

namespace kernel_lock::cli {
namespace {

std::size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<std::size_t> row(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    std::size_t diagonal = row[0];
    row[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      std::size_t above = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = above;
    }
  }
  return row[b.size()];
}

// The command the user typed, when it is not one we know: suggest the nearest.
int report_unknown_command(const CLI::App& app, std::string_view typed) {
  const std::string& program = app.get_name();
  std::string best;
  std::size_t best_distance = 3;  // suggest only close matches
  for (const auto* sub : app.get_subcommands([](const CLI::App*) { return true; })) {
    auto d = edit_distance(typed, sub->get_name());
    if (d < best_distance || (sub->get_name().starts_with(typed) && !typed.empty())) {
      best_distance = std::min(d, best_distance);
      best = sub->get_name();
    }
  }
  std::cerr << program << ": error: unknown command '" << typed << "'\n";
  if (!best.empty()) std::cerr << "hint: did you mean '" << program << " " << best << "'?\n";
  std::cerr << "hint: run '" << program << " --help' for the list of commands\n";
  return exit_code_for(ErrorCode::usage);
}

}  // namespace

int run_cli(CLI::App& app, CliContext& ctx, int argc, char** argv) {
  const std::string& program = app.get_name();
  if (argc > 1 && argv[1][0] != '-') {
    std::string_view typed = argv[1];
    bool known = false;
    for (const auto* sub : app.get_subcommands([](const CLI::App*) { return true; }))
      known = known || sub->check_name(std::string(typed));
    if (!known) return report_unknown_command(app, typed);
  }

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : exit_code_for(ErrorCode::usage);
  }
  try {
    return ctx.action ? ctx.action() : 0;
  } catch (const Error& e) {
    std::cerr << program << ": " << to_string(e.code()) << ": " << e.what() << "\n";
    if (!e.hint().empty()) std::cerr << "hint: " << e.hint() << "\n";
    return exit_code_for(e.code());
  } catch (const std::exception& e) {
    std::cerr << program << ": error: " << e.what() << "\n";
    return exit_code_for(ErrorCode::generic);
  }
}

}  // namespace kernel_lock::cli
