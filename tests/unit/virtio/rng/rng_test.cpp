#include <poll.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "tests/unit/virtio/device_harness.h"
#include "tests/unit/virtio/fake_clock.h"
#include "virtio/mmio/transport.h"
#include "virtio/rng/device.h"
#include "virtio/virtio_defs.h"
#include "vmm/base/error.h"
#include "vmm/metrics/registry.h"

namespace hearth::virtio::rng::test {
namespace {

// The device behind the shared driver harness. No event loop: tests run the rate limiter's timer
// handler themselves.
class RngHarness : public virtio::test::DeviceHarness {
 public:
  explicit RngHarness(EntropyDeviceConfig cfg = {}) {
    dev = std::make_shared<RngDevice>(cfg, nullptr, clock);
    attach(dev, dev->avail_features());
  }
  ~RngHarness() {
    transport.reset();
    dev.reset();
  }

  // A buffer pre-filled with a marker byte so a test sees what the device wrote.
  uint64_t alloc(uint32_t len, uint8_t marker = 0) {
    const uint64_t a = DeviceHarness::alloc(len);
    std::vector<uint8_t> fill(len, marker);
    mem.write(a, fill);
    return a;
  }
  uint16_t request(uint64_t addr, uint32_t len) { return add_chain({{addr, len, true}}); }
  // Two `len`-byte requests, then a kick; returns the second's buffer, marked 0x5a.
  uint64_t kick_two_requests(uint32_t len) {
    request(alloc(len), len);
    const uint64_t second = alloc(len, 0x5a);
    request(second, len);
    kick();
    return second;
  }
  bool needs_reset() { return (reg(mmio::kRegStatus) & kStatusNeedsReset) != 0; }
  uint32_t interrupt_status() { return reg(mmio::kRegInterruptStatus); }
  // Waits (real time) until the limiter's timerfd fired, then runs its handler as the loop would.
  bool fire_timer(int timeout_ms = 2000) {
    pollfd p{dev->rate_limiter().timer_fd(), POLLIN, 0};
    if (::poll(&p, 1, timeout_ms) != 1) return false;
    dev->handle_rate_limiter_timer();
    return true;
  }
  // Exactly `count` used entries, the last of which reports `len` bytes written.
  testing::AssertionResult last_used_is(uint16_t count, uint32_t len) {
    if (ring.used_idx() != count) return testing::AssertionFailure() << "used_idx " << ring.used_idx();
    const uint32_t last = ring.used(static_cast<uint16_t>(count - 1)).len;
    if (last != len) return testing::AssertionFailure() << "last used len " << last;
    return testing::AssertionSuccess();
  }
  void reset_and_bring_up() { DeviceHarness::reset_and_bring_up(*dev, dev->avail_features()); }

