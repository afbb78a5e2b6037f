// kernels.yaml from a lock (core/requirements_writer.hpp): what it writes reads
// back into the requirements the lock records.
#include <doctest/doctest.h>

#include <string>

#include "kernel_lock/core/lockfile.hpp"
#include "kernel_lock/core/requirements.hpp"
#include "kernel_lock/core/requirements_writer.hpp"

using namespace kernel_lock;

namespace {

constexpr const char* kSha1 = "1111111111111111111111111111111111111111";
constexpr const char* kSha2 = "2222222222222222222222222222222222222222";
constexpr const char* kSha3 = "3333333333333333333333333333333333333333";
constexpr const char* kSha4 = "4444444444444444444444444444444444444444";

std::string entry(const char* repo, const char* sha, const std::string& requirement) {
  std::string out = std::string(R"({"repo_id":")") + repo + R"(","sha":")" + sha + R"(","variants":{})";
  if (!requirement.empty()) out += R"(,"requirement":)" + requirement;
  return out + "}";
}

const KernelRequirement& find(const Requirements& reqs, const std::string& repo) {
  for (const auto& k : reqs.kernels)
    if (k.repo_id == repo) return k;
  FAIL("missing " << repo);
  throw;
}

}  // namespace

TEST_CASE("format_kernels_yaml reads back as the lock's requirements") {
  const std::string text =
      "[" +
      entry("org/a", kSha1,
            R"({"version":1,"torch":["2.11"],"targets":{"torch":["2.11"],"cuda":["13.0"]},)"
            R"("signers":[{"issuer":"https://token.actions.githubusercontent.com",)"
            R"("source-repository":"https://github.com/org/a","build-signer-uri":["https://github.com/org/a/.github/workflows/b.yaml@refs/heads/main"]}],)"
            R"("require-signature":true})") +
      "," + entry("org/b", kSha2, R"({"tags":">=0.1,<0.2","repo-type":"model","targets":{"cuda":["13.0"]}})") + "," +
      entry("org/c", kSha3, "") + "," +
      entry("org/dep", kSha4, R"({"revision":"main \"quoted\"","required-by":"org/a"})") + "]";
  const auto lock = parse_lockfile(text);
  const auto yaml = format_kernels_yaml(lock);
  CAPTURE(yaml);
  const auto reqs = parse_kernels_yaml(yaml);
  REQUIRE(reqs.kernels.size() == 3);  // org/dep comes back through org/a's kernel-depends
  CHECK(yaml.find("# org/dep: pulled in by org/a") != std::string::npos);
  CHECK(reqs.targets.cuda == std::vector<std::string>{"13.0"});
  CHECK(reqs.targets.torch.empty());

  auto a = *lock.find("org/a")->requirement;
  a.targets.reset();
  CHECK(find(reqs, "org/a").locked() == a);
  CHECK(find(reqs, "org/a").signing.require_signature);
  CHECK(find(reqs, "org/a").signing.signers.size() == 1);
  auto b = *lock.find("org/b")->requirement;
  b.targets.reset();
  CHECK(find(reqs, "org/b").locked() == b);
  const auto& c = find(reqs, "org/c");  // no requirement: pinned by its commit
  CHECK(c.revision == std::string(kSha1).replace(0, 40, kSha3));
  CHECK(format_kernels_yaml(lock) == yaml);  // deterministic
}

TEST_CASE("format_kernels_yaml gives a kernel the filter that does not fit the shared targets") {
  const std::string text = "[" + entry("org/a", kSha1, R"({"version":1,"targets":{"cuda":["13.0"]}})") + "," +
                           entry("org/b", kSha2, R"({"version":2,"targets":{"cuda":["12.6"]}})") + "]";
  const auto reqs = parse_kernels_yaml(format_kernels_yaml(parse_lockfile(text)));
  CHECK(reqs.targets.cuda == std::vector<std::string>{"13.0"});
  CHECK(find(reqs, "org/a").filter.cuda.empty());
  CHECK(find(reqs, "org/b").filter.cuda == std::vector<std::string>{"12.6"});
}

TEST_CASE("format_kernels_yaml of an empty lock names no kernels") {
  CHECK(format_kernels_yaml(Lockfile{}).find("kernels: {}\n") != std::string::npos);
}
