#pragma once
// MmdsPort over the interface's real MMDS stack (virtio/net/mmds/stack.h).
#include <memory>

#include "virtio/net/mmds/stack.h"
#include "virtio/net/mmds_port.h"

namespace hearth::virtio::net {

class MmdsStackPort final : public MmdsPort {
 public:
  explicit MmdsStackPort(std::unique_ptr<mmds::Stack> stack) : stack_(std::move(stack)) {}
  bool handle_guest_frame(std::span<const uint8_t> frame, TimePoint now) override {
    return stack_->handle_guest_frame(frame, now);
  }
  bool has_frame() const override { return stack_->has_frame(); }
  std::vector<uint8_t> pop_frame() override { return stack_->pop_frame(); }
  std::optional<TimePoint> next_deadline() const override { return stack_->next_deadline(); }
  void poll(TimePoint now) override { stack_->poll(now); }

 private:
  std::unique_ptr<mmds::Stack> stack_;
};

}  // namespace hearth::virtio::net
