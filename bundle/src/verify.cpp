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

bool selected(const std::string& variant, const VerifyOptions& options) {
  if (options.filter.empty()) return true;
  auto parsed = try_parse_variant(variant);
  return parsed && matches_filter(*parsed, options.filter);
}

std::string size_digest(const std::string& digest, std::uint64_t size) {
  return digest + " / " + std::to_string(size) + " bytes";
}

struct OnDisk {
  fs::path path;
  std::string blob;  // digest named by the symlink target, "" when not a blob link
  bool dangling = false;
};

std::map<std::string, OnDisk> list_variant_dir(const fs::path& dir) {
  std::map<std::string, OnDisk> out;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(dir, ec); !ec && it != fs::recursive_directory_iterator();
       it.increment(ec)) {
    std::error_code sec;
    const bool link = it->is_symlink(sec);
    if (!link && it->is_directory(sec)) continue;
    std::string rel = it->path().lexically_relative(dir).generic_string();
    if (!is_hashed_variant_path(rel)) continue;
    OnDisk d{it->path(), "", false};
    if (link) {
      auto target = fs::read_symlink(it->path(), sec);
      auto name = target.filename().string();
      if (target.parent_path().filename() == "blobs" && (name.size() == 40 || name.size() == 64)) d.blob = name;
      d.dangling = !fs::exists(it->path(), sec);
    }
    out.emplace(rel, std::move(d));
  }
  return out;
}

void verify_variant(const LockedKernel& kernel, const std::string& name, const LockedVariant& locked,
                    const fs::path& dir, VerifyReport& report) {
  auto problem = [&](ProblemKind kind, std::string path, std::string expected, std::string actual) {
    report.problems.push_back(VerifyProblem{kind, kernel.repo_id, name, std::move(path), std::move(expected),
                                            std::move(actual)});
  };
  const std::string prefix = "build/" + name + "/";
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) {
    problem(ProblemKind::missing_variant, "", "", "");
    return;
  }
  const std::size_t before = report.problems.size();
  auto on_disk = list_variant_dir(dir);
  std::vector<VariantFileDigest> actual_digests;
  if (!locked.files.empty()) {
    std::set<std::string> expected_paths;
    for (const auto& f : locked.files) {
      expected_paths.insert(f.path);
      ++report.files;
      auto it = on_disk.find(f.path);
      if (it == on_disk.end() || it->second.dangling) {
        problem(ProblemKind::missing_file, prefix + f.path, size_digest(f.digest, f.size),
                it == on_disk.end() ? "nothing" : "a dangling symlink");
        continue;
      }
      auto actual = bundle_detail::digest_content(it->second.path, f.digest);
      actual_digests.push_back({f.path, actual.digest});
      if (actual.digest != f.digest || actual.size != f.size)
        problem(ProblemKind::altered_file, prefix + f.path, size_digest(f.digest, f.size),
                size_digest(actual.digest, actual.size));
    }
    for (const auto& [rel, d] : on_disk)
      if (!expected_paths.count(rel)) problem(ProblemKind::unexpected_file, prefix + rel, "nothing", "a file");
  } else {
    // Python-written lock: the digest kind comes from the blob the link names.
    for (const auto& [rel, d] : on_disk) {
      ++report.files;
      if (d.dangling) {
        problem(ProblemKind::missing_file, prefix + rel, d.blob, "a dangling symlink");
        continue;
      }
      const std::string like = d.blob.empty() ? std::string(40, '0') : d.blob;
      auto actual = bundle_detail::digest_content(d.path, like);
      actual_digests.push_back({rel, actual.digest});
      if (!d.blob.empty() && actual.digest != d.blob)
        problem(ProblemKind::altered_file, prefix + rel, d.blob, actual.digest);
    }
  }
  if (report.problems.size() == before && !locked.hash.empty()) {
    std::string hash = git_lfs_concat_hash(actual_digests);
    if (hash != locked.hash) problem(ProblemKind::hash_mismatch, "", locked.hash, hash);
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
      std::error_code ec;
      std::size_t found = 0;
      for (auto it = fs::directory_iterator(repo.snapshot(kernel.sha) / "build", ec);
           !ec && it != fs::directory_iterator(); it.increment(ec)) {
        const std::string name = it->path().filename().string();
        if (!it->is_directory() || !selected(name, options)) continue;
        ++report.variants;
        ++found;
        verify_variant(kernel, name, LockedVariant{"", "git_lfs_concat", {}}, it->path(), report);
      }
      if (found == 0)
        report.problems.push_back(VerifyProblem{ProblemKind::missing_variant, kernel.repo_id, "(any)", "", "", ""});
      continue;
    }
    for (const auto& [name, locked] : kernel.variants) {
      if (!selected(name, options)) continue;
      ++report.variants;
      jobs.push_back(VariantJob{&kernel, &name, &locked, repo.snapshot(kernel.sha) / "build" / name, {}});
    }
  }
  // Variants are checked in parallel (each reads and hashes its own files);
  // their problems follow those of commit-only entries, in lock order.
  parallel_for(jobs.size(), 0, [&](std::size_t i) {
    auto& job = jobs[i];
    with_context("verifying " + job.kernel->repo_id + " " + *job.name,
                 [&] { verify_variant(*job.kernel, *job.name, *job.locked, job.dir, job.report); });
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
      if (!selected(name, options)) continue;
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
