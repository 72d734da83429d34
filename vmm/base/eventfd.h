#pragma once
// Counter eventfd used for irqfd, ioeventfd and cross-thread wakeups.
#include <cstdint>

#include "vmm/base/fd.h"

namespace hearth {

class EventFd {
 public:
  explicit EventFd(bool nonblocking = true);
  int fd() const { return fd_.get(); }
  // Adds one to the counter (wakes a reader / injects an irqfd interrupt).
  void signal() const;
  // Reads and clears the counter; returns 0 when nonblocking and nothing is pending.
  uint64_t consume() const;

 private:
  UniqueFd fd_;
};

}  // namespace hearth
