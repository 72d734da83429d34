#include "virtio/net/mmds/tcp.h"

#include <algorithm>
#include <random>

namespace hearth::virtio::net::mmds {
namespace {

using namespace tcp_flags;

// Sequence-number comparisons modulo 2^32.
bool seq_lt(uint32_t a, uint32_t b) { return int32_t(a - b) < 0; }
bool seq_le(uint32_t a, uint32_t b) { return int32_t(a - b) <= 0; }

}  // namespace

uint16_t TcpEndpoint::our_window(const Connection& c) const {
  return uint16_t(HttpRequestParser::kMaxRequestBytes - std::min(c.parser.buffered(), HttpRequestParser::kMaxRequestBytes));
}

void TcpEndpoint::send_segment(Connection& c, uint32_t seq, uint8_t flags, std::span<const uint8_t> payload,
                               bool with_mss) {
  c.advertised_window = our_window(c);
  TcpOut h{c.peer_mac, our_mac_, our_ip_, c.peer_ip, kPort, c.peer_port, seq, c.rcv_nxt, flags,
           c.advertised_window, with_mss ? std::optional<uint16_t>(kOurMss) : std::nullopt, ip_id_++};
  hooks_.send(build_tcp(h, payload));
}

void TcpEndpoint::send_reset_for(const TcpSegment& s) {
  if (s.flags & kRst) return;  // never answer a reset
  TcpOut h{s.src_mac, our_mac_, our_ip_, s.src_ip, s.dst_port, s.src_port, 0, 0, kRst, 0, std::nullopt, ip_id_++};
  if (s.flags & kAck) {
    h.seq = s.ack;
  } else {
    h.ack = s.seq + s.seq_len();
    h.flags |= kAck;
  }
  if (!hooks_.can_send()) return;
  hooks_.send(build_tcp(h, {}));
  hooks_.on_reset_sent();
}

TcpEndpoint::Iter TcpEndpoint::erase(Iter it) {
  if (hooks_.on_connections) hooks_.on_connections(-1);
  return connections_.erase(it);
}

void TcpEndpoint::arm(Connection& c, Clock::time_point now) {
  c.rto_deadline = now + c.rto;
}

bool TcpEndpoint::finished(const Connection& c) const {
  // Our FIN acknowledged and the peer's FIN seen: nothing left to do.
  return c.fin_sent && c.una == c.nxt && c.fin_received;
}

void TcpEndpoint::handle_segment(const TcpSegment& s, Clock::time_point now) {
  if (s.dst_port != kPort) {
    send_reset_for(s);
    return;
  }
  auto it = std::find_if(connections_.begin(), connections_.end(), [&](const Connection& c) {
    return c.peer_ip == s.src_ip && c.peer_port == s.src_port;
  });
  if (it != connections_.end()) {
    on_segment(it, s, now);
    return;
  }
  if ((s.flags & (kSyn | kAck | kRst | kFin)) == kSyn) {
    open(s, now);
    return;
  }
  send_reset_for(s);
}

void TcpEndpoint::open(const TcpSegment& s, Clock::time_point now) {
  if (connections_.size() >= kMaxConnections) {
    // A flood of half-open connections must not lock out a real client: forget the oldest one.
    // (or one we have finished with that waits for the peer's FIN).
    auto victim = std::find_if(connections_.begin(), connections_.end(), [](const Connection& c) {
      return c.state == State::SynReceived || (c.fin_sent && c.una == c.nxt);
    });
    if (victim == connections_.end()) {
      hooks_.on_refused();
      send_reset_for(s);
      return;
    }
    erase(victim);
    hooks_.on_refused();
  }
  if (iss_seed_ == 0) iss_seed_ = std::random_device{}() | 1;
  iss_seed_ = iss_seed_ * 1664525u + 1013904223u;
  Connection& c = connections_.emplace_back();
  if (hooks_.on_connections) hooks_.on_connections(+1);
  c.peer_mac = s.src_mac;
  c.peer_ip = s.src_ip;
  c.peer_port = s.src_port;
  c.iss = iss_seed_;
  c.una = c.iss;
  c.nxt = c.iss + 1;
  c.rcv_nxt = s.seq + 1;
  c.peer_window = s.window;
  c.mss = std::clamp<uint16_t>(s.mss.value_or(536), 64, kOurMss);
  c.last_activity = now;
  if (hooks_.can_send()) send_segment(c, c.iss, kSyn | kAck, {}, true);
  arm(c, now);
}

void TcpEndpoint::on_segment(Iter it, const TcpSegment& s, Clock::time_point now) {
  Connection& c = *it;
  if (s.flags & kRst) {
    // Accept a reset anywhere in our receive window (RFC 5961 would want exactly rcv_nxt).
    if (seq_le(c.rcv_nxt, s.seq) && seq_lt(s.seq, c.rcv_nxt + our_window(c) + 1)) erase(it);
    return;
  }
  if (s.flags & kSyn) {
    // A retransmitted SYN while half-open: repeat the SYN-ACK. Anything else is a protocol error.
    if (c.state == State::SynReceived && s.seq + 1 == c.rcv_nxt) {
      if (hooks_.can_send()) send_segment(c, c.iss, kSyn | kAck, {}, true);
    } else {
      send_reset_for(s);
      erase(it);
    }
    return;
  }
  if (!(s.flags & kAck)) return;  // every segment after the SYN carries an ACK
  c.last_activity = now;

  // Acknowledgement of our data.
  if (seq_lt(c.una, s.ack) && seq_le(s.ack, c.nxt)) {
    uint32_t acked = s.ack - c.una;
    if (c.state == State::SynReceived) {
      c.state = State::Established;
      --acked;  // the SYN
    }
    c.out.erase(0, std::min<size_t>(acked, c.out.size()));
    c.una = s.ack;
    c.rto = kInitialRto;
    c.retransmissions = 0;
    if (c.una != c.nxt) arm(c, now);
  } else if (c.state == State::SynReceived || seq_lt(c.nxt, s.ack)) {
    // An ACK of something we never sent.
    send_reset_for(s);
    if (c.state == State::SynReceived) erase(it);
    return;
  }
  c.peer_window = s.window;

  // In-order data; a segment overlapping what we already have is trimmed, one ahead of it is dropped
  // (the duplicate ACK below tells the peer where we are).
  bool need_ack = false;
  std::span<const uint8_t> data = s.payload;
  uint32_t seq = s.seq;
  if (!data.empty() || (s.flags & kFin)) need_ack = true;
  if (seq_lt(seq, c.rcv_nxt)) {
    const uint32_t skip = std::min<uint32_t>(c.rcv_nxt - seq, uint32_t(data.size()));
    data = data.subspan(skip);
    seq += skip;
  }
  bool in_order = seq == c.rcv_nxt;
  if (in_order && !data.empty() && !c.fin_received) {
    const size_t room = our_window(c);
    const size_t take = std::min(room, data.size());
    c.parser.feed(data.first(take));
    c.rcv_nxt += uint32_t(take);
    if (take < data.size()) in_order = false;  // past our window: the FIN (if any) waits too
  }
  if (in_order && (s.flags & kFin) && !c.fin_received && seq + data.size() == c.rcv_nxt) {
    c.fin_received = true;
    c.rcv_nxt += 1;
  }

  serve(c, now);
  const uint32_t before = c.nxt;
  transmit(c, now, false);
  // An ACK for data or FIN, and a window update once a closed window opens again (the peer may not probe).
  const bool window_opened = c.advertised_window == 0 && our_window(c) > 0;
  if ((need_ack || window_opened) && c.nxt == before && hooks_.can_send()) send_segment(c, c.nxt, kAck, {});
  if (finished(c)) erase(it);
}

void TcpEndpoint::serve(Connection& c, Clock::time_point now) {
  // One response at a time: the next request waits until the previous answer is acknowledged, so a
  // pipelining guest cannot queue responses without bound.
  while (c.out.empty() && !c.close_after_send) {
    HttpRequest request;
    std::string error;
    auto result = c.parser.next(request, error);
    if (result == HttpRequestParser::Result::NeedMore) {
      if (c.fin_received) c.close_after_send = true;  // the peer is done and so are its requests
      return;
    }
    HttpResponse response;
    if (result == HttpRequestParser::Result::Error) {
      response.status = 400;
      response.content_type = "text/plain";
      response.body = error;
      response.close = true;
    } else {
      response = hooks_.handle(request, now);
    }
    c.out = response.serialize();
    if (response.close) c.close_after_send = true;
  }
}

void TcpEndpoint::transmit(Connection& c, Clock::time_point now, bool force_one) {
  if (c.state != State::Established) return;
  const bool was_idle = c.una == c.nxt;
  bool sent = false;
  while (hooks_.can_send()) {
    const size_t offset = c.nxt - c.una;  // bytes in flight
    if (offset >= c.out.size()) break;
    size_t len = std::min<size_t>(c.mss, c.out.size() - offset);
    const size_t room = c.peer_window > offset ? c.peer_window - offset : 0;
    if (len > room) {
      // A closed window is probed with one byte when the timer fires.
      len = room > 0 ? room : (force_one && !sent ? 1 : 0);
      if (len == 0) break;
    }
    const auto* bytes = reinterpret_cast<const uint8_t*>(c.out.data()) + offset;
    const bool last = offset + len == c.out.size();
    send_segment(c, c.nxt, kAck | (last ? kPsh : 0), {bytes, len});
    c.nxt += uint32_t(len);
    sent = true;
  }
  // Our FIN once everything is out.
  if (c.close_after_send && !c.fin_sent && c.nxt - c.una == c.out.size() && hooks_.can_send()) {
    send_segment(c, c.nxt, kFin | kAck, {});
    c.nxt += 1;
    c.fin_sent = true;
    sent = true;
  }
  if (sent && was_idle) arm(c, now);
}

std::optional<TcpEndpoint::Clock::time_point> TcpEndpoint::next_deadline() const {
  std::optional<Clock::time_point> best;
  for (const Connection& c : connections_) {
    // Outstanding data is bounded by the retransmission limit; otherwise by the idle timeout.
    const Clock::time_point t = c.una != c.nxt ? c.rto_deadline : c.last_activity + kIdleTimeout;
    if (!best || t < *best) best = t;
  }
  return best;
}

void TcpEndpoint::poll(Clock::time_point now) {
  for (auto it = connections_.begin(); it != connections_.end();) {
    Connection& c = *it;
    if (c.una == c.nxt && now >= c.last_activity + kIdleTimeout) {
      it = erase(it);  // idle: forgotten quietly, as the peer may be gone
      continue;
    }
    if (c.una != c.nxt && now >= c.rto_deadline) {
      if (++c.retransmissions > kMaxRetransmissions) {
        if (hooks_.can_send()) {
          send_segment(c, c.nxt, kRst, {});
          hooks_.on_reset_sent();
        }
        it = erase(it);
        continue;
      }
      c.rto = std::min<Clock::duration>(c.rto * 2, kMaxRto);
      if (c.state == State::SynReceived) {
        if (hooks_.can_send()) send_segment(c, c.iss, kSyn | kAck, {}, true);
      } else {
        // Go back N: resend from the oldest unacknowledged byte.
        c.nxt = c.una;
        c.fin_sent = false;
        transmit(c, now, true);
      }
      arm(c, now);
    }
    ++it;
  }
}

}  // namespace hearth::virtio::net::mmds
