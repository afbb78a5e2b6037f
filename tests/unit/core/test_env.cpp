// env_true reads HF_HUB_OFFLINE and friends as huggingface_hub does (core/env.hpp).
#include <doctest/doctest.h>

#include <cstdlib>
#include <initializer_list>

#include "kernel_lock/core/env.hpp"

using namespace kernel_lock;

TEST_CASE("env_true accepts 1/ON/YES/TRUE in any case and nothing else") {
  constexpr const char* kName = "KERNEL_LOCK_TEST_ENV_TRUE";
  ::unsetenv(kName);
  CHECK_FALSE(env_true(kName));
  for (const char* yes : {"1", "ON", "on", "Yes", "yes", "TRUE", "true", "tRuE"}) {
    CAPTURE(yes);
    ::setenv(kName, yes, 1);
    CHECK(env_true(kName));
  }
  for (const char* no : {"", "0", "off", "no", "false", "2", "y", "truee", " 1", "1 ", "enabled"}) {
    CAPTURE(no);
    ::setenv(kName, no, 1);
    CHECK_FALSE(env_true(kName));
  }
  ::unsetenv(kName);
}
