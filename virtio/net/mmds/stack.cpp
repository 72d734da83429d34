#include "virtio/net/mmds/stack.h"

#include "virtio/net/mmds/service.h"
#include "virtio/net/mmds/tcp.h"

namespace hearth::virtio::net::mmds {

Stack::Stack(std::shared_ptr<Service> service, Mac guest_mac, Ipv4 mmds_ip)
    : service_(std::move(service)), guest_mac_(guest_mac), mmds_mac_{0x06, 0x01, 0x23, 0x45, 0x67, 0x01}, mmds_ip_(mmds_ip) {}
Stack::~Stack() = default;
bool Stack::handle_guest_frame(std::span<const uint8_t>, Clock::time_point) { return false; }
std::vector<uint8_t> Stack::pop_frame() {
  if (out_.empty()) return {};
  auto f = std::move(out_.front());
  out_.pop_front();
  return f;
}
std::optional<Clock::time_point> Stack::next_deadline() const { return std::nullopt; }
void Stack::poll(Clock::time_point) {}
size_t Stack::connection_count() const { return 0; }
void Stack::emit(std::vector<uint8_t> frame) { out_.push_back(std::move(frame)); }
bool Stack::handle_arp(std::span<const uint8_t>) { return false; }
bool Stack::handle_ipv4(std::span<const uint8_t>, Clock::time_point) { return false; }

}  // namespace hearth::virtio::net::mmds
