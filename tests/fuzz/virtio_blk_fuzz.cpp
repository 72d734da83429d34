// libFuzzer target: a hostile driver controls all of guest memory (rings, descriptors, request
// headers) and the queue placement; descriptor-chain parsing and virtio-blk request handling
// must never crash, hang or touch memory outside guest RAM.
#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <memory>
#include <string>

#include "tests/fuzz/virtio_fuzz_input.h"
#include "virtio/blk/device.h"
#include "virtio/queue/descriptor_chain.h"
#include "virtio/queue/queue.h"
#include "virtio/virtio_defs.h"
#include "vmm/memory/guest_memory.h"

namespace {

using namespace hearth;
using namespace hearth::virtio;
using namespace hearth::virtio::fuzz;

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

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static Fixture fx;
  // Control block: queue geometry and negotiated features; the rest is guest memory.
  const RingInput in = take_ring_input(data, size);
  const auto head = take<uint16_t>(data, size);
  fill_guest_memory(fx.mem, data, size);

  Queue q(256);
  place_queue(q, in);
  q.set_indirect(in.flags & 2);

  // The chain walker on its own, from an arbitrary head and table.
  (void)read_chain(fx.mem, in.desc, head, ChainLimits{in.queue_size, (in.flags & 2) != 0});

  if (!q.is_valid(fx.mem)) return 0;
  uint64_t features = ring_features(in);
  if (in.flags & 2) features |= feature_bit(kFeatureRingIndirectDesc);
  fx.dev->activate(fx.mem, std::span<Queue>(&q, 1), fx.irq, features);
  fx.dev->process_queue(0);
  fx.dev->reset();
  return 0;
}
