#pragma once
// Balloon counters (Firecracker's balloon metrics plus bytes given back). Atomics: the metrics writer
// reads them from another thread.
#include <atomic>
#include <cstdint>

namespace hearth::virtio::balloon {

struct BalloonMetrics {
  std::atomic<uint64_t> activate_count{0};
  std::atomic<uint64_t> inflate_count{0};        // inflate chains handled
  std::atomic<uint64_t> deflate_count{0};        // deflate chains handled
  std::atomic<uint64_t> reporting_count{0};      // free page reporting chains handled
  std::atomic<uint64_t> stats_updates_count{0};  // statistics buffers read from the driver
  std::atomic<uint64_t> stats_update_fails{0};   // malformed statistics buffers
  std::atomic<uint64_t> discarded_bytes{0};      // host memory given back (inflate + reporting)
  std::atomic<uint64_t> invalid_pfns{0};         // PFNs outside guest RAM, ignored
  std::atomic<uint64_t> event_fails{0};          // chains of the wrong shape or over the size cap
  std::atomic<uint64_t> queue_errors{0};         // driver broke a ring: device needs reset
};

}  // namespace hearth::virtio::balloon
