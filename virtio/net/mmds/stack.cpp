#include "virtio/net/mmds/stack.h"

#include "virtio/net/mmds/frames.h"
#include "virtio/net/mmds/service.h"
#include "virtio/net/mmds/tcp.h"

namespace hearth::virtio::net::mmds {

// Locally administered, as Firecracker's MMDS uses.
static constexpr Mac kMmdsMac{0x06, 0x01, 0x23, 0x45, 0x67, 0x01};

Stack::Stack(std::shared_ptr<Service> service, Mac guest_mac, Ipv4 mmds_ip)
    : service_(std::move(service)), guest_mac_(guest_mac), mmds_mac_(kMmdsMac), mmds_ip_(mmds_ip) {
  TcpEndpoint::Hooks hooks{
      [this](const HttpRequest& request, Clock::time_point now) { return service_->handle(request, now); },
      [this] { return out_.size() < kMaxQueuedFrames; },
      [this](std::vector<uint8_t> frame) { emit(std::move(frame)); },
      [this] { ++stats_.resets_sent; },
      [this] { ++stats_.connections_refused; },
      [this](int delta) {
        auto& c = service_->counters();
        (delta > 0 ? c.connections_created : c.connections_destroyed).add();
      },
  };
  tcp_ = std::make_unique<TcpEndpoint>(mmds_mac_, mmds_ip_, std::move(hooks));
}

Stack::~Stack() = default;

bool Stack::handle_guest_frame(std::span<const uint8_t> frame, Clock::time_point now, bool checksum_partial) {
  if (frame.size() < kEthHeader) return false;
  const uint16_t type = load16(&frame[12]);
  if (type == kEtherTypeArp) {
    auto request = parse_arp_request(frame);
    if (!request || request->target_ip != mmds_ip_) return false;
    ++stats_.frames_consumed;
    service_->counters().rx_accepted.add();
    emit(build_arp_reply(mmds_mac_, mmds_ip_, *request));
    return true;
  }
  if (type != kEtherTypeIpv4) return false;
  auto destination = ipv4_destination(frame);
  if (!destination || *destination != mmds_ip_) return false;
  ++stats_.frames_consumed;
  service_->counters().rx_accepted.add();
  TcpSegment segment;
  if (parse_tcp(frame, checksum_partial, segment) != Ipv4Parse::Tcp) {
    ++stats_.frames_dropped;  // malformed, or not TCP: MMDS speaks nothing else
    service_->counters().rx_accepted_err.add();
    return true;
  }
  tcp_->handle_segment(segment, now);
  return true;
}

std::vector<uint8_t> Stack::pop_frame() {
  if (out_.empty()) return {};
  std::vector<uint8_t> frame = std::move(out_.front());
  out_.pop_front();
  return frame;
}

std::optional<Clock::time_point> Stack::next_deadline() const { return tcp_->next_deadline(); }

void Stack::poll(Clock::time_point now) { tcp_->poll(now); }

size_t Stack::connection_count() const { return tcp_->connection_count(); }

void Stack::emit(std::vector<uint8_t> frame) {
  if (out_.size() >= kMaxQueuedFrames) {
    ++stats_.queue_overflows;  // the guest is not reading; TCP retransmits, ARP is asked again
    service_->counters().tx_errors.add();
    return;
  }
  ++stats_.frames_sent;
  service_->counters().tx_frames.add();
  out_.push_back(std::move(frame));
}

}  // namespace hearth::virtio::net::mmds
