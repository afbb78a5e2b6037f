// The refs of a cached repo (read_cache_refs): the one reading behind
// `resolve --from-cache` and `serve CACHE`.
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "../temp_dir.hpp"
#include "kernel_lock/cache/hf_cache.hpp"
#include "kernel_lock/core/fs.hpp"

namespace fs = std::filesystem;
using namespace kernel_lock;
using kltest::TempDir;

namespace {
void write(const fs::path& p, const std::string& bytes) {
  fs::create_directories(p.parent_path());
  std::ofstream(p, std::ios::binary) << bytes;
}
std::string names(const std::vector<GitRef>& refs) {
  std::string out;
  for (const auto& r : refs) out += r.name + "=" + r.target_commit.substr(0, 1) + " ";
  return out;
}
}  // namespace

TEST_CASE("read_cache_refs: every ref a branch, a dotted (release-shaped) one also a tag; non-commit files skipped") {
  TempDir t;
  const auto repo = cache_repo_paths(t.path(), "kernel", "kernels-test/demo");
  write(repo.refs() / "main", std::string(40, 'a'));
  write(repo.refs() / "v1", std::string(40, 'b'));
  write(repo.refs() / "v1.1.0", std::string(40, 'c') + "\n");  // a trailing newline is tolerated
  write(repo.refs() / "pr" / "1", std::string(40, 'd'));
  write(repo.refs() / "junk", "not a sha");
  write(repo.refs() / "huge", std::string(1 << 20, 'e'));  // read bounded, skipped
  const RepoRefs refs = read_cache_refs(repo);
  CHECK(names(refs.branches) == "main=a pr/1=d v1=b v1.1.0=c ");
  CHECK(names(refs.tags) == "v1.1.0=c ");
  CHECK(read_cache_refs(cache_repo_paths(t.path(), "kernel", "kernels-test/absent")).branches.empty());
}

TEST_CASE("ref kinds: the side file names branches and tags; unnamed refs keep the heuristic; a bad file is ignored") {
  TempDir t;
  const auto repo = cache_repo_paths(t.path(), "kernel", "kernels-test/demo");
  write(repo.refs() / "v1", std::string(40, 'b'));
  write(repo.refs() / "v1.1.0", std::string(40, 'c'));
  write(repo.refs() / "stable", std::string(40, 'c'));
  write(repo.refs() / "release-1.x", std::string(40, 'a'));
  write(repo.refs() / "both", std::string(40, 'd'));
  CHECK(read_ref_kinds(repo) == RefKinds{});  // no side file

  record_ref_kinds(repo, RefKinds{{"v1"}, {"v1.1.0", "stable"}});
  record_ref_kinds(repo, RefKinds{{"both"}, {"both", "stable"}});  // merged, a name may be both
  CHECK(read_ref_kinds(repo) == RefKinds{{"both", "v1"}, {"both", "stable", "v1.1.0"}});
  const auto text = read_file(repo.root / std::string(kRefKindsFileName));
  CHECK(text.find(R"("format": "kernel-lock-refs")") != std::string::npos);
  RepoRefs refs = read_cache_refs(repo);
  // Recorded: exactly the recorded kinds; release-1.x (not recorded): the heuristic.
  CHECK(names(refs.branches) == "both=d release-1.x=a v1=b ");
  CHECK(names(refs.tags) == "both=d release-1.x=a stable=c v1.1.0=c ");

  // A malformed, foreign or oversized side file counts as absent: the heuristic for every ref.
  for (const std::string& bad : {std::string("{\"format\": \"kernel-lock-refs\", \"tags\": [1, "),
                                std::string(R"({"format": "other", "tags": ["stable"]})"), std::string(2u << 20, ' '),
                                std::string(R"({"format": "kernel-lock-refs", "tags": ["../x", "stable"]})")}) {
    write(repo.root / std::string(kRefKindsFileName), bad);
    const bool valid_but_filtered = bad.find("../x") != std::string::npos;
    CHECK(read_ref_kinds(repo).tags.size() == (valid_but_filtered ? 1u : 0u));  // an unsafe name is dropped
    refs = read_cache_refs(repo);
    CHECK(names(refs.tags) == (valid_but_filtered ? "release-1.x=a stable=c v1.1.0=c " : "release-1.x=a v1.1.0=c "));
  }
}
