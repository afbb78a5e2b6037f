// libFuzzer target for trust::parse_bundle and the verification of what it
// parses (the JSON, base64 and DER paths of a Sigstore bundle). Contract checked:
// any input either throws kernel_lock::Error from parse_bundle or parses; a parsed
// bundle gets a Verdict from Verifier::verify (never an exception) that is
// consistent: verified <=> no failed step and no message. The bundle is verified
// against the fixture trusted roots (staging and production), with the fixture
// artifact whose SHA-256 the bundle names, so the seeds reach every step.
#include <openssl/sha.h>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "kernel_lock/core/error.hpp"
#include "kernel_lock/trust/bundle.hpp"
#include "kernel_lock/trust/trusted_root.hpp"
#include "kernel_lock/trust/verify.hpp"

namespace {

namespace trust = kernel_lock::trust;
namespace fs = std::filesystem;

std::string read_all(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

struct Fixtures {
  std::vector<std::unique_ptr<trust::Verifier>> verifiers;
  std::map<trust::Bytes, std::string> artifacts;  // sha256 -> content
};

const Fixtures& fixtures() {
  static const Fixtures loaded = [] {
    Fixtures f;
    const fs::path dir = KERNEL_LOCK_FUZZ_SIGSTORE_DIR;
    for (const char* name : {"trusted_root.staging.json", "trusted_root.production.json"}) {
      f.verifiers.push_back(std::make_unique<trust::Verifier>(trust::parse_trusted_root(read_all(dir / name))));
    }
    for (const auto& entry : fs::directory_iterator(dir)) {
      const auto ext = entry.path().extension();
      if (ext != ".txt" && ext != ".whl") continue;
      std::string content = read_all(entry.path());
      trust::Bytes digest(SHA256_DIGEST_LENGTH);
      SHA256(reinterpret_cast<const unsigned char*>(content.data()), content.size(), digest.data());
      f.artifacts.emplace(std::move(digest), std::move(content));
    }
    return f;
  }();
  return loaded;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const Fixtures& f = fixtures();
  trust::Bundle bundle;
  try {
    bundle = trust::parse_bundle(std::string_view(reinterpret_cast<const char*>(data), size));
  } catch (const kernel_lock::Error&) {
    return 0;
  }
  const auto found = f.artifacts.find(bundle.message_digest);
  const std::string_view artifact = found == f.artifacts.end() ? std::string_view("fuzz") : found->second;
  const auto policy = trust::IdentityPolicy::any_identity();
  for (const auto& verifier : f.verifiers) {
    const trust::Verdict verdict = verifier->verify(
        {reinterpret_cast<const std::uint8_t*>(artifact.data()), artifact.size()}, bundle, policy);
    const bool consistent = verdict.verified ? verdict.failed_step == trust::VerifyStep::none && verdict.message.empty()
                                             : verdict.failed_step != trust::VerifyStep::none && !verdict.message.empty();
    if (!consistent) std::abort();
  }
  return 0;
}
