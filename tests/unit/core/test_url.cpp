// Percent-encoding shared by the Hub client and the mirror (core/url.hpp).
#include <doctest/doctest.h>

#include <string>

#include "kernel_lock/core/url.hpp"

using namespace kernel_lock;

TEST_CASE("url_encode / url_decode match Python quote") {
  CHECK(url_encode("build/torch cpu") == "build%2Ftorch%20cpu");
  CHECK(url_encode_path("build/torch cpu") == "build/torch%20cpu");
  CHECK(url_decode("refs%2Fpr%2F1", false) == "refs/pr/1");
  CHECK(url_decode("a+b%2", false) == "a+b%2");
  CHECK(url_decode("a+b", true) == "a b");
}

TEST_CASE("url helpers encode revisions and paths like the Python client") {
  CHECK(url_encode("refs/pr/1") == "refs%2Fpr%2F1");
  CHECK(url_encode("a b~c") == "a%20b~c");
  CHECK(url_encode("A-Z_a.z~09") == "A-Z_a.z~09");
  CHECK(url_encode(std::string("\xff\x01", 2)) == "%FF%01");
  CHECK(url_encode("") == "");
  CHECK(url_encode_path("build/torch cpu/x.py") == "build/torch%20cpu/x.py");
  CHECK(url_encode_path("/a//b/") == "/a//b/");
}

TEST_CASE("url_decode round-trips url_encode and keeps malformed escapes") {
  for (const std::string& text : {std::string("refs/pr/1"), std::string("a b+c%d"), std::string("\x00\xfe/", 3), std::string("build/torch cpu/x.py")}) {
    CAPTURE(text);
    CHECK(url_decode(url_encode(text), false) == text);
    CHECK(url_decode(url_encode_path(text), true) == text);
  }
  CHECK(url_decode("%4a%4A", false) == "JJ");
  CHECK(url_decode("%", false) == "%");
  CHECK(url_decode("%zz", false) == "%zz");
  CHECK(url_decode("abc%4", false) == "abc%4");
}
