#pragma once
// Test driver for virtio-blk: a temp backing file, guest memory, the MMIO transport brought up
// like Linux does, and helpers that place requests in the ring.
#include <fcntl.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

#include "tests/unit/virtio/test_ring.h"
#include "virtio/blk/defs.h"
#include "virtio/blk/device.h"
#include "virtio/mmio/transport.h"
#include "virtio/virtio_defs.h"

namespace hearth::virtio::blk::test {

struct CountingIrq : IrqLine {
  int count = 0;
  void trigger() override { ++count; }
};

struct TempFile {
  std::string path;
  explicit TempFile(const std::vector<uint8_t>& content) {
    char tmpl[] = "/tmp/hearth_blk_XXXXXX";
    int fd = ::mkstemp(tmpl);
    EXPECT_GE(fd, 0);
    path = tmpl;
    EXPECT_EQ(::write(fd, content.data(), content.size()), static_cast<ssize_t>(content.size()));
    ::close(fd);
  }
  ~TempFile() { ::unlink(path.c_str()); }
  std::vector<uint8_t> read_all() const {
    std::vector<uint8_t> out;
    int fd = ::open(path.c_str(), O_RDONLY);
    uint8_t buf[4096];
    ssize_t n;
    while ((n = ::read(fd, buf, sizeof(buf))) > 0) out.insert(out.end(), buf, buf + n);
    ::close(fd);
    return out;
  }
};

inline std::vector<uint8_t> pattern(size_t size, uint8_t seed = 1) {
  std::vector<uint8_t> v(size);
  for (size_t i = 0; i < size; ++i) v[i] = static_cast<uint8_t>(i * 7 + seed + i / 512);
  return v;
}

struct Seg {
  uint64_t addr;
  uint32_t len;
  bool writable;
};

class BlkHarness {
 public:
  static constexpr uint16_t kRingSize = 256;

  BlkHarness(DriveConfig cfg, std::vector<uint8_t> content, bool indirect = false)
      : file(content) {
    cfg.path_on_host = file.path;
    config = cfg;
    dev = std::make_shared<BlkDevice>(cfg, &loop);
    transport = std::make_unique<mmio::MmioTransport>(dev, mem, irq);
    bring_up(indirect);
  }
  ~BlkHarness() {
    transport.reset();
    dev.reset();
  }

  uint32_t reg(uint64_t off) {
    uint32_t v = 0;
    transport->read(off, std::span(reinterpret_cast<uint8_t*>(&v), 4));
    return v;
  }
  void set_reg(uint64_t off, uint32_t v) {
    transport->write(off, std::span(reinterpret_cast<const uint8_t*>(&v), 4));
  }

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
  uint64_t alloc(uint32_t len) {
    const uint64_t a = next_buf_;
    next_buf_ += (len + 15) & ~15u;
    return a;
  }
  uint64_t header(uint32_t type, uint64_t sector) {
    const uint64_t a = alloc(16);
    mem.write_obj(a, RequestHeader{type, 0, sector});
    return a;
  }
  uint64_t status_byte() {
    const uint64_t a = alloc(1);
    mem.write_obj<uint8_t>(a, 0xee);  // so a test sees whether the device wrote it
    return a;
  }

  struct Submitted {
    uint16_t head;
    uint64_t data;
    uint64_t status;
  };
  Submitted read_req(uint64_t sector, uint32_t len) {
    Submitted s{0, alloc(len), 0};
    const uint64_t h = header(kTypeIn, sector);
    s.status = status_byte();
    s.head = add_chain({{h, 16, false}, {s.data, len, true}, {s.status, 1, true}});
    return s;
  }
  Submitted write_req(uint64_t sector, const std::vector<uint8_t>& data) {
    Submitted s{0, alloc(static_cast<uint32_t>(data.size())), 0};
    mem.write(s.data, data);
    const uint64_t h = header(kTypeOut, sector);
    s.status = status_byte();
    s.head = add_chain({{h, 16, false}, {s.data, static_cast<uint32_t>(data.size()), false}, {s.status, 1, true}});
    return s;
  }
  Submitted simple_req(uint32_t type, uint64_t sector = 0) {
    Submitted s{0, 0, 0};
    const uint64_t h = header(type, sector);
    s.status = status_byte();
    s.head = add_chain({{h, 16, false}, {s.status, 1, true}});
    return s;
  }

  void kick() { set_reg(mmio::kRegQueueNotify, 0); }
  // Kicks and runs the event loop until `n` used entries exist in total (async completions).
  bool kick_and_wait(uint16_t n, int timeout_ms = 2000) {
    kick();
    return wait_used(n, timeout_ms);
  }
  bool wait_used(uint16_t n, int timeout_ms = 2000) {
    for (int waited = 0; ring.used_idx() < n && waited < timeout_ms; waited += 10) loop.run_once(10);
    return ring.used_idx() >= n;
  }
  uint8_t status_of(const Submitted& s) { return mem.read_obj<uint8_t>(s.status); }
  std::vector<uint8_t> guest_bytes(uint64_t addr, size_t len) {
    std::vector<uint8_t> v(len);
    mem.read(addr, v);
    return v;
  }

  TempFile file;
  DriveConfig config;
  EventLoop loop;
  GuestMemory mem = GuestMemory::create_anonymous({{0, 0x200000}});
  std::shared_ptr<CountingIrq> irq = std::make_shared<CountingIrq>();
  std::shared_ptr<BlkDevice> dev;
  std::unique_ptr<mmio::MmioTransport> transport;
  virtio::test::TestRing ring{mem, kRingSize, 0x1000, 0x3000, 0x4000};

 private:
  void bring_up(bool indirect) {
    set_reg(mmio::kRegStatus, kStatusAcknowledge);
    set_reg(mmio::kRegStatus, kStatusAcknowledge | kStatusDriver);
    uint64_t features = dev->avail_features();
    if (!indirect) features &= ~feature_bit(kFeatureRingIndirectDesc);
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
    EXPECT_TRUE(dev->activated());
  }

  uint16_t next_desc_ = 0;
  uint64_t next_buf_ = 0x10000;
};

}  // namespace hearth::virtio::blk::test
