// `kernel-lock variants NAME...`: which variants fit an environment, best first,
// and why the others do not (the Python `kernels` 0.17 selection rules).
#include <algorithm>
#include <fstream>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "commands.hpp"
#include "filter_flags.hpp"
#include "kernel_lock/core/error.hpp"
#include "kernel_lock/core/fs.hpp"
#include "kernel_lock/core/variant.hpp"

namespace kernel_lock::cli {
namespace {

struct VariantsArgs {
  std::vector<std::string> names;
  FilterFlags env;  // --torch, --cuda, --arch, --os: one value each
  bool cxx98 = false;
  bool cxx11 = false;
  std::string backend = "cpu";
  std::string backend_version;
  std::string tvm_ffi;
  std::string macos;
  std::string lock;
  std::string repo;
  bool json = false;
};

// The variant names one kernel of a lock file lists (kernel.lock or the Python
// kernels.lock: both are an array of {repo_id, ..., variants: {name: ...}}).
std::vector<std::string> names_from_lock(const std::string& lock_path, const std::string& repo) {
  return with_context("reading " + lock_path, [&] {
    nlohmann::json doc;
    try {
      doc = nlohmann::json::parse(read_file(lock_path));
    } catch (const nlohmann::json::exception& e) {
      throw Error(ErrorCode::invalid_input, std::string("not JSON: ") + e.what());
    }
    if (!doc.is_array()) throw Error(ErrorCode::invalid_input, "expected a JSON array of kernels");
    std::vector<std::string> repos;
    for (const auto& kernel : doc) {
      if (!kernel.is_object() || !kernel.contains("repo_id") || !kernel["repo_id"].is_string()) continue;
      const auto id = kernel["repo_id"].get<std::string>();
      repos.push_back(id);
      if (!repo.empty() && id != repo) continue;
      if (repo.empty() && doc.size() != 1) continue;
      std::vector<std::string> names;
      if (kernel.contains("variants") && kernel["variants"].is_object())
        for (const auto& [name, _] : kernel["variants"].items()) names.push_back(name);
      return names;
    }
    std::string listed;
    for (const auto& r : repos) listed += (listed.empty() ? "" : ", ") + r;
    if (repo.empty())
      throw Error(ErrorCode::usage, "the lock holds several kernels; choose one with --repo",
                  "kernels in the lock: " + listed);
    throw Error(ErrorCode::not_found, "kernel " + repo + " is not in the lock", "kernels in the lock: " + listed);
  });
}

Environment make_environment(const VariantsArgs& args) {
  if (args.cxx11 && args.cxx98) throw Error(ErrorCode::usage, "--cxx11-abi and --cxx98-abi exclude each other");
  const auto torch = FilterFlags::single(args.env.torch, "--torch");
  const auto cuda = FilterFlags::single(args.env.cuda, "--cuda");
  const auto arch = FilterFlags::single(args.env.arch, "--arch");
  const auto os = FilterFlags::single(args.env.os, "--os");
  std::string backend = args.backend;
  std::transform(backend.begin(), backend.end(), backend.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  std::string backend_version_text = args.backend_version;
  if (cuda) {
    if (backend != "cpu" && backend != "cuda")
      throw Error(ErrorCode::usage, "--cuda and --backend " + backend + " exclude each other");
    if (!backend_version_text.empty() && backend_version_text != *cuda)
      throw Error(ErrorCode::usage, "--cuda " + *cuda + " and --backend-version " + backend_version_text + " differ");
    backend = "cuda";
    backend_version_text = *cuda;
  }
  std::optional<Version2> backend_version;
  if (!backend_version_text.empty()) backend_version = parse_version2(backend_version_text, cuda ? "--cuda" : "--backend-version");
  if ((backend == "cuda" || backend == "rocm" || backend == "xpu" || backend == "cann" || backend == "npu") &&
      !backend_version)
    throw Error(ErrorCode::usage, "--backend " + backend + " needs --backend-version",
                "e.g. --backend cuda --backend-version 13.0");
  Environment env = Environment::host(parse_version2(torch.value_or("2.11"), "--torch"), backend, backend_version);
  env.cxx11_abi = !args.cxx98;
  if (arch) env.arch = *arch;
  if (os) env.os = *os;
  if (!args.tvm_ffi.empty()) env.tvm_ffi = parse_version2(args.tvm_ffi, "--tvm-ffi");
  if (!args.macos.empty()) env.macos = parse_version2(args.macos, "--macos");
  else if (os && env.os != "darwin") env.macos.reset();
  return env;
}

int run_variants(const VariantsArgs& args) {
  std::vector<std::string> names = args.names;
  if (!args.lock.empty()) {
    auto from_lock = names_from_lock(args.lock, args.repo);
    names.insert(names.end(), from_lock.begin(), from_lock.end());
  } else if (!args.repo.empty()) {
    throw Error(ErrorCode::usage, "--repo needs --lock FILE");
  }
  if (names.empty())
    throw Error(ErrorCode::usage, "no variant names given", "pass names, or --lock kernel.lock --repo ORG/NAME");
  const Environment env = make_environment(args);
  const VariantSelection selection = select_variants(names, env);

  if (args.json) {
    nlohmann::ordered_json out;
    nlohmann::ordered_json e;
    e["torch"] = std::to_string(env.torch.major) + "." + std::to_string(env.torch.minor);
    e["cxx11_abi"] = env.cxx11_abi;
    e["backend"] = env.backend;
    e["backend_version"] = env.backend_version ? nlohmann::ordered_json(std::to_string(env.backend_version->major) + "." +
                                                                        std::to_string(env.backend_version->minor))
                                               : nlohmann::ordered_json(nullptr);
    e["arch"] = env.arch;
    e["os"] = env.os;
    e["tvm_ffi"] = env.tvm_ffi ? nlohmann::ordered_json(std::to_string(env.tvm_ffi->major) + "." +
                                                        std::to_string(env.tvm_ffi->minor))
                               : nlohmann::ordered_json(nullptr);
    e["description"] = describe(env);
    out["environment"] = std::move(e);
    out["selected"] = selection.ranked.empty() ? nlohmann::ordered_json(nullptr)
                                               : nlohmann::ordered_json(selection.ranked.front());
    out["ranked"] = selection.ranked;
    auto rejected = nlohmann::ordered_json::array();
    for (const auto& r : selection.rejected) rejected.push_back({{"name", r.name}, {"reason", r.reason}});
    out["rejected"] = std::move(rejected);
    std::cout << out.dump(2) << "\n";
  } else {
    std::cout << "environment: " << describe(env) << "\n";
    if (!selection.ranked.empty()) {
      std::cout << "fitting variants, best first:\n";
      for (std::size_t i = 0; i < selection.ranked.size(); ++i)
        std::cout << "  " << (i + 1) << ". " << selection.ranked[i] << (i == 0 ? "  (selected)" : "") << "\n";
      if (!selection.rejected.empty()) {
        std::cout << "rejected:\n";
        for (const auto& r : selection.rejected) std::cout << "  " << r.name << ": " << r.reason << "\n";
      }
    }
  }
  if (selection.ranked.empty()) {
    if (!args.json) std::cout << selection.explain_no_match(env) << "\n";
    return exit_code_for(ErrorCode::unsupported);
  }
  return 0;
}

}  // namespace

void add_variants_command(CLI::App& app, CliContext& ctx) {
  auto args = std::make_shared<VariantsArgs>();
  auto* cmd = app.add_subcommand("variants", "Rank variant names for an environment (Python kernels rules), with reasons");
  cmd->footer(
      "Rank build variant names for an environment, best first, the way Python `kernels` 0.17 picks one\n"
      "(and our loader too), and say why each rejected variant does not fit.\n"
      "\n"
      "Fit: arch variants must match --arch and --os; torch<MM> variants the --torch version exactly and,\n"
      "when tagged, the C++ ABI (Linux only); torch-stable-abi<MM> variants any torch at or above; tvm-ffi<MM>\n"
      "variants the --tvm-ffi version. CUDA x.z variants fit a CUDA x.y system when z <= y; other backends\n"
      "must match exactly (metal also needs --macos >= 26.0). Noarch torch-<backend> variants fit when the\n"
      "backend matches (cann systems use torch-npu) or is universal.\n"
      "Preference: stable ABI (newest first), torch (untagged before tagged), tvm-ffi; within each the\n"
      "highest backend minor version; then noarch, torch-universal last. Equal ranks keep the input order.");
  cmd->add_option("NAME", args->names, "Variant names (directory names under build/)");
  add_filter_flags(cmd, args->env, FilterRole::environment);
  cmd->add_flag("--cxx11-abi", args->cxx11, "Torch built with the C++11 ABI (the default)");
  cmd->add_flag("--cxx98-abi", args->cxx98, "Torch built with the old (pre-C++11) ABI");
  cmd->add_option("--backend", args->backend, "cpu, cuda, rocm, xpu, cann (npu), metal, tpu or neuron")
      ->capture_default_str();
  cmd->add_option("--backend-version", args->backend_version,
                  "Runtime version of the backend, major.minor (CUDA 13.0, ROCm 7.1, XPU 2025.3, CANN 8.0)");
  cmd->add_option("--tvm-ffi", args->tvm_ffi, "tvm-ffi major.minor when installed (tvm-ffi variants need it)");
  cmd->add_option("--macos", args->macos, "macOS version (darwin; Metal variants need 26.0 or later)");
  cmd->add_option("--lock", args->lock, "Take the names from this lock file (kernel.lock or kernels.lock)");
  cmd->add_option("--repo", args->repo, "With --lock: the kernel whose variants to rank (org/name)");
  cmd->add_flag("--json", args->json, "Print JSON: {environment, selected, ranked, rejected: [{name, reason}]}");
  cmd->footer(cmd->get_footer() + "\n\n" +"Exit codes: 0 some variant fits, 9 none fits (the explanation lists what was available),\n"
              "2 usage, 3 invalid version, 5 --repo not in the lock.");
  cmd->callback([args, &ctx] { ctx.action = [args] { return run_variants(*args); }; });
}

}  // namespace kernel_lock::cli
