#include <poll.h>

#include <gtest/gtest.h>

#include <cstring>
#include <memory>
#include <vector>

#include <nlohmann/json.hpp>

#include "tests/unit/virtio/device_harness.h"
#include "virtio/balloon/device.h"
#include "virtio/mmio/transport.h"
#include "virtio/virtio_defs.h"
#include "vmm/base/error.h"
#include "vmm/metrics/registry.h"

namespace hearth::virtio::balloon::test {
namespace {

using virtio::test::CountingIrq;
using virtio::test::TestRing;

constexpr uint64_t kMem = 8 << 20;  // 8 MiB of guest RAM; rings and buffers in the first MiB

// The driver side of a balloon with all its queues, brought up as Linux does.
class BalloonHarness {
 public:
  explicit BalloonHarness(BalloonConfig cfg = {0, false, 1, true}) {
    dev = std::make_shared<BalloonDevice>(cfg, nullptr);
    const size_t n = dev->queue_max_sizes().size();
    for (size_t i = 0; i < n; ++i) rings.push_back(std::make_unique<TestRing>(mem, 64, 0x10000 * (i + 1), 0x10000 * (i + 1) + 0x1000, 0x10000 * (i + 1) + 0x2000));
    next_desc.assign(n, 0);
    transport = std::make_unique<mmio::MmioTransport>(dev, mem, irq);
    bring_up(dev->avail_features());
  }
  ~BalloonHarness() {
    transport.reset();
    dev.reset();
  }
  uint32_t reg(uint64_t off) {
    uint32_t v = 0;
    transport->read(off, std::span(reinterpret_cast<uint8_t*>(&v), 4));
    return v;
  }
  void set_reg(uint64_t off, uint32_t v) { transport->write(off, std::span(reinterpret_cast<const uint8_t*>(&v), 4)); }
  void bring_up(uint64_t features) {
    set_reg(mmio::kRegStatus, kStatusAcknowledge);
    set_reg(mmio::kRegStatus, kStatusAcknowledge | kStatusDriver);
    set_reg(mmio::kRegDriverFeaturesSel, 0);
    set_reg(mmio::kRegDriverFeatures, static_cast<uint32_t>(features));
    set_reg(mmio::kRegDriverFeaturesSel, 1);
    set_reg(mmio::kRegDriverFeatures, static_cast<uint32_t>(features >> 32));
    set_reg(mmio::kRegStatus, kStatusAcknowledge | kStatusDriver | kStatusFeaturesOk);
    for (uint32_t q = 0; q < rings.size(); ++q) {
      set_reg(mmio::kRegQueueSel, q);
      set_reg(mmio::kRegQueueNum, rings[q]->size());
      set_reg(mmio::kRegQueueDescLow, static_cast<uint32_t>(rings[q]->desc_addr()));
      set_reg(mmio::kRegQueueDriverLow, static_cast<uint32_t>(rings[q]->avail_addr()));
      set_reg(mmio::kRegQueueDeviceLow, static_cast<uint32_t>(rings[q]->used_addr()));
      set_reg(mmio::kRegQueueReady, 1);
    }
    set_reg(mmio::kRegStatus, kStatusAcknowledge | kStatusDriver | kStatusFeaturesOk | kStatusDriverOk);
    ASSERT_TRUE(dev->activated());
  }
  // One chain of one buffer holding `bytes` (device-readable, or device-writable).
  uint16_t send(uint16_t q, const std::vector<uint8_t>& bytes, bool writable = false, uint64_t addr = 0) {
    if (addr == 0) {
      addr = next_buf;
      next_buf += (bytes.size() + 15) & ~size_t{15};
      mem.write(addr, bytes);
    }
    const uint16_t head = next_desc[q]++;
    rings[q]->set_desc(head, addr, static_cast<uint32_t>(bytes.size()), writable ? kDescFlagWrite : 0, 0);
    rings[q]->push_avail(head);
    set_reg(mmio::kRegQueueNotify, q);
    return head;
  }
  static std::vector<uint8_t> pfns(const std::vector<uint32_t>& p) {
    std::vector<uint8_t> b(p.size() * 4);
    std::memcpy(b.data(), p.data(), b.size());
    return b;
  }
  static std::vector<uint8_t> stats(std::initializer_list<std::pair<uint16_t, uint64_t>> records) {
    std::vector<uint8_t> b;
    for (auto [tag, value] : records) {
      uint8_t rec[10];
      std::memcpy(rec, &tag, 2);
      std::memcpy(rec + 2, &value, 8);
      b.insert(b.end(), rec, rec + 10);
    }
    return b;
  }
  uint8_t byte_at(uint64_t addr) { return mem.read_obj<uint8_t>(addr); }
  bool needs_reset() { return (reg(mmio::kRegStatus) & kStatusNeedsReset) != 0; }

