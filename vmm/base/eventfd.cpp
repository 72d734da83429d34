#include "vmm/base/eventfd.h"

#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>

#include "vmm/base/error.h"

namespace hearth {

EventFd::EventFd(bool nonblocking)
    : fd_(::eventfd(0, EFD_CLOEXEC | (nonblocking ? EFD_NONBLOCK : 0))) {
  if (!fd_) throw_errno("eventfd");
}

void EventFd::signal() const {
  uint64_t one = 1;
  // EAGAIN means the counter is saturated: the reader is already due to wake.
  while (::write(fd_.get(), &one, sizeof(one)) < 0) {
    if (errno == EINTR) continue;
    if (errno == EAGAIN) return;
    throw_errno("eventfd write");
  }
}

uint64_t EventFd::consume() const {
  uint64_t value = 0;
  while (::read(fd_.get(), &value, sizeof(value)) < 0) {
    if (errno == EINTR) continue;
    if (errno == EAGAIN) return 0;
    throw_errno("eventfd read");
  }
  return value;
}

}  // namespace hearth
