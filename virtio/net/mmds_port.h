#pragma once
// What the net device needs from an interface's MMDS stack (virtio/net/mmds/stack.h): frames the guest
// sends it, frames it has for the guest, and a deadline to be polled at. An interface so the device is
// built and tested without the stack's implementation; mmds_adapter.h wraps the real one.
#include <chrono>
#include <cstdint>
#include <optional>
#include <span>
#include <vector>

namespace hearth::virtio::net {

class MmdsPort {
 public:
  using TimePoint = std::chrono::steady_clock::time_point;
  virtual ~MmdsPort() = default;
  // True: the frame was for MMDS and must not reach the TAP.
  virtual bool handle_guest_frame(std::span<const uint8_t> frame, TimePoint now) = 0;
  virtual bool has_frame() const = 0;
  virtual std::vector<uint8_t> pop_frame() = 0;  // an Ethernet frame for the guest, no vnet header
  virtual std::optional<TimePoint> next_deadline() const = 0;
  virtual void poll(TimePoint now) = 0;
};

}  // namespace hearth::virtio::net
