#pragma once
// A guest's side of the wire for MMDS stack tests: builds ARP and TCP/IPv4 frames and checks the
// stack's frames with its own checksum code (not the stack's).
#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace hearth::virtio::net::mmds::testing {

inline constexpr std::array<uint8_t, 6> kGuestMac{0x02, 0, 0, 0, 0, 0x11};
inline constexpr std::array<uint8_t, 4> kGuestIp{169, 254, 0, 2};
inline constexpr std::array<uint8_t, 4> kMmdsIp{169, 254, 169, 254};

inline uint16_t rd16(const std::vector<uint8_t>& f, size_t at) { return uint16_t(f[at] << 8 | f[at + 1]); }
inline uint32_t rd32(const std::vector<uint8_t>& f, size_t at) { return uint32_t(rd16(f, at)) << 16 | rd16(f, at + 2); }
inline void wr16(std::vector<uint8_t>& f, size_t at, uint16_t v) {
  f[at] = uint8_t(v >> 8);
  f[at + 1] = uint8_t(v);
}
inline void wr32(std::vector<uint8_t>& f, size_t at, uint32_t v) {
  wr16(f, at, uint16_t(v >> 16));
  wr16(f, at + 2, uint16_t(v));
}

inline uint16_t inet_sum(const uint8_t* p, size_t n, uint64_t sum = 0) {
  for (size_t i = 0; i < n; ++i) sum += (i % 2 == 0) ? uint32_t(p[i]) << 8 : p[i];
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return uint16_t(sum);
}

template <size_t N>
void put(std::vector<uint8_t>& f, size_t at, const std::array<uint8_t, N>& a) {
  for (size_t i = 0; i < N; ++i) f.at(at + i) = a[i];
}

inline std::vector<uint8_t> arp_request(std::array<uint8_t, 4> target, uint16_t op = 1) {
  std::vector<uint8_t> f(42, 0);
  for (int i = 0; i < 6; ++i) f[i] = 0xff;
  put(f, 6, kGuestMac);
  wr16(f, 12, 0x0806);
  wr16(f, 14, 1);
  wr16(f, 16, 0x0800);
  f[18] = 6;
  f[19] = 4;
  wr16(f, 20, op);
  put(f, 22, kGuestMac);
  put(f, 28, kGuestIp);
  put(f, 38, target);
  return f;
}

struct Seg {
  uint16_t sport = 40000, dport = 80;
  uint32_t seq = 0, ack = 0;
  uint8_t flags = 0;
  uint16_t window = 65535;
  std::optional<uint16_t> mss{};
  std::string payload{};
  std::array<uint8_t, 4> dst = kMmdsIp;
};

inline std::vector<uint8_t> tcp_frame(const Seg& s) {
  const size_t opt = s.mss ? 4 : 0;
  const size_t tcp_len = 20 + opt + s.payload.size();
  std::vector<uint8_t> f(14 + 20 + tcp_len, 0);
  put(f, 6, kGuestMac);
  wr16(f, 12, 0x0800);
  f[14] = 0x45;
  wr16(f, 16, uint16_t(20 + tcp_len));
  f[22] = 64;
  f[23] = 6;
  put(f, 26, kGuestIp);
  std::copy(s.dst.begin(), s.dst.end(), f.begin() + 30);
  wr16(f, 24, uint16_t(~inet_sum(&f[14], 20)));
  const size_t t = 34;
  wr16(f, t, s.sport);
  wr16(f, t + 2, s.dport);
  wr32(f, t + 4, s.seq);
  wr32(f, t + 8, s.ack);
  f[t + 12] = uint8_t(((20 + opt) / 4) << 4);
  f[t + 13] = s.flags;
  wr16(f, t + 14, s.window);
  if (s.mss) {
    f[t + 20] = 2;
    f[t + 21] = 4;
    wr16(f, t + 22, *s.mss);
  }
  std::copy(s.payload.begin(), s.payload.end(), f.begin() + long(t + 20 + opt));
  uint64_t pseudo = inet_sum(&f[26], 8) + 6 + tcp_len;
  wr16(f, t + 16, uint16_t(~inet_sum(&f[t], tcp_len, pseudo)));
  return f;
}

// A segment the stack sent, checked: Ethernet to the guest, IPv4 header checksum, TCP checksum.
struct Got {
  uint16_t sport, dport;
  uint32_t seq, ack;
  uint8_t flags;
  uint16_t window;
  std::optional<uint16_t> mss;
  std::string payload;
};

inline std::optional<Got> parse_tcp_out(const std::vector<uint8_t>& f) {
  if (f.size() < 54 || rd16(f, 12) != 0x0800) return std::nullopt;
  EXPECT_TRUE(std::equal(kGuestMac.begin(), kGuestMac.end(), f.begin()));
  EXPECT_EQ(inet_sum(&f[14], 20), 0xffff) << "IPv4 header checksum";
  const size_t total = rd16(f, 16);
  EXPECT_EQ(total + 14, f.size());
  EXPECT_EQ(f[23], 6);
  EXPECT_TRUE(std::equal(kMmdsIp.begin(), kMmdsIp.end(), f.begin() + 26));
  EXPECT_TRUE(std::equal(kGuestIp.begin(), kGuestIp.end(), f.begin() + 30));
  const size_t t = 34, tcp_len = total - 20;
  uint64_t pseudo = inet_sum(&f[26], 8) + 6 + tcp_len;
  EXPECT_EQ(inet_sum(&f[t], tcp_len, pseudo), 0xffff) << "TCP checksum";
  Got g{rd16(f, t), rd16(f, t + 2), rd32(f, t + 4), rd32(f, t + 8), f[t + 13], rd16(f, t + 14), std::nullopt, {}};
  const size_t off = size_t(f[t + 12] >> 4) * 4;
  if (off >= 24 && f[t + 20] == 2) g.mss = rd16(f, t + 22);
  g.payload.assign(f.begin() + long(t + off), f.end());
  return g;
}

}  // namespace hearth::virtio::net::mmds::testing
