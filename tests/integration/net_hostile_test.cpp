// A hostile host side on a running guest's network interface: between two rounds of the test guest's
// net-bench, a process in the namespace floods the TAP's host end with malformed frames (empty, runts,
// header-only, garbage, oversized up to 64 KiB, and frames with garbage virtio-net headers through
// PACKET_VNET_HDR). Hearth must survive it with bounded memory, and the next round's traffic must work.
#include <fcntl.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <sched.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <iostream>

#include <array>
#include <chrono>
#include <fstream>
#include <functional>
#include <sstream>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "tests/integration/harness.h"
#include "tests/integration/netns.h"

namespace hearth::test {
namespace {

using nlohmann::json;

constexpr size_t kTapMtu = 65521;  // the largest frames are 65535 bytes
constexpr std::array<uint8_t, 6> kGuestMac = {0x06, 0x00, 0x0a, 0x4e, 0x00, 0x02};

struct BlastResult {
  uint64_t attempted = 0;
  uint64_t sent = 0;
  std::array<uint64_t, 8> sent_by_kind{};  // the host kernel refuses some kinds outright
};

// Sends `frames` malformed frames out of `dev` from inside netns `ns` (a forked child: setns() changes
// only the caller). Buffers are set up before the fork; the child makes only system calls.
BlastResult blast(const std::string& ns, const std::string& dev, int frames) {
  static std::vector<uint8_t> buf(kTapMtu + 64);
  int pipefd[2];
  if (::pipe2(pipefd, O_CLOEXEC) != 0) return {};
  const std::string ns_path = "/run/netns/" + ns;
  const pid_t pid = ::fork();
  if (pid == 0) {
    BlastResult r;
    const int nsfd = ::open(ns_path.c_str(), O_RDONLY | O_CLOEXEC);
    if (nsfd < 0 || ::setns(nsfd, CLONE_NEWNET) != 0) ::_exit(2);
    const int plain = ::socket(AF_PACKET, SOCK_RAW, 0);
    const int vnet = ::socket(AF_PACKET, SOCK_RAW, 0);
    const int on = 1;
    if (plain < 0 || vnet < 0 || ::setsockopt(vnet, SOL_PACKET, PACKET_VNET_HDR, &on, sizeof on) != 0) ::_exit(3);
    sockaddr_ll sll{};
    sll.sll_family = AF_PACKET;
    sll.sll_ifindex = static_cast<int>(::if_nametoindex(dev.c_str()));
    sll.sll_halen = 6;
    if (sll.sll_ifindex == 0) ::_exit(4);
    uint64_t x = 0x9e3779b97f4a7c15ull;
    auto rnd = [&x] {
      x ^= x << 13;
      x ^= x >> 7;
      x ^= x << 17;
      return x;
    };
    for (int i = 0; i < frames; ++i) {
      size_t len = 0;
      int sock = plain;
      size_t off = 0;  // a vnet header in front, for the vnet socket
      switch (i % 8) {
        case 0: len = 0; break;
        case 1: len = 1 + rnd() % 13; break;
        case 2: len = 14; break;
        case 3: len = 60 + rnd() % 1455; break;
        case 4: len = 34 + rnd() % 1481; break;
        case 5: len = kTapMtu + 14; break;
        case 6: len = 60 + rnd() % 1455; sock = vnet; off = 10; break;
        default: len = 1515 + rnd() % 8000; break;
      }
      uint8_t* p = buf.data();
      for (size_t k = 0; k < off + len; k += 8) {
        const uint64_t v = rnd();
        std::memcpy(p + k, &v, std::min<size_t>(8, off + len - k));
      }
      if (off) {
        // A header the kernel accepts but that lies: checksum offsets anywhere in the frame, a GSO type and
        // size that do not fit the (garbage) payload.
        static constexpr uint8_t kGso[] = {0, 1, 3, 4, 0x81};
        p[0] = 1;  // NEEDS_CSUM
        p[1] = kGso[rnd() % sizeof kGso];
        const uint16_t hdr_len = static_cast<uint16_t>(rnd() % len), gso_size = static_cast<uint16_t>(1 + rnd() % 1500);
        const uint16_t csum_start = static_cast<uint16_t>(rnd() % (len - 16)), csum_offset = static_cast<uint16_t>(2 * (rnd() % 7));
        std::memcpy(p + 2, &hdr_len, 2);
        std::memcpy(p + 4, &gso_size, 2);
        std::memcpy(p + 6, &csum_start, 2);
        std::memcpy(p + 8, &csum_offset, 2);
      }
      uint8_t* eth = p + off;
      if (len >= 14) {
        if (i % 3 == 0) {
          std::memset(eth, 0xff, 6);
        } else {
          std::memcpy(eth, kGuestMac.data(), 6);
        }
        if (i % 8 == 4) {
          eth[12] = 0x08;  // IPv4 with a garbage header
          eth[13] = 0x00;
        }
      }
      ++r.attempted;
      if (::sendto(sock, p, off + len, MSG_DONTWAIT, reinterpret_cast<sockaddr*>(&sll), sizeof sll) >= 0) {
        ++r.sent;
        ++r.sent_by_kind[static_cast<size_t>(i % 8)];
      }
    }
    [[maybe_unused]] const ssize_t w = ::write(pipefd[1], &r, sizeof r);
    ::_exit(0);
  }
  ::close(pipefd[1]);
  BlastResult r;
  int status = 0;
  ::waitpid(pid, &status, 0);
  if (::read(pipefd[0], &r, sizeof r) != sizeof r) r = {};
  ::close(pipefd[0]);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "blaster exit status " << status;
  return r;
}

TEST(NetHostile, MalformedFramesFromTheHostLeaveHearthWorking) {
  if (auto reason = kvm_unavailable_reason(); !reason.empty()) GTEST_SKIP() << "SKIP (needs KVM): " << reason;
  if (auto reason = Netns::unavailable_reason(); !reason.empty()) GTEST_SKIP() << "SKIP (needs netns/TAP): " << reason;
  Netns ns("nethostile");
  ns.add_tap("tap0", "10.78.0.1/24", kTapMtu);
  ProcessOptions peer_opts;
  peer_opts.timeout = std::chrono::milliseconds(300000);
  BackgroundProcess peer(ns.wrap({"python3", source_dir() + "/tests/guest/net_peer.py", "--bind", "10.78.0.1",
                                  "--port", "7777", "--sink", "7778"}),
                         peer_opts);
  ASSERT_TRUE(peer.wait_for_output("net-peer: listening", 10000)) << peer.output();

  json cfg = testguest_config(1, 128,
                              "console=ttyS0 testguest.run=net-bench testguest.bench_dir=tx testguest.bench_count=50 "
                              "testguest.bench_size=1000 testguest.bench_rounds=2 testguest.bench_gap_ms=4000 "
                              "testguest.net_ip=10.78.0.2/24 testguest.net_peer=10.78.0.1:7777");
  cfg["network-interfaces"] = json::array(
      {json{{"iface_id", "eth0"}, {"host_dev_name", "tap0"}, {"guest_mac", "06:00:0a:4e:00:02"}}});
  TempDir dir;
  const std::string metrics = (dir.path() / "metrics.json").string();
  cfg["metrics"] = {{"metrics_path", metrics}};
  ProcessOptions opts;
  opts.timeout = std::chrono::milliseconds(180000);
  BackgroundProcess vm(ns.wrap({hearth_binary(), "--config-file", dir.write("vm.json", cfg.dump()), "--no-api"}), opts);
  ASSERT_TRUE(vm.wait_for_output("net-bench: round=1 done", 120000)) << vm.output();
  const size_t rss_before = rss_kib(vm.pid());

  const BlastResult b = blast(ns.name(), "tap0", 4000);
  EXPECT_EQ(b.attempted, 4000u);
  EXPECT_GT(b.sent, 1000u);  // most kinds pass the host kernel; the runts and empty ones it refuses
  EXPECT_GT(b.sent_by_kind[5], 0u) << "no 65535-byte frame got out";
  EXPECT_GT(b.sent_by_kind[6], 0u) << "no frame with a garbage vnet header got out";
  const size_t rss_after = rss_kib(vm.pid());
  EXPECT_GT(rss_after, 0u) << "hearth died during the flood";
  EXPECT_LT(rss_after, rss_before + 16 * 1024) << "hearth grew from " << rss_before << " KiB";

  ProcessResult r = vm.wait();
  SCOPED_TRACE(r.out + r.err + peer.output());
  EXPECT_FALSE(r.timed_out);
  EXPECT_FALSE(r.signaled);
  EXPECT_EQ(r.exit_code, 0);
  // The round after the flood sent and was counted by the peer (its reply came back through rx).
  EXPECT_EQ(lines_with_prefix(r.out, "net-bench: round=2 done").size(), 1u);
  EXPECT_EQ(lines_with_prefix(r.out, "TESTGUEST PASS").size(), 1u);
  // The flood reached the device (the interface's counters, under its own prefix) and went to the guest,
  // which dropped it; nothing the host sent made hearth fail a TAP read.
  const uint64_t rx = sum_metric(metrics, "eth0.rx_packets_count");
  std::cout << "net-hostile: sent=" << b.sent << " of " << b.attempted << " guest_rx_frames=" << rx
            << " rss_kib " << rss_before << " -> " << rss_after << " by kind:";
  for (uint64_t k : b.sent_by_kind) std::cout << " " << k;
  std::cout << "\n";
  // Not all of them: the TAP's own queue drops what a slow (emulated) guest leaves unread.
  EXPECT_GT(rx, 200u) << read_file(metrics);
  EXPECT_EQ(sum_metric(metrics, "eth0.tap_read_fails"), 0u) << read_file(metrics);
  peer.terminate();
}

}  // namespace
}  // namespace hearth::test
