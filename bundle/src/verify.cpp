// verify_cache / verify_bundle: check installed or packed bytes against a lock.
#include "kernel_lock/bundle/verify.hpp"

#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <map>
#include <set>
#include <tuple>
#include <vector>

#include "bundle_internal.hpp"
#include "kernel_lock/cache/cache_writer.hpp"
#include "kernel_lock/core/error.hpp"
#include "kernel_lock/cache/hf_cache.hpp"
#include "kernel_lock/cache/snapshot.hpp"
#include "kernel_lock/core/fs.hpp"
#include "kernel_lock/core/unique_fd.hpp"
#include "kernel_lock/core/parallel.hpp"
#include "kernel_lock/trust/trusted_root.hpp"

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
    case ProblemKind::signature_failed: return "signature-failed";
    case ProblemKind::unsigned_variant: return "unsigned-variant";
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
  auto proven = nlohmann::ordered_json::array();
  for (const auto& p : provenance) {
    nlohmann::ordered_json j = nlohmann::ordered_json::object();
    j["repo_id"] = p.repo_id;
    j["variant"] = p.variant;
    j["signed"] = p.signer.has_value();
    if (p.signer) {
      j["issuer"] = p.signer->issuer;
      j["source_repository"] = p.signer->source_repository;
      j["build_signer_uri"] = p.signer->build_signer_uri;
    }
    j["proven"] = p.describe();
    proven.push_back(std::move(j));
  }
  out["provenance"] = std::move(proven);
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

// The signature checks of one verify run: a Verifier when a selected variant
// pins a signature (the root chosen as signatures.hpp says), and the
// --require-signature problems.
struct SignatureCheck {
  std::unique_ptr<trust::Verifier> verifier;

  SignatureCheck(const Lockfile& lock, const VerifyOptions& options,
                 const std::optional<trust::CapturedTrustRoot>& carried, const fs::path& store_cache,
                 VerifyReport& report) {
    bool any_signed = false;
    for (const auto& kernel : lock.kernels) {
      if (kernel.variants.empty() && options.signatures.require_signature)
        report.problems.push_back(VerifyProblem{ProblemKind::unsigned_variant, kernel.repo_id, "(any)", "", "a signature", "none pinned"});
      for (const auto& [name, locked] : kernel.variants) {
        if (!variant_name_matches_filter(name, options.filter)) continue;
        any_signed = any_signed || locked.signature;
        if (!locked.signature && options.signatures.require_signature)
          report.problems.push_back(VerifyProblem{ProblemKind::unsigned_variant, kernel.repo_id, name, "", "a signature", "none pinned"});
      }
    }
    if (!any_signed) return;
    auto root = choose_trust_root(options.signatures, carried, store_cache);
    if (!root) throw_no_trust_root("verifying");
    verifier = std::make_unique<trust::Verifier>(trust::parse_trusted_root(root->json));
  }

  // After the lock checks of one variant held: its signature, and what was proven.
  void check(const std::string& repo_id, const std::string& name, const LockedVariant& locked, const fs::path& dir,
             VerifyReport& report) const {
    if (locked.signature) {
      const auto known = lfs_kernel_digests(locked.files);  // each file just matched the lock
      if (auto failure = check_signed_variant(dir, *verifier, *locked.signature, &known)) {
        report.problems.push_back(VerifyProblem{ProblemKind::signature_failed, repo_id, name, "",
                                                locked.signature->describe(), *failure});
        return;
      }
    }
    report.provenance.push_back(VariantProvenance{repo_id, name, locked.signature});
  }
};

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
  const fs::path kernels_cache = cache_dir ? *cache_dir : kernels_cache_dir();
  const SignatureCheck signatures(lock, options, std::nullopt, kernels_cache, report);
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
        const std::size_t before = report.problems.size();
        verify_variant(kernel, name, LockedVariant{}, repo.snapshot(kernel.sha) / "build" / name,
                       repo.blobs(), report);
        if (report.problems.size() == before) report.provenance.push_back(VariantProvenance{kernel.repo_id, name, {}});
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
    with_context("verifying " + job.kernel->repo_id + " " + *job.name, [&] {
      verify_variant(*job.kernel, *job.name, *job.locked, job.dir, job.blobs, job.report);
      if (job.report.problems.empty()) signatures.check(job.kernel->repo_id, *job.name, *job.locked, job.dir, job.report);
    });
  });
  for (auto& job : jobs) {
    report.files += job.report.files;
    for (auto& p : job.report.problems) report.problems.push_back(std::move(p));
    for (auto& p : job.report.provenance) report.provenance.push_back(std::move(p));
  }
  return report;
}

namespace {

// A private temporary directory, removed with its contents on destruction.
class TempDir {
 public:
  TempDir() {
    std::string pattern = (fs::temp_directory_path() / "kernel-lock-verify-XXXXXX").string();
    if (!::mkdtemp(pattern.data()))
      throw Error(ErrorCode::io, "cannot create a temporary directory " + pattern + ": " + std::strerror(errno));
    path_ = pattern;
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  ~TempDir() {
    std::error_code ec;
    remove_tree(path_, ec);
  }
  const fs::path& path() const noexcept { return path_; }

 private:
  fs::path path_;
};

// The signed variants of a bundle to check after its blobs were read: their
// blobs are kept in a temporary directory while streaming.
struct BundleSignedVariants {
  struct Entry {
    const BundleKernel* kernel;
    std::string name;
    const LockedVariant* locked;
  };
  std::vector<Entry> entries;
  std::set<std::string> digests;  // blobs to keep
  std::optional<TempDir> dir;

