// virtio-net end to end: the netns helper itself, then the test guest's net self-tests on Hearth inside a
// namespace with a TAP (tests/guest/tests/net_*.c).
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <memory>
#include <string>
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
    return " testguest.net_ip" + k + "=" + net + ".2/24 testguest.net_peer" + k + "=" + net + ".1:7777";
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
  for (int s : sizes) {
    EXPECT_EQ(lines_with_prefix(out, p + "dir=out size=" + std::to_string(s) + " ok ").size(), 1u) << s;
    EXPECT_EQ(lines_with_prefix(out, p + "dir=in size=" + std::to_string(s) + " ok").size(), 1u) << s;
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

// 50 x 1472-byte datagrams (75700 bytes of frames) through a 15000-byte bucket refilled each second: the
// token bucket alone makes it take >= 4 s, whatever the guest's speed; unlimited, the same run is
// guest-bound (well under a second on QEMU here). rx: 10 packets/s, bucket 10, so 50 take >= 4 s.
TEST_F(NetHearth, RateLimitersThrottleBothDirections) {
  ASSERT_NO_FATAL_FAILURE(add_interface(0));
  const std::string args = "testguest.run=net-bench testguest.bench_count=50 testguest.bench_size=1472" + guest_args(0);
  ProcessResult plain = run_guest(config(args, {iface(0)}));
  {
    SCOPED_TRACE(plain.out + plain.err);
    expect_passed(plain);
  }
  json limited = iface(0);
  limited["tx_rate_limiter"] = {{"bandwidth", {{"size", 15000}, {"refill_time", 1000}}}};
  limited["rx_rate_limiter"] = {{"ops", {{"size", 10}, {"refill_time", 1000}}}};
  ProcessResult slow = run_guest(config(args, {limited}), 180000);
  SCOPED_TRACE(slow.out + slow.err + peer_log());
  expect_passed(slow);
  const uint64_t tx_plain = bench_field(plain.out, "tx", "us"), tx_slow = bench_field(slow.out, "tx", "us");
  const uint64_t rx_plain = bench_field(plain.out, "rx", "us"), rx_slow = bench_field(slow.out, "rx", "us");
  std::printf("net rate limit: tx %llu us unlimited, %llu us limited; rx %llu us unlimited, %llu us limited\n",
              (unsigned long long)tx_plain, (unsigned long long)tx_slow, (unsigned long long)rx_plain,
              (unsigned long long)rx_slow);
  EXPECT_GE(tx_slow, 2500000u);  // physics says >= 4 s; generous
  EXPECT_GT(tx_slow, tx_plain);
  EXPECT_GE(rx_slow, 2500000u);
  EXPECT_GT(rx_slow, rx_plain);
  // Throttled, not dropped: everything still arrived.
  EXPECT_EQ(bench_field(slow.out, "tx", "peer_count"), 50u);
  EXPECT_EQ(bench_field(slow.out, "rx", "count"), 50u);
}

// Round 1 unlimited; once it is done the test PATCHes a tx limiter (10 packets/s); round 2 (3 s later) of
// 50 datagrams then takes >= 4 s by the bucket alone.
TEST_F(NetHearth, PatchedRateLimiterTakesEffectAfterBoot) {
  ASSERT_NO_FATAL_FAILURE(add_interface(0));
  TempDir dir;
  std::string socket;
  auto vm = start_guest(config("testguest.run=net-bench testguest.bench_dir=tx testguest.bench_count=50 "
                               "testguest.bench_size=1472 testguest.bench_rounds=2 testguest.bench_gap_ms=3000" +
                                   guest_args(0),
                               {iface(0)}),
                        dir, &socket);
  ASSERT_TRUE(vm->wait_for_output("net-bench: round=1 done", 120000)) << vm->output();
  ApiClient api(socket);
  HttpReply p = api.patch("/network-interfaces/eth0",
                          R"({"iface_id": "eth0", "tx_rate_limiter": {"ops": {"size": 10, "refill_time": 1000}}})");
  EXPECT_EQ(p.status, 204) << p.body;
  ASSERT_TRUE(vm->wait_for_output("TESTGUEST ", 120000)) << vm->output();
  ProcessResult r = vm->wait();
  SCOPED_TRACE(r.out + r.err + peer_log());
  expect_passed(r);
  const uint64_t before = bench_field(r.out, "tx", "us", 0), after = bench_field(r.out, "tx", "us", 1);
  std::printf("net PATCH tx limiter: round 1 %llu us, round 2 %llu us\n", (unsigned long long)before,
              (unsigned long long)after);
  EXPECT_GE(after, 2500000u);
  EXPECT_GT(after, before);
  EXPECT_EQ(bench_field(r.out, "tx", "peer_count", 1), 50u);
}

}  // namespace
}  // namespace hearth::test
