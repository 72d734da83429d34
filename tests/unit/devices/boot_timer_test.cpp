#include "devices/boot_timer/boot_timer.h"

#include <gtest/gtest.h>

#include <array>

namespace hearth {
namespace {

TEST(BootTimer, ReportsOnceOnMagicByte) {
  int calls = 0;
  BootTimer timer(BootTimer::Clock::now(), [&](BootTimer::Clock::duration d) {
    ++calls;
    EXPECT_GE(d.count(), 0);
  });
  std::array<uint8_t, 1> other{7}, magic{BootTimer::kMagicBootComplete};
  timer.write(0, other);
  EXPECT_FALSE(timer.boot_time().has_value());
  timer.write(1, magic);  // wrong offset
  EXPECT_EQ(calls, 0);
  timer.write(0, magic);
  timer.write(0, magic);
  EXPECT_EQ(calls, 1);
  EXPECT_TRUE(timer.boot_time().has_value());
}

}  // namespace
}  // namespace hearth
