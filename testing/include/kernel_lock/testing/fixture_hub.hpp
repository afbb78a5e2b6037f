// A fixture Hub on disk: a small, content-addressed, deterministic stand-in
// for huggingface.co that `kernel-lock-dev serve` exposes over HTTP and tests
// build with `kernel-lock-dev hub publish`.
//
// Layout (format_version 1), every JSON file written atomically:
//   <root>/hub.json                    {"format": "kernel-lock-fixture-hub", "format_version": 1}
//   <root>/objects/<digest>            file contents, named by their Hub digest:
//                                      LFS sha256 (64 hex) or git blob sha1 (40 hex)
//   <root>/repos/<type>/<org>/<name>/  type is "kernel" or "model"
//       repo.json                      {"id": "org/name", "type": "kernel", "gated": false}
//       refs.json                      {"branches": {"<name>": "<sha>"}, "tags": {"<name>": "<sha>"}}
//       commits/<sha>.json             {"sha", "parents": [...], "tree", "message", "date",
//                                       "files": [{"path", "size", "oid"[, "lfs": {"oid", "size", "pointerSize"}]}]}
//
// Commits are real git commit ids, computed with no wall-clock input:
//   tree = git tree id of the files (mode 100644; LFS files as their pointer blob)
//   sha  = sha1("commit <len>\0" "tree <tree>\n" ["parent <p>\n"]
//               "author kernel-lock <kernel-lock@localhost> <date> +0000\n"
//               "committer kernel-lock <kernel-lock@localhost> <date> +0000\n\n" <message> "\n")
// with <date> the seconds given to publish (default 0). The same inputs always
// give the same Hub, byte for byte.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "kernel_lock/core/repo.hpp"
#include "kernel_lock/mirror/repo_store.hpp"

namespace kernel_lock {

struct PublishOptions {
  RepoRef repo;
  std::string branch = "main";
  // Where a branch that does not exist yet starts: a revision of the same repo.
  // Unset: the default branch "main" when it exists, else a root commit.
  std::optional<std::string> from;
  std::vector<std::string> tags;       // created on the new commit; an existing tag is an error unless force_tags
  bool force_tags = false;
  // gitattributes-style globs: without '/', matched against the file name at any
  // depth; with '/', against the whole repo path (fnmatch, '*' stops at '/').
  std::vector<std::string> lfs_globs{"*.so"};
  std::vector<std::string> exclude_globs;  // same matching; excluded files are not published
  std::string message;                     // default "Publish <src dir name>"
  // Repo directory whose content SRC_DIR replaces ("" = the whole tree).
  // Files of the parent commit outside it are kept.
  std::string under;
  std::int64_t date = 0;                   // seconds since the epoch, recorded in the commit
  std::optional<bool> gated;               // sets repo.json "gated" when given
};

struct PublishResult {
  std::string sha;
  std::string tree;
  std::size_t files = 0;      // in the new commit
  std::size_t lfs_files = 0;  // of which LFS
};

// Writer and reader of one fixture Hub directory. Writes are not safe against
// concurrent writers; reads (through store()) may run while a writer publishes
// (refs.json is replaced atomically, objects and commits appear before refs).
class FixtureHub {
 public:
  // Opens `root`, creating an empty Hub there when the directory is missing or
  // empty. Throws Error(invalid_input) when it holds something else.
  static FixtureHub open_or_create(const std::filesystem::path& root);
  // Opens an existing Hub; throws Error(not_found / invalid_input) otherwise.
  static FixtureHub open(const std::filesystem::path& root);

  const std::filesystem::path& root() const noexcept { return root_; }

  // Creates a commit on opts.branch (parent: its head, or opts.from) whose
  // files under opts.under come from `src_dir`, moves the branch, adds tags.
  PublishResult publish(const PublishOptions& opts, const std::filesystem::path& src_dir);
  // Points tag `name` at `revision`. Throws when the tag exists with another
  // target, unless force.
  std::string tag(const RepoRef& repo, const std::string& name, const std::string& revision, bool force = false);
  // Points branch `name` at `revision` (creating or moving it).
  std::string set_branch(const RepoRef& repo, const std::string& name, const std::string& revision);
  // Removes a branch or tag. Throws Error(not_found) when absent.
  void delete_ref(const RepoRef& repo, const std::string& name, bool is_tag);

  // A RepoStore reading this Hub (refs re-read on every call, commits cached).
  std::shared_ptr<RepoStore> store() const;

 private:
  explicit FixtureHub(std::filesystem::path root) : root_(std::move(root)) {}
  std::filesystem::path root_;
};

// What the developer tool serves: a fixture Hub (a directory with hub.json),
// else whatever open_repo_store opens (an HF cache, a bundle).
std::shared_ptr<RepoStore> open_test_store(const std::filesystem::path& path);

// A RepoStore over an existing fixture Hub directory.
std::shared_ptr<RepoStore> open_fixture_hub_store(const std::filesystem::path& root);

// The git commit id defined above (exposed for tests).
std::string fixture_commit_sha(const std::string& tree, const std::vector<std::string>& parents,
                               const std::string& message, std::int64_t date);

}  // namespace kernel_lock
