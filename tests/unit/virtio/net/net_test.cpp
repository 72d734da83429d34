#include <gtest/gtest.h>

#include <algorithm>
#include <deque>
#include <functional>
#include <memory>
#include <vector>

#include "tests/unit/virtio/net/net_harness.h"
#include "virtio/net/mmds/service.h"
#include "virtio/net/mmds_adapter.h"
#include "vmm/base/error.h"
#include "vmm/base/event_loop.h"
#include "vmm/metrics/registry.h"

namespace hearth::virtio::net::test {
namespace {

uint64_t without(uint64_t f, uint32_t bit) { return f & ~feature_bit(bit); }

uint16_t num_buffers_at(NetHarness& h, uint64_t addr) {
  const auto b = h.guest_bytes(addr + kNumBuffersOffset, 2);
  return static_cast<uint16_t>(b[0] | b[1] << 8);
}

TEST(Net, IdentityFeaturesAndConfigSpace) {
  NetHarness h;
  EXPECT_EQ(h.reg(mmio::kRegDeviceId), kDeviceIdNet);
  EXPECT_EQ(h.dev->queue_max_sizes(), (std::vector<uint16_t>{256, 256}));
  const uint64_t f = h.dev->avail_features();
  for (uint32_t bit : {kFeatureCsum, kFeatureGuestCsum, kFeatureGuestTso4, kFeatureGuestTso6, kFeatureGuestUfo,
                       kFeatureHostTso4, kFeatureHostTso6, kFeatureHostUfo, kFeatureMrgRxbuf, kFeatureMac,
                       kFeatureStatus, kFeatureRingEventIdx, kFeatureVersion1}) {
    EXPECT_TRUE(f & feature_bit(bit)) << bit;
  }
  EXPECT_FALSE(f & feature_bit(kFeatureRingIndirectDesc));
  EXPECT_FALSE(f & feature_bit(kFeatureMtu));
  std::vector<uint8_t> cfg(16, 0xaa);
  h.dev->read_config(0, cfg);
  EXPECT_EQ(cfg, (std::vector<uint8_t>{0x06, 0, 0xac, 0x10, 0, 2, 1, 0, 1, 0, 0, 0, 0, 0, 0, 0}));
  // The driver cannot change the MAC (no CTRL_MAC_ADDR).
  const uint8_t junk[6] = {1, 2, 3, 4, 5, 6};
  h.dev->write_config(0, junk);
  h.dev->read_config(0, std::span(cfg).first(6));
  EXPECT_EQ(cfg[0], 0x06);
  EXPECT_EQ(h.dev->kind(), "virtio-net");
  EXPECT_EQ(h.dev->id(), "eth0");
  // Offloads reach the backend at DRIVER_OK.
  EXPECT_EQ(h.offloads, f);
}

TEST(Net, NoMacNoMacFeatureAndMtuOffered) {
  NetConfig c = NetHarness::default_config();
  c.guest_mac.reset();
  c.mtu = 9000;
  NetHarness h(c);
  EXPECT_FALSE(h.dev->avail_features() & feature_bit(kFeatureMac));
  EXPECT_TRUE(h.dev->avail_features() & feature_bit(kFeatureMtu));
  std::vector<uint8_t> cfg(12);
  h.dev->read_config(0, cfg);
  EXPECT_EQ(cfg[10] | cfg[11] << 8, 9000);
}

TEST(Net, TxFrameReachesTheHostWhole) {
  NetHarness h;
  // Header and frame split over three descriptors at odd boundaries.
  const auto frame = pattern(1000, 3);
  VirtioNetHdr hdr{};
  hdr.flags = 1;  // NEEDS_CSUM: passed through untouched
  hdr.csum_start = 34;
  hdr.csum_offset = 16;
  std::vector<uint8_t> bytes(kVnetHdrLen + frame.size());
  std::memcpy(bytes.data(), &hdr, kVnetHdrLen);
  std::copy(frame.begin(), frame.end(), bytes.begin() + kVnetHdrLen);
  const uint64_t a = h.alloc(5), b = h.alloc(500), c = h.alloc(static_cast<uint32_t>(bytes.size() - 505));
  h.put(a, std::span(bytes).subspan(0, 5));
  h.put(b, std::span(bytes).subspan(5, 500));
  h.put(c, std::span(bytes).subspan(505));
  const uint16_t head = h.tx.add({{a, 5, false}, {b, 500, false}, {c, static_cast<uint32_t>(bytes.size() - 505), false}});
  const int irqs = h.irq->count;
  h.kick(kTxQueue);
  auto got = h.host_recv();
  ASSERT_TRUE(got);
  EXPECT_EQ(*got, bytes);
  ASSERT_EQ(h.tx.ring.used_idx(), 1);
  EXPECT_EQ(h.tx.ring.used(0).id, head);
  EXPECT_EQ(h.tx.ring.used(0).len, 0u);
  EXPECT_GT(h.irq->count, irqs);
  EXPECT_EQ(h.dev->metrics().tx_packets_count, 1u);
  EXPECT_EQ(h.dev->metrics().tx_bytes_count, 1000u);
  EXPECT_FALSE(h.host_recv());
}

TEST(Net, MalformedTxChainsAreDroppedAndCounted) {
  NetHarness h;
  const uint64_t w = h.alloc(100);
  h.tx.add({{w, 100, false}, {h.alloc(100), 100, true}});  // a device-writable buffer in a tx chain
  h.tx.add({{h.alloc(11), 11, false}});                      // shorter than the header
  h.tx.add({{h.alloc(kMaxBufferLen + 1), static_cast<uint32_t>(kMaxBufferLen + 1), false}});  // over 64 KiB
  h.send(pattern(60, 1));                                    // a good one after them
  h.kick(kTxQueue);
  ASSERT_EQ(h.tx.ring.used_idx(), 4);
  for (uint16_t i = 0; i < 4; ++i) EXPECT_EQ(h.tx.ring.used(i).len, 0u);
  EXPECT_EQ(h.dev->metrics().tx_malformed_frames, 3u);
  auto got = h.host_recv();
  ASSERT_TRUE(got);
  EXPECT_EQ(got->size(), kVnetHdrLen + 60);
  EXPECT_FALSE(h.host_recv());
  EXPECT_FALSE(h.needs_reset());
}

TEST(Net, LargestTxFrameIsSent) {
  NetHarness h;
  h.send(pattern(kMaxFrameLen, 9));
  h.kick(kTxQueue);
  auto got = h.host_recv();
  ASSERT_TRUE(got);
  EXPECT_EQ(got->size(), kMaxBufferLen);
  EXPECT_EQ(h.dev->metrics().tx_malformed_frames, 0u);
}

TEST(Net, TxDescriptorOutsideMemoryBreaksOnlyTheQueue) {
  NetHarness h;
  h.tx.add({{NetHarness::mem_size - 8, 64, false}});
  h.kick(kTxQueue);
  EXPECT_EQ(h.tx.ring.used_idx(), 0);
  EXPECT_TRUE(h.needs_reset());
  EXPECT_EQ(h.dev->metrics().queue_errors, 1u);
  EXPECT_FALSE(h.host_recv());
}

TEST(Net, RxFrameIntoOneChainWithoutMergeable) {
  NetHarness h(NetHarness::default_config(), without(NetHarness(NetHarness::default_config()).dev->avail_features(), kFeatureMrgRxbuf));
  const uint64_t buf = h.post_rx(1526);
  h.kick(kRxQueue);
  const auto frame = pattern(100, 5);
  h.host_send(frame);
  const int irqs = h.irq->count;
  h.tap_readable();
  ASSERT_EQ(h.rx.ring.used_idx(), 1);
  EXPECT_EQ(h.rx.ring.used(0).len, kVnetHdrLen + 100);
  EXPECT_EQ(num_buffers_at(h, buf), 1);
  EXPECT_EQ(h.guest_bytes(buf + kVnetHdrLen, 100), frame);
  EXPECT_EQ(h.guest_bytes(buf + kVnetHdrLen + 100, 4), std::vector<uint8_t>(4, 0x5a));
  EXPECT_GT(h.irq->count, irqs);
  EXPECT_EQ(h.dev->metrics().rx_packets_count, 1u);
  EXPECT_EQ(h.dev->metrics().rx_bytes_count, 100u);
}

TEST(Net, MergeableRxSpreadsOneFrameOverSeveralBuffers) {
  NetHarness h;
  const uint64_t b0 = h.post_rx(1000), b1 = h.post_rx(1000), b2 = h.post_rx(1000), b3 = h.post_rx(1000);
  h.kick(kRxQueue);
  const auto frame = pattern(2500, 11);
  h.host_send(frame);
  h.tap_readable();
  ASSERT_EQ(h.rx.ring.used_idx(), 3);
  EXPECT_EQ(h.rx.ring.used(0).len, 1000u);
  EXPECT_EQ(h.rx.ring.used(1).len, 1000u);
  EXPECT_EQ(h.rx.ring.used(2).len, 512u);
  EXPECT_EQ(num_buffers_at(h, b0), 3);
  std::vector<uint8_t> got = h.guest_bytes(b0 + kVnetHdrLen, 1000 - kVnetHdrLen);
  for (uint64_t b : {b1, b2}) {
    auto part = h.guest_bytes(b, b == b2 ? 512 : 1000);
    got.insert(got.end(), part.begin(), part.end());
  }
  EXPECT_EQ(got, frame);
  EXPECT_EQ(h.guest_bytes(b3, 16), std::vector<uint8_t>(16, 0x5a));  // given back, untouched
  // The unused buffer takes the next frame.
  h.host_send(pattern(40, 2));
  h.tap_readable();
  ASSERT_EQ(h.rx.ring.used_idx(), 4);
  EXPECT_EQ(h.rx.ring.used(3).id, 3u);
  EXPECT_EQ(h.rx.ring.used(3).len, kVnetHdrLen + 40);
  EXPECT_EQ(num_buffers_at(h, b3), 1);
  EXPECT_EQ(h.dev->metrics().rx_packets_count, 2u);
}

TEST(Net, NoRxBuffersPausesTheTapUntilTheGuestKicks) {
  NetHarness h;
  h.host_send(pattern(64, 1));
  h.host_send(pattern(80, 2));
  h.tap_readable();
  EXPECT_FALSE(h.dev->tap_watched());
  EXPECT_EQ(h.dev->metrics().no_rx_avail_buffer, 1u);
  EXPECT_EQ(h.rx.ring.used_idx(), 0);
  // Nothing was lost: both frames wait in the backend.
  const uint64_t a = h.post_rx(2048), b = h.post_rx(2048);
  h.post_rx(2048);
  h.kick(kRxQueue);
  ASSERT_EQ(h.rx.ring.used_idx(), 2);
  EXPECT_EQ(h.guest_bytes(a + kVnetHdrLen, 64), pattern(64, 1));
  EXPECT_EQ(h.guest_bytes(b + kVnetHdrLen, 80), pattern(80, 2));
  EXPECT_TRUE(h.dev->tap_watched());  // a buffer left and the backend empty: waiting for frames again
  EXPECT_EQ(h.dev->metrics().rx_fails, 0u);
}

TEST(Net, BadRxChainIsReturnedEmptyAndTheNextOneUsed) {
  NetHarness h;
  const uint64_t r = h.alloc(64, 0x77);
  h.rx.add({{r, 64, false}, {h.alloc(2000), 2000, true}});  // a device-readable buffer in an rx chain
  h.rx.add({{h.alloc(8), 8, true}});                         // too small for the header
  const uint64_t good = h.post_rx(2048);
  h.kick(kRxQueue);
  h.host_send(pattern(100, 4));
  h.tap_readable();
  ASSERT_EQ(h.rx.ring.used_idx(), 3);
  EXPECT_EQ(h.rx.ring.used(0).len, 0u);
  EXPECT_EQ(h.rx.ring.used(1).len, 0u);
  EXPECT_EQ(h.rx.ring.used(2).len, kVnetHdrLen + 100);
  EXPECT_EQ(h.guest_bytes(good + kVnetHdrLen, 100), pattern(100, 4));
  EXPECT_EQ(h.guest_bytes(r, 64), std::vector<uint8_t>(64, 0x77));
  EXPECT_EQ(h.dev->metrics().rx_fails, 2u);
  EXPECT_FALSE(h.needs_reset());
}

TEST(Net, EndOfFileOnTheBackendStopsListening) {
  NetHarness h;
  h.post_rx(2048);
  h.kick(kRxQueue);
  h.peer.reset();
  h.tap_readable();
  EXPECT_FALSE(h.dev->tap_watched());
  EXPECT_EQ(h.dev->metrics().tap_read_fails, 1u);
  h.kick(kRxQueue);  // no new attempt, no spin
  EXPECT_EQ(h.dev->metrics().tap_read_fails, 1u);
  EXPECT_EQ(h.rx.ring.used_idx(), 0);
}

TEST(Net, TxWriteFailureIsCountedAndDropped) {
  NetHarness h;
  h.peer.reset();  // the host end is gone: writes fail
  h.send(pattern(60, 1));
  h.kick(kTxQueue);
  ASSERT_EQ(h.tx.ring.used_idx(), 1);
  EXPECT_EQ(h.dev->metrics().tap_write_fails, 1u);
  EXPECT_EQ(h.dev->metrics().tx_packets_count, 0u);
}

bool fire(int fd, const std::function<void()>& handler, int timeout_ms = 2000) {
  pollfd p{fd, POLLIN, 0};
  if (::poll(&p, 1, timeout_ms) != 1) return false;
  handler();
  return true;
}

TEST(Net, TxRateLimiterThrottlesUntilTheTimer) {
  NetConfig c = NetHarness::default_config();
  RateLimiterConfig rl;
  rl.ops = TokenBucketConfig{2, 0, 1000};
  c.tx_rate_limiter = rl;
  NetHarness h(c);
  for (int i = 0; i < 3; ++i) h.send(pattern(60, static_cast<uint8_t>(i)));
  h.kick(kTxQueue);
  EXPECT_EQ(h.tx.ring.used_idx(), 2);
  EXPECT_EQ(h.dev->metrics().tx_rate_limiter_throttled, 1u);
  EXPECT_TRUE(h.host_recv());
  EXPECT_TRUE(h.host_recv());
  EXPECT_FALSE(h.host_recv());
  h.kick(kTxQueue);  // a kick while blocked sends nothing
  EXPECT_EQ(h.tx.ring.used_idx(), 2);
  h.clock->advance_ms(1000);
  ASSERT_TRUE(fire(h.dev->tx_rate_limiter().timer_fd(), [&] { h.dev->handle_tx_limiter_timer(); }));
  EXPECT_EQ(h.tx.ring.used_idx(), 3);
  auto third = h.host_recv();
  ASSERT_TRUE(third);
  EXPECT_EQ(std::vector<uint8_t>(third->begin() + kVnetHdrLen, third->end()), pattern(60, 2));
}

TEST(Net, RxRateLimiterPausesTheTapAndResumes) {
  NetConfig c = NetHarness::default_config();
  RateLimiterConfig rl;
  rl.ops = TokenBucketConfig{1, 0, 1000};
  c.rx_rate_limiter = rl;
  NetHarness h(c);
  for (int i = 0; i < 4; ++i) h.post_rx(2048);
  h.kick(kRxQueue);
  h.host_send(pattern(64, 1));
  h.host_send(pattern(64, 2));
  h.tap_readable();
  EXPECT_EQ(h.rx.ring.used_idx(), 1);
  EXPECT_FALSE(h.dev->tap_watched());
  EXPECT_GE(h.dev->metrics().rx_rate_limiter_throttled, 1u);
  h.clock->advance_ms(1000);
  ASSERT_TRUE(fire(h.dev->rx_rate_limiter().timer_fd(), [&] { h.dev->handle_rx_limiter_timer(); }));
  EXPECT_EQ(h.rx.ring.used_idx(), 2);
}

TEST(Net, ApiPatchReplacesAndRemovesLimiters) {
  NetHarness h;
  EXPECT_FALSE(h.dev->tx_rate_limiter().ops());
  h.dev->api_patch("", {{"iface_id", "eth0"}, {"tx_rate_limiter", {{"ops", {{"size", 1}, {"refill_time", 1000}}}}}});
  ASSERT_TRUE(h.dev->tx_rate_limiter().ops());
  h.send(pattern(60, 1));
  h.send(pattern(60, 2));
  h.kick(kTxQueue);
  EXPECT_EQ(h.tx.ring.used_idx(), 1);
  h.dev->api_patch("", {{"iface_id", "eth0"}, {"tx_rate_limiter", {{"ops", {{"size", 0}, {"refill_time", 0}}}}}});
  EXPECT_FALSE(h.dev->tx_rate_limiter().ops());
  EXPECT_THROW(h.dev->api_patch("statistics", {{"iface_id", "eth0"}}), Error);
}

// An MMDS stand-in: takes ARP frames and answers each with one frame.
struct FakeMmds : MmdsPort {
  std::deque<std::vector<uint8_t>> out;
  int taken = 0;
  bool handle_guest_frame(std::span<const uint8_t> frame, TimePoint) override {
    if (frame.size() < 14 || frame[12] != 0x08 || frame[13] != 0x06) return false;
    ++taken;
    out.emplace_back(frame.begin(), frame.end());
    out.back()[0] = 0xee;  // marks the reply
    return true;
  }
  bool has_frame() const override { return !out.empty(); }
  std::vector<uint8_t> pop_frame() override {
    auto f = std::move(out.front());
    out.pop_front();
    return f;
  }
  std::optional<TimePoint> next_deadline() const override { return std::nullopt; }
  void poll(TimePoint) override {}
};

std::vector<uint8_t> eth_frame(uint16_t type, size_t len) {
  auto f = pattern(len, 1);
  f[12] = static_cast<uint8_t>(type >> 8);
  f[13] = static_cast<uint8_t>(type);
  return f;
}

TEST(Net, FramesForMmdsSkipTheTapAndRepliesGoFirst) {
  auto mmds = std::make_unique<FakeMmds>();
  FakeMmds* port = mmds.get();
  NetHarness h(NetHarness::default_config(), std::nullopt, std::move(mmds));
  const uint64_t a = h.post_rx(2048), b = h.post_rx(2048);
  h.kick(kRxQueue);
  h.host_send(pattern(70, 9));  // a TAP frame already waiting
  h.send(eth_frame(0x0806, 42));  // ARP: for MMDS
  h.send(eth_frame(0x0800, 60));  // IPv4 the stand-in refuses: to the TAP
  h.kick(kTxQueue);
  EXPECT_EQ(port->taken, 1);
  auto sent = h.host_recv();
  ASSERT_TRUE(sent);
  EXPECT_EQ(sent->size(), kVnetHdrLen + 60);
  EXPECT_FALSE(h.host_recv());
  // The reply went to the guest at once, ahead of the TAP frame.
  ASSERT_GE(h.rx.ring.used_idx(), 1);
  EXPECT_EQ(h.rx.ring.used(0).len, kVnetHdrLen + 42);
  EXPECT_EQ(h.guest_bytes(a + kVnetHdrLen, 1)[0], 0xee);
  h.tap_readable();
  ASSERT_EQ(h.rx.ring.used_idx(), 2);
  EXPECT_EQ(h.guest_bytes(b + kVnetHdrLen, 70), pattern(70, 9));
  EXPECT_EQ(h.dev->metrics().mmds_frames_from_guest, 1u);
  EXPECT_EQ(h.dev->metrics().mmds_frames_to_guest, 1u);
}

// The real MMDS stack behind the adapter: an ARP request for its address is answered, never sent to the TAP.
TEST(Net, RealMmdsStackAnswersArpForItsAddress) {
  auto service = std::make_shared<mmds::Service>();
  mmds::MmdsConfig mc;
  mc.network_interfaces = {"eth0"};
  service->set_config(mc);
  const MacAddr guest = NetHarness::default_config().guest_mac.value();
  auto stack = service->make_stack("eth0", guest);
  ASSERT_TRUE(stack);
  NetHarness h(NetHarness::default_config(), std::nullopt, std::make_unique<MmdsStackPort>(std::move(stack)));
  const uint64_t buf = h.post_rx(2048);
  h.kick(kRxQueue);
  std::vector<uint8_t> arp(42, 0);
  std::fill(arp.begin(), arp.begin() + 6, 0xff);
  std::copy(guest.begin(), guest.end(), arp.begin() + 6);
  const uint8_t tail[] = {0x08, 0x06, 0, 1, 0x08, 0, 6, 4, 0, 1};  // ARP, Ethernet/IPv4, request
  std::copy(std::begin(tail), std::end(tail), arp.begin() + 12);
  std::copy(guest.begin(), guest.end(), arp.begin() + 22);
  const uint8_t sender_ip[] = {169, 254, 0, 2}, target_ip[] = {169, 254, 169, 254};
  std::copy(std::begin(sender_ip), std::end(sender_ip), arp.begin() + 28);
  std::copy(std::begin(target_ip), std::end(target_ip), arp.begin() + 38);
  h.send(arp);
  h.kick(kTxQueue);
  EXPECT_FALSE(h.host_recv());  // consumed by MMDS
  ASSERT_EQ(h.rx.ring.used_idx(), 1);
  const auto reply = h.guest_bytes(buf + kVnetHdrLen, 42);
  EXPECT_TRUE(std::equal(guest.begin(), guest.end(), reply.begin()));  // to the guest
  EXPECT_EQ(reply[12], 0x08);
  EXPECT_EQ(reply[13], 0x06);
  EXPECT_EQ(reply[21], 2);  // ARP reply
  EXPECT_TRUE(std::equal(std::begin(target_ip), std::end(target_ip), reply.begin() + 28));  // from the MMDS address
  EXPECT_EQ(h.dev->metrics().mmds_frames_from_guest, 1u);
  EXPECT_EQ(h.dev->metrics().mmds_frames_to_guest, 1u);
}

TEST(Net, MetricsExportedUnderThePrefix) {
  NetHarness h;
  h.send(pattern(60, 1));
  h.kick(kTxQueue);
  metrics::Registry reg;
  h.dev->export_metrics(reg, "net.eth0.");
  EXPECT_EQ(reg.counter("net.eth0.tx_packets_count").get(), 1u);
  EXPECT_EQ(reg.counter("net.eth0.tx_bytes_count").get(), 60u);
  EXPECT_EQ(reg.counter("net.eth0.rx_packets_count").get(), 0u);
}

TEST(Net, StateRoundTrip) {
  NetConfig c = NetHarness::default_config();
  RateLimiterConfig rl;
  rl.bandwidth = TokenBucketConfig{10000, 0, 100};
  c.rx_rate_limiter = rl;
  NetHarness h(c, without(NetHarness(c).dev->avail_features(), kFeatureGuestUfo));
  const DeviceState s = h.dev->save();
  EXPECT_EQ(s.kind, "virtio-net");
  EXPECT_EQ(s.id, "eth0");
  const NetState ns = s.data.get<NetState>();
  EXPECT_EQ(ns.guest_mac, "06:00:ac:10:00:02");
  EXPECT_EQ(ns.host_dev_name, "tap0");
  EXPECT_EQ(ns.acked_features, h.dev->acked_features());
  EXPECT_FALSE(ns.acked_features & feature_bit(kFeatureGuestUfo));
  // Through JSON text, as a snapshot file carries it.
  DeviceState back = nlohmann::json::parse(nlohmann::json(s).dump()).get<DeviceState>();
  NetHarness fresh(c);
  fresh.dev->restore(back);
  EXPECT_EQ(fresh.dev->save().data, s.data);

  DeviceState wrong = s;
  wrong.version = kStateVersion + 1;
  EXPECT_THROW(fresh.dev->restore(wrong), Error);
  NetConfig other = c;
  other.guest_mac = MacAddr{2, 0, 0, 0, 0, 1};
  NetHarness different(other);
  EXPECT_THROW(different.dev->restore(s), Error);
  DeviceState broken = s;
  broken.data.erase("acked_features");
  EXPECT_THROW(fresh.dev->restore(broken), Error);
}

// As in the VMM: kicks, TAP readiness and activation's follow-up all run on the loop's thread.
TEST(Net, WithAnEventLoopTheLoopThreadSetsOffloadsAndReads) {
  EventLoop loop;
  NetHarness h(NetHarness::default_config(), std::nullopt, nullptr, nullptr, &loop);
  EXPECT_EQ(h.offloads, ~uint64_t{0});  // activation (a vCPU thread) left the ioctl to the loop
  loop.run_once(1000);
  EXPECT_EQ(h.offloads, h.dev->avail_features());
  const uint64_t buf = h.post_rx(2048);
  h.kick(kRxQueue);  // an ioeventfd in the VMM
  loop.run_once(1000);
  h.host_send(pattern(90, 3));
  for (int i = 0; i < 5 && h.rx.ring.used_idx() == 0; ++i) loop.run_once(1000);
  ASSERT_EQ(h.rx.ring.used_idx(), 1);
  EXPECT_EQ(h.guest_bytes(buf + kVnetHdrLen, 90), pattern(90, 3));
  h.send(pattern(70, 4));
  h.kick(kTxQueue);
  loop.run_once(1000);
  EXPECT_TRUE(h.host_recv());
  // After a driver reset, a frame on the TAP wakes the loop once and then no more: no spinning.
  h.set_reg(mmio::kRegStatus, 0);
  h.host_send(pattern(90, 5));
  loop.run_once(1000);
  const uint64_t events = h.dev->metrics().rx_tap_event_count;
  loop.run_once(100);
  loop.run_once(100);
  EXPECT_EQ(h.dev->metrics().rx_tap_event_count, events);
}

TEST(Net, ResetStopsTheDeviceAndItComesBack) {
  NetHarness h;
  h.set_reg(mmio::kRegStatus, 0);
  EXPECT_FALSE(h.dev->activated());
  EXPECT_FALSE(h.dev->tap_watched());
  h.dev->handle_tap_event(EPOLLIN);  // a late event after reset is harmless
  h.dev->handle_tx_limiter_timer();
}

}  // namespace
}  // namespace hearth::virtio::net::test
