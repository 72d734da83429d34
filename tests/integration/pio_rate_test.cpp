// The test guest's pio-rate self-test (bench/seccomp_bench.py's guest) on Hearth, with and without seccomp:
// it must pass and report the count it was given. Not timed: the bench measures.
#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <vector>

#include "tests/integration/harness.h"

namespace hearth::test {
namespace {

void expect_pio_rate_line(const std::vector<std::string>& extra_args) {
  auto config = testguest_config(1, 64, "console=ttyS0 testguest.run=pio-rate testguest.pio_count=2000");
  ProcessOptions opts;
  opts.timeout = std::chrono::milliseconds(120000);
  ProcessResult r = run_hearth_config(config, extra_args, opts);
  SCOPED_TRACE(r.out + r.err);
  ASSERT_FALSE(r.timed_out);
  EXPECT_FALSE(r.signaled);
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_EQ(lines_with_prefix(r.out, "TESTGUEST PASS").size(), 1u);
  ASSERT_EQ(lines_with_prefix(r.out, "pio-rate: start count=2000 port=0x3e0").size(), 1u);
  const auto result = lines_with_prefix(r.out, "pio-rate: count=");
  ASSERT_EQ(result.size(), 1u);
  EXPECT_EQ(value_of(result[0], "count"), "2000");
  EXPECT_EQ(value_of(result[0], "port"), "0x3e0");
  EXPECT_GT(std::stoull(value_of(result[0], "ticks")), 0u);
  EXPECT_GT(std::stod(value_of(result[0], "ns_per_exit")), 0.0);
  EXPECT_GT(std::stoull(value_of(result[0], "tsc_khz")), 0u);
  // An unclaimed port is logged only at Debug level: 2000 writes must not flood stderr.
  EXPECT_EQ(r.err.find("unclaimed port"), std::string::npos);
}

TEST(PioRate, GuestReportsItsCountUnderSeccomp) {
  HEARTH_REQUIRE_KVM();
  expect_pio_rate_line({});
}

TEST(PioRate, GuestReportsItsCountWithoutSeccomp) {
  HEARTH_REQUIRE_KVM();
  expect_pio_rate_line({"--no-seccomp"});
}

TEST(PioRate, BadCountFailsWithAReason) {
  HEARTH_REQUIRE_KVM();
  auto config = testguest_config(1, 64, "console=ttyS0 testguest.run=pio-rate testguest.pio_count=0");
  ProcessResult r = run_hearth_config(config);
  EXPECT_EQ(lines_with_prefix(r.out, "TESTGUEST FAIL testguest.pio_count is not a decimal number in 1..10000000").size(),
            1u)
      << r.out;
}

}  // namespace
}  // namespace hearth::test
