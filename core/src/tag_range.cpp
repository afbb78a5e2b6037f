#include "kernel_lock/core/tag_range.hpp"

#include <algorithm>

#include "kernel_lock/core/error.hpp"

namespace kernel_lock {
namespace {

constexpr std::size_t kMaxRangeBytes = 256;
constexpr std::size_t kMaxPartDigits = 9;
constexpr const char* kTagRangeHint =
    "write tag ranges like \">=0.1.0,<0.2.0\" (operators >=, <=, >, <, ==, !=, ~=; ~= needs two parts, "
    "== and != also take a prefix such as ==1.2.*)";

std::string_view trim(std::string_view text) {
  while (!text.empty() && text.front() == ' ') text.remove_prefix(1);
  while (!text.empty() && text.back() == ' ') text.remove_suffix(1);
  return text;
}

int compare_versions(std::vector<long> a, std::vector<long> b) {
  const auto n = std::max(a.size(), b.size());
  a.resize(n, 0);
  b.resize(n, 0);
  return a < b ? -1 : (a > b ? 1 : 0);
}

bool has_prefix(const std::vector<long>& version, const std::vector<long>& prefix) {
  return version.size() >= prefix.size() && std::equal(prefix.begin(), prefix.end(), version.begin());
}

}  // namespace

std::optional<std::vector<long>> parse_version_tag(std::string_view tag, bool require_v) {
  if (!tag.empty() && tag.front() == 'v')
    tag.remove_prefix(1);
  else if (require_v)
    return std::nullopt;
  if (tag.empty()) return std::nullopt;
  std::vector<long> parts;
  std::size_t start = 0;
  while (true) {
    const auto dot = tag.find('.', start);
    const auto seg = tag.substr(start, dot == std::string_view::npos ? std::string_view::npos : dot - start);
    if (seg.empty() || seg.size() > kMaxPartDigits ||
        !std::all_of(seg.begin(), seg.end(), [](char c) { return c >= '0' && c <= '9'; }))
      return std::nullopt;
    long value = 0;
    for (char c : seg) value = value * 10 + (c - '0');
    parts.push_back(value);
    if (dot == std::string_view::npos) break;
    start = dot + 1;
  }
  return parts;
}

TagRange TagRange::parse(std::string_view text) {
  if (text.empty() || text.size() > kMaxRangeBytes)
    throw Error(ErrorCode::invalid_input, "invalid tag range '" + std::string(text.substr(0, kMaxRangeBytes)) + "'",
                kTagRangeHint);
  TagRange range;
  range.text_ = std::string(text);
  std::size_t start = 0;
  while (start <= text.size()) {
    auto end = text.find(',', start);
    if (end == std::string_view::npos) end = text.size();
    const auto clause = trim(text.substr(start, end - start));
    Clause c;
    for (std::string_view op : {">=", "<=", "==", "!=", "~=", ">", "<"}) {
      if (clause.starts_with(op)) {
        c.op = std::string(op);
        break;
      }
    }
    auto version = trim(clause.substr(c.op.size()));
    if ((c.op == "==" || c.op == "!=") && version.ends_with(".*")) {
      c.wildcard = true;
      version.remove_suffix(2);
    }
    auto parsed = parse_version_tag(version, false);
    if (c.op.empty() || !parsed || (c.op == "~=" && parsed->size() < 2))
      throw Error(ErrorCode::invalid_input,
                  "invalid tag range clause '" + std::string(clause) + "' in '" + std::string(text) + "'", kTagRangeHint);
    c.version = std::move(*parsed);
    range.clauses_.push_back(std::move(c));
    start = end + 1;
  }
  return range;
}

bool TagRange::is_valid(std::string_view text) noexcept {
  try {
    (void)parse(text);
    return true;
  } catch (...) {
    return false;
  }
}

bool TagRange::satisfies(const std::vector<long>& v, const Clause& c) {
  if (c.wildcard) return (c.op == "==") == has_prefix(v, c.version);
  const int cmp = compare_versions(v, c.version);
  if (c.op == ">=") return cmp >= 0;
  if (c.op == "<=") return cmp <= 0;
  if (c.op == ">") return cmp > 0;
  if (c.op == "<") return cmp < 0;
  if (c.op == "==") return cmp == 0;
  if (c.op == "!=") return cmp != 0;
  // ~=X.Y.Z: >= X.Y.Z and the same X.Y
  return cmp >= 0 && has_prefix(v, std::vector<long>(c.version.begin(), c.version.end() - 1));
}

bool TagRange::matches(std::string_view tag) const {
  const auto v = parse_version_tag(tag, true);
  return v && std::all_of(clauses_.begin(), clauses_.end(), [&](const Clause& c) { return satisfies(*v, c); });
}

std::optional<std::string> TagRange::pick(const std::vector<std::string>& tags) const {
  std::optional<std::string> best;
  std::vector<long> best_version;
  for (const auto& tag : tags) {
    if (!matches(tag)) continue;
    auto v = *parse_version_tag(tag, true);
    const int cmp = best ? compare_versions(v, best_version) : 1;
    if (cmp > 0 || (cmp == 0 && tag < *best)) {
      best = tag;
      best_version = std::move(v);
    }
  }
  return best;
}

}  // namespace kernel_lock
