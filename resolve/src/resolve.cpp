// Resolver: requirements -> Lockfile. Stages, each one source batch over all
// kernels that still need work: (1) refs / revision -> commit sha, (2) tree of
// build/ at that sha (all pages) -> variants, hashes, per-file records,
// (3) optionally the file bytes (--verify-content).
#include "kernel_lock/resolve/resolve.hpp"

#include <algorithm>
#include <map>
#include <set>
#include <tuple>
#include <sstream>

#include "kernel_lock/core/error.hpp"
#include "kernel_lock/core/fs.hpp"
#include "kernel_lock/core/hash.hpp"
#include "kernel_lock/core/ids.hpp"
#include "kernel_lock/core/json.hpp"
#include "kernel_lock/core/tree_variants.hpp"
#include "kernel_lock/trust/kernel_digest.hpp"
#include "scratch.hpp"
#include "signatures.hpp"

namespace kernel_lock {

// Work item for one requirement that needs the network.
struct ResolvePending {
  std::size_t index = 0;  // into requirements.kernels
  RepoRef repo;
  bool detect_type = false;
  VariantFilter filter;
  LockedRequirement record;
  std::string sha;
  std::string resolved_from;
};

namespace {

std::string short_sha(std::string_view s) { return std::string(s.substr(0, 7)); }

// What tells two requirements of one repo apart (Python's KernelDependency:
// version or revision; our tag range too).
std::string pin_key(const KernelRequirement& r) {
  if (r.version) return "version " + std::to_string(*r.version);
  if (r.revision) return "revision " + *r.revision;
  if (r.tag_range) return "tags " + r.tag_range->text();
  return {};
}

// The previous lock's entry for a requirement: the entry of that repo recorded
// with exactly this requirement, else the repo's entry (whose requirement then
// differs, so it is resolved again).
const LockedKernel* previous_entry(const Lockfile& previous, const std::string& repo_id, const LockedRequirement& record) {
  for (const auto* k : previous.find_all(repo_id))
    if (k->requirement == record) return k;
  return previous.find(repo_id);
}

std::string join(const std::vector<std::string>& items, std::string_view sep) {
  std::string out;
  for (std::size_t i = 0; i < items.size(); ++i) {
    if (i) out += sep;
    out += items[i];
  }
  return out;
}

std::string describe_filter(const VariantFilter& f) {
  std::vector<std::string> parts;
  if (!f.torch.empty()) parts.push_back("torch " + join(f.torch, ","));
  if (!f.cuda.empty()) parts.push_back("cuda " + join(f.cuda, ","));
  if (!f.arch.empty()) parts.push_back("arch " + join(f.arch, ","));
  if (!f.os.empty()) parts.push_back("os " + join(f.os, ","));
  return parts.empty() ? "no filter" : join(parts, ", ");
}

// A lock entry's requirement as JSON text for messages ("null" when unknown).
std::string requirement_text(const std::optional<LockedRequirement>& requirement) {
  return requirement ? requirement->to_json().dump() : "null";
}

using Pending = ResolvePending;

void progress(const ResolveOptions& o, const std::string& line) {
  if (o.on_progress) o.on_progress(line);
}

}  // namespace

VariantFilter effective_filter(const VariantFilter& targets, const VariantFilter& kernel, const VariantFilter& cli) {
  VariantFilter out = targets;
  auto apply = [](std::vector<std::string>& dst, const std::vector<std::string>& src) {
    if (!src.empty()) dst = src;
  };
  apply(out.torch, kernel.torch);
  apply(out.cuda, kernel.cuda);
  apply(out.arch, kernel.arch);
  apply(out.os, kernel.os);
  apply(out.torch, cli.torch);
  apply(out.cuda, cli.cuda);
  apply(out.arch, cli.arch);
  apply(out.os, cli.os);
  return out;
}

LockedRequirement requirement_record(const KernelRequirement& requirement, const VariantFilter& effective) {
  auto record = requirement.locked();
  if (!effective.empty() && effective != requirement.filter) record.targets = effective;
  return record;
}

namespace {

// Pins `p` from its repo's refs: the required version's v<N> branch, the
// highest tag in the range, else the highest v<N>. False when none applies
// (the caller falls back to main). Throws Error(not_found) naming what exists.
bool pin_from_refs(const KernelRequirement& req, const RepoRefs& r, Pending& p) {
  std::map<int, const GitRef*> versions;
  for (const auto& b : r.branches) {
    if (b.name.size() < 2 || b.name[0] != 'v' || b.name.size() > 10) continue;
    if (!std::all_of(b.name.begin() + 1, b.name.end(), [](char c) { return c >= '0' && c <= '9'; })) continue;
    versions[std::stoi(b.name.substr(1))] = &b;
  }
  std::vector<std::string> available;
  for (const auto& [v, ref] : versions) available.push_back(std::to_string(v));
  const std::string where = std::string(to_string(p.repo.type)) + " repository " + p.repo.repo_id;
  if (req.version) {
    auto it = versions.find(*req.version);
    if (it == versions.end())
      throw Error(ErrorCode::not_found,
                  p.repo.repo_id + ": version " + std::to_string(*req.version) + " (branch v" +
                      std::to_string(*req.version) + ") does not exist in " + where + "; available versions: " +
                      (available.empty() ? std::string("none (no v<N> branches)") : join(available, ", ")),
                  available.empty() ? "this repo publishes no v<N> branches: require a revision (branch, tag or "
                                      "sha) or a tag range instead"
                                    : "change the version of " + p.repo.repo_id + " to one of: " + join(available, ", "));
    p.sha = it->second->target_commit;
    p.resolved_from = "branch v" + std::to_string(*req.version);
  } else if (req.tag_range) {
    std::vector<std::string> tag_names;
    for (const auto& t : r.tags) tag_names.push_back(t.name);
    auto tag = req.tag_range->pick(tag_names);
    if (!tag) {
      std::vector<std::string> semver;
      for (const auto& t : tag_names)
        if (parse_version_tag(t)) semver.push_back(t);
      std::sort(semver.begin(), semver.end());
      throw Error(ErrorCode::not_found,
                  p.repo.repo_id + ": no tag matches '" + req.tag_range->text() + "' in " + where +
                      "; v<semver> tags: " + (semver.empty() ? std::string("none") : join(semver, ", ")),
                  "widen the tag range of " + p.repo.repo_id +
                      (available.empty() ? std::string() : ", or require a version (" + join(available, ", ") + ")"));
    }
    for (const auto& t : r.tags)
      if (t.name == *tag) p.sha = t.target_commit;
    p.resolved_from = "tag " + *tag;
  } else if (!versions.empty()) {
    p.sha = versions.rbegin()->second->target_commit;
    p.resolved_from = "branch v" + std::to_string(versions.rbegin()->first) + " (latest)";
  } else {
    return false;
  }
  return true;
}

// The locked kernel of `p`: the tree's variants that its filter selects
// (unparseable names only without a filter, with a warning). Throws
// Error(not_found) when build/ holds no variant or none matches.
LockedKernel select_variants(const Pending& p, TreeVariants tree, std::vector<std::string>& warnings) {
  LockedKernel k;
  k.repo_id = p.repo.repo_id;
  k.sha = p.sha;
  k.repo_type = std::string(to_string(p.repo.type));
  k.requirement = p.record;
  for (auto& [name, v] : tree.variants) {
    auto parsed = try_parse_variant(name);
    if (!parsed) {
      if (!p.filter.empty()) continue;
      warnings.push_back(p.repo.repo_id + ": build/" + name +
                         " is not a known variant name; locked anyway (filters cannot select it)");
    } else if (!matches_filter(*parsed, p.filter)) {
      continue;
    }
    k.variants.emplace(name, std::move(v));
  }
  if (!k.variants.empty()) return k;
  const std::string at = p.repo.repo_id + " at " + short_sha(p.sha) + " (" + p.resolved_from + "): ";
  if (tree.names.empty())
    throw Error(ErrorCode::not_found, at + "build/ holds no variants", "pick a revision that has builds under build/<variant>/");
  throw Error(ErrorCode::not_found,
              at + "no variant matches " + describe_filter(p.filter) + "; available: " + join(tree.names, ", "),
              "widen --torch/--cuda/--arch (or the kernels.yaml targets) to include one of the available variants");
}

}  // namespace

Resolver::Resolver(HubClient& client, ResolveOptions options)
    : owned_source_(std::make_unique<HubSource>(client)), source_(*owned_source_), options_(std::move(options)) {}

Resolver::Resolver(ResolveSource& source, ResolveOptions options) : source_(source), options_(std::move(options)) {}

ResolveResult Resolver::resolve(const Requirements& requirements, const Lockfile* previous) {
  for (const auto& name : options_.upgrade_packages) {
    bool known = std::any_of(requirements.kernels.begin(), requirements.kernels.end(),
                             [&](const KernelRequirement& k) { return k.repo_id == name; });
    const LockedKernel* old = previous ? previous->find(name) : nullptr;
    bool locked_dependency = old && old->requirement && old->requirement->required_by;
    if (!known && !locked_dependency)
      throw Error(ErrorCode::usage, "--upgrade-package " + name + ": no such kernel in " + requirements.source.string(),
                  "use one of the repo ids listed in the requirements (or a dependency in the lock)");
  }
  ResolveResult result = resolve_round(requirements, previous, {});
  // What is locked: one entry per (repo, version), as Python `kernels lock` keys it.
  std::map<std::pair<std::string, std::string>, KernelRequirement> required;
  for (const auto& k : requirements.kernels) required.emplace(std::pair(k.repo_id, pin_key(k)), k);
  ResolveResult round;
  const ResolveResult* level = &result;  // the kernels whose dependencies come next
  for (int depth = 1;; ++depth) {
    Requirements next;
    next.source = requirements.source;
    next.targets = requirements.targets;
    std::vector<std::string> required_by;  // parallel to next.kernels
    for (auto& [parent, dep] : declared_dependencies(*level, previous)) {
      if (!required.emplace(std::pair(dep.repo_id, pin_key(dep)), dep).second) continue;
      required_by.push_back(parent);
      next.kernels.push_back(std::move(dep));
    }
    if (next.kernels.empty()) break;
    if (depth > 32)
      throw Error(ErrorCode::invalid_input, "kernel dependencies nest deeper than 32 levels (via " +
                                                required_by.front() + ")");
    progress(options_, "locking " + std::to_string(next.kernels.size()) + " kernel dependenc" +
                           (next.kernels.size() == 1 ? "y" : "ies"));
    round = resolve_round(next, previous, required_by);
    for (const auto& k : round.lock.kernels) result.lock.kernels.push_back(k);
    for (const auto& k : round.report.kernels) result.report.kernels.push_back(k);
    for (const auto& w : round.report.warnings) result.report.warnings.push_back(w);
    level = &round;
  }
  std::sort(result.lock.kernels.begin(), result.lock.kernels.end(), lock_order);
  result.report.stats = source_.stats();
  if (previous != nullptr) {
    const auto changes = describe_signer_changes(*previous, result.lock);
    if (!changes.empty() && !options_.allow_signer_change)
      throw Error(ErrorCode::lock_changed, "the signer of a locked kernel changed:\n" + join(changes, "\n"),
                  "check with the kernel's publisher that the new signer is legitimate, then re-run with "
                  "--allow-signer-change (or pin it with `signers:` in kernels.yaml)");
    for (const auto& change : changes) result.report.warnings.push_back("signer changed (allowed): " + change);
  }
  return result;
}

// Stage 0: keeps the locked entries whose requirement did not change (into
// round.lock slots / report) and returns the requirements that need the source.
std::vector<Pending> Resolver::keep_or_queue(const Requirements& requirements, const Lockfile* previous,
                                             const std::vector<std::string>& required_by,
                                             std::vector<std::optional<LockedKernel>>& locked, ResolveReport& report) {
  std::vector<Pending> pending;
  const std::set<std::string> upgrade(options_.upgrade_packages.begin(), options_.upgrade_packages.end());
  for (std::size_t i = 0; i < requirements.kernels.size(); ++i) {
    const auto& req = requirements.kernels[i];
    auto filter = effective_filter(requirements.targets, req.filter, options_.filter);
    auto record = requirement_record(req, filter);
    if (i < required_by.size()) {
      record.required_by = required_by[i];
      report.kernels[i].required_by = required_by[i];
    }
    report.kernels[i].repo_id = req.repo_id;
    const LockedKernel* old = previous ? previous_entry(*previous, req.repo_id, record) : nullptr;
    if (old && old->requirement == record && !options_.upgrade && !upgrade.count(req.repo_id) && !old->variants.empty()) {
      locked[i] = *old;
      auto& k = report.kernels[i];
      k.repo_type = old->repo_type.value_or("kernel");
      k.sha = old->sha;
      k.resolved_from = "lock";
      k.from_lock = true;
      k.variants = old->variants.size();
      for (const auto& [name, v] : old->variants) k.files += v.files.size();
      continue;
    }
    Pending p;
    p.index = i;
    p.repo.repo_id = req.repo_id;
    p.repo.type = req.repo_type ? parse_repo_type(*req.repo_type) : RepoType::kernel;
    p.detect_type = !req.repo_type.has_value();
    p.filter = std::move(filter);
    p.record = std::move(record);
    pending.push_back(std::move(p));
  }
  return pending;
}

ResolveResult Resolver::resolve_round(const Requirements& requirements, const Lockfile* previous,
                                      const std::vector<std::string>& required_by) {
  ResolveResult result;
  auto& report = result.report;
  std::vector<std::optional<LockedKernel>> locked(requirements.kernels.size());
  report.kernels.resize(requirements.kernels.size());
  std::vector<Pending> pending = keep_or_queue(requirements, previous, required_by, locked, report);
  if (!pending.empty()) {
    pin_commits(requirements, pending);
    auto verify = lock_variants(pending, locked, report);
    verify_content(verify);
    std::vector<SignatureTarget> targets;
    for (const auto& p : pending) targets.push_back(SignatureTarget{&*locked[p.index], &requirements.kernels[p.index]});
    record_signatures(source_, options_, targets, report.warnings);
  }
  for (std::size_t i = 0; i < locked.size(); ++i) {
    for (const auto& [name, v] : locked[i]->variants) {
      if (!v.signature) continue;
      if (report.kernels[i].signed_variants++ == 0) report.kernels[i].signer = v.signature->describe();
    }
  }
  for (auto& k : locked) result.lock.kernels.push_back(std::move(*k));
  std::sort(result.lock.kernels.begin(), result.lock.kernels.end(), lock_order);
  report.stats = source_.stats();
  return result;
}

// Stage 1: commit shas. Versions and tag ranges need the refs; revisions the
// revision endpoint; "no version given" falls back to the highest v<N>, else main.
void Resolver::pin_commits(const Requirements& requirements, std::vector<Pending>& pending) {
  std::vector<RefsQuery> refs_queries;
  std::vector<std::size_t> refs_owner;
  std::vector<RevisionQuery> rev_queries;
  std::vector<std::size_t> rev_owner;
  for (std::size_t j = 0; j < pending.size(); ++j) {
    const auto& req = requirements.kernels[pending[j].index];
    if (req.revision) {
      rev_queries.push_back(RevisionQuery{pending[j].repo, *req.revision, pending[j].detect_type});
      rev_owner.push_back(j);
    } else {
      refs_queries.push_back(RefsQuery{pending[j].repo, pending[j].detect_type});
      refs_owner.push_back(j);
    }
  }
  progress(options_, "resolving " + std::to_string(pending.size()) + " kernel" + (pending.size() == 1 ? "" : "s"));
  std::vector<RefsResult> refs;
  std::vector<ResolvedRevision> revs;
  if (!refs_queries.empty()) refs = source_.list_refs(refs_queries);
  if (!rev_queries.empty()) revs = source_.resolve_revisions(rev_queries);
  for (std::size_t q = 0; q < revs.size(); ++q) {
    auto& p = pending[rev_owner[q]];
    p.repo = revs[q].repo;
    p.sha = revs[q].sha;
    const auto& rev = *requirements.kernels[p.index].revision;
    p.resolved_from = is_commit_sha(rev) ? "sha" : "revision " + rev;
  }
  std::vector<RevisionQuery> main_queries;
  std::vector<std::size_t> main_owner;
  for (std::size_t q = 0; q < refs.size(); ++q) {
    auto& p = pending[refs_owner[q]];
    p.repo = refs[q].repo;
    if (!pin_from_refs(requirements.kernels[p.index], refs[q].refs, p)) {
      main_queries.push_back(RevisionQuery{p.repo, "main", false});
      main_owner.push_back(refs_owner[q]);
    }
  }
  if (!main_queries.empty()) {
    auto mains = source_.resolve_revisions(main_queries);
    for (std::size_t q = 0; q < mains.size(); ++q) {
      pending[main_owner[q]].sha = mains[q].sha;
      pending[main_owner[q]].resolved_from = "revision main";
    }
  }
  for (auto& p : pending)
    if (!is_commit_sha(p.sha))
      throw Error(ErrorCode::invalid_input, p.repo.repo_id + ": the Hub returned '" + p.sha + "' for " +
                                                p.resolved_from + ", which is not a 40-hex commit sha");
}

// Stage 2: build/ trees at the pinned commits -> locked kernels. Returns the
// files to check with --verify-content (empty otherwise).
std::vector<DownloadRequest> Resolver::lock_variants(const std::vector<Pending>& pending,
                                                     std::vector<std::optional<LockedKernel>>& locked,
                                                     ResolveReport& report) {
  progress(options_, "listing variants of " + std::to_string(pending.size()) + " kernel" + (pending.size() == 1 ? "" : "s"));
  std::vector<TreeQuery> tree_queries;
  for (const auto& p : pending) tree_queries.push_back(TreeQuery{p.repo, p.sha, "build", true});
  std::vector<std::vector<TreeEntry>> trees;
  try {
    trees = source_.list_trees(tree_queries);
  } catch (Error& e) {
    if (e.code() == ErrorCode::not_found)
      e.set_hint("a kernel repo keeps its builds under build/<variant>/; check that the pinned revision has a build/ directory");
    throw;
  }
  std::vector<DownloadRequest> verify;
  for (std::size_t j = 0; j < pending.size(); ++j) {
    const auto& p = pending[j];
    LockedKernel k = select_variants(p, variants_from_tree(trees[j]), report.warnings);
    auto& r = report.kernels[p.index];
    r.repo_type = *k.repo_type;
    r.sha = k.sha;
    r.resolved_from = p.resolved_from;
    r.variants = k.variants.size();
    for (const auto& [name, v] : k.variants) {
      r.files += v.files.size();
      if (!options_.verify_content) continue;
      for (const auto& f : v.files)
        verify.push_back(DownloadRequest{p.repo, p.sha, "build/" + name + "/" + f.path, f.digest, f.size, {}});
    }
    locked[p.index] = std::move(k);
  }
  return verify;
}

// Stage 3: the bytes themselves, checked against the listing.
void Resolver::verify_content(std::vector<DownloadRequest>& verify) {
  if (verify.empty()) return;
  ScratchDir scratch(options_.scratch_dir, "kernel-lock-verify-");
  for (auto& d : verify) d.destination = scratch.path() / d.repo.repo_id / d.sha / d.path;
  progress(options_, "verifying the content of " + std::to_string(verify.size()) + " files");
  source_.read_files(verify);
}

namespace {

// The dependencies `previous` records as required by `parent` (kept from the lock).
std::vector<KernelRequirement> locked_dependencies(const Lockfile& previous, const std::string& parent) {
  std::vector<KernelRequirement> out;
  for (const auto& dep : previous.kernels) {
    if (!dep.requirement || dep.requirement->required_by != parent) continue;
    KernelRequirement r;
    r.repo_id = dep.repo_id;
    if (dep.requirement->version) r.version = static_cast<int>(*dep.requirement->version);
    r.revision = dep.requirement->revision;
    out.push_back(std::move(r));
  }
  return out;
}

// The "kernel-depends" list of one metadata.json (`where` names it in errors).
// Throws Error(invalid_input) for a malformed list or entry.
std::vector<KernelRequirement> parse_kernel_depends(const nlohmann::json& meta, const std::string& where) {
  std::vector<KernelRequirement> out;
  if (!meta.is_object() || !meta.contains("kernel-depends")) return out;
  const auto& deps = meta["kernel-depends"];
  if (!deps.is_array())
    throw Error(ErrorCode::invalid_input, where + ": kernel-depends: expected a list of {repo-id, version | revision}");
  for (std::size_t i = 0; i < deps.size(); ++i) {
    const auto& dep = deps[i];
    const std::string at = where + ": kernel-depends[" + std::to_string(i) + "]: ";
    if (!dep.is_object() || !dep.contains("repo-id") || !dep["repo-id"].is_string())
      throw Error(ErrorCode::invalid_input, at + "expected an object with a \"repo-id\" string");
    KernelRequirement r;
    r.repo_id = dep["repo-id"].get<std::string>();
    const bool has_version = dep.contains("version"), has_revision = dep.contains("revision");
    if (has_version == has_revision)
      throw Error(ErrorCode::invalid_input, at + "expected exactly one of \"version\" (integer) and \"revision\" (string)");
    if (has_version) {
      if (!dep["version"].is_number_integer() || dep["version"].get<long long>() < 0)
        throw Error(ErrorCode::invalid_input, at + "\"version\" must be a non-negative integer");
      r.version = dep["version"].get<int>();
    } else {
      if (!dep["revision"].is_string() || dep["revision"].get<std::string>().empty())
        throw Error(ErrorCode::invalid_input, at + "\"revision\" must be a non-empty string");
      r.revision = dep["revision"].get<std::string>();
    }
    out.push_back(std::move(r));
  }
  return out;
}

}  // namespace

std::vector<std::pair<std::string, KernelRequirement>> Resolver::declared_dependencies(const ResolveResult& round,
                                                                                      const Lockfile* previous) {
  std::vector<std::pair<std::string, KernelRequirement>> out;
  std::set<std::tuple<std::string, std::string, std::string>> seen;  // (parent, dependency, its version)
  auto add = [&](const std::string& parent, KernelRequirement dep) {
    if (dep.repo_id == parent || !seen.insert({parent, dep.repo_id, pin_key(dep)}).second) return;
    out.emplace_back(parent, std::move(dep));
  };
  std::set<std::pair<std::string, std::string>> from_lock;  // (repo id, sha)
  for (const auto& k : round.report.kernels)
    if (k.from_lock) from_lock.insert({k.repo_id, k.sha});

  struct Source {
    std::string parent;
    std::string where;  // "org/name build/<variant>/metadata.json"
  };
  std::map<std::string, DownloadRequest> downloads;  // by digest: one download per distinct metadata.json
  std::map<std::string, std::vector<Source>> sources;
  for (const auto& k : round.lock.kernels) {
    if (from_lock.count({k.repo_id, k.sha})) {
      // Kept without network access: its dependencies are the previous lock's
      // entries that it required.
      if (previous)
        for (auto& r : locked_dependencies(*previous, k.repo_id)) add(k.repo_id, std::move(r));
      continue;
    }
    if (k.repo_type.value_or("kernel") != "kernel") continue;
    for (const auto& [variant, v] : k.variants) {
      for (const auto& f : v.files) {
        if (f.path != "metadata.json" || f.size > (1u << 20)) continue;
        DownloadRequest d;
        d.repo = RepoRef{k.repo_id, RepoType::kernel};
        d.sha = k.sha;
        d.path = "build/" + variant + "/metadata.json";
        d.digest = f.digest;
        d.size = f.size;
        downloads.emplace(f.digest, d);
        sources[f.digest].push_back(Source{k.repo_id, k.repo_id + " " + d.path});
      }
    }
  }
  if (downloads.empty()) return out;

  ScratchDir scratch(options_.scratch_dir, "kernel-lock-metadata-");
  std::vector<DownloadRequest> requests;
  for (auto& [digest, d] : downloads) {
    d.destination = scratch.path() / digest;
    requests.push_back(d);
  }
  progress(options_, "reading kernel-depends of " + std::to_string(requests.size()) + " metadata.json file" +
                         (requests.size() == 1 ? "" : "s"));
  source_.read_files(requests);  // every byte checked against the listed digest

  for (const auto& [digest, d] : downloads) {
    const auto& src = sources.at(digest);
    const std::string& where = src.front().where;
    const nlohmann::json meta = parse_json_bounded<nlohmann::json>(
        read_file_at_most(d.destination, trust::kMaxMetadataBytes), where, trust::kMaxMetadataBytes, "");
    for (const auto& r : parse_kernel_depends(meta, where))
      for (const auto& s : src) add(s.parent, r);
  }
  // In lock order of the parents (downloads went by digest), so that a
  // dependency two kernels share is recorded as required by the first.
  std::stable_sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  return out;
}

void check_lock_covers(const Requirements& requirements, const Lockfile& lock, const VariantFilter& cli_filter) {
  std::vector<std::string> gaps;
  for (const auto& req : requirements.kernels) {
    const auto* k = lock.find(req.repo_id);
    auto filter = effective_filter(requirements.targets, req.filter, cli_filter);
    if (!k) {
      gaps.push_back("- " + req.repo_id + ": required but not in the lock");
      continue;
    }
    if (k->requirement && *k->requirement != requirement_record(req, filter)) {
      gaps.push_back("- " + req.repo_id + ": requirement changed: locked " + requirement_text(k->requirement) + ", now " +
                     requirement_record(req, filter).to_json().dump());
      continue;
    }
    if (k->variants.empty()) {
      gaps.push_back("- " + req.repo_id + ": locked with no variants");
      continue;
    }
    if (!filter.empty()) {
      bool any = false;
      for (const auto& [name, v] : k->variants) any = any || variant_name_matches_filter(name, filter);
      if (!any) gaps.push_back("- " + req.repo_id + ": no locked variant matches " + describe_filter(filter));
    }
  }
  if (!gaps.empty())
    throw Error(ErrorCode::lock_changed,
                "the lock does not cover the requirements in " + requirements.source.string() + ":\n" + join(gaps, "\n"),
                "run `kernel-lock resolve` (without --frozen) to update the lock");
}

std::string describe_lock_changes(const Lockfile& before, const Lockfile& after) {
  std::vector<std::string> lines;
  std::map<std::string, const LockedKernel*> a, b;
  // By repo id; a repo locked at several versions names each entry "repo (version N)".
  auto name_of = [](const Lockfile& lock, const LockedKernel& k) {
    if (lock.find_all(k.repo_id).size() < 2) return k.repo_id;
    const PinnedAs pin = pinned_as(k);
    return k.repo_id + " (" + (pin.kind == 0 ? "version " + std::to_string(pin.version) : pin.text) + ")";
  };
  for (const auto& k : before.kernels) a[name_of(before, k)] = &k;
  for (const auto& k : after.kernels) b[name_of(after, k)] = &k;
  std::set<std::string> names;
  for (auto& [n, k] : a) names.insert(n);
  for (auto& [n, k] : b) names.insert(n);
  for (const auto& name : names) {
    auto ia = a.find(name);
    auto ib = b.find(name);
    if (ia == a.end()) {
      lines.push_back("+ " + name + " " + short_sha(ib->second->sha) + " (" + std::to_string(ib->second->variants.size()) +
                      " variants)");
      continue;
    }
    if (ib == b.end()) {
      lines.push_back("- " + name + " " + short_sha(ia->second->sha) + " (no longer required)");
      continue;
    }
    const auto& x = *ia->second;
    const auto& y = *ib->second;
    const auto lines_before = lines.size();
    if (x.sha != y.sha) lines.push_back("~ " + name + ": sha " + short_sha(x.sha) + " -> " + short_sha(y.sha));
    if (x.requirement != y.requirement)
      lines.push_back("~ " + name + ": requirement " + requirement_text(x.requirement) + " -> " +
                      requirement_text(y.requirement));
    if (x.repo_type.value_or("kernel") != y.repo_type.value_or("kernel"))
      lines.push_back("~ " + name + ": repo type " + x.repo_type.value_or("kernel") + " -> " + y.repo_type.value_or("kernel"));
    for (const auto& [vn, v] : x.variants) {
      auto it = y.variants.find(vn);
      if (it == y.variants.end())
        lines.push_back("  - " + name + " variant " + vn);
      else if (it->second.hash != v.hash)
        lines.push_back("  ~ " + name + " variant " + vn + ": " + v.hash + " -> " + it->second.hash);
      else if (it->second.files != v.files)
        lines.push_back("  ~ " + name + " variant " + vn + ": per-file records differ");
    }
    for (const auto& [vn, v] : y.variants)
      if (!x.variants.count(vn)) lines.push_back("  + " + name + " variant " + vn);
    for (const auto& [vn, v] : x.variants) {
      auto it = y.variants.find(vn);
      if (it == y.variants.end() || it->second.signature == v.signature) continue;
      lines.push_back("  ~ " + name + " variant " + vn + ": signature " +
                      (v.signature ? v.signature->describe() : std::string("none")) + " -> " +
                      (it->second.signature ? it->second.signature->describe() : std::string("none")));
    }
    if (lines.size() == lines_before && !(x == y)) lines.push_back("~ " + name + ": other recorded fields differ");
  }
  if (lines.empty() && !(before == after)) lines.push_back("~ formatting or unknown keys differ");
  return join(lines, "\n");
}

}  // namespace kernel_lock
