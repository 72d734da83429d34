#include "virtio/net/mmds/frames.h"

#include <algorithm>
#include <cstring>

namespace hearth::virtio::net::mmds {
namespace {

constexpr size_t kArpBody = 28;
constexpr size_t kIpHeader = 20;
constexpr size_t kTcpHeader = 20;

void store16(uint8_t* p, uint16_t v) {
  p[0] = uint8_t(v >> 8);
  p[1] = uint8_t(v);
}
void store32(uint8_t* p, uint32_t v) {
  store16(p, uint16_t(v >> 16));
  store16(p + 2, uint16_t(v));
}

void write_eth(uint8_t* p, const Mac& dst, const Mac& src, uint16_t type) {
  std::memcpy(p, dst.data(), 6);
  std::memcpy(p + 6, src.data(), 6);
  store16(p + 12, type);
}

uint32_t pseudo_header_sum(const Ipv4& src, const Ipv4& dst, size_t tcp_length) {
  uint32_t sum = checksum_add(0, src);
  sum = checksum_add(sum, dst);
  return sum + kProtoTcp + uint32_t(tcp_length);
}

}  // namespace

uint32_t checksum_add(uint32_t sum, std::span<const uint8_t> data) {
  uint64_t s = sum;
  size_t i = 0;
  for (; i + 1 < data.size(); i += 2) s += load16(&data[i]);
  if (i < data.size()) s += uint32_t(data[i]) << 8;
  while (s >> 16) s = (s & 0xffff) + (s >> 16);
  return uint32_t(s);
}

uint16_t checksum_fold(uint32_t sum) {
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return uint16_t(~sum);
}

std::optional<ArpRequest> parse_arp_request(std::span<const uint8_t> frame) {
  if (frame.size() < kEthHeader + kArpBody || load16(&frame[12]) != kEtherTypeArp) return std::nullopt;
  const uint8_t* a = &frame[kEthHeader];
  if (load16(a) != 1 || load16(a + 2) != kEtherTypeIpv4 || a[4] != 6 || a[5] != 4 || load16(a + 6) != 1)
    return std::nullopt;
  ArpRequest r;
  std::copy_n(a + 8, 6, r.sender_mac.begin());
  std::copy_n(a + 14, 4, r.sender_ip.begin());
  std::copy_n(a + 24, 4, r.target_ip.begin());
  return r;
}

std::vector<uint8_t> build_arp_reply(const Mac& our_mac, const Ipv4& our_ip, const ArpRequest& request) {
  std::vector<uint8_t> f(kEthHeader + kArpBody);
  write_eth(f.data(), request.sender_mac, our_mac, kEtherTypeArp);
  uint8_t* a = &f[kEthHeader];
  store16(a, 1);
  store16(a + 2, kEtherTypeIpv4);
  a[4] = 6;
  a[5] = 4;
  store16(a + 6, 2);  // reply
  std::memcpy(a + 8, our_mac.data(), 6);
  std::memcpy(a + 14, our_ip.data(), 4);
  std::memcpy(a + 18, request.sender_mac.data(), 6);
  std::memcpy(a + 24, request.sender_ip.data(), 4);
  return f;
}

std::optional<Ipv4> ipv4_destination(std::span<const uint8_t> frame) {
  if (frame.size() < kEthHeader + kIpHeader || load16(&frame[12]) != kEtherTypeIpv4) return std::nullopt;
  Ipv4 dst;
  std::copy_n(&frame[kEthHeader + 16], 4, dst.begin());
  return dst;
}

Ipv4Parse parse_tcp(std::span<const uint8_t> frame, bool checksum_partial, TcpSegment& out) {
  if (frame.size() < kEthHeader + kIpHeader || load16(&frame[12]) != kEtherTypeIpv4) return Ipv4Parse::Malformed;
  std::span<const uint8_t> ip = frame.subspan(kEthHeader);
  const size_t ihl = size_t(ip[0] & 0x0f) * 4;
  const size_t total = load16(&ip[2]);
  if ((ip[0] >> 4) != 4 || ihl < kIpHeader || total < ihl || total > ip.size()) return Ipv4Parse::Malformed;
  if (checksum_fold(checksum_add(0, ip.first(ihl))) != 0) return Ipv4Parse::Malformed;
  // More-fragments or a fragment offset: MMDS does not reassemble.
  if (load16(&ip[6]) & 0x3fff) return Ipv4Parse::Malformed;
  if (ip[9] != kProtoTcp) return Ipv4Parse::NotTcp;
  std::span<const uint8_t> tcp = ip.subspan(ihl, total - ihl);  // Ethernet padding cut off
  if (tcp.size() < kTcpHeader) return Ipv4Parse::Malformed;
  const size_t offset = size_t(tcp[12] >> 4) * 4;
  if (offset < kTcpHeader || offset > tcp.size()) return Ipv4Parse::Malformed;
  std::copy_n(&frame[6], 6, out.src_mac.begin());
  std::copy_n(&ip[12], 4, out.src_ip.begin());
  std::copy_n(&ip[16], 4, out.dst_ip.begin());
  if (!checksum_partial) {
    const uint32_t pseudo = pseudo_header_sum(out.src_ip, out.dst_ip, tcp.size());
    // A guest with checksum offload leaves the pseudo-header sum in the field (Linux's CHECKSUM_PARTIAL);
    // the net device does not tell us, so that exact value is accepted too.
    const uint16_t field = load16(&tcp[16]);
    const uint16_t partial = uint16_t(~checksum_fold(pseudo));
    if (checksum_fold(checksum_add(pseudo, tcp)) != 0 && field != partial) return Ipv4Parse::Malformed;
  }
  out.src_port = load16(&tcp[0]);
  out.dst_port = load16(&tcp[2]);
  out.seq = load32(&tcp[4]);
  out.ack = load32(&tcp[8]);
  out.flags = tcp[13];
  out.window = load16(&tcp[14]);
  out.mss.reset();
  // Options: only MSS matters; a malformed option list just ends the walk.
  for (size_t i = kTcpHeader; i < offset;) {
    const uint8_t kind = tcp[i];
    if (kind == 0) break;
    if (kind == 1) {
      ++i;
      continue;
    }
    if (i + 1 >= offset || tcp[i + 1] < 2 || i + tcp[i + 1] > offset) break;
    if (kind == 2 && tcp[i + 1] == 4) out.mss = load16(&tcp[i + 2]);
    i += tcp[i + 1];
  }
  out.payload = tcp.subspan(offset);
  return Ipv4Parse::Tcp;
}

std::vector<uint8_t> build_tcp(const TcpOut& h, std::span<const uint8_t> payload) {
  const size_t tcp_header = kTcpHeader + (h.mss ? 4 : 0);
  const size_t tcp_length = tcp_header + payload.size();
  std::vector<uint8_t> f(kEthHeader + kIpHeader + tcp_length);
  write_eth(f.data(), h.dst_mac, h.src_mac, kEtherTypeIpv4);
  uint8_t* ip = &f[kEthHeader];
  ip[0] = 0x45;
  store16(ip + 2, uint16_t(kIpHeader + tcp_length));
  store16(ip + 4, h.ip_id);
  store16(ip + 6, 0x4000);  // DF
  ip[8] = 64;
  ip[9] = kProtoTcp;
  std::memcpy(ip + 12, h.src_ip.data(), 4);
  std::memcpy(ip + 16, h.dst_ip.data(), 4);
  store16(ip + 10, checksum_fold(checksum_add(0, {ip, kIpHeader})));
  uint8_t* tcp = ip + kIpHeader;
  store16(tcp, h.src_port);
  store16(tcp + 2, h.dst_port);
  store32(tcp + 4, h.seq);
  store32(tcp + 8, h.ack);
  tcp[12] = uint8_t((tcp_header / 4) << 4);
  tcp[13] = h.flags;
  store16(tcp + 14, h.window);
  if (h.mss) {
    tcp[20] = 2;
    tcp[21] = 4;
    store16(tcp + 22, *h.mss);
  }
  if (!payload.empty()) std::memcpy(tcp + tcp_header, payload.data(), payload.size());
  store16(tcp + 16, checksum_fold(checksum_add(pseudo_header_sum(h.src_ip, h.dst_ip, tcp_length), {tcp, tcp_length})));
  return f;
}

}  // namespace hearth::virtio::net::mmds
