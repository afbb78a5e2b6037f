// Independent references for digest tests: `git hash-object`, `sha256sum` and
// the variant hash rebuilt with printf | xxd -r -p | sha256sum from its
// definition, plus small file helpers. Shared by the core and cache tests.
#pragma once

#include <doctest/doctest.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "temp_dir.hpp"

namespace kltest {

// Runs a shell command and returns its stdout with the trailing newline removed.
inline std::string run(const std::string& command) {
  std::string out;
  FILE* pipe = ::popen(command.c_str(), "r");
  REQUIRE(pipe != nullptr);
  std::array<char, 4096> buffer{};
  std::size_t n = 0;
  while ((n = std::fread(buffer.data(), 1, buffer.size(), pipe)) > 0) out.append(buffer.data(), n);
  const int status = ::pclose(pipe);
  REQUIRE_MESSAGE(status == 0, "command failed: " << command);
  while (!out.empty() && (out.back() == '\n' || out.back() == '\r')) out.pop_back();
  return out;
}

inline std::string quote(const std::filesystem::path& p) {
  std::string out = "'";
  for (char c : p.string()) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

inline std::string git_hash_object(const std::filesystem::path& p) { return run("git hash-object --no-filters " + quote(p)); }
inline std::string sha256sum(const std::filesystem::path& p) { return run("sha256sum " + quote(p)).substr(0, 64); }

inline void write(const std::filesystem::path& p, const std::string& bytes) {
  std::filesystem::create_directories(p.parent_path());
  std::ofstream out(p, std::ios::binary);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  REQUIRE(out.good());
}

inline std::string random_bytes(std::size_t n, unsigned seed) {
  std::mt19937 rng(seed);
  std::string s(n, '\0');
  for (auto& c : s) c = static_cast<char>(rng() & 0xff);
  return s;
}

// The variant hash rebuilt with coreutils from the docs/formats.md definition: for each
// (path, hex digest) in bytewise path order, path bytes then raw digest bytes.
inline std::string reference_variant_hash(std::vector<std::pair<std::string, std::string>> pairs, const std::filesystem::path& scratch) {
  std::sort(pairs.begin(), pairs.end());  // bytewise on std::string
  std::string script = "{ ";
  for (const auto& [path, hex] : pairs)
    script += "printf '%s' " + quote(path) + "; printf '%s' " + hex + " | xxd -r -p; ";
  script += "} > " + quote(scratch) + " && sha256sum " + quote(scratch);
  return "sha256-" + run("sh -c " + quote(script)).substr(0, 64);
}

}  // namespace kltest
