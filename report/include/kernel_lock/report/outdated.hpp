// `kernel-lock outdated` as data (docs/lock-commands.md): a locked kernel against
// the branches and tags its repo has now (from the Hub, a mirror or a bundle; the
// caller fetches them).
#pragma once

#include <string>

#include "kernel_lock/core/lockfile.hpp"
#include "kernel_lock/core/repo.hpp"

namespace kernel_lock::report {

// Versions are branches v<N> and tags v<semver> (docs/formats.md); "" = none.
struct OutdatedRow {
  std::string repo_id;
  std::string version;  // what the lock holds: v<N>, the tag at the locked commit, the revision
  std::string commit;   // the locked commit
  std::string wanted;   // the newest ref the requirement accepts now ("" when it names none)
  std::string wanted_commit;
  std::string latest;   // the newest version overall: the tags for a tag range, else the v<N> branches (else tags)
  std::string latest_commit;
  // The requirement now gives another commit, or a newer version exists.
  bool outdated() const noexcept {
    return (!wanted_commit.empty() && wanted_commit != commit) || (!latest_commit.empty() && latest_commit != commit);
  }
};

// Throws Error(invalid_input) only for a tag range in the lock that does not parse.
OutdatedRow outdated_row(const LockedKernel& kernel, const RepoRefs& refs);

}  // namespace kernel_lock::report
