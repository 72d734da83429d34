// A terminal on stdin is put in raw mode while the guest runs and restored when hearth exits.
#include <gtest/gtest.h>
#include <pty.h>
#include <termios.h>
#include <unistd.h>

#include <chrono>
#include <thread>

#include "tests/integration/harness.h"

namespace hearth::test {
namespace {

TEST(Terminal, RawWhileRunningAndRestoredOnExit) {
  HEARTH_REQUIRE_KVM();
  int master = -1, slave = -1;
  ASSERT_EQ(::openpty(&master, &slave, nullptr, nullptr, nullptr), 0);
  termios before{};
  ASSERT_EQ(::tcgetattr(slave, &before), 0);
  ASSERT_TRUE(before.c_lflag & ICANON);
  ASSERT_TRUE(before.c_lflag & ECHO);

  TempDir dir;
  const std::string config =
      dir.write("vm.json", testguest_config(1, 128, "console=ttyS0 testguest.hold_ms=2000").dump());
  ProcessOptions opts;
  opts.stdin_fd = slave;
  BackgroundProcess hearth({hearth_binary(), "--config-file", config, "--no-api"}, opts);

  bool raw_seen = false;
  for (int i = 0; i < 250 && !raw_seen; ++i) {
    termios now{};
    ASSERT_EQ(::tcgetattr(slave, &now), 0);
    raw_seen = !(now.c_lflag & (ICANON | ECHO | ISIG));
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ProcessResult r = hearth.wait();
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(raw_seen) << "the terminal never went into raw mode";

  termios after{};
  ASSERT_EQ(::tcgetattr(slave, &after), 0);
  EXPECT_EQ(after.c_lflag, before.c_lflag);
  EXPECT_EQ(after.c_iflag, before.c_iflag);
  EXPECT_EQ(after.c_oflag, before.c_oflag);
  ::close(slave);
  ::close(master);
}

}  // namespace
}  // namespace hearth::test
