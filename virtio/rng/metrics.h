#pragma once
// Entropy device counters, named after Firecracker's entropy metrics. Atomics so the metrics
// writer can read them from another thread.
#include <atomic>
#include <cstdint>

namespace hearth::virtio::rng {

struct RngMetrics {
  std::atomic<uint64_t> activate_count{0};          // DRIVER_OK seen
  std::atomic<uint64_t> event_count{0};             // queue notifications from the driver
  std::atomic<uint64_t> requests{0};                // chains popped and answered
  std::atomic<uint64_t> entropy_bytes{0};           // random bytes written to the guest
  std::atomic<uint64_t> event_fails{0};             // chains answered with length 0 (device-readable / bad buffer)
  std::atomic<uint64_t> host_rng_fails{0};          // getrandom() failed
  std::atomic<uint64_t> rate_limiter_throttled{0};  // times the rate limiter stopped the queue
  std::atomic<uint64_t> rate_limiter_event_count{0};  // rate limiter timer expirations handled
  std::atomic<uint64_t> queue_errors{0};            // driver broke the ring: device needs reset
};

}  // namespace hearth::virtio::rng
