// The device on a real TAP, in a private network namespace of a forked child (unshare(CLONE_NEWNET)),
// so nothing leaves the test. Skipped with the reason when namespaces or /dev/net/tun are unavailable.
#include <arpa/inet.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/wait.h>

#include <gtest/gtest.h>

#include <cstring>
#include <string>

#include "tests/unit/virtio/net/net_harness.h"
#include "virtio/net/kind.h"
#include "virtio/net/tap.h"
#include "vmm/base/error.h"

namespace hearth::virtio::net::test {
namespace {

constexpr uint16_t kTestEtherType = 0x88b5;  // IEEE local experimental: nothing else on the link uses it
constexpr int kSkip = 77;

// Runs `body` in a child inside a fresh network namespace; its exit code (kSkip: cannot).
int in_private_netns(const std::function<void()>& body) {
  const pid_t pid = ::fork();
  if (pid == 0) {
    if (::unshare(CLONE_NEWNET) != 0 || ::access("/dev/net/tun", R_OK | W_OK) != 0) ::_exit(kSkip);
    body();
    ::_exit(::testing::Test::HasFailure() ? 1 : 0);
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

void link_up(const char* name) {
  UniqueFd s(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  ifreq ifr{};
  std::strncpy(ifr.ifr_name, name, IFNAMSIZ - 1);
  ASSERT_EQ(::ioctl(s.get(), SIOCGIFFLAGS, &ifr), 0);
  ifr.ifr_flags = static_cast<short>(ifr.ifr_flags | IFF_UP);
  ASSERT_EQ(::ioctl(s.get(), SIOCSIFFLAGS, &ifr), 0) << std::strerror(errno);
}

std::vector<uint8_t> test_frame(size_t len, uint8_t seed) {
  auto f = pattern(len, seed);
  std::memset(f.data(), 0xff, 6);                     // broadcast
  const uint8_t src[6] = {0x06, 0, 0xac, 0x10, 0, 2};  // the guest's MAC
  std::memcpy(f.data() + 6, src, 6);
  f[12] = kTestEtherType >> 8;
  f[13] = kTestEtherType & 0xff;
  return f;
}

void tap_body() {
  const char* name = "hnt0";
  auto tap = std::make_unique<Tap>(Tap::open(name));
  const int tap_fd = tap->fd();
  // Attached to this process: a second open is refused, naming the field.
  std::string busy;
  try {
    check_net_host(nlohmann::json{{"host_dev_name", name}}, "network-interfaces");
  } catch (const Error& e) {
    busy = e.what();
  }
  EXPECT_NE(busy.find("network-interfaces.host_dev_name"), std::string::npos) << busy;

  link_up(name);
  UniqueFd pkt(::socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, htons(kTestEtherType)));
  ASSERT_TRUE(pkt) << std::strerror(errno);
  sockaddr_ll sll{};
  sll.sll_family = AF_PACKET;
  sll.sll_protocol = htons(kTestEtherType);
  sll.sll_ifindex = static_cast<int>(::if_nametoindex(name));
  ASSERT_EQ(::bind(pkt.get(), reinterpret_cast<sockaddr*>(&sll), sizeof sll), 0);

  NetConfig cfg = NetHarness::default_config();
  cfg.host_dev_name = name;
  NetHarness h(cfg, std::nullopt, nullptr, std::move(tap));  // all offloads negotiated: TUNSETOFFLOAD took them

  // Guest -> host: the kernel sees the frame on hnt0, without the vnet header.
  const auto out = test_frame(300, 1);
  h.send(out);
  h.kick(kTxQueue);
  EXPECT_EQ(h.dev->metrics().tx_packets_count, 1u);
  std::vector<uint8_t> got(2048);
  pollfd p{pkt.get(), POLLIN, 0};
  ASSERT_EQ(::poll(&p, 1, 5000), 1);
  const ssize_t n = ::recv(pkt.get(), got.data(), got.size(), 0);
  ASSERT_EQ(n, 300);
  got.resize(300);
  EXPECT_EQ(got, out);

  // Host -> guest: a frame sent out of hnt0 lands in a guest buffer behind a vnet header.
  const uint64_t bufs[] = {h.post_rx(4096), h.post_rx(4096), h.post_rx(4096), h.post_rx(4096)};
  h.kick(kRxQueue);
  const auto in = test_frame(500, 7);
  ASSERT_EQ(::sendto(pkt.get(), in.data(), in.size(), 0, reinterpret_cast<sockaddr*>(&sll), sizeof sll), 500);
  // The kernel may send its own frames (IPv6 solicitations) too; ours is among the first few.
  bool found = false;
  for (int round = 0; round < 20 && !found; ++round) {
    pollfd t{tap_fd, POLLIN, 0};
    if (::poll(&t, 1, 1000) != 1) break;
    h.tap_readable();
    for (uint16_t i = 0; i < h.rx.ring.used_idx() && i < 4; ++i) {
      if (h.rx.ring.used(i).len == kVnetHdrLen + 500 && h.guest_bytes(bufs[i] + kVnetHdrLen, 500) == in) found = true;
    }
    if (h.rx.ring.used_idx() >= 4) break;
  }
  EXPECT_TRUE(found);
  EXPECT_GE(h.dev->metrics().rx_packets_count, 1u);
}

TEST(NetTap, RealTapInAPrivateNamespace) {
  const int rc = in_private_netns(tap_body);
  if (rc == kSkip) GTEST_SKIP() << "SKIP (cannot create a network namespace with /dev/net/tun here)";
  EXPECT_EQ(rc, 0);
}

TEST(NetTap, OffloadFlagsFollowTheGuest) {
  EXPECT_EQ(tap_offload_flags(0), 0u);
  EXPECT_EQ(tap_offload_flags(feature_bit(kFeatureGuestTso4)), 0u);  // TSO without checksum offload is refused
  const unsigned all = tap_offload_flags(feature_bit(kFeatureGuestCsum) | feature_bit(kFeatureGuestTso4) |
                                         feature_bit(kFeatureGuestTso6) | feature_bit(kFeatureGuestUfo));
  EXPECT_EQ(all, 0x1u | 0x2u | 0x4u | 0x10u);
}

TEST(NetTap, OpenRefusesBadNames) {
  EXPECT_THROW(Tap::open(""), Error);
  EXPECT_THROW(Tap::open("abcdefghijklmnopq"), Error);
}

}  // namespace
}  // namespace hearth::virtio::net::test
