// `kernel-lock check --fleet fleet.yaml`: for every node class of a fleet and
// every locked kernel, the variant the loader would pick and whether it runs
// there (inspect/fleet.hpp, docs/fleet.md). Offline: reads the lock and the cache.
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "commands.hpp"
#include "variant_source.hpp"
#include "kernel_lock/core/error.hpp"
#include "kernel_lock/core/fs.hpp"
#include "kernel_lock/core/lockfile.hpp"
#include "kernel_lock/inspect/audit.hpp"
#include "kernel_lock/inspect/fleet.hpp"

namespace kernel_lock::cli {
namespace {

struct CheckArgs {
  std::string fleet;
  std::string lock = std::string(kDefaultLockfileName);
  VariantSourceFlags source;
  bool json = false;
};

// The facts of build/<variant>/ of a locked kernel: metadata.json and every .so.
inspect::VariantFacts read_variant(const VariantSource& source, const LockedKernel& kernel, const std::string& variant) {
  inspect::VariantFacts facts;
  for (const auto& e : source.files(kernel, variant)) {
    const std::string where = kernel.repo_id + " build/" + variant + "/" + e.path;
    if (e.path == "metadata.json")
      facts.metadata = inspect::parse_kernel_metadata(read_file_at_most(e.file, inspect::kMaxMetadataBytes), where);
    else if (e.path.ends_with(".so")) {
      const auto elf = inspect::ElfFile::open(e.file);
      auto dyn = elf.dynamic();
      facts.objects.push_back({e.path, inspect::read_fatbin(elf), std::move(dyn.version_needs),
                               inspect::carries_private_libstdcxx(dyn)});
    }
  }
  return facts;
}

nlohmann::ordered_json verdict_json(const inspect::KernelVerdict& v) {
  nlohmann::ordered_json j;
  j["repo_id"] = v.repo_id;
  j["variant"] = v.variant ? nlohmann::ordered_json(*v.variant) : nlohmann::ordered_json(nullptr);
  j["ok"] = v.ok();
  j["gpus"] = v.gpu_notes;
  auto gaps = nlohmann::ordered_json::array();
  for (const auto& g : v.gaps) gaps.push_back({{"kind", g.what}, {"detail", g.detail}});
  j["gaps"] = std::move(gaps);
  return j;
}

void print_text(const inspect::NodeClass& node, const std::vector<inspect::KernelVerdict>& verdicts) {
  std::cout << "class " << node.name << " (" << describe(node.env);
  for (const auto& g : node.gpus) std::cout << (&g == &node.gpus.front() ? "; gpus " : ", ") << inspect::to_string(g);
  std::cout << ")\n";
  for (const auto& v : verdicts) {
    std::cout << "  " << (v.ok() ? "ok   " : "GAP  ") << v.repo_id << "  " << v.variant.value_or("(no variant)") << "\n";
    for (const auto& n : v.gpu_notes) std::cout << "         " << n << "\n";
    for (const auto& g : v.gaps) {
      std::string detail = g.detail;  // multi-line explanations stay indented under their kernel
      for (auto at = detail.find('\n'); at != std::string::npos; at = detail.find('\n', at + 1)) detail.insert(at + 1, 11, ' ');
      std::cout << "         " << g.what << ": " << detail << "\n";
    }
  }
}

int run_check(const CheckArgs& args) {
  if (args.fleet.empty()) throw Error(ErrorCode::usage, "check needs --fleet FILE", "see docs/fleet.md");
  const auto fleet = inspect::parse_fleet_yaml(read_file_at_most(args.fleet, inspect::kMaxFleetBytes), args.fleet);
  const auto lock = read_lockfile(args.lock);
  const VariantSource source(args.source, lock);
  bool gap = false;
  auto out = nlohmann::ordered_json::array();
  for (const auto& node : fleet) {
    std::vector<inspect::KernelVerdict> verdicts;
    for (const auto& kernel : lock.kernels) {
      std::vector<std::string> names;
      for (const auto& [name, _] : kernel.variants) names.push_back(name);
      verdicts.push_back(inspect::check_kernel(node, kernel.repo_id, names,
                                               [&](const std::string& v) { return read_variant(source, kernel, v); }));
      gap = gap || !verdicts.back().ok();
    }
    if (args.json) {
      auto kernels = nlohmann::ordered_json::array();
      for (const auto& v : verdicts) kernels.push_back(verdict_json(v));
      out.push_back({{"class", node.name}, {"environment", describe(node.env)}, {"kernels", std::move(kernels)}});
    } else {
      print_text(node, verdicts);
    }
  }
  if (args.json) std::cout << nlohmann::ordered_json{{"classes", out}, {"ok", !gap}}.dump(2) << "\n";
  return gap ? exit_code_for(ErrorCode::unsupported) : 0;
}

}  // namespace

void add_check_command(CLI::App& app, CliContext& ctx) {
  auto args = std::make_shared<CheckArgs>();
  auto* cmd = app.add_subcommand("check", "Check that every node class of a fleet can load every locked kernel (offline)");
  cmd->add_option("--fleet", args->fleet, "fleet.yaml: the node classes (docs/fleet.md)")->required();
  cmd->add_option("--lock", args->lock, "The lock file")->capture_default_str();
  add_variant_source_flags(cmd, args->source);
  cmd->add_flag("--json", args->json, "Print JSON: {classes: [{class, environment, kernels: [{repo_id, variant, ok, gpus, gaps}]}], ok}");
  cmd->footer(
      "For each class and locked kernel: the variant the loader would pick (the Python `kernels` rules), the CUDA\n"
      "fatbinary of its .so files against each GPU capability (SASS sm_XY runs on X.Z, Z >= Y; sm_XYa only on X.Y;\n"
      "PTX compute_XY is JIT-compiled on any capability >= X.Y), metadata.json backend.archs and kernels-minver,\n"
      "the GLIBC versions the .so files need against the class's glibc, and a .so that carries its own static\n"
      "libstdc++ (a gap on every class: it crashes next to torch).\n\n"
      "Exit codes: 0 every class fits, 9 some gap, 2 usage, 3 invalid fleet/lock/ELF, 5 a variant missing in the cache.");
  cmd->callback([args, &ctx] { ctx.action = [args] { return run_check(*args); }; });
}

}  // namespace kernel_lock::cli
