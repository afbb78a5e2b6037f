// Tag ranges: which v<semver> tag of a kernel repo a requirement accepts
// (kernels.yaml / pyproject.toml "tags", docs/formats.md). Parsed once, when the
// requirements are read, so a bad range fails at its file:line; the resolver
// only matches tags against the parsed range.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace kernel_lock {

// "v1.2.3" -> {1, 2, 3} (1-9 digits per part, any number of parts); nullopt for
// anything else. `require_v`: the leading 'v' must be there (tags), else it is
// optional (versions inside a range).
std::optional<std::vector<long>> parse_version_tag(std::string_view tag, bool require_v = true);

// Grammar (PEP 440-like, at most 256 bytes): clauses separated by ',', each
// "<op> [v]N(.N)*" with op one of >=, <=, >, <, ==, !=, ~=; spaces around a
// clause and after the operator are allowed. "~=" needs at least two parts
// (~=1.2 means >=1.2 and ==1.*). "==" and "!=" also take a prefix "N(.N)*.*".
class TagRange {
 public:
  // Throws Error(invalid_input) "invalid tag range clause '<clause>' in '<text>'"
  // (or "invalid tag range '<text>'" for an empty or over-long text), with a hint.
  static TagRange parse(std::string_view text);
  static bool is_valid(std::string_view text) noexcept;

  // True when `tag` is a v<semver> tag inside every clause.
  bool matches(std::string_view tag) const;
  // The highest matching tag (equal versions: the smaller name); nullopt when none.
  std::optional<std::string> pick(const std::vector<std::string>& tags) const;
  // The text as written in the requirements (recorded in the lock unchanged).
  const std::string& text() const noexcept { return text_; }
  friend bool operator==(const TagRange& a, const TagRange& b) noexcept { return a.text_ == b.text_; }

 private:
  struct Clause {
    std::string op;
    std::vector<long> version;
    bool wildcard = false;  // "==1.2.*"
  };
  TagRange() = default;
  static bool satisfies(const std::vector<long>& version, const Clause& clause);
  std::string text_;
  std::vector<Clause> clauses_;
};

}  // namespace kernel_lock
