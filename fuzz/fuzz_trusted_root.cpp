// libFuzzer target for trust::parse_trusted_root (JSON, base64, DER keys and
// certificates, RFC 3339 times). Contract checked: any input either throws
// kernel_lock::Error or parses; a parsed root builds a Verifier and verifies a
// fixture bundle without throwing (bad trust material is a rejected Verdict), and
// the verdict is consistent: verified <=> no failed step.
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <string_view>

#include "kernel_lock/core/error.hpp"
#include "kernel_lock/trust/bundle.hpp"
#include "kernel_lock/trust/trusted_root.hpp"
#include "kernel_lock/trust/verify.hpp"

namespace {

namespace trust = kernel_lock::trust;

std::string read_all(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

struct Signed {
  std::string artifact;
  trust::Bundle bundle;
};

const Signed& fixture() {
  static const Signed loaded = [] {
    const std::filesystem::path dir = KERNEL_LOCK_FUZZ_SIGSTORE_DIR;
    return Signed{read_all(dir / "bundle_v3.txt"), trust::parse_bundle(read_all(dir / "bundle_v3.txt.sigstore"))};
  }();
  return loaded;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const Signed& signed_fixture = fixture();
  trust::TrustedRoot root;
  try {
    root = trust::parse_trusted_root(std::string_view(reinterpret_cast<const char*>(data), size));
  } catch (const kernel_lock::Error&) {
    return 0;
  }
  const trust::Verifier verifier(std::move(root));
  const auto& artifact = signed_fixture.artifact;
  const trust::Verdict verdict =
      verifier.verify({reinterpret_cast<const std::uint8_t*>(artifact.data()), artifact.size()}, signed_fixture.bundle,
                      trust::IdentityPolicy::any_identity());
  if (verdict.verified != (verdict.failed_step == trust::VerifyStep::none)) std::abort();
  return 0;
}
