#pragma once
// The guest-facing side of MMDS on one network interface: answers ARP for the MMDS address and runs a
// small TCP endpoint on its port 80 carrying HTTP/1.1. Lives in the net device, on the VMM thread; not
// thread-safe. Everything it keeps is bounded (connections, per-connection buffers, the frame queue).
#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <span>
#include <vector>

namespace hearth::virtio::net::mmds {

class Service;
class TcpEndpoint;

using Clock = std::chrono::steady_clock;
using Mac = std::array<uint8_t, 6>;
using Ipv4 = std::array<uint8_t, 4>;

struct StackStats {
  uint64_t frames_consumed = 0;  // frames for MMDS taken from the guest's TX path
  uint64_t frames_dropped = 0;   // malformed frames for MMDS
  uint64_t frames_sent = 0;      // frames queued for the guest
  uint64_t queue_overflows = 0;  // frames dropped because the guest was not reading
  uint64_t resets_sent = 0;
  uint64_t connections_refused = 0;  // SYNs past the connection bound
};

class Stack {
 public:
  static constexpr size_t kMaxQueuedFrames = 64;  // frames waiting for the guest's RX queue

  Stack(std::shared_ptr<Service> service, Mac guest_mac, Ipv4 mmds_ip);
  ~Stack();
  Stack(const Stack&) = delete;
  Stack& operator=(const Stack&) = delete;

  // A frame the guest sent (no vnet header). True when it was for MMDS (consumed, even if dropped as
  // malformed): it must not reach the TAP. False for everything else. `checksum_partial`: the guest
  // asked for checksum offload (VIRTIO_NET_HDR_F_NEEDS_CSUM), so the TCP checksum is not verified.
  bool handle_guest_frame(std::span<const uint8_t> frame, Clock::time_point now, bool checksum_partial = false);

  // Ethernet frames (no vnet header) for the guest, oldest first.
  bool has_frame() const { return !out_.empty(); }
  std::vector<uint8_t> pop_frame();

  // When poll() next has work (retransmission, connection timeouts); nullopt: nothing pending.
  std::optional<Clock::time_point> next_deadline() const;
  void poll(Clock::time_point now);

  // The MAC the stack answers with (ARP replies and every frame it sends).
  const Mac& mmds_mac() const { return mmds_mac_; }
  const StackStats& stats() const { return stats_; }
  size_t connection_count() const;

 private:
  void emit(std::vector<uint8_t> frame);

  std::shared_ptr<Service> service_;
  Mac guest_mac_;
  Mac mmds_mac_;
  Ipv4 mmds_ip_;
  std::unique_ptr<TcpEndpoint> tcp_;
  std::deque<std::vector<uint8_t>> out_;
  StackStats stats_;
};

}  // namespace hearth::virtio::net::mmds
