// libFuzzer target: a hostile driver controls all of guest memory (rings, descriptors, request
// headers) and the queue placement; descriptor-chain parsing and virtio-blk request handling
// must never crash, hang or touch memory outside guest RAM.
#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <cstring>
#include <memory>
#include <string>

#include <spdlog/spdlog.h>

#include "virtio/blk/device.h"
#include "virtio/queue/descriptor_chain.h"
#include "virtio/queue/queue.h"
#include "virtio/virtio_defs.h"
#include "vmm/memory/guest_memory.h"

namespace {

using namespace hearth;
using namespace hearth::virtio;

constexpr uint64_t kMemSize = 0x10000;

struct NullInterrupt : VirtioInterrupt {
  void signal_used_queue(uint16_t) override {}
  void signal_config() override {}
  void signal_needs_reset() override {}
};

struct Fixture {
  GuestMemory mem = GuestMemory::create_anonymous({{0, kMemSize}});
  int disk_fd = -1;
  std::unique_ptr<blk::BlkDevice> dev;
  NullInterrupt irq;

  Fixture() {
    disk_fd = ::memfd_create("hearth-fuzz-disk", 0);
    if (disk_fd < 0 || ::ftruncate(disk_fd, 64 * 1024) < 0) abort();
    DriveConfig cfg;
    cfg.drive_id = "fuzz";
    cfg.path_on_host = "/proc/self/fd/" + std::to_string(disk_fd);
    cfg.cache_type = CacheType::kWriteback;
    dev = std::make_unique<blk::BlkDevice>(cfg, nullptr);
  }
};

template <typename T>
T take(const uint8_t*& data, size_t& size) {
  T v{};
  const size_t n = std::min(size, sizeof(T));
  std::memcpy(&v, data, n);
  data += n;
  size -= n;
  return v;
}

}  // namespace

// The device warns about every broken ring; at fuzzing rates that would be all the fuzzer does.
extern "C" int LLVMFuzzerInitialize(int*, char***) {
  spdlog::set_level(spdlog::level::off);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static Fixture fx;
  // Control block: queue geometry and negotiated features; the rest is guest memory.
  const auto flags = take<uint8_t>(data, size);
  const auto size_log2 = take<uint8_t>(data, size);
  const auto desc = take<uint16_t>(data, size);
  const auto avail = take<uint16_t>(data, size);
  const auto used = take<uint16_t>(data, size);
  const auto head = take<uint16_t>(data, size);

  auto region = *fx.mem.slice(0, kMemSize);
  std::memset(region.data(), 0, region.size());
  std::memcpy(region.data(), data, std::min<size_t>(size, kMemSize));

  const auto queue_size = static_cast<uint16_t>(1u << (size_log2 % 9));
  Queue q(256);
  q.set_size(queue_size);
  q.set_desc_table(desc);
  q.set_avail_ring(avail);
  q.set_used_ring(used);
  q.set_ready(true);
  q.set_event_idx(flags & 1);
  q.set_indirect(flags & 2);

  // The chain walker on its own, from an arbitrary head and table.
  (void)read_chain(fx.mem, desc, head, ChainLimits{queue_size, (flags & 2) != 0});

  if (!q.is_valid(fx.mem)) return 0;
  uint64_t features = feature_bit(kFeatureVersion1);
  if (flags & 1) features |= feature_bit(kFeatureRingEventIdx);
  if (flags & 2) features |= feature_bit(kFeatureRingIndirectDesc);
  fx.dev->activate(fx.mem, std::span<Queue>(&q, 1), fx.irq, features);
  fx.dev->process_queue(0);
  fx.dev->reset();
  return 0;
}
