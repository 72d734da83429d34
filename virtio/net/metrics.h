#pragma once
// Per-interface counters, named after Firecracker's net metrics. Atomics: the metrics writer reads
// them from another thread.
#include <atomic>
#include <cstdint>

namespace hearth::virtio::net {

struct NetMetrics {
  std::atomic<uint64_t> activate_count{0};
  std::atomic<uint64_t> rx_queue_event_count{0};      // driver kicked the rx queue
  std::atomic<uint64_t> tx_queue_event_count{0};      // driver kicked the tx queue
  std::atomic<uint64_t> rx_tap_event_count{0};        // TAP became readable
  std::atomic<uint64_t> rx_bytes_count{0};            // frame bytes (no vnet header) given to the guest
  std::atomic<uint64_t> rx_packets_count{0};
  std::atomic<uint64_t> rx_fails{0};                  // frames the host sent that the guest could not take
  std::atomic<uint64_t> no_rx_avail_buffer{0};        // TAP watch paused: the guest had no rx buffers
  std::atomic<uint64_t> tx_bytes_count{0};            // frame bytes sent to the TAP or MMDS
  std::atomic<uint64_t> tx_packets_count{0};
  std::atomic<uint64_t> tx_fails{0};                  // frames not sent (TAP refused them)
  std::atomic<uint64_t> tx_malformed_frames{0};       // chains dropped: too short, too long, writable, bad memory
  std::atomic<uint64_t> tap_read_fails{0};
  std::atomic<uint64_t> tap_write_fails{0};
  std::atomic<uint64_t> rx_rate_limiter_throttled{0};
  std::atomic<uint64_t> tx_rate_limiter_throttled{0};
  std::atomic<uint64_t> mmds_frames_to_guest{0};
  std::atomic<uint64_t> mmds_frames_from_guest{0};
  std::atomic<uint64_t> queue_errors{0};              // driver broke a ring: device needs reset
};

}  // namespace hearth::virtio::net
