#pragma once
// Ethernet, ARP, IPv4 and TCP wire formats as MMDS needs them: bounds-checked parsing of guest frames
// (nothing is read past the span) and building of the frames MMDS sends, checksums filled.
#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <vector>

namespace hearth::virtio::net::mmds {

using Mac = std::array<uint8_t, 6>;
using Ipv4 = std::array<uint8_t, 4>;

inline constexpr size_t kEthHeader = 14;
inline constexpr uint16_t kEtherTypeIpv4 = 0x0800;
inline constexpr uint16_t kEtherTypeArp = 0x0806;
inline constexpr uint8_t kProtoTcp = 6;

namespace tcp_flags {
inline constexpr uint8_t kFin = 0x01, kSyn = 0x02, kRst = 0x04, kPsh = 0x08, kAck = 0x10, kUrg = 0x20;
}

inline uint16_t load16(const uint8_t* p) { return uint16_t(p[0] << 8 | p[1]); }
inline uint32_t load32(const uint8_t* p) { return uint32_t(p[0]) << 24 | uint32_t(p[1]) << 16 | uint32_t(p[2]) << 8 | p[3]; }

// Internet checksum (RFC 1071) of `data` added to a partial sum.
uint32_t checksum_add(uint32_t sum, std::span<const uint8_t> data);
uint16_t checksum_fold(uint32_t sum);

struct ArpRequest {
  Mac sender_mac;
  Ipv4 sender_ip;
  Ipv4 target_ip;
};

// An ARP request (Ethernet/IPv4, op 1), or nullopt for anything else.
std::optional<ArpRequest> parse_arp_request(std::span<const uint8_t> frame);
std::vector<uint8_t> build_arp_reply(const Mac& our_mac, const Ipv4& our_ip, const ArpRequest& request);

struct TcpSegment {
  Mac src_mac;
  Ipv4 src_ip, dst_ip;
  uint16_t src_port = 0, dst_port = 0;
  uint32_t seq = 0, ack = 0;
  uint8_t flags = 0;
  uint16_t window = 0;
  std::optional<uint16_t> mss;  // from a SYN's options
  std::span<const uint8_t> payload;
  // Sequence space the segment occupies (payload plus SYN and FIN).
  uint32_t seq_len() const {
    return uint32_t(payload.size()) + ((flags & tcp_flags::kSyn) ? 1 : 0) + ((flags & tcp_flags::kFin) ? 1 : 0);
  }
};

// The IPv4 destination of an Ethernet frame carrying IPv4, if its header is long enough to hold one.
std::optional<Ipv4> ipv4_destination(std::span<const uint8_t> frame);

enum class Ipv4Parse { Tcp, NotTcp, Malformed };
// Validates the IPv4 header (version, lengths, header checksum, no fragments) and, for TCP, the TCP
// header and checksum (skipped when the guest left it partial for offload).
Ipv4Parse parse_tcp(std::span<const uint8_t> frame, bool checksum_partial, TcpSegment& out);

struct TcpOut {
  Mac dst_mac, src_mac;
  Ipv4 src_ip, dst_ip;
  uint16_t src_port, dst_port;
  uint32_t seq, ack;
  uint8_t flags;
  uint16_t window;
  std::optional<uint16_t> mss;  // MSS option (on SYN-ACK)
  uint16_t ip_id = 0;
};
std::vector<uint8_t> build_tcp(const TcpOut& header, std::span<const uint8_t> payload);

}  // namespace hearth::virtio::net::mmds