  GuestMemory mem = GuestMemory::create_anonymous({{0, kMem}});
  std::shared_ptr<CountingIrq> irq = std::make_shared<CountingIrq>();
  std::shared_ptr<BalloonDevice> dev;
  std::vector<std::unique_ptr<TestRing>> rings;
  std::vector<uint16_t> next_desc;
  std::unique_ptr<mmio::MmioTransport> transport;
  uint64_t next_buf = 0x80000;
};

TEST(Balloon, FeaturesQueuesAndConfigSpace) {
  BalloonHarness h({16, true, 5, true});
  EXPECT_EQ(h.reg(mmio::kRegDeviceId), kDeviceIdBalloon);
  const uint64_t f = h.dev->avail_features();
  EXPECT_TRUE(f & feature_bit(kFeatureVersion1));
  EXPECT_TRUE(f & feature_bit(kFeatureStatsVq));
  EXPECT_TRUE(f & feature_bit(kFeatureDeflateOnOom));
  EXPECT_TRUE(f & feature_bit(kFeatureFreePageReporting));
  EXPECT_EQ(h.dev->queue_max_sizes().size(), 4u);
  EXPECT_EQ(h.reg(mmio::kConfigSpace), 16u * 256);  // num_pages
  EXPECT_EQ(h.reg(mmio::kConfigSpace + 4), 0u);     // actual
  h.set_reg(mmio::kConfigSpace + 4, 123);
  h.set_reg(mmio::kConfigSpace, 7);  // num_pages is the device's: ignored
  EXPECT_EQ(h.reg(mmio::kConfigSpace + 4), 123u);
  EXPECT_EQ(h.reg(mmio::kConfigSpace), 16u * 256);
  EXPECT_EQ(h.dev->actual_pages(), 123u);

  const BalloonDevice plain({0, false, 0, false}, nullptr);
  EXPECT_EQ(plain.queue_max_sizes().size(), 2u);
  EXPECT_EQ(plain.avail_features(), feature_bit(kFeatureVersion1));
  EXPECT_EQ(plain.stats_timer_fd(), -1);
  // Reporting without statistics is queue 2.
  BalloonHarness r({0, false, 0, true});
  EXPECT_EQ(r.dev->queue_max_sizes().size(), 3u);
  std::vector<uint8_t> page(4096, 0xab);
  r.mem.write(0x300000, page);
  r.send(2, std::vector<uint8_t>(4096), true, 0x300000);
  EXPECT_EQ(r.byte_at(0x300000), 0);
  EXPECT_EQ(r.rings[2]->used_idx(), 1);
}

TEST(Balloon, InflateDiscardsPagesInsideRamOnly) {
  BalloonHarness h;
  std::vector<uint8_t> ones(3 * 4096, 0x5a);
  h.mem.write(0x400000, ones);
  // Pages 0x400 and 0x401, one repeated many times, plus PFNs far beyond RAM and at the top of the u32 range.
  std::vector<uint32_t> p{0x400, 0x401, 0x401, 0x401, 0x12345, 0xffffffff};
  h.send(kInflateQueue, BalloonHarness::pfns(p));
  EXPECT_EQ(h.rings[0]->used_idx(), 1);
  EXPECT_EQ(h.byte_at(0x400000), 0);
  EXPECT_EQ(h.byte_at(0x401fff), 0);
  EXPECT_EQ(h.byte_at(0x402000), 0x5a);  // the neighbour was not named
  EXPECT_EQ(h.dev->metrics().inflate_count, 1u);
  EXPECT_EQ(h.dev->metrics().discarded_bytes, 2u * 4096);
  EXPECT_EQ(h.dev->metrics().invalid_pfns, 2u);
  EXPECT_FALSE(h.needs_reset());
  EXPECT_GT(h.irq->count, 0);
}

TEST(Balloon, HugeArrayIsBoundedAndDeflateTouchesNothing) {
  BalloonHarness h;
  // 256 KiB of PFNs, each repeated: only the first kMaxPfnBytes are read.
  std::vector<uint32_t> p(64 * 1024, 0x500);
  h.send(kInflateQueue, BalloonHarness::pfns(p));
  EXPECT_EQ(h.dev->metrics().discarded_bytes, 4096u);
  EXPECT_EQ(h.dev->metrics().event_fails, 1u);
  std::vector<uint8_t> x(4096, 0x77);
  h.mem.write(0x600000, x);
  h.send(kDeflateQueue, BalloonHarness::pfns({0x600}));
  EXPECT_EQ(h.rings[1]->used_idx(), 1);
  EXPECT_EQ(h.byte_at(0x600000), 0x77);
  EXPECT_EQ(h.dev->metrics().deflate_count, 1u);
}

TEST(Balloon, StatisticsHeldAndReturnedAtEachPoll) {
  BalloonHarness h({0, false, 1, false});
  EXPECT_THROW(h.dev->api_get("nope"), Error);
  h.send(2, BalloonHarness::stats({{kFreeMemory, 100 << 20}, {kTotalMemory, 256 << 20}, {kMinorFaults, 42}}));
  EXPECT_EQ(h.rings[2]->used_idx(), 0);  // held until the next poll
  auto s = h.dev->api_get("statistics");
  EXPECT_EQ(s["free_memory"], 100 << 20);
  EXPECT_EQ(s["total_memory"], 256 << 20);
  EXPECT_EQ(s["minor_faults"], 42);
  EXPECT_FALSE(s.contains("swap_in"));
  EXPECT_EQ(s["target_pages"], 0);
  // The 1 s timer fires: the buffer goes back, which asks the driver for fresh numbers.
  pollfd p{h.dev->stats_timer_fd(), POLLIN, 0};
  ASSERT_EQ(::poll(&p, 1, 3000), 1);
  h.dev->handle_stats_timer();
  EXPECT_EQ(h.rings[2]->used_idx(), 1);
  h.send(2, BalloonHarness::stats({{kFreeMemory, 90 << 20}}));
  EXPECT_EQ(h.dev->api_get("statistics")["free_memory"], 90 << 20);
  EXPECT_EQ(h.dev->metrics().stats_updates_count, 2u);
  // A malformed buffer keeps the last numbers.
  h.send(2, std::vector<uint8_t>(7));
  EXPECT_EQ(h.dev->metrics().stats_update_fails, 1u);
  EXPECT_EQ(h.rings[2]->used_idx(), 2);  // the previous held buffer went back
  EXPECT_EQ(h.dev->api_get("statistics")["free_memory"], 90 << 20);
  // Interval changes keep statistics on; turning them off (or on) after boot is refused.
  EXPECT_NO_THROW(h.dev->api_patch("statistics", {{"stats_polling_interval_s", 3}}));
  EXPECT_THROW(h.dev->api_patch("statistics", {{"stats_polling_interval_s", 0}}), Error);
  EXPECT_EQ(h.dev->api_get("")["stats_polling_interval_s"], 3);

  BalloonHarness off({0, false, 0, false});
  EXPECT_THROW(off.dev->api_get("statistics"), Error);
  EXPECT_THROW(off.dev->api_patch("statistics", {{"stats_polling_interval_s", 1}}), Error);
}

TEST(Balloon, TargetPatchSignalsConfigChange) {
  BalloonHarness h;
  const int irqs = h.irq->count;
  h.dev->api_patch("", {{"amount_mib", 4}});
  EXPECT_EQ(h.reg(mmio::kConfigSpace), 4u * 256);
  EXPECT_GT(h.irq->count, irqs);
  EXPECT_TRUE(h.reg(mmio::kRegInterruptStatus) & kInterruptConfigChange);
  EXPECT_EQ(h.dev->api_get("")["amount_mib"], 4);
  EXPECT_EQ(h.dev->api_get("statistics")["target_mib"], 4);
  EXPECT_THROW(h.dev->api_patch("", {{"amount_mib", 9}}), Error);  // more than the 8 MiB of RAM
  EXPECT_EQ(h.reg(mmio::kConfigSpace), 4u * 256);
}

TEST(Balloon, BrokenRingNeedsResetNoCrash) {
  BalloonHarness h;
  h.rings[0]->set_desc(0, kMem - 2, 64, 0, 0);  // runs off the end of RAM
  h.rings[0]->push_avail(0);
  h.set_reg(mmio::kRegQueueNotify, 0);
  EXPECT_TRUE(h.needs_reset());
  EXPECT_EQ(h.dev->metrics().queue_errors, 1u);
}

TEST(Balloon, SnapshotRoundTrip) {
  BalloonHarness h({2, true, 1, true});
  h.set_reg(mmio::kConfigSpace + 4, 512);
  h.send(2, BalloonHarness::stats({{kAvailableMemory, 777}}));
  const DeviceState saved = h.dev->save();
  const nlohmann::json wire = saved;  // as the snapshot file carries it

  BalloonDevice fresh({2, true, 1, true}, nullptr);
  fresh.restore(wire.get<DeviceState>());
  EXPECT_EQ(fresh.save().data, saved.data);
  EXPECT_EQ(fresh.actual_pages(), 512u);
  EXPECT_EQ(fresh.api_get("statistics")["available_memory"], 777);

  BalloonDevice nostats({2, true, 0, true}, nullptr);
  EXPECT_THROW(nostats.restore(saved), Error);
  DeviceState future = saved;
  future.version = kStateVersion + 1;
  EXPECT_THROW(fresh.restore(future), Error);
  DeviceState garbage = saved;
  garbage.data = {{"acked_features", "x"}};
  EXPECT_THROW(fresh.restore(garbage), Error);
}

TEST(Balloon, MetricsExported) {
  BalloonHarness h;
  h.send(kInflateQueue, BalloonHarness::pfns({0x700}));
  metrics::Registry reg;
  h.dev->export_metrics(reg, "balloon.");
  const std::string text = reg.render_prometheus();
  EXPECT_NE(text.find("balloon_inflate_count"), std::string::npos) << text;
  EXPECT_NE(text.find("balloon_discarded_bytes"), std::string::npos);
}

}  // namespace
}  // namespace hearth::virtio::balloon::test
