#pragma once
// One vsock stream between a guest port and a host Unix socket: its state, the bytes held on each
// side, and the credit arithmetic of virtio 1.2, 5.10.6.3 (buf_alloc / fwd_cnt).
#include <chrono>
#include <cstdint>
#include <string>

#include "virtio/event_registration.h"
#include "virtio/vsock/byte_ring.h"
#include "virtio/vsock/defs.h"
#include "vmm/base/fd.h"

namespace hearth::virtio::vsock {

enum class ConnState {
  kConnecting,   // host-initiated: REQUEST sent (or queued), waiting for the guest's RESPONSE
  kEstablished,  // data flows
};

// Connections are keyed by (host-side port, guest port).
struct ConnKey {
  uint32_t local_port = 0;
  uint32_t peer_port = 0;
  bool operator==(const ConnKey&) const = default;
};
struct ConnKeyHash {
  size_t operator()(const ConnKey& k) const { return (uint64_t{k.local_port} << 32) ^ k.peer_port; }
};

struct Connection {
  ConnKey key;
  ConnState state = ConnState::kConnecting;
  UniqueFd fd;
  EventRegistration reg;
  uint32_t events = 0;  // what reg is registered for now

  // Guest -> host: bytes the host socket has not taken yet (bounded by kConnTxBufSize, our buf_alloc).
  ByteRing tx_buf{kConnTxBufSize};
  uint32_t fwd_cnt = 0;           // bytes handed to the host socket (what we report as fwd_cnt)
  uint32_t last_fwd_cnt_sent = 0;  // fwd_cnt in the last packet the guest got
  // Host -> guest: bytes read from the host socket, waiting for an rx buffer.
  ByteRing rx_stage{kConnRxStageSize};
  uint32_t rx_cnt = 0;  // payload bytes sent to the guest
  uint32_t peer_buf_alloc = 0;
  uint32_t peer_fwd_cnt = 0;

  // Control packets owed to the guest, sent in this order before (REQUEST/RESPONSE) or with data.
  bool need_request = false;
  bool need_response = false;
  bool need_credit_update = false;
  bool host_eof = false;        // the host socket reached EOF (or shut its write side)
  bool shutdown_sent = false;   // SHUTDOWN(SEND) told the guest about host_eof
  uint32_t peer_shutdown = 0;   // SHUTDOWN flags the guest sent
  bool host_write_shut = false;  // shutdown(SHUT_WR) done on the host socket
  bool in_rx_list = false;
  bool closing = false;     // the guest shut both ways: RST once tx_buf is flushed
  bool host_hup = false;    // the host socket hung up; no longer in the event loop, read by pulling
  // Host-initiated: when an unanswered REQUEST gives up (kConnectTimeoutMs).
  std::chrono::steady_clock::time_point connect_deadline{};

  // Bytes the guest can take now: its buf_alloc minus what is in flight (never negative).
  uint32_t peer_credit() const {
    const uint32_t in_flight = rx_cnt - peer_fwd_cnt;  // wraps as the spec's counters do
    return in_flight >= peer_buf_alloc ? 0 : peer_buf_alloc - in_flight;
  }
  // Whether a packet for the guest is due now (given an rx buffer).
  bool has_rx_work() const {
    if (need_request || need_response || need_credit_update) return true;
    if (state != ConnState::kEstablished) return false;
    if (!rx_stage.empty() && peer_credit() > 0) return true;
    return host_eof && rx_stage.empty() && !shutdown_sent;
  }
};

}  // namespace hearth::virtio::vsock
