#pragma once
// The driver side of a virtio-vsock test: guest memory, three driver rings (rx, tx, event) behind an
// MMIO transport, the device with a real event loop for its host sockets, and packet helpers.
#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "tests/unit/virtio/test_ring.h"
#include "virtio/mmio/transport.h"
#include "virtio/virtio_defs.h"
#include "virtio/vsock/device.h"
#include "vmm/base/event_loop.h"
#include "vmm/base/fd.h"

namespace hearth::virtio::vsock::test {

struct CountingIrq : IrqLine {
  int count = 0;
  void trigger() override { ++count; }
};

struct Packet {
  PacketHeader h;
  std::vector<uint8_t> data;
};

inline UniqueFd unix_connect(const std::string& path) {
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, path.c_str(), sizeof addr.sun_path - 1);
  if (::connect(fd.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) return UniqueFd();
  return fd;
}

inline UniqueFd unix_listen(const std::string& path) {
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, path.c_str(), sizeof addr.sun_path - 1);
  if (::bind(fd.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) return UniqueFd();
  ::listen(fd.get(), 16);
  return fd;
}

class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/hearth-vsock-XXXXXX";
    path_ = ::mkdtemp(tmpl);
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

class VsockHarness : public ::testing::Test {
 public:
  static constexpr uint16_t kRing = 256;
  static constexpr uint64_t kGuestCid = 3;
  static constexpr uint32_t kRxBuf = kHeaderSize + 4096;
  static constexpr uint64_t kRxBase = 0x100000;   // one kRxBuf slot per descriptor
  static constexpr uint64_t kTxBase = 0x200000;   // one 64 KiB + header slot per descriptor
  static constexpr uint64_t kTxSlot = 0x11000;
  static constexpr uint64_t kEvBase = 0x80000;

  VsockHarness() {
    uds_ = dir_.path() + "/v.sock";
    make_device();
  }
  ~VsockHarness() override {
    transport.reset();
    dev.reset();
  }

  void make_device() {
    transport.reset();
    dev.reset();
    dev = std::make_shared<VsockDevice>(VsockConfig{kGuestCid, uds_}, &loop);
    transport = std::make_unique<mmio::MmioTransport>(dev, mem, irq);
  }

  uint32_t reg(uint64_t off) {
    uint32_t v = 0;
    transport->read(off, std::span(reinterpret_cast<uint8_t*>(&v), 4));
    return v;
  }
  void set_reg(uint64_t off, uint32_t v) { transport->write(off, std::span(reinterpret_cast<const uint8_t*>(&v), 4)); }

  void bring_up() {
    using namespace mmio;
    set_reg(kRegStatus, kStatusAcknowledge);
    set_reg(kRegStatus, kStatusAcknowledge | kStatusDriver);
    set_reg(kRegDriverFeaturesSel, 1);
    set_reg(kRegDriverFeatures, 1);  // VERSION_1
    set_reg(kRegStatus, kStatusAcknowledge | kStatusDriver | kStatusFeaturesOk);
    for (uint32_t q = 0; q < 3; ++q) {
      set_reg(kRegQueueSel, q);
      set_reg(kRegQueueNum, kRing);
      set_reg(kRegQueueDescLow, static_cast<uint32_t>(rings[q].desc_addr()));
      set_reg(kRegQueueDriverLow, static_cast<uint32_t>(rings[q].avail_addr()));
      set_reg(kRegQueueDeviceLow, static_cast<uint32_t>(rings[q].used_addr()));
      set_reg(kRegQueueReady, 1);
    }
    set_reg(kRegStatus, kStatusAcknowledge | kStatusDriver | kStatusFeaturesOk | kStatusDriverOk);
    ASSERT_TRUE(dev->activated());
  }

  void kick(uint16_t q) { set_reg(mmio::kRegQueueNotify, q); }

  // Makes `n` rx buffers of `len` writable bytes available.
  void post_rx(int n, uint32_t len = kRxBuf) {
    for (int i = 0; i < n; ++i) {
      const uint16_t d = next_desc_[0]++ % kRing;
      rings[0].set_desc(d, kRxBase + uint64_t{d} * kRxBuf, std::min(len, kRxBuf), kDescFlagWrite);
      rings[0].push_avail(d);
    }
    kick(kRxQueue);
  }

