#include "trust_fixtures.hpp"

namespace trust_test {

std::string b64encode(const std::vector<std::uint8_t>& bytes) {
  static constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  std::size_t i = 0;
  for (; i + 2 < bytes.size(); i += 3) {
    const unsigned n = (bytes[i] << 16) | (bytes[i + 1] << 8) | bytes[i + 2];
    for (int s = 18; s >= 0; s -= 6) out += kAlphabet[(n >> s) & 63];
  }
  if (i < bytes.size()) {
    unsigned n = bytes[i] << 16;
    if (i + 1 < bytes.size()) n |= bytes[i + 1] << 8;
    out += kAlphabet[(n >> 18) & 63];
    out += kAlphabet[(n >> 12) & 63];
    out += i + 1 < bytes.size() ? kAlphabet[(n >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

std::vector<std::uint8_t> b64decode(const std::string& text) {
  std::vector<std::uint8_t> out;
  unsigned acc = 0;
  int bits = 0;
  for (char c : text) {
    int v;
    if (c >= 'A' && c <= 'Z') v = c - 'A';
    else if (c >= 'a' && c <= 'z') v = c - 'a' + 26;
    else if (c >= '0' && c <= '9') v = c - '0' + 52;
    else if (c == '+') v = 62;
    else if (c == '/') v = 63;
    else continue;
    acc = (acc << 6) | static_cast<unsigned>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<std::uint8_t>((acc >> bits) & 0xFF));
    }
  }
  return out;
}

void flip_base64_byte(nlohmann::json& doc, const std::string& pointer, long index) {
  auto& value = doc[nlohmann::json::json_pointer(pointer)];
  auto bytes = b64decode(value.get<std::string>());
  const auto i = index < 0 ? bytes.size() - static_cast<std::size_t>(-index) : static_cast<std::size_t>(index);
  bytes.at(i) ^= 0x01;
  value = b64encode(bytes);
}

kernel_lock::trust::IdentityPolicy github_policy() {
  kernel_lock::trust::IdentityPolicy policy;
  policy.issuers = {kGithubIssuer};
  policy.source_repositories = {kRfc8785Repo};
  policy.build_signer_uris = {kRfc8785Signer};
  return policy;
}

kernel_lock::trust::Verdict verify_json(const std::string& artifact_name, const std::string& bundle_json,
                                        const kernel_lock::trust::TrustedRoot& root,
                                        const kernel_lock::trust::IdentityPolicy& policy) {
  const auto artifact = fixture(artifact_name);
  return kernel_lock::trust::verify_blob(
      {reinterpret_cast<const std::uint8_t*>(artifact.data()), artifact.size()}, bundle_json, root, policy);
}

}  // namespace trust_test

#include <stdlib.h>

#include <stdexcept>

namespace trust_test {

ScratchDir::ScratchDir() {
  std::string tmpl = (std::filesystem::temp_directory_path() / "kl-trust-XXXXXX").string();
  if (::mkdtemp(tmpl.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
  path_ = tmpl;
}

ScratchDir::~ScratchDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

void write_file(const std::filesystem::path& path, const std::string& content) {
  std::filesystem::create_directories(path.parent_path());
  std::ofstream out(path, std::ios::binary);
  out << content;
}

}  // namespace trust_test
