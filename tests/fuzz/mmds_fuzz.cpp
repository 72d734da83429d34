// libFuzzer target: a hostile guest drives the MMDS frame path (ARP, IPv4, TCP, HTTP) with raw frames
// and with well-formed TCP segments whose fields it picks (so the fuzzer gets past the checksums into
// the TCP state machine and the HTTP parser), interleaved with time passing. The stack must never
// crash, and its connections and frame queue must stay within their bounds.
#include <cstdint>
#include <cstdlib>
#include <map>
#include <memory>
#include <vector>

#include "virtio/net/mmds/frames.h"
#include "virtio/net/mmds/service.h"
#include "virtio/net/mmds/stack.h"
#include "virtio/net/mmds/tcp.h"

namespace {

using namespace hearth::virtio::net::mmds;

constexpr Mac kGuestMac{0x02, 0, 0, 0, 0, 1};
constexpr Ipv4 kGuestIp{169, 254, 0, 2};
constexpr Ipv4 kMmdsIp{169, 254, 169, 254};

struct Input {
  const uint8_t* data;
  size_t size;
  size_t at = 0;
  bool empty() const { return at >= size; }
  uint8_t u8() { return at < size ? data[at++] : 0; }
  uint16_t u16() { return uint16_t(u8() << 8 | u8()); }
  std::span<const uint8_t> bytes(size_t n) {
    n = std::min(n, size - std::min(at, size));
    std::span<const uint8_t> s(data + at, n);
    at += n;
    return s;
  }
};

void check_bounds(const Stack& stack) {
  if (stack.connection_count() > TcpEndpoint::kMaxConnections) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  Input in{data, size};
  auto service = std::make_shared<Service>(4096);
  MmdsConfig config;
  config.version = (in.u8() & 1) ? Version::V2 : Version::V1;
  config.network_interfaces = {"eth0"};
  service->set_config(config);
  service->put(nlohmann::json::parse(R"({"latest":{"meta-data":{"id":"i-1","n":[1,"x"]}},"s":"v"})"));
  auto stack = service->make_stack("eth0", kGuestMac);
  auto now = Clock::time_point{} + std::chrono::seconds(1000);
  // What the guest side knows: its next sequence number per port and the stack's latest one.
  std::map<uint16_t, uint32_t> guest_next;
  uint32_t server_next = 0;
  uint16_t ip_id = 0;

  while (!in.empty()) {
    const uint8_t op = in.u8();
    switch (op % 4) {
      case 0: {  // a raw frame, maybe claiming offload
        auto frame = in.bytes(in.u16() % 2048);
        stack->handle_guest_frame(frame, now, (op & 0x80) != 0);
        break;
      }
      case 1: {  // a checksummed TCP segment with chosen fields
        const uint16_t port = uint16_t(40000 + in.u8() % 4);
        const uint8_t b = in.u8();
        const uint16_t dport = (b & 0x80) ? uint16_t(b) : 80;
        const uint8_t flags = in.u8();
        uint32_t& next = guest_next[port];
        const uint32_t seq = next + uint32_t(int8_t(in.u8()));
        const uint32_t ack = server_next + uint32_t(int8_t(in.u8()));
        const uint16_t window = in.u16();
        std::optional<uint16_t> mss;
        if (flags & tcp_flags::kSyn) mss = in.u16();
        auto payload = in.bytes(in.u8() * 4u);
        TcpOut h{stack->mmds_mac(), kGuestMac, kGuestIp, kMmdsIp, port, dport, seq, ack, flags, window, mss, ip_id++};
        stack->handle_guest_frame(build_tcp(h, payload), now, false);
        next = seq + uint32_t(payload.size()) + ((flags & tcp_flags::kSyn) ? 1 : 0) + ((flags & tcp_flags::kFin) ? 1 : 0);
        break;
      }
      case 2: {  // ARP request, for MMDS or not
        std::vector<uint8_t> f(42, 0);
        for (int i = 0; i < 6; ++i) f[size_t(i)] = 0xff, f[size_t(6 + i)] = kGuestMac[size_t(i)];
        const uint8_t head[] = {0x08, 0x06, 0, 1, 0x08, 0, 6, 4, 0, uint8_t(op & 0x80 ? 2 : 1)};
        std::copy(std::begin(head), std::end(head), f.begin() + 12);
        for (int i = 0; i < 4; ++i) f[size_t(38 + i)] = (op & 0x40) ? in.u8() : kMmdsIp[size_t(i)];
        stack->handle_guest_frame(f, now, false);
        break;
      }
      case 3:  // time passes; timers fire
        now += std::chrono::milliseconds(in.u16() * 8);
        stack->poll(now);
        if (auto d = stack->next_deadline(); d && (op & 0x80)) {
          now = std::max(now, *d);
          stack->poll(now);
        }
        break;
    }
    check_bounds(*stack);
    // The guest reads its frames unless the input says it is not reading (the queue must stay bounded).
    size_t queued = 0;
    if (!(op & 0x20)) {
      while (stack->has_frame()) {
        auto f = stack->pop_frame();
        ++queued;
        // Track the stack's sequence space from its TCP frames.
        if (f.size() >= 54 && f[12] == 0x08 && f[13] == 0x00 && f[23] == kProtoTcp) {
          const size_t ip_len = size_t(f[16] << 8 | f[17]);
          const size_t off = size_t(f[46] >> 4) * 4;
          const uint32_t seq = load32(&f[38]);
          const size_t len = ip_len >= 20 + off ? ip_len - 20 - off : 0;
          server_next = seq + uint32_t(len) + ((f[47] & (tcp_flags::kSyn | tcp_flags::kFin)) ? 1 : 0);
        }
        if (queued > Stack::kMaxQueuedFrames) std::abort();
      }
    }
  }
  return 0;
}
