#pragma once
// RAII registration of an fd in the EventLoop: removed when this goes away, so a destroyed device
// never leaves a dangling handler behind.
#include <cstdint>
#include <utility>

#include "vmm/base/event_loop.h"

namespace hearth::virtio {

class EventRegistration {
 public:
  EventRegistration() = default;
  EventRegistration(EventLoop& loop, int fd, uint32_t events, EventLoop::Handler handler) : loop_(&loop), fd_(fd) {
    loop.add(fd, events, std::move(handler));
  }
  EventRegistration(const EventRegistration&) = delete;
  EventRegistration& operator=(const EventRegistration&) = delete;
  EventRegistration(EventRegistration&& o) noexcept
      : loop_(std::exchange(o.loop_, nullptr)), fd_(std::exchange(o.fd_, -1)) {}
  EventRegistration& operator=(EventRegistration&& o) noexcept {
    if (this != &o) {
      reset();
      loop_ = std::exchange(o.loop_, nullptr);
      fd_ = std::exchange(o.fd_, -1);
    }
    return *this;
  }
  ~EventRegistration() { reset(); }

  void reset() {
    if (loop_) loop_->remove(fd_);
    loop_ = nullptr;
    fd_ = -1;
  }

 private:
  EventLoop* loop_ = nullptr;
  int fd_ = -1;
};

}  // namespace hearth::virtio
