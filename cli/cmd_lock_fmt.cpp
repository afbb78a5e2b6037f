// Maintenance commands over the formats (docs/formats.md; public, listed in --help):
//   `kernel-lock lock-fmt FILE [--python] [--check]`: reads a kernel.lock or a
//     Python kernels.lock (either shape) and prints its canonical bytes (--python:
//     the Python shape, an alias of `export --format kernels-lock`, same core function);
//   `kernel-lock requirements-fmt FILE|DIR`: reads kernels.yaml / pyproject.toml
//     and prints what was understood, as JSON.
// Both exit 3 (invalid input) with file:line:column or the JSON path on a bad file.
#include <iostream>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "commands.hpp"
#include "kernel_lock/core/error.hpp"
#include "kernel_lock/core/fs.hpp"
#include "kernel_lock/core/lockfile.hpp"
#include "kernel_lock/core/requirements.hpp"

namespace kernel_lock::cli {
namespace {

struct LockFmtArgs {
  std::string file;
  bool python = false;
  bool check = false;
};

int run_lock_fmt(const LockFmtArgs& args) {
  const auto text = read_file(args.file);
  const auto lock = parse_lockfile(text, args.file);
  const auto canonical = args.python ? format_python_lockfile(lock) : format_lockfile(lock);
  if (args.check) {
    if (canonical != text)
      throw Error(ErrorCode::lock_changed, args.file + " is valid but not in canonical form",
                  "run `kernel-lock lock-fmt " + args.file + "` to see the canonical bytes");
    return 0;
  }
  std::cout << canonical << std::flush;
  return 0;
}

int run_requirements_fmt(const std::string& path) {
  const auto requirements = read_requirements(path);
  nlohmann::ordered_json out = nlohmann::ordered_json::object();
  out["source"] = requirements.source.string();
  nlohmann::ordered_json targets = nlohmann::ordered_json::object();
  targets["torch"] = requirements.targets.torch;
  targets["cuda"] = requirements.targets.cuda;
  targets["arch"] = requirements.targets.arch;
  targets["os"] = requirements.targets.os;
  out["targets"] = std::move(targets);
  out["kernels"] = nlohmann::ordered_json::array();
  for (const auto& kernel : requirements.kernels) {
    nlohmann::ordered_json entry = nlohmann::ordered_json::object();
    entry["repo-id"] = kernel.repo_id;
    const auto fields = kernel.to_json();
    for (const auto& [key, value] : fields.items()) entry[key] = value;
    out["kernels"].push_back(std::move(entry));
  }
  std::cout << out.dump(2) << "\n" << std::flush;
  return 0;
}

}  // namespace

void add_lock_fmt_command(CLI::App& app, CliContext& ctx) {
  auto args = std::make_shared<LockFmtArgs>();
  auto* lock_fmt = app.add_subcommand("lock-fmt", "Print a lockfile's canonical bytes, or (--python) the shape Python kernels 0.17.2 reads");
  lock_fmt->add_option("FILE", args->file, "kernel.lock or kernels.lock")->required();
  lock_fmt->add_flag("--python", args->python,
                     "Print the lock in the Python kernels 0.17.2 shape (dependency/lock; no variant hashes); "
                     "an alias: use `kernel-lock export --format kernels-lock`");
  lock_fmt->add_flag("--check", args->check, "Print nothing; exit 7 when FILE is not in canonical form");
  lock_fmt->callback([args, &ctx] { ctx.action = [args] { return run_lock_fmt(*args); }; });

  auto path = std::make_shared<std::string>();
  auto* req_fmt = app.add_subcommand("requirements-fmt", "Print kernels.yaml / pyproject.toml as kernel-lock reads it (JSON)");
  req_fmt->add_option("PATH", *path, "kernels.yaml, pyproject.toml, or a directory holding one")->required();
  req_fmt->callback([path, &ctx] { ctx.action = [path] { return run_requirements_fmt(*path); }; });
}

}  // namespace kernel_lock::cli
