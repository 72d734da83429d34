#include "virtio/vsock/packet.h"

#include <cstring>

#include "virtio/guest_iov.h"

namespace hearth::virtio::vsock {

const char* check_tx_header(const PacketHeader& header, uint64_t available) {
  if (available < kHeaderSize) return "shorter than a packet header";
  if (header.len > kMaxPacketData) return "payload longer than 64 KiB";
  if (header.len > available - kHeaderSize) return "payload longer than the buffers";
  if (header.op != kOpRw && header.len != 0) return "payload on a control packet";
  return nullptr;
}

PacketHeader header_from_bytes(std::span<const uint8_t> bytes) {
  PacketHeader h;
  std::memcpy(&h, bytes.data(), kHeaderSize);
  return h;
}

const char* read_tx_packet(const GuestMemory& mem, std::span<const GuestBuffer> readable, uint32_t readable_len,
                           PacketHeader& header, std::vector<uint8_t>& data) {
  data.clear();
  if (readable_len < kHeaderSize) return "shorter than a packet header";
  uint8_t raw[kHeaderSize];
  if (!copy_from_guest(mem, readable, 0, raw)) return "header outside guest memory";
  header = header_from_bytes(raw);
  if (const char* why = check_tx_header(header, readable_len)) return why;
  data.resize(header.len);
  if (!copy_from_guest(mem, readable, kHeaderSize, data)) return "payload outside guest memory";
  return nullptr;
}

}  // namespace hearth::virtio::vsock
