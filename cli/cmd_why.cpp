// `kernel-lock why REPO [--lock FILE]` (docs/lock-commands.md): which requirement
// pulled REPO into the lock, drawn as `cargo tree -i` does: REPO, the kernels whose
// kernel-depends pulled it in below it, up to the top-level requirement (from the
// lock's requirement record, else from kernels.yaml / pyproject.toml next to the
// lock). Offline. Exit 3 for a bad lock or requirements file, 5 when REPO is not
// locked (the locked repos are listed) or no lock is found.
#include <iostream>
#include <memory>
#include <optional>
#include <string>

#include "commands.hpp"
#include "kernel_lock/core/error.hpp"
#include "kernel_lock/core/requirements.hpp"
#include "kernel_lock/report/labels.hpp"
#include "kernel_lock/report/tree.hpp"
#include "report_format.hpp"

namespace kernel_lock::cli {
namespace {

struct WhyArgs {
  std::string repo;
  std::string lock;
};

TreeLine why_line(const report::TreeNode& node) {
  TreeLine line{kernel_line(node), {}};
  for (const auto& child : node.children) line.children.push_back(why_line(child));
  if (node.requirement) {
    const auto asked = report::describe_requirement(*node.requirement);
    line.children.push_back(
        TreeLine{"requirement: " + (asked.empty() ? std::string("any revision") : asked) + " (" + node.requirement_source + ")", {}});
  } else if (node.children.empty() && !node.repeated && !node.missing) {
    line.children.push_back(TreeLine{"no requirement recorded: pinned by the lock only", {}});
  }
  return line;
}

// kernels.yaml / pyproject.toml next to the lock, only when some entry lacks its
// requirement record (a Python-written lock); none there is not an error.
std::optional<Requirements> requirements_for(const Lockfile& lock, const std::filesystem::path& lock_file) {
  for (const auto& kernel : lock.kernels) {
    if (kernel.requirement) continue;
    try {
      return read_requirements(lock_file.parent_path().empty() ? "." : lock_file.parent_path());
    } catch (const Error& e) {
      if (e.code() != ErrorCode::not_found) throw;
      return std::nullopt;
    }
  }
  return std::nullopt;
}

int run_why(const WhyArgs& args) {
  const auto path = lock_path(args.lock);
  const auto lock = load_lock(path);
  const auto requirements = requirements_for(lock, path);
  const auto root = report::why_kernel(lock, args.repo, path.string(), requirements ? &*requirements : nullptr);
  std::cout << draw_tree(why_line(root)) << std::flush;
  return 0;
}

}  // namespace

void add_why_command(CLI::App& app, CliContext& ctx) {
  auto args = std::make_shared<WhyArgs>();
  auto* cmd = app.add_subcommand("why", "Show which requirement pulled a kernel into the lock (like `cargo tree -i`)");
  cmd->add_option("REPO", args->repo, "Locked kernel repo id, e.g. kernels-community/activation")->required();
  add_lock_option(cmd, args->lock);
  cmd->callback([args, &ctx] { ctx.action = [args] { return run_why(*args); }; });
}

}  // namespace kernel_lock::cli
