#include "virtio/mmio/transport.h"

#include <gtest/gtest.h>

#include <cstring>
#include <nlohmann/json.hpp>

#include "tests/unit/virtio/test_ring.h"
#include "virtio/virtio_defs.h"
#include "vmm/base/error.h"

namespace hearth::virtio::mmio {
namespace {

struct CountingIrq : IrqLine {
  int count = 0;
  void trigger() override { ++count; }
};

// A device that records what the transport asks of it.
struct FakeDevice : VirtioDevice {
  static constexpr uint64_t kFeatures = feature_bit(kFeatureVersion1) | feature_bit(kFeatureRingEventIdx) | 0x5;
  uint32_t device_type() const override { return 42; }
  uint64_t avail_features() const override { return kFeatures; }
  std::vector<uint16_t> queue_max_sizes() const override { return {64, 32}; }
  void read_config(uint64_t offset, std::span<uint8_t> data) const override {
    for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<uint8_t>(0xa0 + offset + i);
  }
  void write_config(uint64_t offset, std::span<const uint8_t> data) override {
    config_writes.emplace_back(offset, data.size());
  }
  void activate(const GuestMemory&, std::span<Queue> q, VirtioInterrupt& irq, uint64_t features) override {
    if (fail_activation) throw Error("no");
    active = true;
    queues = q;
    interrupt = &irq;
    acked = features;
  }
  bool activated() const override { return active; }
  void reset() override {
    active = false;
    ++resets;
  }
  void process_queue(uint16_t index) override { processed.push_back(index); }

  bool active = false;
  bool fail_activation = false;
  int resets = 0;
  uint64_t acked = 0;
  std::span<Queue> queues;
  VirtioInterrupt* interrupt = nullptr;
  std::vector<uint16_t> processed;
  std::vector<std::pair<uint64_t, size_t>> config_writes;
};

class TransportTest : public ::testing::Test {
 protected:
  GuestMemory mem = GuestMemory::create_anonymous({{0, 0x100000}});
  std::shared_ptr<FakeDevice> dev = std::make_shared<FakeDevice>();
  std::shared_ptr<CountingIrq> irq = std::make_shared<CountingIrq>();
  std::unique_ptr<MmioTransport> t = std::make_unique<MmioTransport>(dev, mem, irq);

  uint32_t rd(uint64_t off) {
    uint32_t v = 0xdeadbeef;
    t->read(off, std::span(reinterpret_cast<uint8_t*>(&v), 4));
    return v;
  }
  void wr(uint64_t off, uint32_t v) { t->write(off, std::span(reinterpret_cast<const uint8_t*>(&v), 4)); }

