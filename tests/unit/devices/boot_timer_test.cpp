#include "devices/boot_timer/boot_timer.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <array>
#include <chrono>

#include "vmm/base/error.h"

namespace hearth {
namespace {

using namespace std::chrono_literals;

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

const std::array<uint8_t, 1> kMagic{BootTimer::kMagicBootComplete};

TEST(BootTimer, RestoreKeepsTheBootTimeAndDoesNotReportAgain) {
  BootTimer timer(BootTimer::Clock::now() - 5s, {});
  timer.write(0, kMagic);
  const DeviceState saved = timer.save();
  EXPECT_EQ(saved.kind, "boot-timer");
  EXPECT_EQ(saved.version, 1u);

  int calls = 0;
  BootTimer copy(BootTimer::Clock::now(), [&](auto) { ++calls; });  // a new process, a new start
  copy.restore(nlohmann::json::parse(nlohmann::json(saved).dump()).get<DeviceState>());
  EXPECT_EQ(copy.boot_time(), timer.boot_time());
  EXPECT_EQ(copy.save().data.at("boot_time_ns"), saved.data.at("boot_time_ns"));
  EXPECT_GE(copy.save().data.at("elapsed_ns").get<int64_t>(), saved.data.at("elapsed_ns").get<int64_t>());
  copy.write(0, kMagic);
  EXPECT_EQ(calls, 0);
}

TEST(BootTimer, RestoreContinuesTheElapsedTime) {
  BootTimer timer(BootTimer::Clock::now() - 2s, {});
  const DeviceState saved = timer.save();
  EXPECT_TRUE(saved.data.at("boot_time_ns").is_null());
  BootTimer::Clock::duration reported{};
  BootTimer copy(BootTimer::Clock::now(), [&](BootTimer::Clock::duration d) { reported = d; });
  copy.restore(saved);
  EXPECT_FALSE(copy.boot_time().has_value());
  copy.write(0, kMagic);
  EXPECT_GE(reported, 2s);  // counted from the original start, not from the copy's
  EXPECT_LT(reported, 60s);
}

TEST(BootTimer, RestoreRejectsBadStateNamingIt) {
  BootTimer timer(BootTimer::Clock::now(), {});
  timer.write(0, kMagic);
  auto message = [&](const DeviceState& s) -> std::string {
    BootTimer copy(BootTimer::Clock::now(), {});
    try {
      copy.restore(s);
    } catch (const Error& e) {
      EXPECT_FALSE(copy.boot_time().has_value());  // nothing applied
      return e.what();
    }
    return "accepted";
  };
  DeviceState s = timer.save();
  s.version = 2;
  EXPECT_THAT(message(s), ::testing::AllOf(::testing::HasSubstr("version 2"), ::testing::HasSubstr("1..1")));
  for (const char* f : {"elapsed_ns", "boot_time_ns"}) {
    s = timer.save();
    s.data.erase(f);
    EXPECT_THAT(message(s), ::testing::HasSubstr(std::string("boot-timer: state field '") + f + "' is missing"));
  }
  s = timer.save();
  s.data["elapsed_ns"] = -1;
  EXPECT_THAT(message(s), ::testing::HasSubstr("'elapsed_ns'"));
  s.data["elapsed_ns"] = nullptr;
  EXPECT_THAT(message(s), ::testing::HasSubstr("'elapsed_ns'"));
  s = timer.save();
  s.data["boot_time_ns"] = s.data["elapsed_ns"].get<int64_t>() + 1;
  EXPECT_THAT(message(s), ::testing::HasSubstr("'boot_time_ns'"));
}

}  // namespace
}  // namespace hearth
