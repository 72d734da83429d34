#pragma once
// Block device counters. Atomics so the metrics writer can read them from another thread.
#include <atomic>
#include <cstdint>

namespace hearth::virtio::blk {

struct BlkMetrics {
  std::atomic<uint64_t> requests{0};       // chains popped and answered
  std::atomic<uint64_t> read_count{0};
  std::atomic<uint64_t> write_count{0};
  std::atomic<uint64_t> flush_count{0};
  std::atomic<uint64_t> discard_count{0};  // DISCARD and WRITE_ZEROES
  std::atomic<uint64_t> read_bytes{0};
  std::atomic<uint64_t> write_bytes{0};
  std::atomic<uint64_t> errors{0};         // IOERR, UNSUPP or dropped chains
  std::atomic<uint64_t> throttled{0};      // times the rate limiter or a full io ring stopped the queue
  std::atomic<uint64_t> queue_errors{0};   // driver broke the ring: device needs reset
};

}  // namespace hearth::virtio::blk
