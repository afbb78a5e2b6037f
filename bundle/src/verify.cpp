// verify_cache / verify_bundle: check installed or packed bytes against a lock.
#include "kernel_lock/bundle/verify.hpp"

#include <algorithm>
#include <map>
#include <set>
#include <vector>

#include "bundle_internal.hpp"
#include "kernel_lock/cache/cache_writer.hpp"
#include "kernel_lock/core/error.hpp"
#include "kernel_lock/cache/hf_cache.hpp"
#include "kernel_lock/cache/snapshot.hpp"
#include "kernel_lock/core/parallel.hpp"

namespace kernel_lock {
namespace fs = std::filesystem;

const char* to_string(ProblemKind kind) noexcept {
  switch (kind) {
    case ProblemKind::missing_variant: return "missing-variant";
    case ProblemKind::missing_file: return "missing-file";
    case ProblemKind::altered_file: return "altered-file";
    case ProblemKind::unexpected_file: return "unexpected-file";
    case ProblemKind::hash_mismatch: return "hash-mismatch";
    case ProblemKind::manifest_mismatch: return "manifest-mismatch";
  }
  return "unknown";
}

std::string VerifyProblem::message() const {
  std::string out = std::string(to_string(kind)) + ": " + repo_id;
  if (!variant.empty()) out += " " + variant;
  if (!path.empty()) out += ": " + path;
  if (!expected.empty() || !actual.empty()) out += " (expected " + expected + ", found " + actual + ")";
  return out;
}

nlohmann::ordered_json VerifyReport::to_json() const {
  nlohmann::ordered_json out = nlohmann::ordered_json::object();
  out["ok"] = ok();
  out["kernels"] = kernels;
  out["variants"] = variants;
  out["files"] = files;
  auto list = nlohmann::ordered_json::array();
  for (const auto& p : problems) {
    nlohmann::ordered_json j = nlohmann::ordered_json::object();
    j["kind"] = to_string(p.kind);
    j["repo_id"] = p.repo_id;
    j["variant"] = p.variant;
    j["path"] = p.path;
    j["expected"] = p.expected;
    j["actual"] = p.actual;
    j["message"] = p.message();
    list.push_back(std::move(j));
  }
  out["problems"] = std::move(list);
  return out;
}

namespace {

std::string size_digest(const std::string& digest, std::uint64_t size) {
  return digest + " / " + std::to_string(size) + " bytes";
}

// One variant's check: what the strict snapshot reader accepted and refused,
// and how problems are reported.
struct VariantCheck {
  const LockedKernel& kernel;
  const std::string& name;
  const LockedVariant& locked;
  VerifyReport& report;
  SnapshotListing listing;
  std::vector<VariantFileDigest> actual_digests;

  void problem(ProblemKind kind, const std::string& rel, std::string expected, std::string actual) {
    report.problems.push_back(VerifyProblem{kind, kernel.repo_id, name, rel.empty() ? rel : "build/" + name + "/" + rel,
                                            std::move(expected), std::move(actual)});
  }
  const SnapshotEntry* entry(const std::string& rel) const {
    auto it = std::lower_bound(listing.entries.begin(), listing.entries.end(), rel,
                               [](const SnapshotEntry& e, const std::string& p) { return e.path < p; });
    return it != listing.entries.end() && it->path == rel ? &*it : nullptr;
  }
  const SnapshotProblem* refused(const std::string& rel) const {
    for (const auto& p : listing.problems)
      if (p.path == rel) return &p;
    return nullptr;
  }
};

// Per-file lock: every locked file present, intact, and nothing else.
void check_locked_files(VariantCheck& c) {
  std::set<std::string> expected_paths;
  for (const auto& f : c.locked.files) {
    expected_paths.insert(f.path);
    ++c.report.files;
    if (const auto* bad = c.refused(f.path)) {
      const bool dangling = bad->error.code() == ErrorCode::not_found;
      c.problem(dangling ? ProblemKind::missing_file : ProblemKind::altered_file, f.path,
                size_digest(f.digest, f.size), dangling ? "a dangling symlink" : bad->error.message());
      continue;
    }
    const SnapshotEntry* e = c.entry(f.path);
    if (!e) {
      c.problem(ProblemKind::missing_file, f.path, size_digest(f.digest, f.size), "nothing");
      continue;
    }
    auto actual = bundle_detail::digest_content(e->file, f.digest);
    c.actual_digests.push_back({f.path, actual.digest});
    if (actual.digest != f.digest || actual.size != f.size)
      c.problem(ProblemKind::altered_file, f.path, size_digest(f.digest, f.size), size_digest(actual.digest, actual.size));
  }
  for (const auto& e : c.listing.entries)
    if (!expected_paths.count(e.path)) c.problem(ProblemKind::unexpected_file, e.path, "nothing", "a file");
  for (const auto& p : c.listing.problems)
    if (!expected_paths.count(p.path)) c.problem(ProblemKind::unexpected_file, p.path, "nothing", p.error.message());
}

// Python-written lock: each blob must hold what its name says; an entry the
// snapshot policy refuses makes the variant hash impossible to match.
void check_blob_files(VariantCheck& c) {
  for (const auto& p : c.listing.problems) {
    ++c.report.files;
    if (p.error.code() == ErrorCode::not_found)
      c.problem(ProblemKind::missing_file, p.path, "", "a dangling symlink");
    else
      c.problem(ProblemKind::hash_mismatch, "", c.locked.hash, "no hash: " + p.error.message());
  }
  for (const auto& e : c.listing.entries) {
    ++c.report.files;
    auto actual = bundle_detail::digest_content(e.file, e.digest);
    c.actual_digests.push_back({e.path, actual.digest});
    if (actual.digest != e.digest) c.problem(ProblemKind::altered_file, e.path, e.digest, actual.digest);
  }
}

void verify_variant(const LockedKernel& kernel, const std::string& name, const LockedVariant& locked,
                    const fs::path& dir, const fs::path& blobs, VerifyReport& report) {
  VariantCheck c{kernel, name, locked, report, {}, {}};
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) {
    c.problem(ProblemKind::missing_variant, "", "", "");
    return;
  }
  try {
    c.listing = scan_snapshot(dir, SnapshotOptions{SnapshotPolicy::strict, blobs});
  } catch (const Error& e) {
    c.problem(ProblemKind::altered_file, "", "a snapshot directory", e.message());
    return;
  }
  const std::size_t before = report.problems.size();
  if (!locked.files.empty())
    check_locked_files(c);
  else
    check_blob_files(c);
  if (report.problems.size() == before && !locked.hash.empty()) {
    std::string hash = git_lfs_concat_hash(c.actual_digests);
    if (hash != locked.hash) c.problem(ProblemKind::hash_mismatch, "", locked.hash, hash);
  }
}

}  // namespace

