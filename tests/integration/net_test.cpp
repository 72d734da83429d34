// virtio-net end to end: the netns helper itself, then the test guest's net self-tests on Hearth inside a
// namespace with a TAP (tests/guest/tests/net_*.c).
#include <cstdio>
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "tests/integration/api_client.h"
#include "tests/integration/harness.h"
#include "tests/integration/netns.h"

namespace hearth::test {
namespace {

using nlohmann::json;

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

// Interface i: TAP tap<i> with 10.77.<i>.1/24 on the host side and a net_peer.py there; the guest is
// 10.77.<i>.2 with MAC 06:00:0a:4d:0<i>:02.
class NetHearth : public ::testing::Test {
 protected:
  void SetUp() override {
    if (auto reason = kvm_unavailable_reason(); !reason.empty()) GTEST_SKIP() << "SKIP (needs KVM): " << reason;
    if (auto reason = Netns::unavailable_reason(); !reason.empty()) GTEST_SKIP() << "SKIP (needs netns/TAP): " << reason;
    ns_ = std::make_unique<Netns>("net");
  }
  void TearDown() override {
    for (auto& p : peers_) p->terminate();
    peers_.clear();
    ns_.reset();
  }

  void add_interface(int i) {
    const std::string host = "10.77." + std::to_string(i) + ".1";
    ns_->add_tap("tap" + std::to_string(i), host + "/24");
    ProcessOptions opts;
    opts.timeout = std::chrono::milliseconds(600000);
    peers_.push_back(std::make_unique<BackgroundProcess>(
        ns_->wrap({"python3", source_dir() + "/tests/guest/net_peer.py", "--bind", host, "--port", "7777", "--sink",
                   "7778"}),
        opts));
    ASSERT_TRUE(peers_.back()->wait_for_output("net-peer: listening", 10000)) << peers_.back()->output();
  }

  static std::string guest_args(int i) {
    const std::string k = i ? std::to_string(i) : "";
    const std::string net = "10.77." + std::to_string(i);
    // A long per-wait bound: the guest derives it from a PIT calibration of its TSC, which nested emulation
    // under load has put 17x too low (the waits then end that much sooner).
    return " testguest.net_ip" + k + "=" + net + ".2/24 testguest.net_peer" + k + "=" + net + ".1:7777" +
           (i ? "" : " testguest.net_timeout_ms=30000");
  }
  static json iface(int i) {
    return {{"iface_id", "eth" + std::to_string(i)},
            {"host_dev_name", "tap" + std::to_string(i)},
            {"guest_mac", "06:00:0a:4d:0" + std::to_string(i) + ":02"}};
  }
  static json config(const std::string& args, const std::vector<json>& ifaces) {
    json c = testguest_config(1, 128, "console=ttyS0 " + args);
    c["network-interfaces"] = json::array();
    for (const auto& i : ifaces) c["network-interfaces"].push_back(i);
    return c;
  }

  // Boots hearth inside the namespace with `cfg` and waits for it to end.
  ProcessResult run_guest(const json& cfg, int timeout_ms = 120000) {
    TempDir dir;
    ProcessOptions opts;
    opts.timeout = std::chrono::milliseconds(timeout_ms);
    return run_process(ns_->wrap({hearth_binary(), "--config-file", dir.write("vm.json", cfg.dump()), "--no-api"}),
                       opts);
  }
  // The same, in the background with an API socket, for PATCH after boot.
  std::unique_ptr<BackgroundProcess> start_guest(const json& cfg, const TempDir& dir, std::string* socket) {
    *socket = (dir.path() / "api.sock").string();
    ProcessOptions opts;
    opts.timeout = std::chrono::milliseconds(180000);
    return std::make_unique<BackgroundProcess>(
        ns_->wrap({hearth_binary(), "--config-file", dir.write("vm.json", cfg.dump()), "--api-sock", *socket}), opts);
  }

  std::string peer_log() const {
    std::string all;
    for (const auto& p : peers_) all += p->output();
    return all;
  }