  // Puts one packet on the tx queue and kicks it.
  void send_raw(const PacketHeader& h, std::span<const uint8_t> data, uint32_t readable_len = 0) {
    const uint16_t d = next_desc_[1]++ % kRing;
    const uint64_t addr = kTxBase + uint64_t{d} * kTxSlot;
    mem.write(addr, std::span(reinterpret_cast<const uint8_t*>(&h), kHeaderSize));
    if (!data.empty()) mem.write(addr + kHeaderSize, data);
    const uint32_t len = readable_len ? readable_len : kHeaderSize + static_cast<uint32_t>(data.size());
    rings[1].set_desc(d, addr, len, 0);
    rings[1].push_avail(d);
    kick(kTxQueue);
  }
  void send(uint16_t op, uint32_t guest_port, uint32_t host_port, std::span<const uint8_t> data = {},
            uint32_t flags = 0, uint32_t buf_alloc = 1 << 20, uint32_t fwd_cnt = 0) {
    PacketHeader h;
    h.src_cid = kGuestCid;
    h.dst_cid = kHostCid;
    h.src_port = guest_port;
    h.dst_port = host_port;
    h.len = static_cast<uint32_t>(data.size());
    h.type = kTypeStream;
    h.op = op;
    h.flags = flags;
    h.buf_alloc = buf_alloc;
    h.fwd_cnt = fwd_cnt;
    send_raw(h, data);
  }
  void send_str(uint16_t op, uint32_t guest_port, uint32_t host_port, std::string_view s) {
    send(op, guest_port, host_port, {reinterpret_cast<const uint8_t*>(s.data()), s.size()});
  }

  // The next used rx packet, if the device has returned one.
  std::optional<Packet> take_rx() {
    if (rings[0].used_idx() == used_seen_) return std::nullopt;
    const virtio::test::UsedElem e = rings[0].used(used_seen_++);
    Packet p;
    if (e.len < kHeaderSize) return p;
    const uint64_t addr = kRxBase + uint64_t{e.id} * kRxBuf;
    mem.read(addr, std::span(reinterpret_cast<uint8_t*>(&p.h), kHeaderSize));
    p.data.resize(e.len - kHeaderSize);
    mem.read(addr + kHeaderSize, p.data);
    return p;
  }
  // Runs the event loop until an rx packet arrives (or ~2 s pass).
  std::optional<Packet> wait_rx() {
    for (int i = 0; i < 200; ++i) {
      if (auto p = take_rx()) return p;
      loop.run_once(10);
    }
    return std::nullopt;
  }
  void run_loop(int rounds = 5) {
    for (int i = 0; i < rounds; ++i) loop.run_once(1);
  }

  static std::string str(const std::vector<uint8_t>& v) { return {v.begin(), v.end()}; }
  static std::string read_some(int fd, size_t max = 65536) {
    std::string s(max, '\0');
    const ssize_t n = ::recv(fd, s.data(), max, MSG_DONTWAIT);
    s.resize(n > 0 ? static_cast<size_t>(n) : 0);
    return s;
  }

  TempDir dir_;
  std::string uds_;
  EventLoop loop;
  GuestMemory mem = GuestMemory::create_anonymous({{0, 0x2000000}});
  std::shared_ptr<CountingIrq> irq = std::make_shared<CountingIrq>();
  virtio::test::TestRing rings[3] = {{mem, kRing, 0x1000, 0x2000, 0x3000},
                                     {mem, kRing, 0x5000, 0x6000, 0x7000},
                                     {mem, kRing, 0x9000, 0xa000, 0xb000}};
  std::shared_ptr<VsockDevice> dev;
  std::unique_ptr<mmio::MmioTransport> transport;

 private:
  uint16_t next_desc_[3] = {0, 0, 0};
  uint16_t used_seen_ = 0;
};

}  // namespace hearth::virtio::vsock::test
