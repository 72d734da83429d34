// libFuzzer target: the balloon's parsers (page arrays, statistics records, reported ranges) on raw bytes,
// then the device itself with a hostile driver owning all of guest memory and every queue (inflate,
// deflate, statistics, reporting). Nothing may crash, hang, or discard memory outside guest RAM.
#include <array>
#include <cstdint>
#include <cstring>
#include <memory>

#include "tests/fuzz/virtio_fuzz_input.h"
#include "virtio/balloon/device.h"
#include "virtio/balloon/pages.h"
#include "virtio/queue/queue.h"
#include "vmm/memory/guest_memory.h"

namespace {

using namespace hearth;
using namespace hearth::virtio;
using namespace hearth::virtio::fuzz;

struct Fixture {
  GuestMemory mem = GuestMemory::create_anonymous({{0, kMemSize}});
  balloon::BalloonDevice dev{balloon::BalloonConfig{1, true, 1, true}, nullptr};
  NullInterrupt irq;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static Fixture fx;
  const std::span<const uint8_t> raw(data, size);
  for (const GuestRange& r : balloon::pfn_ranges(raw)) {
    if (r.size == 0 || r.start % balloon::kPageSize) __builtin_trap();
  }
  (void)balloon::parse_stats(raw);
  if (size >= 16) {
    uint64_t a, l;
    std::memcpy(&a, data, 8);
    std::memcpy(&l, data + 8, 8);
    const GuestRange r = balloon::reported_pages(a, l);
    if (r.size && (r.start < a || r.end() > a + l)) __builtin_trap();
  }

  const RingInput in = take_ring_input(data, size);
  fill_guest_memory(fx.mem, data, size);
  std::array<Queue, 4> queues{Queue(balloon::kQueueSize), Queue(balloon::kQueueSize), Queue(balloon::kQueueSize),
                              Queue(balloon::kQueueSize)};
  for (Queue& q : queues) {
    place_queue(q, in);
    if (!q.is_valid(fx.mem)) return 0;
  }
  fx.dev.activate(fx.mem, queues, fx.irq, ring_features(in));
  // The same ring seen as each queue: every chain is tried as a page array, statistics and a report.
  for (uint16_t i = 0; i < queues.size(); ++i) fx.dev.process_queue(static_cast<uint16_t>((i + in.flags) % 4));
  fx.dev.handle_stats_timer();  // usually not expired: must be harmless
  (void)fx.dev.api_get("statistics");
  fx.dev.restore(fx.dev.save());
  fx.dev.reset();
  return 0;
}
