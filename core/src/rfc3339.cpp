#include "kernel_lock/core/rfc3339.hpp"

#include <charconv>
#include <chrono>
#include <cstdio>

#include "kernel_lock/core/error.hpp"

namespace kernel_lock {
namespace {

int digits(std::string_view s, std::size_t pos, std::size_t n) {
  if (pos + n > s.size()) throw Error(ErrorCode::invalid_input, "timestamp too short: " + std::string(s));
  int value = 0;
  auto [end, ec] = std::from_chars(s.data() + pos, s.data() + pos + n, value);
  if (ec != std::errc() || end != s.data() + pos + n) {
    throw Error(ErrorCode::invalid_input, "invalid timestamp: " + std::string(s));
  }
  return value;
}

// Days since 1970-01-01 for a proleptic Gregorian date (Howard Hinnant's algorithm).
std::int64_t days_from_civil(std::int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
  const auto yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<std::int64_t>(doe) - 719468;
}

}  // namespace

UnixTime parse_rfc3339(std::string_view s) {
  // YYYY-MM-DDTHH:MM:SS[.fff]Z
  if (s.size() < 20 || s[4] != '-' || s[7] != '-' || (s[10] != 'T' && s[10] != 't') || s[13] != ':' ||
      s[16] != ':') {
    throw Error(ErrorCode::invalid_input, "invalid timestamp: " + std::string(s));
  }
  const int year = digits(s, 0, 4), month = digits(s, 5, 2), day = digits(s, 8, 2);
  const int hour = digits(s, 11, 2), minute = digits(s, 14, 2), second = digits(s, 17, 2);
  std::size_t pos = 19;
  if (pos < s.size() && s[pos] == '.') {
    ++pos;
    while (pos < s.size() && s[pos] >= '0' && s[pos] <= '9') ++pos;
  }
  const auto zone = s.substr(pos);
  if (zone != "Z" && zone != "z" && zone != "+00:00") {
    throw Error(ErrorCode::invalid_input, "timestamp not in UTC: " + std::string(s));
  }
  if (month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 || minute > 59 || second > 60) {
    throw Error(ErrorCode::invalid_input, "invalid timestamp: " + std::string(s));
  }
  const auto days = days_from_civil(year, static_cast<unsigned>(month), static_cast<unsigned>(day));
  return days * 86400 + hour * 3600 + minute * 60 + second;
}

std::string format_rfc3339(UnixTime t) {
  using namespace std::chrono;
  const sys_seconds point{seconds{t}};
  const auto day = floor<days>(point);
  const year_month_day date{day};
  const hh_mm_ss time{point - day};
  char text[40];
  std::snprintf(text, sizeof text, "%04d-%02u-%02uT%02d:%02d:%02dZ", static_cast<int>(date.year()),
                static_cast<unsigned>(date.month()), static_cast<unsigned>(date.day()),
                static_cast<int>(time.hours().count()), static_cast<int>(time.minutes().count()),
                static_cast<int>(time.seconds().count()));
  return text;
}

bool is_canonical_rfc3339(std::string_view text) noexcept {
  if (text.size() != 20 || text.back() != 'Z') return false;
  try {
    return format_rfc3339(parse_rfc3339(text)) == text;
  } catch (const Error&) {
    return false;
  }
}

}  // namespace kernel_lock
