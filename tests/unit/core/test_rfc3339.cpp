#include <doctest/doctest.h>

#include "kernel_lock/core/error.hpp"
#include "kernel_lock/core/rfc3339.hpp"

using namespace kernel_lock;

TEST_CASE("RFC 3339: parse and format are inverse on the canonical form") {
  CHECK(parse_rfc3339("1970-01-01T00:00:00Z") == 0);
  CHECK(parse_rfc3339("2026-01-01T00:00:00Z") == 1767225600);
  CHECK(format_rfc3339(1767225600) == "2026-01-01T00:00:00Z");
  CHECK(format_rfc3339(parse_rfc3339("2024-02-29T23:59:59Z")) == "2024-02-29T23:59:59Z");
}

TEST_CASE("RFC 3339: the accepted variants and the refusals") {
  CHECK(parse_rfc3339("2022-04-13T20:06:15.123456Z") == parse_rfc3339("2022-04-13T20:06:15Z"));
  CHECK(parse_rfc3339("2022-04-13t20:06:15+00:00") == parse_rfc3339("2022-04-13T20:06:15Z"));
  for (const char* bad : {"2022-04-13T20:06:15+02:00", "2022-13-01T00:00:00Z", "2022-04-13T24:00:00Z",
                          "2022-04-13 20:06:15Z", "2022-04-13T20:06Z", "20x2-04-13T20:06:15Z", ""}) {
    CAPTURE(bad);
    CHECK_THROWS_AS(parse_rfc3339(bad), Error);
  }
}

TEST_CASE("RFC 3339: canonical form, as a lock's signing_time must be") {
  CHECK(is_canonical_rfc3339("2026-06-01T12:00:00Z"));
  for (const char* other : {"2026-06-01T12:00:00.5Z", "2026-06-01T12:00:00+00:00", "2026-06-01t12:00:00Z",
                            "2026-02-30T12:00:00Z", "2026-06-01T12:00:60Z", "2026-06-01T12:00:00", "junk"}) {
    CAPTURE(other);
    CHECK_FALSE(is_canonical_rfc3339(other));
  }
}