VerifyReport verify_cache(const Lockfile& lock, const std::optional<fs::path>& cache_dir, const VerifyOptions& options) {
  VerifyReport report;
  struct VariantJob {
    const LockedKernel* kernel;
    const std::string* name;
    const LockedVariant* locked;
    fs::path dir;
    fs::path blobs;
    VerifyReport report;
  };
  std::vector<VariantJob> jobs;
  for (const auto& kernel : lock.kernels) {
    ++report.kernels;
    const std::string type = kernel.repo_type.value_or("kernel");
    const fs::path cache = cache_dir ? *cache_dir : (type == "model" ? hf_hub_cache_dir() : kernels_cache_dir());
    const auto repo = cache_repo_paths(cache, type, kernel.repo_id);
    if (kernel.variants.empty()) {
      // Commit-only lock (Python 0.17.2 dependency shape): every cached variant
      // of the locked commit must match the blobs its links name.
      std::size_t found = 0;
      for (const auto& name : list_variant_dirs(repo.snapshot(kernel.sha) / "build")) {
        if (!variant_name_matches_filter(name, options.filter)) continue;
        ++report.variants;
        ++found;
        verify_variant(kernel, name, LockedVariant{}, repo.snapshot(kernel.sha) / "build" / name,
                       repo.blobs(), report);
      }
      if (found == 0)
        report.problems.push_back(VerifyProblem{ProblemKind::missing_variant, kernel.repo_id, "(any)", "", "", ""});
      continue;
    }
    for (const auto& [name, locked] : kernel.variants) {
      if (!variant_name_matches_filter(name, options.filter)) continue;
      ++report.variants;
      jobs.push_back(VariantJob{&kernel, &name, &locked, repo.snapshot(kernel.sha) / "build" / name, repo.blobs(), {}});
    }
  }
  // Variants are checked in parallel (each reads and hashes its own files);
  // their problems follow those of commit-only entries, in lock order.
  parallel_for(jobs.size(), 0, [&](std::size_t i) {
    auto& job = jobs[i];
    with_context("verifying " + job.kernel->repo_id + " " + *job.name,
                 [&] { verify_variant(*job.kernel, *job.name, *job.locked, job.dir, job.blobs, job.report); });
  });
  for (auto& job : jobs) {
    report.files += job.report.files;
    for (auto& p : job.report.problems) report.problems.push_back(std::move(p));
  }
  return report;
}

VerifyReport verify_bundle(const Lockfile& lock, const fs::path& bundle, const VerifyOptions& options) {
  VerifyReport report;
  BundleReader reader(bundle);
  const auto& m = reader.manifest();
  try {
    check_manifest_against_lock(m, lock);
  } catch (const Error& e) {
    report.problems.push_back(VerifyProblem{ProblemKind::manifest_mismatch, "", "", "", "", e.what()});
  }
  std::map<std::string, std::vector<std::pair<std::string, std::string>>> users;  // digest -> (repo, path)
  for (const auto& k : m.kernels)
    for (const auto& f : k.files) users[f.digest].emplace_back(k.repo_id, f.path);
  for (const auto& kernel : lock.kernels) {
    ++report.kernels;
    const BundleKernel* bk = nullptr;
    for (const auto& k : m.kernels)
      if (k.repo_id == kernel.repo_id) bk = &k;
    if (kernel.variants.empty() && (!bk || bk->variants.empty()))
      report.problems.push_back(VerifyProblem{ProblemKind::missing_variant, kernel.repo_id, "(any)", "", "", ""});
    for (const auto& [name, locked] : kernel.variants) {
      if (!variant_name_matches_filter(name, options.filter)) continue;
      ++report.variants;
      if (!bk || std::find(bk->variants.begin(), bk->variants.end(), name) == bk->variants.end())
        report.problems.push_back(VerifyProblem{ProblemKind::missing_variant, kernel.repo_id, name, "", "", ""});
    }
  }
  try {
    std::string actual;
    while (auto blob = reader.next_blob([](std::string_view) {}, &actual)) {
      for (const auto& [repo, path] : users[blob->digest]) {
        ++report.files;
        if (actual != blob->digest) {
          auto rest = std::string_view(path).substr(6);
          report.problems.push_back(VerifyProblem{ProblemKind::altered_file, repo,
                                                  std::string(rest.substr(0, rest.find('/'))), path, blob->digest,
                                                  actual});
        }
      }
    }
  } catch (const Error& e) {
    report.problems.push_back(VerifyProblem{ProblemKind::missing_file, "", "", "", "", e.what()});
  }
  return report;
}

}  // namespace kernel_lock
