// The refs of a cached repo (read_cache_refs): the one reading behind
// `resolve --from-cache` and `serve CACHE`.
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "../temp_dir.hpp"
#include "kernel_lock/cache/hf_cache.hpp"

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
