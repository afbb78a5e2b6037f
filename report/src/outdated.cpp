#include "kernel_lock/report/outdated.hpp"

#include <optional>
#include <vector>

#include "kernel_lock/core/tag_range.hpp"

namespace kernel_lock::report {
namespace {

// v<N> branch number, nullopt for other names.
std::optional<long> branch_version(const std::string& name) {
  const auto parsed = parse_version_tag(name);
  if (!parsed || parsed->size() != 1) return std::nullopt;
  return (*parsed)[0];
}

const GitRef* newest_branch(const RepoRefs& refs) {
  const GitRef* best = nullptr;
  for (const auto& ref : refs.branches)
    if (const auto v = branch_version(ref.name); v && (!best || *v > *branch_version(best->name))) best = &ref;
  return best;
}

const GitRef* find_ref(const std::vector<GitRef>& refs, const std::string& name) {
  for (const auto& ref : refs)
    if (ref.name == name) return &ref;
  return nullptr;
}

const GitRef* newest_tag(const RepoRefs& refs, const std::optional<TagRange>& range) {
  std::vector<std::string> names;
  for (const auto& tag : refs.tags)
    if (parse_version_tag(tag.name)) names.push_back(tag.name);
  const auto pick = (range ? *range : TagRange::parse(">=0")).pick(names);
  return pick ? find_ref(refs.tags, *pick) : nullptr;
}

// The newest version tag at `sha`, else a v<N> branch at it, else "".
std::string name_at(const RepoRefs& refs, const std::string& sha) {
  RepoRefs at;
  for (const auto& tag : refs.tags)
    if (tag.target_commit == sha) at.tags.push_back(tag);
  for (const auto& branch : refs.branches)
    if (branch.target_commit == sha) at.branches.push_back(branch);
  if (const auto* tag = newest_tag(at, std::nullopt)) return tag->name;
  if (const auto* branch = newest_branch(at)) return branch->name;
  return "";
}

void set(std::string& name, std::string& commit, const GitRef* ref) {
  if (!ref) return;
  name = ref->name;
  commit = ref->target_commit;
}

}  // namespace

OutdatedRow outdated_row(const LockedKernel& kernel, const RepoRefs& refs) {
  OutdatedRow row{kernel.repo_id, "", kernel.sha, "", "", "", ""};
  const auto* requirement = kernel.requirement ? &*kernel.requirement : nullptr;
  std::optional<TagRange> range;
  if (requirement && requirement->tags) range = TagRange::parse(*requirement->tags);
  if (requirement && requirement->version) {
    row.version = "v" + std::to_string(*requirement->version);
    set(row.wanted, row.wanted_commit, find_ref(refs.branches, row.version));
  } else if (range) {
    row.version = name_at(refs, kernel.sha);
    set(row.wanted, row.wanted_commit, newest_tag(refs, range));
  } else if (requirement && requirement->revision) {
    row.version = *requirement->revision;
    const auto* ref = find_ref(refs.branches, row.version);
    set(row.wanted, row.wanted_commit, ref ? ref : find_ref(refs.tags, row.version));
  } else {
    row.version = name_at(refs, kernel.sha);
  }
  if (row.version.empty()) row.version = kernel.sha.substr(0, 7);
  const bool by_tags = range || (!(requirement && requirement->version) && !newest_branch(refs));
  set(row.latest, row.latest_commit, by_tags ? newest_tag(refs, std::nullopt) : newest_branch(refs));
  return row;
}

}  // namespace kernel_lock::report
