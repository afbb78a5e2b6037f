// `kernel-lock diff OLD NEW [--json]` (docs/lock-commands.md): what changed between
// two locks, in Cargo's words (`cargo update`): "Adding", "Removing", "Updating"
// per kernel, then one line per variant added (+), removed (-), rehashed (~) or
// signed by another identity (!). --json: the same as a deterministic document.
// Offline. Exit 3 for a bad lock, 5 when a file is missing.
#include <iostream>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "commands.hpp"
#include "kernel_lock/report/diff.hpp"
#include "kernel_lock/report/labels.hpp"
#include "report_format.hpp"

namespace kernel_lock::cli {
namespace {

using ojson = nlohmann::ordered_json;

struct DiffArgs {
  std::string old_lock;
  std::string new_lock;
  bool json = false;
};

std::string at(const std::string& version, const std::string& sha) {
  return (version.empty() ? "" : version + " ") + "(" + report::short_sha(sha) + ")";
}

std::string signer(const std::optional<LockedSignature>& s) { return s ? s->describe() : "unsigned"; }

std::string variant_lines(const report::VariantDiff& v) {
  const std::string pad(13, ' ');
  if (v.change == report::Change::added) return pad + "+ build/" + v.name + " " + v.new_hash + "\n";
  if (v.change == report::Change::removed) return pad + "- build/" + v.name + "\n";
  std::string out;
  if (v.hash_changed) out += pad + "~ build/" + v.name + " " + v.old_hash + " -> " + v.new_hash + "\n";
  if (v.signer_changed)
    out += pad + "! build/" + v.name + " signer " + signer(v.old_signer) + " -> " + signer(v.new_signer) + "\n";
  return out;
}

std::string text_report(const report::LockDiff& diff) {
  std::string out;
  for (const auto& k : diff.kernels) {
    if (k.change == report::Change::added) {
      out += "      Adding " + k.repo_id + " " + at(k.new_version, k.new_sha) + "\n";
    } else if (k.change == report::Change::removed) {
      out += "    Removing " + k.repo_id + " " + at(k.old_version, k.old_sha) + "\n";
    } else {
      out += "    Updating " + k.repo_id + " " + at(k.old_version, k.old_sha) + " -> " + at(k.new_version, k.new_sha) + "\n";
      for (const auto& v : k.variants) out += variant_lines(v);
    }
  }
  return out;
}

ojson signer_json(const std::optional<LockedSignature>& s) {
  if (!s) return nullptr;
  return ojson{{"issuer", s->issuer}, {"source_repository", s->source_repository}, {"build_signer_uri", s->build_signer_uri}};
}

ojson json_report(const report::LockDiff& diff) {
  ojson out = {{"added", ojson::array()}, {"removed", ojson::array()}, {"changed", ojson::array()}};
  for (const auto& k : diff.kernels) {
    ojson entry = {{"repo_id", k.repo_id}};
    if (k.change != report::Change::added) entry["old"] = {{"sha", k.old_sha}, {"version", k.old_version}};
    if (k.change != report::Change::removed) entry["new"] = {{"sha", k.new_sha}, {"version", k.new_version}};
    ojson variants = ojson::array();
    for (const auto& v : k.variants)
      variants.push_back(ojson{{"name", v.name}, {"change", std::string(report::to_string(v.change))},
                               {"old_hash", v.old_hash}, {"new_hash", v.new_hash}, {"hash_changed", v.hash_changed},
                               {"signer_changed", v.signer_changed}, {"old_signer", signer_json(v.old_signer)},
                               {"new_signer", signer_json(v.new_signer)}});
    if (k.change == report::Change::changed) entry["variants"] = std::move(variants);
    out[std::string(report::to_string(k.change))].push_back(std::move(entry));
  }
  return out;
}

int run_diff(const DiffArgs& args, const CliContext& ctx) {
  const auto diff = report::diff_locks(load_lock(args.old_lock), load_lock(args.new_lock));
  if (args.json) {
    std::cout << json_report(diff).dump(2) << "\n" << std::flush;
    return 0;
  }
  if (diff.empty() && !ctx.quiet) std::cerr << args.old_lock << " and " << args.new_lock << " lock the same kernels\n";
  std::cout << text_report(diff) << std::flush;
  return 0;
}

}  // namespace

void add_diff_command(CLI::App& app, CliContext& ctx) {
  auto args = std::make_shared<DiffArgs>();
  auto* cmd = app.add_subcommand("diff", "Show kernels added, removed and changed between two locks (commits, variants, signers)");
  cmd->add_option("OLD", args->old_lock, "The old lock (e.g. from `git show HEAD:kernel.lock > old.lock`)")->required();
  cmd->add_option("NEW", args->new_lock, "The new lock")->required();
  cmd->add_flag("--json", args->json, "Print {added, removed, changed} as JSON (sorted by repo id)");
  cmd->footer("Variant lines: + added, - removed, ~ hash changed, ! signer identity changed.");
  cmd->callback([args, &ctx] { ctx.action = [args, &ctx] { return run_diff(*args, ctx); }; });
}

}  // namespace kernel_lock::cli
