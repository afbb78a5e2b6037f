// `kernel-lock-dev hub ...`: builds fixture Hubs (fixture_hub.hpp) for tests,
// demos and benchmarks. `publish` prints the new commit sha on stdout; `tag` and
// `branch` print the sha they point at.
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "dev_commands.hpp"
#include "kernel_lock/core/error.hpp"
#include "kernel_lock/testing/fixture_hub.hpp"

namespace kernel_lock::dev {
using cli::CliContext;
namespace {

struct HubArgs {
  std::string hub;
  std::string repo;
  std::string repo_type = "kernel";
  // publish
  std::string src;
  std::string branch = "main";
  std::string from;
  std::vector<std::string> tags;
  std::vector<std::string> lfs;
  bool no_lfs = false;
  std::vector<std::string> exclude;
  std::string message;
  std::string under;
  std::int64_t date = 0;
  bool gated = false;
  bool ungated = false;
  bool force = false;
  // tag / branch
  std::string name;
  std::string revision;
  bool remove = false;
};

RepoRef repo_ref(const HubArgs& a) { return RepoRef{a.repo, parse_repo_type(a.repo_type)}; }

void add_repo_options(CLI::App* cmd, HubArgs& a) {
  cmd->add_option("--hub", a.hub, "Fixture Hub directory (created when missing)")->required();
  cmd->add_option("--repo", a.repo, "Repo id, org/name")->required();
  cmd->add_option("--repo-type", a.repo_type, "kernel or model")->check(CLI::IsMember({"kernel", "model"}))->capture_default_str();
}

int run_publish(const HubArgs& a, const CliContext& ctx) {
  PublishOptions opts;
  opts.repo = repo_ref(a);
  opts.branch = a.branch;
  if (!a.from.empty()) opts.from = a.from;
  opts.tags = a.tags;
  opts.force_tags = a.force;
  if (a.no_lfs) opts.lfs_globs.clear();
  else if (!a.lfs.empty()) opts.lfs_globs = a.lfs;
  opts.exclude_globs = a.exclude;
  opts.message = a.message;
  opts.under = a.under;
  opts.date = a.date;
  if (a.gated) opts.gated = true;
  if (a.ungated) opts.gated = false;
  auto hub = FixtureHub::open_or_create(a.hub);
  auto result = hub.publish(opts, a.src);
  std::cout << result.sha << std::endl;
  if (!ctx.quiet)
    std::cerr << "kernel-lock-dev: " << a.repo_type << " " << a.repo << "@" << a.branch << " -> " << result.sha << " (" << result.files
              << " files, " << result.lfs_files << " LFS)\n";
  return 0;
}

int run_ref(const HubArgs& a, bool is_tag) {
  auto hub = FixtureHub::open(a.hub);
  if (a.remove) {
    hub.delete_ref(repo_ref(a), a.name, is_tag);
    return 0;
  }
  if (a.revision.empty()) throw Error(ErrorCode::usage, std::string(is_tag ? "tag" : "branch") + " needs NAME and REVISION (or --delete)");
  std::string sha = is_tag ? hub.tag(repo_ref(a), a.name, a.revision, a.force) : hub.set_branch(repo_ref(a), a.name, a.revision);
  std::cout << sha << std::endl;
  return 0;
}

}  // namespace

void add_hub_command(CLI::App& app, CliContext& ctx) {
  auto* hub = app.add_subcommand("hub", "Build fixture Hubs for tests: publish commits, move branches and tags");
  hub->require_subcommand(1);

  auto pub = std::make_shared<HubArgs>();
  auto* publish = hub->add_subcommand("publish", "Commit SRC_DIR to a branch of a fixture Hub repo (prints the commit sha)");
  add_repo_options(publish, *pub);
  publish->add_option("SRC_DIR", pub->src, "Directory whose files become the repo's (under --under)")->required();
  publish->add_option("--branch", pub->branch, "Branch to commit to")->capture_default_str();
  publish->add_option("--from", pub->from, "Start a new branch here (default: main's head, else a root commit)");
  publish->add_option("--tag", pub->tags, "Tag the new commit (repeatable)");
  publish->add_flag("--force", pub->force, "Move tags that already exist");
  publish->add_option("--lfs", pub->lfs, "Store files matching GLOB as LFS (repeatable; default '*.so')");
  publish->add_flag("--no-lfs", pub->no_lfs, "Store every file as a regular git blob");
  publish->add_option("--exclude", pub->exclude, "Leave out files or directories matching GLOB (repeatable)");
  publish->add_option("--message", pub->message, "Commit message");
  publish->add_option("--under", pub->under, "Replace only this repo directory (default: the whole tree)");
  publish->add_option("--date", pub->date, "Commit time, seconds since the epoch (default 0: reproducible)");
  publish->add_flag("--gated", pub->gated, "Mark the repo gated (downloads need the server token)");
  publish->add_flag("--ungated", pub->ungated, "Clear the gated mark");
  publish->callback([pub, &ctx] { ctx.action = [pub, &ctx] { return run_publish(*pub, ctx); }; });

  for (bool is_tag : {true, false}) {
    auto a = std::make_shared<HubArgs>();
    auto* cmd = hub->add_subcommand(is_tag ? "tag" : "branch",
                                    is_tag ? "Point a tag at a revision (prints the sha)" : "Create or move a branch (prints the sha)");
    add_repo_options(cmd, *a);
    cmd->add_option("NAME", a->name, is_tag ? "Tag name" : "Branch name")->required();
    cmd->add_option("REVISION", a->revision, "Branch, tag or commit sha");
    cmd->add_flag("--delete", a->remove, "Delete it instead");
    if (is_tag) cmd->add_flag("--force", a->force, "Move the tag when it exists");
    cmd->callback([a, is_tag, &ctx] { ctx.action = [a, is_tag] { return run_ref(*a, is_tag); }; });
  }
}

}  // namespace kernel_lock::dev
