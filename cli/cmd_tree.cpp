// `kernel-lock tree [--lock FILE] [--variants] [--depth N]` (docs/lock-commands.md):
// the locked kernels as `cargo tree` / `uv tree` draw packages: one tree per
// top-level requirement, its kernel-depends below it, "(*)" for a kernel shown in
// full earlier; with --variants, each kernel's locked variants as leaves.
// Offline, from the lock only. Exit 3 for a bad lock, 5 when no lock is found.
#include <iostream>
#include <memory>
#include <optional>
#include <string>

#include "commands.hpp"
#include "kernel_lock/report/tree.hpp"
#include "report_format.hpp"

namespace kernel_lock::cli {
namespace {

struct TreeArgs {
  std::string lock;
  bool variants = false;
  std::optional<std::size_t> depth;
};

TreeLine tree_line(const report::TreeNode& node) {
  TreeLine line{kernel_line(node), {}};
  for (const auto& variant : node.variants) line.children.push_back(TreeLine{"build/" + variant, {}});
  for (const auto& child : node.children) line.children.push_back(tree_line(child));
  return line;
}

int run_tree(const TreeArgs& args) {
  const auto path = lock_path(args.lock);
  const auto roots = report::lock_tree(load_lock(path), report::TreeOptions{args.depth, args.variants});
  std::string out;
  for (const auto& root : roots) out += (out.empty() ? "" : "\n") + draw_tree(tree_line(root));
  std::cout << out << std::flush;
  return 0;
}

}  // namespace

void add_tree_command(CLI::App& app, CliContext& ctx) {
  auto args = std::make_shared<TreeArgs>();
  auto* cmd = app.add_subcommand("tree", "Show the locked kernels as a tree: requirements, their kernel-depends, variants");
  add_lock_option(cmd, args->lock);
  cmd->add_flag("--variants", args->variants, "Show each kernel's locked variants (build/<variant>) as leaves");
  cmd->add_option("--depth", args->depth, "Levels of kernel-depends to show below each requirement (0: none)");
  cmd->footer("A kernel already shown in full is marked (*) and not expanded again.");
  cmd->callback([args, &ctx] { ctx.action = [args] { return run_tree(*args); }; });
}

}  // namespace kernel_lock::cli
