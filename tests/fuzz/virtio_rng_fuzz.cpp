// libFuzzer target: a hostile driver controls all of guest memory (rings, descriptors) and the
// queue placement; descriptor-chain parsing and virtio-rng request handling (with and without a
// rate limiter) must never crash, hang or touch memory outside guest RAM.
#include <cstdint>
#include <memory>

#include "tests/fuzz/virtio_fuzz_input.h"
#include "virtio/queue/queue.h"
#include "virtio/rng/device.h"
#include "virtio/virtio_defs.h"
#include "vmm/memory/guest_memory.h"

namespace {

using namespace hearth;
using namespace hearth::virtio;
using namespace hearth::virtio::fuzz;

// Time moves 1 ms per look, so the limited device's buckets refill as the fuzzer runs.
struct SteppingClock : Clock {
  mutable uint64_t now = 1'000'000'000;
  uint64_t now_ns() const override { return now += 1'000'000; }
};

struct Fixture {
  GuestMemory mem = GuestMemory::create_anonymous({{0, kMemSize}});
  std::unique_ptr<rng::RngDevice> dev;
  std::unique_ptr<rng::RngDevice> limited;
  NullInterrupt irq;

  Fixture() {
    dev = std::make_unique<rng::RngDevice>(rng::EntropyDeviceConfig{}, nullptr);
    RateLimiterConfig rl;
    rl.bandwidth = TokenBucketConfig{4096, 1024, 10};
    rl.ops = TokenBucketConfig{8, 0, 10};
    limited = std::make_unique<rng::RngDevice>(rng::EntropyDeviceConfig{rl}, nullptr,
                                               std::make_shared<SteppingClock>());
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static Fixture fx;
  // Control block: queue geometry and negotiated features; the rest is guest memory.
  const RingInput in = take_ring_input(data, size);
  fill_guest_memory(fx.mem, data, size);

  Queue q(rng::kQueueSize);
  place_queue(q, in);
  // The device never offers INDIRECT_DESC; a driver that sets the flag anyway breaks the ring.

  if (!q.is_valid(fx.mem)) return 0;
  const uint64_t features = ring_features(in);
  rng::RngDevice& dev = (in.flags & 2) ? *fx.limited : *fx.dev;
  dev.activate(fx.mem, std::span<Queue>(&q, 1), fx.irq, features);
  dev.process_queue(0);
  if (in.flags & 4) dev.process_queue(0);  // a second kick after the first pass (throttled or broken)
  dev.handle_rate_limiter_timer();         // usually a spurious wakeup: must be harmless
  dev.restore(dev.save());
  dev.reset();
  return 0;
}
