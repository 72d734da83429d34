#pragma once
// The TCP endpoint on the MMDS address's port 80: passive open, in-order receive into a bounded HTTP
// parser, one response in flight per connection, go-back-N retransmission on a doubling timer, FIN and
// RST. At most kMaxConnections connections; a SYN past that evicts the oldest half-open one, or is reset.
#include <chrono>
#include <cstdint>
#include <functional>
#include <list>
#include <optional>
#include <string>
#include <vector>

#include "virtio/net/mmds/frames.h"
#include "virtio/net/mmds/http.h"

namespace hearth::virtio::net::mmds {

class TcpEndpoint {
 public:
  using Clock = std::chrono::steady_clock;
  static constexpr size_t kMaxConnections = 32;
  static constexpr uint16_t kPort = 80;
  static constexpr uint16_t kOurMss = 1460;
  static constexpr auto kInitialRto = std::chrono::milliseconds(1000);
  static constexpr auto kMaxRto = std::chrono::milliseconds(16000);
  static constexpr int kMaxRetransmissions = 6;
  static constexpr auto kIdleTimeout = std::chrono::seconds(60);

  struct Hooks {
    std::function<HttpResponse(const HttpRequest&, Clock::time_point)> handle;
    std::function<bool()> can_send;                     // room in the frame queue
    std::function<void(std::vector<uint8_t>)> send;     // one Ethernet frame for the guest
    std::function<void()> on_reset_sent;
    std::function<void()> on_refused;
    std::function<void(int)> on_connections;  // +1 created, -1 destroyed
  };

  TcpEndpoint(Mac our_mac, Ipv4 our_ip, Hooks hooks) : our_mac_(our_mac), our_ip_(our_ip), hooks_(std::move(hooks)) {}

  void handle_segment(const TcpSegment& segment, Clock::time_point now);
  std::optional<Clock::time_point> next_deadline() const;
  void poll(Clock::time_point now);
  size_t connection_count() const { return connections_.size(); }

 private:
  enum class State { SynReceived, Established };
  struct Connection {
    Mac peer_mac;
    Ipv4 peer_ip;
    uint16_t peer_port;
    State state = State::SynReceived;
    uint32_t iss = 0;
    uint32_t una = 0;   // oldest unacknowledged sequence number of ours
    uint32_t nxt = 0;   // next sequence number of ours to send
    uint32_t rcv_nxt = 0;
    uint16_t peer_window = 0;
    uint16_t advertised_window = 0;  // in our last segment
    uint16_t mss = 536;
    std::string out;  // our bytes from `una` (SYN excluded): sent but unacked, then unsent
    bool close_after_send = false;  // response said Connection: close, or a malformed request
    bool fin_sent = false;
    bool fin_received = false;
    HttpRequestParser parser;
    Clock::time_point rto_deadline{};
    Clock::duration rto = kInitialRto;
    int retransmissions = 0;
    Clock::time_point last_activity{};
  };
  using Iter = std::list<Connection>::iterator;
  Iter erase(Iter it);

  void open(const TcpSegment& segment, Clock::time_point now);
  void on_segment(Iter c, const TcpSegment& segment, Clock::time_point now);
  void serve(Connection& c, Clock::time_point now);
  void transmit(Connection& c, Clock::time_point now, bool force_one);
  void send_segment(Connection& c, uint32_t seq, uint8_t flags, std::span<const uint8_t> payload, bool with_mss = false);
  void send_reset_for(const TcpSegment& segment);
  void arm(Connection& c, Clock::time_point now);
  uint16_t our_window(const Connection& c) const;
  bool finished(const Connection& c) const;

  Mac our_mac_;
  Ipv4 our_ip_;
  Hooks hooks_;
  std::list<Connection> connections_;  // oldest first
  uint16_t ip_id_ = 0;
  uint32_t iss_seed_ = 0;
};

}  // namespace hearth::virtio::net::mmds