  std::unique_ptr<Netns> ns_;
  std::vector<std::unique_ptr<BackgroundProcess>> peers_;
};

void expect_passed(const ProcessResult& r) {
  ASSERT_FALSE(r.timed_out);
  EXPECT_FALSE(r.signaled);
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_EQ(lines_with_prefix(r.out, "TESTGUEST PASS").size(), 1u);
}

// Each size echoed both ways on interface k (guest->host checked by the peer and the guest, host->guest too).
void expect_echoed(const std::string& out, int k, const std::vector<int>& sizes) {
  const std::string p = "net-echo: if=" + std::to_string(k) + " ";
  // At least once: under load the peer may time out and send a datagram again, and both copies echo.
  for (int s : sizes) {
    EXPECT_GE(lines_with_prefix(out, p + "dir=out size=" + std::to_string(s) + " ok ").size(), 1u) << s;
    EXPECT_GE(lines_with_prefix(out, p + "dir=in size=" + std::to_string(s) + " ok").size(), 1u) << s;
  }
  EXPECT_EQ(lines_with_prefix(out, p + "dir=in peer: HNRES ok n=" + std::to_string(sizes.size())).size(), 1u);
}

// The negotiated feature bits from the guest's `net<k>: dev ... features=0x...` line.
uint64_t negotiated(const std::string& out, int k) {
  auto lines = lines_with_prefix(out, "net" + std::to_string(k) + ": dev ");
  if (lines.empty()) return 0;
  return std::stoull(value_of(lines[0], "features"), nullptr, 16);
}

// A counter of the guest's `net-echo: if=<k> ...` statistics line.
uint64_t guest_stat(const std::string& out, int k, const std::string& key) {
  auto lines = lines_with_prefix(out, "net-echo: if=" + std::to_string(k) + " rx_frames=");
  if (lines.empty()) return UINT64_MAX;
  return std::stoull(value_of(lines[0], key));
}

const std::vector<int> kAllSizes = {1, 1472, 1473, 9000, 65507};

TEST_F(NetHearth, UdpBothWaysOneByteTo64KiBWithoutOffloads) {
  ASSERT_NO_FATAL_FAILURE(add_interface(0));
  ProcessResult r = run_guest(config("testguest.run=net-echo testguest.net_offload=0" + guest_args(0), {iface(0)}));
  SCOPED_TRACE(r.out + r.err + peer_log());
  expect_passed(r);
  expect_echoed(r.out, 0, kAllSizes);
  EXPECT_EQ(lines_with_prefix(r.out, "net0: dev ")[0].find("mac=06:00:0a:4d:00:02 link=up") != std::string::npos, true);
  // No offload: the guest fragmented and checked every checksum itself.
  EXPECT_GT(guest_stat(r.out, 0, "tx_frags"), 0u);
  EXPECT_EQ(guest_stat(r.out, 0, "tx_gso"), 0u);
  EXPECT_EQ(guest_stat(r.out, 0, "csum_trusted"), 0u);
  EXPECT_EQ(guest_stat(r.out, 0, "bad_csum"), 0u);
}

TEST_F(NetHearth, UdpBothWaysOneByteTo64KiBWithOffloads) {
  ASSERT_NO_FATAL_FAILURE(add_interface(0));
  ProcessResult r = run_guest(config("testguest.run=net-echo testguest.net_offload=1" + guest_args(0), {iface(0)}));
  SCOPED_TRACE(r.out + r.err + peer_log());
  expect_passed(r);
  expect_echoed(r.out, 0, kAllSizes);
  const uint64_t f = negotiated(r.out, 0);
  EXPECT_TRUE(f & (1u << 0)) << "CSUM";
  EXPECT_TRUE(f & (1u << 1)) << "GUEST_CSUM";
  EXPECT_TRUE(f & (1u << 15)) << "MRG_RXBUF";
  // With HOST_UFO each datagram above the MTU left as one GSO frame; with CSUM only, unfragmented ones
  // carried NEEDS_CSUM and the large ones were fragmented in the guest.
  if (f & (1u << 14)) EXPECT_GE(guest_stat(r.out, 0, "tx_gso"), 6u);
  else EXPECT_GT(guest_stat(r.out, 0, "tx_frags"), 0u);
  // GUEST_CSUM: unfragmented datagrams from the host arrive as NEEDS_CSUM/DATA_VALID.
  EXPECT_GT(guest_stat(r.out, 0, "csum_trusted"), 0u);
  EXPECT_EQ(guest_stat(r.out, 0, "bad_csum"), 0u);
}

// A guest driver that posts broken transmit chains gets each dropped or a device reset, never a VMM crash,
// and its later traffic still works (tests/guest/tests/net_hostile.c).
TEST_F(NetHearth, BrokenTransmitChainsFromTheGuestLeaveTheDeviceWorking) {
  ASSERT_NO_FATAL_FAILURE(add_interface(0));
  ProcessResult r = run_guest(config("testguest.run=net-hostile" + guest_args(0), {iface(0)}));
  SCOPED_TRACE(r.out + r.err + peer_log());
  expect_passed(r);
  for (const auto& line : lines_with_prefix(r.out, "net-hostile: ")) std::printf("%s\n", line.c_str());
  for (const char* c : {"oob", "short", "writable", "loop", "next-oob", "huge"}) {
    EXPECT_EQ(lines_with_prefix(r.out, std::string("net-hostile: ") + c + " echo ok").size(), 1u) << c;
  }
  EXPECT_EQ(r.err.find("AddressSanitizer"), std::string::npos);
}

TEST_F(NetHearth, TwoInterfacesOnOneVm) {
  ASSERT_NO_FATAL_FAILURE(add_interface(0));
  ASSERT_NO_FATAL_FAILURE(add_interface(1));
  ProcessResult r = run_guest(config("testguest.run=net-echo testguest.net_ifaces=2 testguest.net_sizes=1,1473,65507" +
                                         guest_args(0) + guest_args(1),
                                     {iface(0), iface(1)}));
  SCOPED_TRACE(r.out + r.err + peer_log());
  expect_passed(r);
  expect_echoed(r.out, 0, {1, 1473, 65507});
  expect_echoed(r.out, 1, {1, 1473, 65507});
  EXPECT_NE(lines_with_prefix(r.out, "net1: dev ")[0].find("mac=06:00:0a:4d:01:02"), std::string::npos);
}

// `net-bench: dir=<dir> ...` field of the k-th such line.
uint64_t bench_field(const std::string& out, const std::string& dir, const std::string& key, size_t k = 0) {
  auto lines = lines_with_prefix(out, "net-bench: dir=" + dir + " ");
  if (lines.size() <= k) return UINT64_MAX;
  return std::stoull(value_of(lines[k], key));
}

using Clock = std::chrono::steady_clock;

// When each marker first appears on the process's stdout (polled every 5 ms), waiting up to timeout_ms for
// all of them. Host time: the guest's own TSC calibration (PIT, under nested emulation) is too noisy to
// time a rate limiter with.
std::vector<Clock::time_point> marker_times(BackgroundProcess& p, const std::vector<std::string>& markers,
                                            int timeout_ms) {
  std::vector<Clock::time_point> at(markers.size());
  std::vector<bool> seen(markers.size(), false);
  const auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
  size_t left = markers.size();
  while (left && Clock::now() < deadline) {
    const std::string out = p.output();
    const auto now = Clock::now();
    for (size_t i = 0; i < markers.size(); i++)
      if (!seen[i] && out.find(markers[i]) != std::string::npos) seen[i] = true, at[i] = now, left--;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return left ? std::vector<Clock::time_point>{} : at;
}

long long ms_between(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(b - a).count();
}

// 50 x 1472-byte datagrams (75700 bytes of frames) through a 15000-byte bucket refilled each second: the
// token bucket alone makes the tx phase take >= 4 s, whatever the guest's speed; unlimited it is
// guest-bound (about 0.5 s here). rx: 10 packets/s, bucket 10, so 50 take >= 4 s. Timed on the host
// between the guest's lines (start -> dir=tx -> dir=rx).
TEST_F(NetHearth, RateLimitersThrottleBothDirections) {
  ASSERT_NO_FATAL_FAILURE(add_interface(0));
  const std::string args = "testguest.run=net-bench testguest.bench_count=50 testguest.bench_size=1472" + guest_args(0);
  const std::vector<std::string> markers = {"net-bench: start", "net-bench: dir=tx", "net-bench: dir=rx"};
  long long tx_ms[2], rx_ms[2];
  std::string outs[2];
  for (int limited = 0; limited < 2; limited++) {
    json i = iface(0);
    if (limited) {
      i["tx_rate_limiter"] = {{"bandwidth", {{"size", 15000}, {"refill_time", 1000}}}};
      i["rx_rate_limiter"] = {{"ops", {{"size", 10}, {"refill_time", 1000}}}};
    }
    TempDir dir;
    std::string socket;
    auto vm = start_guest(config(args, {i}), dir, &socket);
    auto at = marker_times(*vm, markers, 150000);
    ProcessResult r = vm->wait();
    SCOPED_TRACE(r.out + r.err + peer_log());
    expect_passed(r);
    ASSERT_EQ(at.size(), markers.size());
    tx_ms[limited] = ms_between(at[0], at[1]);
    rx_ms[limited] = ms_between(at[1], at[2]);
    outs[limited] = r.out;
  }
  std::printf("net rate limit (host time): tx %lld ms unlimited, %lld ms limited; rx %lld ms unlimited, %lld ms "
              "limited\n",
              tx_ms[0], tx_ms[1], rx_ms[0], rx_ms[1]);
  EXPECT_GE(tx_ms[1], 2500);  // the bucket says >= 4 s; generous
  EXPECT_GT(tx_ms[1], tx_ms[0]);
  EXPECT_GE(rx_ms[1], 2500);
  EXPECT_GT(rx_ms[1], rx_ms[0]);
  // Throttled, not dropped: everything still arrived.
  EXPECT_EQ(bench_field(outs[1], "tx", "peer_count"), 50u);
  EXPECT_EQ(bench_field(outs[1], "rx", "count"), 50u);
}

// Round 1 unlimited; once it is done the test PATCHes a tx limiter (10 packets/s, bucket 10) and sends the
// guest "HNGO"; round 2 of 50 datagrams (+1 count request) then takes >= 4 s by the bucket alone.
TEST_F(NetHearth, PatchedRateLimiterTakesEffectAfterBoot) {
  ASSERT_NO_FATAL_FAILURE(add_interface(0));
  TempDir dir;
  std::string socket;
  auto vm = start_guest(config("testguest.run=net-bench testguest.bench_dir=tx testguest.bench_count=50 "
                               "testguest.bench_size=1472 testguest.bench_rounds=2 testguest.bench_wait_go=1" +
                                   guest_args(0),
                               {iface(0)}),
                        dir, &socket);
  auto first = marker_times(*vm, {"net-bench: start", "net-bench: round=1 done"}, 120000);
  ASSERT_EQ(first.size(), 2u) << vm->output();
  ApiClient api(socket);
  HttpReply p = api.patch("/network-interfaces/eth0",
                          R"({"iface_id": "eth0", "tx_rate_limiter": {"ops": {"size": 10, "refill_time": 1000}}})");
  EXPECT_EQ(p.status, 204) << p.body;
  const auto go = Clock::now();
  std::string out;
  EXPECT_EQ(ns_->run({"python3", "-c",
                      "import socket; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); "
                      "s.bind(('10.77.0.1', 0)); s.sendto(b'HNGO', ('10.77.0.2', 6002))"},
                     &out),
            0)
      << out;
  auto second = marker_times(*vm, {"net-bench: round=2 done"}, 120000);
  ProcessResult r = vm->wait();
  SCOPED_TRACE(r.out + r.err + peer_log());
  expect_passed(r);
  ASSERT_EQ(second.size(), 1u);
  const long long round1 = ms_between(first[0], first[1]), round2 = ms_between(go, second[0]);
  std::printf("net PATCH tx limiter (host time): round 1 %lld ms unlimited, round 2 %lld ms limited\n", round1,
              round2);
  EXPECT_GE(round2, 2500);
  EXPECT_GT(round2, round1);
  EXPECT_EQ(bench_field(r.out, "tx", "peer_count", 1), 50u);
}

}  // namespace
}  // namespace hearth::test
