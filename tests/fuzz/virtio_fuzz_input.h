#pragma once
// What the virtio fuzz targets share: a hostile driver's input read as a control block (queue
// geometry and feature flags) followed by the whole of guest memory, and the queue it describes.
#include <algorithm>
#include <cstdint>
#include <cstring>

#include <spdlog/spdlog.h>

#include "virtio/interrupt.h"
#include "virtio/queue/queue.h"
#include "virtio/virtio_defs.h"
#include "vmm/memory/guest_memory.h"

// Each target is one translation unit that includes this header once.
// The device warns about every broken ring; at fuzzing rates that would be all the fuzzer does.
extern "C" int LLVMFuzzerInitialize(int*, char***) {
  spdlog::set_level(spdlog::level::off);
  return 0;
}

namespace hearth::virtio::fuzz {

inline constexpr uint64_t kMemSize = 0x10000;

struct NullInterrupt : VirtioInterrupt {
  void signal_used_queue(uint16_t) override {}
  void signal_config() override {}
  void signal_needs_reset() override {}
};

// The next sizeof(T) input bytes (zero-padded when the input runs out).
template <typename T>
T take(const uint8_t*& data, size_t& size) {
  T v{};
  const size_t n = std::min(size, sizeof(T));
  std::memcpy(&v, data, n);
  data += n;
  size -= n;
  return v;
}

// Bit 0 of `flags`: EVENT_IDX negotiated; the other bits are each target's own.
struct RingInput {
  uint8_t flags;
  uint16_t queue_size;  // a power of two, 1 to 256
  uint16_t desc;
  uint16_t avail;
  uint16_t used;
};

inline RingInput take_ring_input(const uint8_t*& data, size_t& size) {
  RingInput in{};
  in.flags = take<uint8_t>(data, size);
  in.queue_size = static_cast<uint16_t>(1u << (take<uint8_t>(data, size) % 9));
  in.desc = take<uint16_t>(data, size);
  in.avail = take<uint16_t>(data, size);
  in.used = take<uint16_t>(data, size);
  return in;
}

// Guest memory becomes the rest of the input, zero-filled past its end.
inline void fill_guest_memory(GuestMemory& mem, const uint8_t* data, size_t size) {
  auto region = *mem.slice(0, kMemSize);
  std::memset(region.data(), 0, region.size());
  std::memcpy(region.data(), data, std::min<size_t>(size, kMemSize));
}

// Places `q` where the input says, ready, with EVENT_IDX as negotiated.
inline void place_queue(Queue& q, const RingInput& in) {
  q.set_size(in.queue_size);
  q.set_desc_table(in.desc);
  q.set_avail_ring(in.avail);
  q.set_used_ring(in.used);
  q.set_ready(true);
  q.set_event_idx(in.flags & 1);
}

// VERSION_1, and EVENT_IDX when the input negotiated it.
inline uint64_t ring_features(const RingInput& in) {
  uint64_t features = feature_bit(kFeatureVersion1);
  if (in.flags & 1) features |= feature_bit(kFeatureRingEventIdx);
  return features;
}

}  // namespace hearth::virtio::fuzz
