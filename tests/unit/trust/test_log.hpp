// A stand-in Rekor log for tests: a fresh P-256 key that re-signs a real bundle's
// signed entry timestamp and checkpoint, and a trusted root that names it. Lets
// tests move integratedTime or the checkpoint while every signature stays valid.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace trust_test {

class TestLog {
 public:
  TestLog();
  ~TestLog();
  TestLog(const TestLog&) = delete;
  TestLog& operator=(const TestLog&) = delete;

  const std::vector<std::uint8_t>& key_id() const { return key_id_; }
  std::vector<std::uint8_t> spki_der() const;

  // Replaces every tlog of `trusted_root` with this key (validFor from `start`).
  void install(nlohmann::json& trusted_root, const std::string& start = "2020-01-01T00:00:00Z") const;

  // Points the bundle's log entry at this log and re-signs the SET (over the
  // current body, integratedTime, logIndex) and the checkpoint text `note`
  // (origin, size, root hash lines, each ending in '\n').
  void resign(nlohmann::json& bundle) const;
  void resign_checkpoint(nlohmann::json& bundle, const std::string& note) const;

  std::vector<std::uint8_t> sign(const std::string& message) const;

 private:
  struct Key;
  std::unique_ptr<Key> key_;
  std::vector<std::uint8_t> key_id_;
};

}  // namespace trust_test
