// libFuzzer target: a hostile driver controls all of guest memory (rings, descriptors) and the
// queue placement; descriptor-chain parsing and virtio-rng request handling (with and without a
// rate limiter) must never crash, hang or touch memory outside guest RAM.
#include <cstdint>
#include <cstring>
#include <memory>

#include <spdlog/spdlog.h>

#include "virtio/queue/queue.h"
#include "virtio/rng/device.h"
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

  auto region = *fx.mem.slice(0, kMemSize);
  std::memset(region.data(), 0, region.size());
  std::memcpy(region.data(), data, std::min<size_t>(size, kMemSize));

  const auto queue_size = static_cast<uint16_t>(1u << (size_log2 % 9));
  Queue q(rng::kQueueSize);
  q.set_size(queue_size);
  q.set_desc_table(desc);
  q.set_avail_ring(avail);
  q.set_used_ring(used);
  q.set_ready(true);
  q.set_event_idx(flags & 1);
  // The device never offers INDIRECT_DESC; a driver that sets the flag anyway breaks the ring.

  if (!q.is_valid(fx.mem)) return 0;
  uint64_t features = feature_bit(kFeatureVersion1);
  if (flags & 1) features |= feature_bit(kFeatureRingEventIdx);
  rng::RngDevice& dev = (flags & 2) ? *fx.limited : *fx.dev;
  dev.activate(fx.mem, std::span<Queue>(&q, 1), fx.irq, features);
  dev.process_queue(0);
  if (flags & 4) dev.process_queue(0);  // a second kick after the first pass (throttled or broken)
  dev.handle_rate_limiter_timer();      // usually a spurious wakeup: must be harmless
  dev.restore(dev.save());
  dev.reset();
  return 0;
}
