#pragma once
// The driver side of a virtio-net test: guest memory, an rx ring (queue 0) and a tx ring (queue 1)
// behind the MMIO transport, and the device on a SOCK_SEQPACKET socketpair that keeps frame boundaries
// as a TAP does. The test plays the host on the other end (peer).
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <memory>
#include <optional>
#include <span>
#include <vector>

#include "tests/unit/virtio/device_harness.h"
#include "tests/unit/virtio/fake_clock.h"
#include "tests/unit/virtio/test_ring.h"
#include "virtio/mmio/transport.h"
#include "virtio/net/device.h"
#include "virtio/virtio_defs.h"
#include "vmm/base/fd.h"

namespace hearth::virtio::net::test {

using virtio::test::Seg;

struct PairBackend : Backend {
  UniqueFd end;
  uint64_t* offload_out = nullptr;
  int fd() const override { return end.get(); }
  void set_offload(uint64_t f) override {
    if (offload_out) *offload_out = f;
  }
};

// One ring as the driver fills it.
struct DriverRing {
  virtio::test::TestRing ring;
  uint16_t next_desc = 0;
  uint16_t add(const std::vector<Seg>& segs) {
    const uint16_t head = next_desc;
    for (size_t i = 0; i < segs.size(); ++i) {
      const bool last = i + 1 == segs.size();
      const uint16_t idx = static_cast<uint16_t>((head + i) % ring.size());
      ring.set_desc(idx, segs[i].addr, segs[i].len,
                    static_cast<uint16_t>((segs[i].writable ? kDescFlagWrite : 0) | (last ? 0 : kDescFlagNext)),
                    static_cast<uint16_t>((idx + 1) % ring.size()));
    }
    next_desc = static_cast<uint16_t>((head + segs.size()) % ring.size());
    ring.push_avail(head);
    return head;
  }
};

inline uint64_t default_features(const NetDevice& dev) { return dev.avail_features(); }

class NetHarness {
 public:
  static constexpr uint16_t kRingSize = 256;

