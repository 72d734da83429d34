// virtio-net end to end: the netns helper itself, then the test guest's net self-tests on Hearth inside a
// namespace with a TAP (tests/guest/tests/net_*.c).
#include <gtest/gtest.h>

#include <filesystem>
#include <string>

#include "tests/integration/harness.h"
#include "tests/integration/netns.h"

namespace hearth::test {
namespace {

#define HEARTH_REQUIRE_NETNS()                                                   \
  do {                                                                           \
    if (auto reason = Netns::unavailable_reason(); !reason.empty()) {            \
      GTEST_SKIP() << "SKIP (needs netns/TAP): " << reason;                      \
    }                                                                            \
  } while (0)

bool netns_exists(const std::string& name) { return std::filesystem::exists("/run/netns/" + name); }

TEST(NetnsHelper, TapWithAddressInsideAndEverythingGoneAfter) {
  HEARTH_REQUIRE_NETNS();
  std::string name;
  {
    Netns ns("selftest");
    name = ns.name();
    ASSERT_TRUE(netns_exists(name));
    ns.add_tap("tap0", "192.168.77.1/24", 9000);
    std::string out;
    ASSERT_EQ(ns.run({"ip", "-o", "addr", "show", "dev", "tap0"}, &out), 0) << out;
    EXPECT_NE(out.find("inet 192.168.77.1/24"), std::string::npos) << out;
    ASSERT_EQ(ns.run({"ip", "-o", "link", "show", "dev", "tap0"}, &out), 0) << out;
    EXPECT_NE(out.find("mtu 9000"), std::string::npos) << out;
    // Not visible outside the namespace.
    EXPECT_NE(run_command({"ip", "link", "show", "dev", "tap0"}, &out), 0);
    // Two at once get different names.
    Netns other("selftest");
    EXPECT_NE(other.name(), name);
    EXPECT_THROW(ns.add_tap("tap0", ""), std::runtime_error);  // already there
  }
  EXPECT_FALSE(netns_exists(name));
}

}  // namespace
}  // namespace hearth::test
