#pragma once
// vsock counters, named after Firecracker's vsock metrics where one exists. Atomics so the metrics
// writer can read them from another thread.
#include <atomic>
#include <cstdint>

namespace hearth::virtio::vsock {

struct VsockMetrics {
  std::atomic<uint64_t> activate_count{0};
  std::atomic<uint64_t> rx_queue_event_count{0};  // rx queue kicks
  std::atomic<uint64_t> tx_queue_event_count{0};  // tx queue kicks
  std::atomic<uint64_t> ev_queue_event_count{0};  // event queue kicks
  std::atomic<uint64_t> rx_packets_count{0};      // packets given to the guest
  std::atomic<uint64_t> tx_packets_count{0};      // packets taken from the guest
  std::atomic<uint64_t> rx_bytes_count{0};        // payload bytes host -> guest
  std::atomic<uint64_t> tx_bytes_count{0};        // payload bytes guest -> host (into host sockets)
  std::atomic<uint64_t> tx_bad_packets{0};        // malformed tx chains / headers, dropped
  std::atomic<uint64_t> rx_bad_buffers{0};        // rx chains too small for a header, returned empty
  std::atomic<uint64_t> conns_added{0};
  std::atomic<uint64_t> conns_removed{0};
  std::atomic<uint64_t> conns_refused{0};     // REQUEST / host connect refused (table full, no listener)
  std::atomic<uint64_t> rst_sent{0};
  std::atomic<uint64_t> rst_dropped{0};       // RSTs for unknown connections past kMaxQueuedResets
  std::atomic<uint64_t> credit_violations{0};  // guest sent past our buf_alloc: RST
  std::atomic<uint64_t> tx_write_fails{0};     // host socket write errors
  std::atomic<uint64_t> rx_read_fails{0};      // host socket read errors
  std::atomic<uint64_t> bad_connect_lines{0};  // host sent something other than "CONNECT <port>\n"
  std::atomic<uint64_t> connect_timeouts{0};   // host-initiated connections the guest never answered
  std::atomic<uint64_t> transport_reset_events{0};
  std::atomic<uint64_t> queue_errors{0};
};

}  // namespace hearth::virtio::vsock
