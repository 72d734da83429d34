// Live-migration threads (sender, receiver, userfaultfd page server): sockets to the peer, the dirty
// log, userfaultfd, and guest-memory mappings. The list was agreed with the migration code's owner;
// it does not allow opening files except for log output.
#include <fcntl.h>
#include <sched.h>
#include <linux/seccomp.h>
#include <sys/prctl.h>

#include <cerrno>
#include <linux/kvm.h>
#include <linux/userfaultfd.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include "vmm/seccomp/builtin.h"

namespace hearth::seccomp {

std::vector<Rule> migration_rules() {
  std::vector<Rule> r = {
      allow("sendmsg"), allow("recvmsg"), allow("sendto"), allow("recvfrom"),
      allow("connect"), allow("bind"), allow("listen"), allow("accept4"), allow("shutdown"),
      allow("setsockopt"), allow("getsockopt"), allow("getsockname"),
      allow("poll"), allow("ppoll"), allow("epoll_wait"), allow("epoll_pwait"), allow("epoll_ctl"),
      allow("userfaultfd"), allow("eventfd2"), allow("pread64"), allow("pwrite64"),
      allow("openat"),  // log files only; inside the jail there is nothing else to open
  };
  allow_values(r, "socket", 0, {AF_UNIX, AF_INET, AF_INET6}, true);
  allow_values(r, "ioctl", 1,
               {KVM_GET_DIRTY_LOG, KVM_CLEAR_DIRTY_LOG, UFFDIO_API, UFFDIO_REGISTER, UFFDIO_UNREGISTER,
                UFFDIO_WAKE, UFFDIO_COPY, UFFDIO_ZEROPAGE, UFFDIO_WRITEPROTECT, UFFDIO_CONTINUE, FIONREAD, FIONBIO},
               true);
  allow_values(r, "fcntl", 1, {F_DUPFD_CLOEXEC}, true);
  // Post-copy starts threads from migration threads (the page-request reader, the VM's arrival, the
  // userfaultfd server): glibc's thread start-up and naming, threads only.
  append(r, {allow("set_robust_list"), allow("rseq"), allow_if("clone", {arg_masked(0, CLONE_THREAD, CLONE_THREAD)})});
  r.push_back(Rule{"clone3", {}, Action{Action::Kind::kErrno, ENOSYS}});
  allow_values(r, "prctl", 0, {PR_SET_NAME, PR_GET_NAME, PR_SET_NO_NEW_PRIVS}, true);
  // A new thread installs its own (migration) filter on top of the inherited one: only adds restrictions.
  r.push_back(allow_if("seccomp", {arg_eq32(0, SECCOMP_SET_MODE_FILTER)}));
  return r;
}

}  // namespace hearth::seccomp