  BundleSignedVariants(const Lockfile& lock, const BundleManifest& m, const VerifyOptions& options) {
    for (const auto& kernel : lock.kernels)
      for (const auto& [name, locked] : kernel.variants) {
        if (!locked.signature || !variant_name_matches_filter(name, options.filter)) continue;
        for (const auto& bk : m.kernels)
          if (bk.repo_id == kernel.repo_id && bk.sha == kernel.sha &&
              std::count(bk.variants.begin(), bk.variants.end(), name)) {
            entries.push_back(Entry{&bk, name, &locked});
            for (const auto& f : bk.files)
              if (f.path.starts_with("build/" + name + "/")) digests.insert(f.digest);
          }
      }
    if (!entries.empty()) {
      dir.emplace();
      fs::create_directory(dir->path() / "blobs");
    }
  }
  // A sink for blob `digest`: writes it to the blobs directory when kept.
  std::function<void(std::string_view)> sink(const std::string& digest, std::unique_ptr<UniqueFd>& out) const {
    out.reset();
    if (!digests.count(digest)) return [](std::string_view) {};
    const fs::path path = dir->path() / "blobs" / digest;
    out = std::make_unique<UniqueFd>(::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
    if (!out->valid()) throw Error(ErrorCode::io, "cannot create " + path.string() + ": " + std::strerror(errno));
    const int fd = out->get();
    return [fd, path](std::string_view chunk) {
      while (!chunk.empty()) {
        const ssize_t n = ::write(fd, chunk.data(), chunk.size());
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) throw Error(ErrorCode::io, "cannot write " + path.string() + ": " + std::strerror(errno));
        chunk.remove_prefix(static_cast<std::size_t>(n));
      }
    };
  }
  // Each signed variant without problems so far: signature and kernel digest.
  void check(const SignatureCheck& signatures, VerifyReport& report) const {
    for (std::size_t i = 0; i < entries.size(); ++i) {
      const auto& e = entries[i];
      const bool damaged = std::any_of(report.problems.begin(), report.problems.end(), [&](const VerifyProblem& p) {
        return p.repo_id.empty() || (p.repo_id == e.kernel->repo_id && p.variant == e.name);
      });
      if (damaged) continue;
      const fs::path variant_dir = dir->path() / ("variant-" + std::to_string(i));
      link_variant_files(variant_dir, *e.kernel, e.name, dir->path() / "blobs");
      signatures.check(e.kernel->repo_id, e.name, *e.locked, variant_dir, report);
    }
  }
};

}  // namespace

VerifyReport verify_bundle(const Lockfile& lock, const fs::path& bundle, const VerifyOptions& options) {
  VerifyReport report;
  BundleReader reader(bundle);
  const auto& m = reader.manifest();
  try {
    check_manifest_against_lock(m, lock);
  } catch (const Error& e) {
    report.problems.push_back(VerifyProblem{ProblemKind::manifest_mismatch, "", "", "", "", e.what()});
  }
  const SignatureCheck signatures(lock, options, reader.trust_root(), kernels_cache_dir(), report);
  BundleSignedVariants signed_variants(lock, m, options);
  std::map<std::string, std::vector<std::pair<std::string, std::string>>> users;  // digest -> (repo, path)
  for (const auto& k : m.kernels)
    for (const auto& f : k.files) users[f.digest].emplace_back(k.repo_id, f.path);
  std::vector<std::pair<std::string, std::string>> unsigned_ok;  // (repo, variant) present, no signature
  for (const auto& kernel : lock.kernels) {
    ++report.kernels;
    const BundleKernel* bk = nullptr;
    for (const auto& k : m.kernels)  // the bundle's kernel at the locked commit (a repo may be locked at two versions)
      if (k.repo_id == kernel.repo_id && (!bk || k.sha == kernel.sha)) bk = &k;
    if (kernel.variants.empty() && (!bk || bk->variants.empty()))
      report.problems.push_back(VerifyProblem{ProblemKind::missing_variant, kernel.repo_id, "(any)", "", "", ""});
    for (const auto& [name, locked] : kernel.variants) {
      if (!variant_name_matches_filter(name, options.filter)) continue;
      ++report.variants;
      if (!bk || std::find(bk->variants.begin(), bk->variants.end(), name) == bk->variants.end())
        report.problems.push_back(VerifyProblem{ProblemKind::missing_variant, kernel.repo_id, name, "", "", ""});
      else if (!locked.signature)
        unsigned_ok.emplace_back(kernel.repo_id, name);
    }
  }
  try {
    std::string actual;
    std::unique_ptr<UniqueFd> out;
    while (auto blob = reader.next_blob_to(
               [&](const BundleBlob& b) { return BundleReader::ChunkFn(signed_variants.sink(b.digest, out)); }, &actual)) {
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
    out.reset();
  } catch (const Error& e) {
    report.problems.push_back(VerifyProblem{ProblemKind::missing_file, "", "", "", "", e.what()});
  }
  for (const auto& [repo, variant] : unsigned_ok) {
    const bool damaged = std::any_of(report.problems.begin(), report.problems.end(), [&](const VerifyProblem& p) {
      return p.repo_id.empty() || (p.repo_id == repo && p.variant == variant);
    });
    if (!damaged) report.provenance.push_back(VariantProvenance{repo, variant, {}});
  }
  signed_variants.check(signatures, report);
  std::sort(report.provenance.begin(), report.provenance.end(), [](const auto& a, const auto& b) {
    return std::tie(a.repo_id, a.variant) < std::tie(b.repo_id, b.variant);
  });
  return report;
}

}  // namespace kernel_lock
