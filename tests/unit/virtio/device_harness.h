#pragma once
// The driver side of one virtio-mmio device test: guest memory, a driver-side ring, the MMIO
// transport brought up like Linux does, and helpers that place buffers and chains in the ring.
#include <gtest/gtest.h>

#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "tests/unit/virtio/test_ring.h"
#include "virtio/mmio/transport.h"
#include "virtio/virtio_defs.h"

namespace hearth::virtio::test {

struct CountingIrq : IrqLine {
  int count = 0;
  void trigger() override { ++count; }
};

struct Seg {
  uint64_t addr;
  uint32_t len;
  bool writable;
};

class DeviceHarness {
 public:
  static constexpr uint16_t kRingSize = 256;

  uint32_t reg(uint64_t off) {
    uint32_t v = 0;
    transport->read(off, std::span(reinterpret_cast<uint8_t*>(&v), 4));
    return v;
  }
  void set_reg(uint64_t off, uint32_t v) { transport->write(off, std::span(reinterpret_cast<const uint8_t*>(&v), 4)); }

  // Places the chain in the ring and returns its head.
  uint16_t add_chain(const std::vector<Seg>& segs) {
    const uint16_t head = next_desc_;
    for (size_t i = 0; i < segs.size(); ++i) {
      const bool last = i + 1 == segs.size();
      const uint16_t idx = static_cast<uint16_t>((head + i) % kRingSize);
      ring.set_desc(idx, segs[i].addr, segs[i].len,
                    static_cast<uint16_t>((segs[i].writable ? kDescFlagWrite : 0) | (last ? 0 : kDescFlagNext)),
                    static_cast<uint16_t>((idx + 1) % kRingSize));
    }
    next_desc_ = static_cast<uint16_t>((head + segs.size()) % kRingSize);
    ring.push_avail(head);
    return head;
  }
  // Reserves `len` bytes of guest memory (16-byte aligned) for a buffer.
  uint64_t alloc(uint32_t len) {
    const uint64_t a = next_buf_;
    next_buf_ += (len + 15) & ~15u;
    return a;
  }
  void kick() { set_reg(mmio::kRegQueueNotify, 0); }
  std::vector<uint8_t> guest_bytes(uint64_t addr, size_t len) {
    std::vector<uint8_t> v(len);
    mem.read(addr, v);
    return v;
  }

  GuestMemory mem = GuestMemory::create_anonymous({{0, 0x200000}});
  std::shared_ptr<CountingIrq> irq = std::make_shared<CountingIrq>();
  std::unique_ptr<mmio::MmioTransport> transport;
  TestRing ring{mem, kRingSize, 0x1000, 0x3000, 0x4000};

 protected:
  // Puts `device` behind a new transport and brings it up with queue 0 on `ring`.
  void attach(std::shared_ptr<VirtioDevice> device, uint64_t features) {
    transport = std::make_unique<mmio::MmioTransport>(device, mem, irq);
    bring_up(*device, features);
  }
  // The driver's bring-up sequence, accepting `features`.
  void bring_up(const VirtioDevice& device, uint64_t features) {
    set_reg(mmio::kRegStatus, kStatusAcknowledge);
    set_reg(mmio::kRegStatus, kStatusAcknowledge | kStatusDriver);
    set_reg(mmio::kRegDriverFeaturesSel, 0);
    set_reg(mmio::kRegDriverFeatures, static_cast<uint32_t>(features));
    set_reg(mmio::kRegDriverFeaturesSel, 1);
    set_reg(mmio::kRegDriverFeatures, static_cast<uint32_t>(features >> 32));
    set_reg(mmio::kRegStatus, kStatusAcknowledge | kStatusDriver | kStatusFeaturesOk);
    set_reg(mmio::kRegQueueSel, 0);
    set_reg(mmio::kRegQueueNum, kRingSize);
    set_reg(mmio::kRegQueueDescLow, static_cast<uint32_t>(ring.desc_addr()));
    set_reg(mmio::kRegQueueDriverLow, static_cast<uint32_t>(ring.avail_addr()));
    set_reg(mmio::kRegQueueDeviceLow, static_cast<uint32_t>(ring.used_addr()));
    set_reg(mmio::kRegQueueReady, 1);
    set_reg(mmio::kRegStatus, kStatusAcknowledge | kStatusDriver | kStatusFeaturesOk | kStatusDriverOk);
    EXPECT_TRUE(device.activated());
  }
  // Driver reset, then a fresh driver with fresh rings.
  void reset_and_bring_up(const VirtioDevice& device, uint64_t features) {
    set_reg(mmio::kRegStatus, 0);
    EXPECT_FALSE(device.activated());
    std::vector<uint8_t> zero(0x4000 + 8 * kRingSize + 8 - 0x1000, 0);
    mem.write(0x1000, zero);
    ring.set_avail_idx(0);
    next_desc_ = 0;
    bring_up(device, features);
  }

 private:
  uint16_t next_desc_ = 0;
  uint64_t next_buf_ = 0x10000;
};

}  // namespace hearth::virtio::test