  explicit NetHarness(NetConfig cfg = default_config(), std::optional<uint64_t> features = std::nullopt,
                      std::unique_ptr<MmdsPort> mmds = nullptr, std::unique_ptr<Backend> real = nullptr,
                      EventLoop* loop = nullptr) {
    if (real) {
      dev = std::make_shared<NetDevice>(std::move(cfg), std::move(real), nullptr, std::move(mmds), clock);
      transport = std::make_unique<mmio::MmioTransport>(dev, mem, irq);
      bring_up(features.value_or(dev->avail_features()));
      return;
    }
    int sv[2];
    if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) != 0) throw std::runtime_error("socketpair");
    int big = 1 << 20;
    for (int s : sv) {
      ::setsockopt(s, SOL_SOCKET, SO_SNDBUF, &big, sizeof big);
      ::setsockopt(s, SOL_SOCKET, SO_RCVBUF, &big, sizeof big);
    }
    peer = UniqueFd(sv[1]);
    auto backend = std::make_unique<PairBackend>();
    backend->end = UniqueFd(sv[0]);
    backend->offload_out = &offloads;
    dev = std::make_shared<NetDevice>(std::move(cfg), std::move(backend), loop, std::move(mmds), clock);
    transport = std::make_unique<mmio::MmioTransport>(dev, mem, irq, loop);
    bring_up(features.value_or(dev->avail_features()));
  }
  ~NetHarness() {
    transport.reset();
    dev.reset();
  }

  static NetConfig default_config() {
    NetConfig c;
    c.iface_id = "eth0";
    c.host_dev_name = "tap0";
    c.guest_mac = MacAddr{0x06, 0, 0xac, 0x10, 0, 2};
    return c;
  }

  uint32_t reg(uint64_t off) {
    uint32_t v = 0;
    transport->read(off, std::span(reinterpret_cast<uint8_t*>(&v), 4));
    return v;
  }
  void set_reg(uint64_t off, uint32_t v) { transport->write(off, std::span(reinterpret_cast<const uint8_t*>(&v), 4)); }
  void kick(uint16_t q) { set_reg(mmio::kRegQueueNotify, q); }
  bool needs_reset() { return (reg(mmio::kRegStatus) & kStatusNeedsReset) != 0; }

  uint64_t alloc(uint32_t len, uint8_t marker = 0) {
    const uint64_t a = next_buf_;
    next_buf_ += (len + 15) & ~15u;
    if (next_buf_ > mem_size) throw std::runtime_error("test guest memory exhausted");
    std::vector<uint8_t> fill(len, marker);
    mem.write(a, fill);
    return a;
  }
  std::vector<uint8_t> guest_bytes(uint64_t addr, size_t len) {
    std::vector<uint8_t> v(len);
    mem.read(addr, v);
    return v;
  }
  void put(uint64_t addr, std::span<const uint8_t> data) { mem.write(addr, data); }

  // A tx chain of header + frame in one readable descriptor; returns its head.
  uint16_t send(std::span<const uint8_t> frame, VirtioNetHdr hdr = {}) {
    const uint64_t a = alloc(static_cast<uint32_t>(kVnetHdrLen + frame.size()));
    mem.write(a, std::span(reinterpret_cast<const uint8_t*>(&hdr), kVnetHdrLen));
    mem.write(a + kVnetHdrLen, frame);
    return tx.add({{a, static_cast<uint32_t>(kVnetHdrLen + frame.size()), false}});
  }
  // A one-buffer rx chain of `len` bytes; returns its address.
  uint64_t post_rx(uint32_t len) {
    const uint64_t a = alloc(len, 0x5a);
    rx.add({{a, len, true}});
    return a;
  }

  // Host side: one message (vnet header + frame) to the device, and the next one from it.
  void host_send(std::span<const uint8_t> frame, VirtioNetHdr hdr = {}) {
    std::vector<uint8_t> msg(kVnetHdrLen + frame.size());
    std::memcpy(msg.data(), &hdr, kVnetHdrLen);
    std::copy(frame.begin(), frame.end(), msg.begin() + kVnetHdrLen);
    ASSERT_EQ(::send(peer.get(), msg.data(), msg.size(), 0), static_cast<ssize_t>(msg.size()));
  }
  std::optional<std::vector<uint8_t>> host_recv() {
    std::vector<uint8_t> buf(kMaxBufferLen + 64);
    const ssize_t n = ::recv(peer.get(), buf.data(), buf.size(), MSG_DONTWAIT);
    if (n < 0) return std::nullopt;
    buf.resize(static_cast<size_t>(n));
    return buf;
  }
  // What the event loop would do once the backend is readable.
  void tap_readable() { dev->handle_tap_event(EPOLLIN); }

  static constexpr uint64_t mem_size = 0x400000;
  GuestMemory mem = GuestMemory::create_anonymous({{0, mem_size}});
  std::shared_ptr<virtio::test::CountingIrq> irq = std::make_shared<virtio::test::CountingIrq>();
  std::shared_ptr<virtio::test::FakeClock> clock = std::make_shared<virtio::test::FakeClock>();
  std::unique_ptr<mmio::MmioTransport> transport;
  std::shared_ptr<NetDevice> dev;
  UniqueFd peer;
  uint64_t offloads = ~uint64_t{0};
  DriverRing rx{virtio::test::TestRing{mem, kRingSize, 0x1000, 0x3000, 0x4000}};
  DriverRing tx{virtio::test::TestRing{mem, kRingSize, 0x6000, 0x8000, 0x9000}};

 private:
  void setup_queue(uint16_t index, const virtio::test::TestRing& ring) {
    set_reg(mmio::kRegQueueSel, index);
    set_reg(mmio::kRegQueueNum, kRingSize);
    set_reg(mmio::kRegQueueDescLow, static_cast<uint32_t>(ring.desc_addr()));
    set_reg(mmio::kRegQueueDriverLow, static_cast<uint32_t>(ring.avail_addr()));
    set_reg(mmio::kRegQueueDeviceLow, static_cast<uint32_t>(ring.used_addr()));
    set_reg(mmio::kRegQueueReady, 1);
  }
  void bring_up(uint64_t features) {
    set_reg(mmio::kRegStatus, kStatusAcknowledge);
    set_reg(mmio::kRegStatus, kStatusAcknowledge | kStatusDriver);
    set_reg(mmio::kRegDriverFeaturesSel, 0);
    set_reg(mmio::kRegDriverFeatures, static_cast<uint32_t>(features));
    set_reg(mmio::kRegDriverFeaturesSel, 1);
    set_reg(mmio::kRegDriverFeatures, static_cast<uint32_t>(features >> 32));
    set_reg(mmio::kRegStatus, kStatusAcknowledge | kStatusDriver | kStatusFeaturesOk);
    setup_queue(kRxQueue, rx.ring);
    setup_queue(kTxQueue, tx.ring);
    set_reg(mmio::kRegStatus, kStatusAcknowledge | kStatusDriver | kStatusFeaturesOk | kStatusDriverOk);
    EXPECT_TRUE(dev->activated());
  }
  uint64_t next_buf_ = 0x10000;
};

inline std::vector<uint8_t> pattern(size_t len, uint8_t seed) {
  std::vector<uint8_t> v(len);
  for (size_t i = 0; i < len; ++i) v[i] = static_cast<uint8_t>(seed + i * 7 + (i >> 8));
  return v;
}

}  // namespace hearth::virtio::net::test