  void negotiate(uint64_t features = feature_bit(kFeatureVersion1)) {
    wr(kRegStatus, kStatusAcknowledge);
    wr(kRegStatus, kStatusAcknowledge | kStatusDriver);
    wr(kRegDriverFeaturesSel, 0);
    wr(kRegDriverFeatures, static_cast<uint32_t>(features));
    wr(kRegDriverFeaturesSel, 1);
    wr(kRegDriverFeatures, static_cast<uint32_t>(features >> 32));
    wr(kRegStatus, kStatusAcknowledge | kStatusDriver | kStatusFeaturesOk);
  }
  void setup_queue(uint32_t index, uint32_t size, uint64_t base) {
    wr(kRegQueueSel, index);
    wr(kRegQueueNum, size);
    wr(kRegQueueDescLow, static_cast<uint32_t>(base));
    wr(kRegQueueDescHigh, 0);
    wr(kRegQueueDriverLow, static_cast<uint32_t>(base + 0x1000));
    wr(kRegQueueDeviceLow, static_cast<uint32_t>(base + 0x2000));
    wr(kRegQueueReady, 1);
  }
  void bring_up() {
    negotiate(feature_bit(kFeatureVersion1) | feature_bit(kFeatureRingEventIdx));
    setup_queue(0, 64, 0x10000);
    setup_queue(1, 32, 0x20000);
    wr(kRegStatus, kStatusAcknowledge | kStatusDriver | kStatusFeaturesOk | kStatusDriverOk);
  }
};

TEST_F(TransportTest, IdentificationRegisters) {
  EXPECT_EQ(rd(kRegMagicValue), 0x74726976u);
  EXPECT_EQ(rd(kRegVersion), 2u);
  EXPECT_EQ(rd(kRegDeviceId), 42u);
  EXPECT_EQ(rd(kRegVendorId), kVendorId);
  EXPECT_EQ(rd(kRegShmLenLow), 0xffffffffu);  // no shared memory regions
}

TEST_F(TransportTest, DeviceFeaturePages) {
  wr(kRegDeviceFeaturesSel, 0);
  EXPECT_EQ(rd(kRegDeviceFeatures), static_cast<uint32_t>(FakeDevice::kFeatures));
  wr(kRegDeviceFeaturesSel, 1);
  EXPECT_EQ(rd(kRegDeviceFeatures), 1u);  // VERSION_1 is bit 32
  wr(kRegDeviceFeaturesSel, 7);
  EXPECT_EQ(rd(kRegDeviceFeatures), 0u);
}

TEST_F(TransportTest, FullHandshakeActivatesWithAckedFeatures) {
  bool activated_cb = false;
  t->set_activated_callback([&] { activated_cb = true; });
  bring_up();
  EXPECT_TRUE(dev->active);
  EXPECT_TRUE(activated_cb);
  EXPECT_EQ(dev->acked, feature_bit(kFeatureVersion1) | feature_bit(kFeatureRingEventIdx));
  ASSERT_EQ(dev->queues.size(), 2u);
  EXPECT_EQ(dev->queues[1].size(), 32);
  EXPECT_EQ(dev->queues[1].desc_table(), 0x20000u);
  EXPECT_EQ(rd(kRegStatus), 0xfu);
}

TEST_F(TransportTest, FeaturesOkRefusedWithoutVersion1) {
  negotiate(0x1);
  EXPECT_EQ(rd(kRegStatus), kStatusAcknowledge | kStatusDriver);
}

TEST_F(TransportTest, FeaturesOkRefusedForUnofferedFeature) {
  negotiate(feature_bit(kFeatureVersion1) | 0x2);  // bit 1 is not offered
  EXPECT_EQ(rd(kRegStatus), kStatusAcknowledge | kStatusDriver);
}

TEST_F(TransportTest, SkippingAStepIsIgnored) {
  wr(kRegStatus, kStatusAcknowledge | kStatusDriver);
  EXPECT_EQ(rd(kRegStatus), 0u);
  wr(kRegStatus, kStatusAcknowledge);
  wr(kRegStatus, kStatusAcknowledge | kStatusDriver | kStatusFeaturesOk | kStatusDriverOk);
  EXPECT_EQ(rd(kRegStatus), kStatusAcknowledge);
}

TEST_F(TransportTest, QueueRegistersOnlyWritableAfterFeaturesOk) {
  wr(kRegQueueSel, 0);
  wr(kRegQueueNum, 16);
  wr(kRegQueueReady, 1);
  EXPECT_EQ(rd(kRegQueueReady), 0u);
  negotiate();
  EXPECT_EQ(rd(kRegQueueNumMax), 64u);
  wr(kRegQueueSel, 1);
  EXPECT_EQ(rd(kRegQueueNumMax), 32u);
  wr(kRegQueueSel, 2);
  EXPECT_EQ(rd(kRegQueueNumMax), 0u);  // no such queue
  wr(kRegQueueSel, 0);
  wr(kRegQueueReady, 1);
  EXPECT_EQ(rd(kRegQueueReady), 1u);
}

TEST_F(TransportTest, InvalidQueueAtDriverOkNeedsReset) {
  negotiate();
  setup_queue(0, 48, 0x10000);  // not a power of two
  setup_queue(1, 32, 0x20000);
  wr(kRegStatus, 0xf);
  EXPECT_FALSE(dev->active);
  EXPECT_EQ(rd(kRegStatus), 0xfu | kStatusNeedsReset);
  EXPECT_EQ(rd(kRegInterruptStatus), kInterruptConfigChange);
  EXPECT_EQ(irq->count, 1);
}

TEST_F(TransportTest, ActivationFailureNeedsReset) {
  dev->fail_activation = true;
  bring_up();
  EXPECT_EQ(rd(kRegStatus) & kStatusNeedsReset, kStatusNeedsReset);
}

TEST_F(TransportTest, WritingZeroResets) {
  bool reset_cb = false;
  t->set_reset_callback([&] { reset_cb = true; });
  bring_up();
  wr(kRegStatus, 0);
  EXPECT_FALSE(dev->active);
  EXPECT_EQ(dev->resets, 1);
  EXPECT_TRUE(reset_cb);
  EXPECT_EQ(rd(kRegStatus), 0u);
  wr(kRegQueueSel, 0);
  EXPECT_EQ(rd(kRegQueueReady), 0u);
  EXPECT_EQ(t->save().queues[0].desc_table, 0u);
}

TEST_F(TransportTest, QueueNotifyWithoutLoopProcessesDirectly) {
  wr(kRegQueueNotify, 1);
  EXPECT_TRUE(dev->processed.empty());  // not active yet
  bring_up();
  wr(kRegQueueNotify, 1);
  wr(kRegQueueNotify, 9);  // no such queue
  EXPECT_EQ(dev->processed, std::vector<uint16_t>{1});
}

TEST_F(TransportTest, QueueNotifyWithLoopGoesThroughTheEventFd) {
  EventLoop loop;
  t = std::make_unique<MmioTransport>(dev, mem, irq, &loop);
  bring_up();
  wr(kRegQueueNotify, 0);
  EXPECT_TRUE(dev->processed.empty());  // never on the vCPU thread
  loop.run_once(1000);
  EXPECT_EQ(dev->processed, std::vector<uint16_t>{0});
  t->queue_event(1).signal();  // what a KVM ioeventfd does
  loop.run_once(1000);
  EXPECT_EQ(dev->processed, (std::vector<uint16_t>{0, 1}));
  t.reset();  // unregisters from the loop before the loop goes away
}

TEST_F(TransportTest, InterruptStatusAndAck) {
  bring_up();
  dev->interrupt->signal_used_queue(0);
  EXPECT_EQ(irq->count, 1);
  EXPECT_EQ(rd(kRegInterruptStatus), kInterruptUsedRing);
  const uint32_t gen = rd(kRegConfigGeneration);
  dev->interrupt->signal_config();
  EXPECT_EQ(rd(kRegInterruptStatus), kInterruptUsedRing | kInterruptConfigChange);
  EXPECT_NE(rd(kRegConfigGeneration), gen);
  wr(kRegInterruptAck, kInterruptUsedRing);
  EXPECT_EQ(rd(kRegInterruptStatus), kInterruptConfigChange);
}

TEST_F(TransportTest, DeviceReportedErrorShowsNeedsResetAndStopsNotifies) {
  bring_up();
  dev->interrupt->signal_needs_reset();
  EXPECT_EQ(rd(kRegStatus), 0xfu | kStatusNeedsReset);
  wr(kRegQueueNotify, 0);
  EXPECT_TRUE(dev->processed.empty());
  wr(kRegStatus, 0);
  EXPECT_EQ(rd(kRegStatus), 0u);
}

TEST_F(TransportTest, ConfigSpaceAnyWidthAndRegistersOnly32Bit) {
  uint8_t b[2] = {};
  t->read(kConfigSpace + 3, b);
  EXPECT_EQ(b[0], 0xa3);
  EXPECT_EQ(b[1], 0xa4);
  uint8_t w[1] = {7};
  t->write(kConfigSpace + 5, w);
  ASSERT_EQ(dev->config_writes.size(), 1u);
  EXPECT_EQ(dev->config_writes[0].first, 5u);
  uint16_t half = 0xffff;
  t->read(kRegMagicValue, std::span(reinterpret_cast<uint8_t*>(&half), 2));
  EXPECT_EQ(half, 0);
}

TEST_F(TransportTest, SaveRestoreReactivates) {
  bring_up();
  auto s = t->save();
  nlohmann::json j = s;
  auto back = j.get<TransportState>();
  EXPECT_EQ(back, s);

  auto dev2 = std::make_shared<FakeDevice>();
  MmioTransport t2(dev2, mem, irq);
  t2.restore(back);
  EXPECT_TRUE(dev2->active);
  EXPECT_EQ(dev2->acked, s.driver_features);
  EXPECT_EQ(t2.save(), s);
  back.device_type = 7;
  EXPECT_THROW(t2.restore(back), Error);
}

}  // namespace
}  // namespace hearth::virtio::mmio
