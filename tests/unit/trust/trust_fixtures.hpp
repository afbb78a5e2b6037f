// Shared helpers for the trust unit tests: the checked-in Sigstore vectors
// (fixtures/sigstore) and JSON mutation helpers.
#pragma once

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "kernel_lock/trust/bundle.hpp"
#include "kernel_lock/trust/trusted_root.hpp"
#include "kernel_lock/trust/verify.hpp"

namespace trust_test {

inline std::filesystem::path fixtures() { return std::filesystem::path(KERNEL_LOCK_SOURCE_DIR) / "fixtures" / "sigstore"; }

inline std::string read(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

inline std::string fixture(const std::string& name) { return read(fixtures() / name); }

inline const kernel_lock::trust::TrustedRoot& production_root() {
  static const auto root = kernel_lock::trust::load_trusted_root(fixtures() / "trusted_root.production.json");
  return root;
}
inline const kernel_lock::trust::TrustedRoot& staging_root() {
  static const auto root = kernel_lock::trust::load_trusted_root(fixtures() / "trusted_root.staging.json");
  return root;
}

// Standard base64 (padding), for rewriting fields of a bundle.
std::string b64encode(const std::vector<std::uint8_t>& bytes);
std::vector<std::uint8_t> b64decode(const std::string& text);

// Decodes the base64 string at `pointer` in `doc`, flips bit 0 of byte `index`
// (negative: from the end), and writes it back.
void flip_base64_byte(nlohmann::json& doc, const std::string& pointer, long index);

// The GitHub Actions vector and its expected identity.
inline constexpr const char* kGithubIssuer = "https://token.actions.githubusercontent.com";
inline constexpr const char* kRfc8785Repo = "https://github.com/trailofbits/rfc8785.py";
inline constexpr const char* kRfc8785Signer =
    "https://github.com/trailofbits/rfc8785.py/.github/workflows/release.yml@refs/tags/v0.1.2";

kernel_lock::trust::IdentityPolicy github_policy();

// Verifies `artifact_name` against the bundle JSON `bundle_json` with the given root.
kernel_lock::trust::Verdict verify_json(const std::string& artifact_name, const std::string& bundle_json,
                                        const kernel_lock::trust::TrustedRoot& root,
                                        const kernel_lock::trust::IdentityPolicy& policy);

}  // namespace trust_test

namespace trust_test {

// A fresh directory under the system temp dir, removed on destruction.
class ScratchDir {
 public:
  ScratchDir();
  ~ScratchDir();
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

void write_file(const std::filesystem::path& path, const std::string& content);

}  // namespace trust_test
