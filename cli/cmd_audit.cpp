// `kernel-lock audit`: per locked .so, the findings of inspect/audit.hpp plus
// the lock-level ones (provenance marked dirty, missing signature); text,
// --json or --sarif (docs/audit.md). Offline: reads the lock and the cache.
#include <algorithm>
#include <iostream>
#include <tuple>
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

struct AuditArgs {
  std::string lock = std::string(kDefaultLockfileName);
  VariantSourceFlags source;
  std::string target = "manylinux_2_28";
  std::string sysroot;
  std::string libtorch;
  std::string abi3 = "3.9";
  bool json = false;
  bool sarif = false;
};

void audit_variant(const VariantSource& source, const LockedKernel& kernel, const std::string& variant,
                   const inspect::AuditOptions& base, std::vector<inspect::Finding>& out) {
  const std::string where = kernel.repo_id + " build/" + variant;
  if (!kernel.variants.at(variant).signature)
    out.push_back({"unsigned", inspect::Level::warning, where, "the lock pins no signature for this variant"});
  for (const auto& e : source.files(kernel, variant)) {
    const std::string file = where + "/" + e.path;
    if (e.path == "metadata.json") {
      if (inspect::parse_kernel_metadata(read_file_at_most(e.file, inspect::kMaxMetadataBytes), file).dirty)
        out.push_back({"provenance-dirty", inspect::Level::error, file, "built from a dirty source tree"});
    } else if (e.path.ends_with(".so")) {
      auto options = base;
      options.abi3 = e.path.find(".abi3.") != std::string::npos;
      auto found = inspect::audit_object(inspect::ElfFile::open(e.file).dynamic(), file, options);
      out.insert(out.end(), found.begin(), found.end());
    }
  }
}

int run_audit(const AuditArgs& args) {
  if (args.json && args.sarif) throw Error(ErrorCode::usage, "--json and --sarif exclude each other");
  inspect::AuditOptions options;
  options.policy = &inspect::manylinux_policy(args.target);
  if (!args.sysroot.empty()) options.sysroot = args.sysroot;
  if (!args.libtorch.empty()) inspect::load_libtorch(args.libtorch, options);
  const auto abi3 = parse_version2(args.abi3, "--abi3");
  if (abi3.major != 3) throw Error(ErrorCode::usage, "--abi3 must be a Python 3 version");
  options.abi3_minor = abi3.minor;
  const auto lock = read_lockfile(args.lock);
  const VariantSource source(args.source, lock);
  std::vector<inspect::Finding> findings;
  for (const auto& kernel : lock.kernels)
    for (const auto& [variant, _] : kernel.variants) audit_variant(source, kernel, variant, options, findings);
  std::sort(findings.begin(), findings.end(), [](const auto& a, const auto& b) {
    return std::tie(a.file, a.rule, a.message) < std::tie(b.file, b.rule, b.message);
  });
  const bool errors = std::any_of(findings.begin(), findings.end(), [](const auto& f) { return f.level == inspect::Level::error; });
  if (args.sarif) {
    std::cout << inspect::to_sarif(findings);
  } else if (args.json) {
    auto list = nlohmann::ordered_json::array();
    for (const auto& f : findings)
      list.push_back({{"rule", f.rule}, {"level", inspect::to_string(f.level)}, {"file", f.file}, {"message", f.message}});
    std::cout << nlohmann::ordered_json{{"target", args.target}, {"findings", list}, {"ok", !errors}}.dump(2) << "\n";
  } else {
    for (const auto& f : findings) std::cout << inspect::to_string(f.level) << "[" << f.rule << "] " << f.file << ": " << f.message << "\n";
    std::cout << findings.size() << " finding(s), target " << args.target << "\n";
  }
  return errors ? exit_code_for(ErrorCode::unsupported) : 0;
}

}  // namespace

void add_audit_command(CLI::App& app, CliContext& ctx) {
  auto args = std::make_shared<AuditArgs>();
  auto* cmd = app.add_subcommand("audit", "Audit every locked .so: symbol versions, DT_NEEDED, torch and Python symbols, abi3");
  cmd->add_option("--lock", args->lock, "The lock file")->capture_default_str();
  add_variant_source_flags(cmd, args->source);
  cmd->add_option("--target", args->target, "manylinux_2_17, _2_28, _2_31, _2_34, _2_35 or _2_39")->capture_default_str();
  cmd->add_option("--sysroot", args->sysroot, "Resolve DT_NEEDED in this root's lib directories instead of the manylinux list");
  cmd->add_option("--libtorch", args->libtorch, "A torch wheel's lib/ directory: undefined torch/c10 symbols must be defined there");
  cmd->add_option("--abi3", args->abi3, "Stable ABI version the .abi3.so files must keep to")->capture_default_str();
  cmd->add_flag("--json", args->json, "Print JSON: {target, findings: [{rule, level, file, message}], ok}");
  cmd->add_flag("--sarif", args->sarif, "Print SARIF 2.1.0");
  cmd->footer("Rules: manylinux-symbol, needed-unresolved, torch-symbol, python-symbol, abi3, provenance-dirty, unsigned\n"
              "(docs/audit.md).\n\nExit codes: 0 no error-level finding, 9 some, 2 usage, 3 invalid lock/ELF, 5 missing in the cache.");
  cmd->callback([args, &ctx] { ctx.action = [args] { return run_audit(*args); }; });
}

}  // namespace kernel_lock::cli
