// Where the resolver reads refs, trees and file bytes from. Each call is a
// batch over every kernel of one resolve level (one round of requests), in the
// query forms of hub_client.hpp; results come back in input order.
//
// Adapters: HubSource (the Hub over HubClient, today's batching) and
// CacheSource (an HF cache, offline). A bundle is resolved against by serving
// it as a cache (mirror's open_bundle_store unpacks it into one), so there is
// no bundle adapter here: resolve does not depend on bundle.
#pragma once

#include <filesystem>
#include <vector>

#include "kernel_lock/hub/hub_client.hpp"

namespace kernel_lock {

class ResolveSource {
 public:
  virtual ~ResolveSource() = default;
  // Commit shas of revisions (branch, tag, full or short sha). Throws Error(not_found).
  virtual std::vector<ResolvedRevision> resolve_revisions(const std::vector<RevisionQuery>& queries) = 0;
  // Branches and tags of repos. Throws Error(not_found) for an unknown repo.
  virtual std::vector<RefsResult> list_refs(const std::vector<RefsQuery>& queries) = 0;
  // Listings at commits, paths from the repo root. Throws Error(not_found).
  virtual std::vector<std::vector<TreeEntry>> list_trees(const std::vector<TreeQuery>& queries) = 0;
  // Writes each file's bytes to request.destination after checking them against
  // digest and size. Throws Error(integrity) on a mismatch, Error(not_found).
  virtual void read_files(const std::vector<DownloadRequest>& requests) = 0;
  // Requests made so far (zero for offline sources).
  virtual HubStats stats() const = 0;
};

// The Hub, through a HubClient the caller owns (one HTTP batch per call).
class HubSource final : public ResolveSource {
 public:
  explicit HubSource(HubClient& client) : client_(client) {}
  std::vector<ResolvedRevision> resolve_revisions(const std::vector<RevisionQuery>& queries) override;
  std::vector<RefsResult> list_refs(const std::vector<RefsQuery>& queries) override;
  std::vector<std::vector<TreeEntry>> list_trees(const std::vector<TreeQuery>& queries) override;
  void read_files(const std::vector<DownloadRequest>& requests) override;
  HubStats stats() const override;

 private:
  HubClient& client_;
};

// An HF cache (docs/hf-cache.md), no network. Refs are the files under
// refs/ (the cache does not tell branches from tags: every ref is a branch,
// and a ref whose name holds a '.' is a tag as well, so "v1" is a version and
// "v1.2.0" a tag). Trees are the snapshot links: a file's digest is the name of
// the blob it links to, its size the blob's. A listing over 100000 entries, a
// snapshot file that is not such a link, or a bad blob name throws
// Error(invalid_input); a repo, ref or snapshot the cache lacks Error(not_found).
class CacheSource final : public ResolveSource {
 public:
  explicit CacheSource(std::filesystem::path cache_dir) : cache_dir_(std::move(cache_dir)) {}
  std::vector<ResolvedRevision> resolve_revisions(const std::vector<RevisionQuery>& queries) override;
  std::vector<RefsResult> list_refs(const std::vector<RefsQuery>& queries) override;
  std::vector<std::vector<TreeEntry>> list_trees(const std::vector<TreeQuery>& queries) override;
  // Copies snapshot files, verified against digest and size.
  void read_files(const std::vector<DownloadRequest>& requests) override;
  HubStats stats() const override { return {}; }

 private:
  std::filesystem::path cache_dir_;
};

}  // namespace kernel_lock
