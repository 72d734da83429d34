// The API thread: HTTP on the already-listening Unix socket; requests go to the VMM thread through
// the request queue (a mutex and an eventfd). It never opens files, touches KVM or guest memory.
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include "vmm/seccomp/builtin.h"

namespace hearth::seccomp {

std::vector<Rule> api_rules() {
  return {
      allow("accept4"), allow("epoll_create1"), allow("epoll_ctl"), allow("epoll_wait"), allow("epoll_pwait"),
      allow("recvfrom"), allow("sendto"), allow("recvmsg"), allow("sendmsg"), allow("shutdown"),
      allow("eventfd2"),
      allow_if("ioctl", {arg_eq32(1, FIONBIO)}),
      openat_fails(),
  };
}

}  // namespace hearth::seccomp
