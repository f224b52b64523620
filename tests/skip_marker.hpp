#pragma once
// The line a test program prints when every test it ran was skipped, and
// nothing failed: CTest matches it (SKIP_REGULAR_EXPRESSION in
// tests/CMakeLists.txt) and reports the suite as skipped instead of passed.
// Not GoogleTest's own "[  SKIPPED ]" line: that also appears when only some
// tests skipped, and CTest's skip match wins over a failure's exit code.

#include <gtest/gtest.h>

#include <cstdio>

namespace lockstep::test {

inline constexpr const char* kEverythingSkipped = "lockstep-test: every test skipped";

inline bool everything_skipped() {
  const testing::UnitTest& u = *testing::UnitTest::GetInstance();
  return u.skipped_test_count() > 0 && u.successful_test_count() == 0 && u.failed_test_count() == 0;
}

inline void print_skip_marker() {
  std::printf("%s\n", kEverythingSkipped);
  std::fflush(stdout);
}

}  // namespace lockstep::test
