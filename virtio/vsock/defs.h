#pragma once
// virtio-vsock wire format (virtio 1.2, 5.10): the packet header every rx/tx buffer starts with, its
// operations and flags, the event queue's event, and the limits this device holds the guest to.
#include <cstddef>
#include <cstdint>

namespace hearth::virtio::vsock {

inline constexpr uint64_t kHostCid = 2;
inline constexpr uint16_t kTypeStream = 1;

enum Op : uint16_t {
  kOpInvalid = 0,
  kOpRequest = 1,
  kOpResponse = 2,
  kOpRst = 3,
  kOpShutdown = 4,
  kOpRw = 5,
  kOpCreditUpdate = 6,
  kOpCreditRequest = 7,
};

// SHUTDOWN flags: the sender will receive (RCV) / send (SEND) no more.
inline constexpr uint32_t kShutdownRcv = 1;
inline constexpr uint32_t kShutdownSend = 2;
inline constexpr uint32_t kShutdownBoth = kShutdownRcv | kShutdownSend;

inline constexpr uint32_t kEventTransportReset = 0;

// Little-endian on the wire; x86-64 hosts only, so the struct is the wire layout.
struct __attribute__((packed)) PacketHeader {
  uint64_t src_cid = 0;
  uint64_t dst_cid = 0;
  uint32_t src_port = 0;
  uint32_t dst_port = 0;
  uint32_t len = 0;
  uint16_t type = 0;
  uint16_t op = 0;
  uint32_t flags = 0;
  uint32_t buf_alloc = 0;
  uint32_t fwd_cnt = 0;
};
static_assert(sizeof(PacketHeader) == 44);
inline constexpr uint32_t kHeaderSize = sizeof(PacketHeader);

// Queue indices and sizes (rx, tx, event).
inline constexpr uint16_t kRxQueue = 0;
inline constexpr uint16_t kTxQueue = 1;
inline constexpr uint16_t kEventQueue = 2;
inline constexpr uint16_t kQueueSize = 256;

// Largest payload of one packet, either way (Linux uses 64 KiB too); a longer tx `len` is refused.
inline constexpr uint32_t kMaxPacketData = 64 * 1024;
// What we advertise as buf_alloc per connection: the most guest->host bytes we ever hold for a host peer
// that does not read. A guest that sends past it broke the credit rules and gets an RST.
inline constexpr uint32_t kConnTxBufSize = 64 * 1024;
// Host->guest bytes read ahead from a host socket per connection (only up to the guest's credit).
inline constexpr uint32_t kConnRxStageSize = 32 * 1024;
// Connections at once; a REQUEST past this gets an RST, a host connection past it is closed.
inline constexpr size_t kMaxConnections = 256;
// Host connections that have not sent their whole `CONNECT <port>\n` line yet.
inline constexpr size_t kMaxPendingConnects = 64;
// RSTs for unknown connections waiting for an rx buffer; more are dropped (the guest just retries).
inline constexpr size_t kMaxQueuedResets = 1024;
// A host-initiated connection the guest has not answered (RESPONSE or RST) by then is reset and its host
// socket closed (Firecracker: 2 s).
inline constexpr int kConnectTimeoutMs = 2000;
// First local port handed to host-initiated connections (as Firecracker).
inline constexpr uint32_t kFirstLocalPort = 1u << 30;

}  // namespace hearth::virtio::vsock