  std::shared_ptr<virtio::test::FakeClock> clock = std::make_shared<virtio::test::FakeClock>();
  std::shared_ptr<RngDevice> dev;
};

bool all_equal(const std::vector<uint8_t>& v, uint8_t b) {
  return std::all_of(v.begin(), v.end(), [b](uint8_t x) { return x == b; });
}

EntropyDeviceConfig limited(uint64_t size, uint64_t refill_ms) {
  RateLimiterConfig rl;
  rl.bandwidth = TokenBucketConfig{size, 0, refill_ms};
  return EntropyDeviceConfig{rl};
}

TEST(Rng, IdentityFeaturesAndEmptyConfigSpace) {
  RngHarness h;
  EXPECT_EQ(h.reg(mmio::kRegDeviceId), kDeviceIdRng);
  EXPECT_EQ(h.dev->queue_max_sizes(), std::vector<uint16_t>{256});
  const uint64_t f = h.dev->avail_features();
  EXPECT_TRUE(f & feature_bit(kFeatureVersion1));
  EXPECT_TRUE(f & feature_bit(kFeatureRingEventIdx));
  EXPECT_FALSE(f & feature_bit(kFeatureRingIndirectDesc));
  std::vector<uint8_t> cfg(16, 0xaa);
  h.dev->read_config(0, cfg);
  EXPECT_TRUE(all_equal(cfg, 0));
  EXPECT_EQ(h.reg(mmio::kConfigSpace), 0u);
  EXPECT_EQ(h.dev->kind(), "virtio-rng");
  EXPECT_EQ(h.dev->id(), "");
  EXPECT_EQ(h.dev->metrics().activate_count, 1u);
}

TEST(Rng, FillsBufferWithRandomBytes) {
  RngHarness h;
  const uint64_t a = h.alloc(4096), b = h.alloc(4096);
  const uint16_t ha = h.request(a, 4096);
  const uint16_t hb = h.request(b, 4096);
  const int irqs = h.irq->count;
  h.kick();
  ASSERT_EQ(h.ring.used_idx(), 2);
  EXPECT_EQ(h.ring.used(0).id, ha);
  EXPECT_EQ(h.ring.used(0).len, 4096u);
  EXPECT_EQ(h.ring.used(1).id, hb);
  EXPECT_EQ(h.ring.used(1).len, 4096u);
  const auto ba = h.guest_bytes(a, 4096), bb = h.guest_bytes(b, 4096);
  EXPECT_FALSE(all_equal(ba, 0));
  EXPECT_NE(ba, bb);
  // 4096 random bytes: each value appears about 16 times; none missing at all is a sanity bound.
  std::vector<int> hist(256);
  for (uint8_t x : ba) ++hist[x];
  EXPECT_LT(*std::max_element(hist.begin(), hist.end()), 64);
  EXPECT_GT(h.irq->count, irqs);
  EXPECT_EQ(h.interrupt_status() & kInterruptUsedRing, kInterruptUsedRing);
  EXPECT_EQ(h.dev->metrics().requests, 2u);
  EXPECT_EQ(h.dev->metrics().entropy_bytes, 8192u);
  EXPECT_EQ(h.dev->metrics().event_fails, 0u);
  EXPECT_EQ(h.dev->metrics().event_count, 1u);
}

TEST(Rng, ChainOverSeveralWritableDescriptorsIsFilledFully) {
  RngHarness h;
  const uint64_t a = h.alloc(100), b = h.alloc(1000), c = h.alloc(28);
  const uint64_t after = h.alloc(16, 0x5a);  // right behind c's 28 bytes (padded to 32)
  h.add_chain({{a, 100, true}, {b, 1000, true}, {c, 28, true}});
  h.kick();
  ASSERT_TRUE(h.last_used_is(1, 1128u));
  // Zero bytes from getrandom are possible; a whole run of 20 of them is not.
  auto no_zero_run = [](const std::vector<uint8_t>& v) {
    return std::search_n(v.begin(), v.end(), 20, uint8_t{0}) == v.end();
  };
  const auto ga = h.guest_bytes(a, 100), gb = h.guest_bytes(b, 1000), gc = h.guest_bytes(c, 28);
  EXPECT_TRUE(no_zero_run(ga));
  EXPECT_TRUE(no_zero_run(gb));
  EXPECT_TRUE(no_zero_run(std::vector<uint8_t>(gb.end() - 20, gb.end())));
  EXPECT_TRUE(no_zero_run(gc));
  EXPECT_FALSE(all_equal(std::vector<uint8_t>(gc.end() - 8, gc.end()), 0));
  EXPECT_TRUE(all_equal(h.guest_bytes(c + 28, 4), 0));  // padding past the buffer untouched
  EXPECT_TRUE(all_equal(h.guest_bytes(after, 16), 0x5a));
}

TEST(Rng, LargeRequestIsCapped) {
  RngHarness h;
  const uint32_t big = 2 * kMaxRequestBytes;
  const uint64_t a = h.alloc(big, 0x5a);
  h.request(a, big);
  h.kick();
  ASSERT_TRUE(h.last_used_is(1, kMaxRequestBytes));
  EXPECT_TRUE(all_equal(h.guest_bytes(a + kMaxRequestBytes, kMaxRequestBytes), 0x5a));
  EXPECT_FALSE(all_equal(h.guest_bytes(a + kMaxRequestBytes - 64, 64), 0x5a));
}

TEST(Rng, DeviceReadableDescriptorIsRejectedUntouched) {
  RngHarness h;
  const uint64_t r = h.alloc(64, 0x5a), w = h.alloc(64, 0x5a);
  h.add_chain({{r, 64, false}, {w, 64, true}});
  const uint64_t only_r = h.alloc(32, 0x5a);
  h.add_chain({{only_r, 32, false}});
  h.kick();
  ASSERT_EQ(h.ring.used_idx(), 2);
  EXPECT_EQ(h.ring.used(0).len, 0u);
  EXPECT_EQ(h.ring.used(1).len, 0u);
  EXPECT_TRUE(all_equal(h.guest_bytes(r, 64), 0x5a));
  EXPECT_TRUE(all_equal(h.guest_bytes(w, 64), 0x5a));
  EXPECT_TRUE(all_equal(h.guest_bytes(only_r, 32), 0x5a));
  EXPECT_EQ(h.dev->metrics().event_fails, 2u);
  EXPECT_EQ(h.dev->metrics().entropy_bytes, 0u);
  EXPECT_FALSE(h.needs_reset());
  EXPECT_EQ(h.interrupt_status() & kInterruptUsedRing, kInterruptUsedRing);
  // The queue still works afterwards.
  const uint64_t ok = h.alloc(16);
  h.request(ok, 16);
  h.kick();
  ASSERT_TRUE(h.last_used_is(3, 16u));
}

TEST(Rng, SingleReadableDescriptorCountsOneError) {
  RngHarness h;
  const uint64_t r = h.alloc(64, 0x5a);
  h.add_chain({{r, 64, false}});
  h.kick();
  ASSERT_TRUE(h.last_used_is(1, 0u));
  EXPECT_TRUE(all_equal(h.guest_bytes(r, 64), 0x5a));
  EXPECT_EQ(h.dev->metrics().event_fails, 1u);
}

TEST(Rng, BufferOutsideGuestMemoryBreaksTheQueue) {
  // The queue validates every descriptor before the device sees the chain: a buffer past the end
  // of guest RAM is a broken ring (NEEDS_RESET + config interrupt), and nothing is written.
  RngHarness h;
  h.request(0x200000 - 16, 64);
  h.kick();
  EXPECT_EQ(h.ring.used_idx(), 0);
  EXPECT_TRUE(h.needs_reset());
  EXPECT_EQ(h.interrupt_status() & kInterruptConfigChange, kInterruptConfigChange);
  EXPECT_EQ(h.dev->metrics().queue_errors, 1u);
  EXPECT_EQ(h.dev->metrics().entropy_bytes, 0u);
}

TEST(Rng, ZeroLengthRequestCompletesEmpty) {
  RngHarness h;
  const uint64_t a = h.alloc(16, 0x5a);
  h.request(a, 0);
  h.kick();
  ASSERT_TRUE(h.last_used_is(1, 0u));
  EXPECT_TRUE(all_equal(h.guest_bytes(a, 16), 0x5a));
  EXPECT_EQ(h.dev->metrics().requests, 1u);
  EXPECT_EQ(h.dev->metrics().event_fails, 0u);
}

TEST(Rng, AvailIdxJumpNeedsResetAndResetRecovers) {
  RngHarness h;
  h.ring.set_avail_idx(1000);  // more than the queue size at once
  h.kick();
  EXPECT_TRUE(h.needs_reset());
  EXPECT_EQ(h.interrupt_status() & kInterruptConfigChange, kInterruptConfigChange);
  EXPECT_EQ(h.dev->metrics().queue_errors, 1u);
  EXPECT_EQ(h.ring.used_idx(), 0);
  h.kick();  // ignored while the device needs reset
  EXPECT_EQ(h.dev->metrics().queue_errors, 1u);

  h.reset_and_bring_up();
  EXPECT_FALSE(h.needs_reset());
  EXPECT_EQ(h.dev->metrics().activate_count, 2u);
  const uint64_t a = h.alloc(256);
  h.request(a, 256);
  h.kick();
  ASSERT_TRUE(h.last_used_is(1, 256u));
  EXPECT_FALSE(all_equal(h.guest_bytes(a, 256), 0));
}

TEST(Rng, DescriptorLoopNeedsReset) {
  RngHarness h;
  const uint64_t a = h.alloc(16, 0x5a);
  h.ring.set_desc(0, a, 16, kDescFlagWrite | kDescFlagNext, 1);
  h.ring.set_desc(1, a, 16, kDescFlagWrite | kDescFlagNext, 0);
  h.ring.push_avail(0);
  h.kick();
  EXPECT_TRUE(h.needs_reset());
  EXPECT_EQ(h.ring.used_idx(), 0);
  EXPECT_TRUE(all_equal(h.guest_bytes(a, 16), 0x5a));
}

TEST(Rng, RateLimiterThrottlesUntilBudgetRefills) {
  RngHarness h(limited(1000, 1000));
  const uint64_t b = h.kick_two_requests(800);
  ASSERT_EQ(h.ring.used_idx(), 1);  // 200 bytes of budget left: the second request waits
  EXPECT_EQ(h.dev->metrics().rate_limiter_throttled, 1u);
  EXPECT_TRUE(h.dev->rate_limiter().is_blocked());
  EXPECT_TRUE(all_equal(h.guest_bytes(b, 800), 0x5a));
  h.kick();  // a kick while blocked changes nothing
  EXPECT_EQ(h.ring.used_idx(), 1);

  h.clock->advance_ms(1000);
  ASSERT_TRUE(h.fire_timer());
  ASSERT_TRUE(h.last_used_is(2, 800u));
  EXPECT_FALSE(all_equal(h.guest_bytes(b, 800), 0x5a));
  EXPECT_EQ(h.dev->metrics().rate_limiter_event_count, 1u);
  EXPECT_EQ(h.dev->metrics().entropy_bytes, 1600u);
}

TEST(Rng, RequestLargerThanBucketThrottlesTheNextOne) {
  // As Firecracker: a request bigger than the whole bucket goes through once, drains the budget
  // and blocks the limiter for the time the excess takes to refill (3096 bytes at 10 bytes/ms).
  RngHarness h(limited(1000, 100));
  const uint64_t b = h.kick_two_requests(4096);
  ASSERT_TRUE(h.last_used_is(1, 4096u));
  EXPECT_TRUE(h.dev->rate_limiter().is_blocked());
  EXPECT_EQ(h.dev->metrics().rate_limiter_throttled, 1u);
  EXPECT_TRUE(all_equal(h.guest_bytes(b, 4096), 0x5a));
  h.dev->handle_rate_limiter_timer();  // spurious wakeup before the timer expired: still blocked
  EXPECT_EQ(h.ring.used_idx(), 1);

  h.clock->advance_ms(1000);
  ASSERT_TRUE(h.fire_timer());
  ASSERT_TRUE(h.last_used_is(2, 4096u));
}

TEST(Rng, OpsBucketLimitsRequests) {
  RateLimiterConfig rl;
  rl.ops = TokenBucketConfig{1, 0, 100};
  RngHarness h(EntropyDeviceConfig{rl});
  h.request(h.alloc(16), 16);
  h.request(h.alloc(16), 16);
  h.kick();
  ASSERT_EQ(h.ring.used_idx(), 1);
  EXPECT_EQ(h.dev->metrics().rate_limiter_throttled, 1u);
  h.clock->advance_ms(100);
  ASSERT_TRUE(h.fire_timer());
  EXPECT_EQ(h.ring.used_idx(), 2);
}

TEST(Rng, UpdateRateLimiterAfterBoot) {
  RngHarness h;
  EXPECT_FALSE(h.dev->rate_limiter().bandwidth().has_value());
  h.dev->update_rate_limiter(BucketUpdate::set(TokenBucketConfig{1000, 0, 1000}), BucketUpdate::keep());
  ASSERT_TRUE(h.dev->rate_limiter().bandwidth().has_value());
  EXPECT_EQ(h.dev->rate_limiter().bandwidth()->size(), 1000u);
  h.request(h.alloc(800), 800);
  h.request(h.alloc(800), 800);
  h.kick();
  EXPECT_EQ(h.ring.used_idx(), 1);
  EXPECT_EQ(h.dev->metrics().rate_limiter_throttled, 1u);
  // Removing the limit lets the waiting request through once the pending timer fires.
  h.dev->update_rate_limiter(BucketUpdate::disable(), BucketUpdate::keep());
  EXPECT_FALSE(h.dev->rate_limiter().bandwidth().has_value());
  ASSERT_TRUE(h.fire_timer());
  EXPECT_EQ(h.ring.used_idx(), 2);
}

TEST(Rng, StateRoundTripOnASecondDevice) {
  RngHarness h(limited(1000, 1000));
  h.request(h.alloc(300), 300);
  h.kick();
  ASSERT_EQ(h.ring.used_idx(), 1);
  const DeviceState s = h.dev->save();
  EXPECT_EQ(s.kind, "virtio-rng");
  EXPECT_EQ(s.id, "");
  EXPECT_EQ(s.version, 1u);
  EXPECT_EQ(s.data.at("acked_features").get<uint64_t>(), h.dev->acked_features());
  EXPECT_EQ(s.data.at("rate_limiter").at("bandwidth").at("budget").get<uint64_t>(), 700u);
  // Through JSON, as a snapshot file would carry it.
  const DeviceState reread = nlohmann::json(s).get<DeviceState>();

  RngDevice other(limited(5000, 10), nullptr, h.clock);
  other.restore(reread);
  const DeviceState again = other.save();
  EXPECT_EQ(nlohmann::json(again), nlohmann::json(s));
  EXPECT_EQ(other.rate_limiter().bandwidth()->budget(), 700u);
}

TEST(Rng, RestoreRefusesUnknownVersionAndKind) {
  RngHarness h;
  DeviceState s = h.dev->save();
  s.version = 99;
  try {
    h.dev->restore(s);
    FAIL() << "version 99 accepted";
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("virtio-rng"), std::string::npos) << msg;
    EXPECT_NE(msg.find("99"), std::string::npos) << msg;
    EXPECT_NE(msg.find("1..1"), std::string::npos) << msg;
  }
  DeviceState wrong_kind = h.dev->save();
  wrong_kind.kind = "virtio-blk";
  EXPECT_THROW(h.dev->restore(wrong_kind), Error);
  DeviceState malformed = h.dev->save();
  malformed.data = nlohmann::json::object();
  EXPECT_THROW(h.dev->restore(malformed), Error);
}

TEST(Rng, ExportMetrics) {
  RngHarness h;
  h.request(h.alloc(128), 128);
  h.add_chain({{h.alloc(8), 8, false}});
  h.kick();
  metrics::Registry reg;
  h.dev->export_metrics(reg, "entropy.");
  EXPECT_EQ(reg.counter("entropy.requests").get(), 2u);
  EXPECT_EQ(reg.counter("entropy.entropy_bytes").get(), 128u);
  EXPECT_EQ(reg.counter("entropy.event_fails").get(), 1u);
  EXPECT_EQ(reg.counter("entropy.event_count").get(), 1u);
  EXPECT_EQ(reg.counter("entropy.rate_limiter_throttled").get(), 0u);
  EXPECT_EQ(reg.counter("entropy.queue_errors").get(), 0u);
  EXPECT_EQ(reg.counter("entropy.host_rng_fails").get(), 0u);
  h.dev->export_metrics(reg, "entropy.");  // cumulative: exporting twice does not double
  EXPECT_EQ(reg.counter("entropy.requests").get(), 2u);
}

}  // namespace
}  // namespace hearth::virtio::rng::test
