#pragma once
// Test driver for virtio-blk: a temp backing file, guest memory, the MMIO transport brought up
// like Linux does, and helpers that place requests in the ring.
#include <fcntl.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

#include "tests/unit/virtio/device_harness.h"
#include "virtio/blk/defs.h"
#include "virtio/blk/device.h"
#include "virtio/mmio/transport.h"
#include "virtio/virtio_defs.h"

namespace hearth::virtio::blk::test {

using virtio::test::CountingIrq;
using virtio::test::Seg;

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

// The device behind the shared driver harness, on a temp backing file, with an event loop for
// async completions.
class BlkHarness : public virtio::test::DeviceHarness {
 public:
  BlkHarness(DriveConfig cfg, std::vector<uint8_t> content, bool indirect = false)
      : file(content) {
    cfg.path_on_host = file.path;
    config = cfg;
    dev = std::make_shared<BlkDevice>(cfg, &loop);
    uint64_t features = dev->avail_features();
    if (!indirect) features &= ~feature_bit(kFeatureRingIndirectDesc);
    attach(dev, features);
  }
  ~BlkHarness() {
    transport.reset();
    dev.reset();
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

  TempFile file;
  DriveConfig config;
  EventLoop loop;
  std::shared_ptr<BlkDevice> dev;
};

}  // namespace hearth::virtio::blk::test
