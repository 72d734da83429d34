// The VMM thread (event loop): builds the VM when told to (InstanceStart, snapshot load), so it opens
// the kernel, drives, log/metrics files and snapshot files, drives KVM, serves virtio queues (block
// I/O, entropy), and creates the API and vCPU threads.
#include <fcntl.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <termios.h>

#include <linux/fs.h>
#include <linux/if_tun.h>

#include "vmm/seccomp/builtin.h"

namespace hearth::seccomp {

std::vector<Rule> vmm_rules() {
  std::vector<Rule> r = {
      // Files: inside the jail only what the user placed there can be opened.
      allow("openat"), allow("pread64"), allow("pwrite64"), allow("preadv"), allow("pwritev"),
      allow("preadv2"), allow("pwritev2"), allow("fstatfs"), allow("statx"), allow("newfstatat"),
      allow("readlink"), allow("getcwd"), allow("unlinkat"), allow("unlink"), allow("renameat2"),
      allow("rename"), allow("ftruncate"), allow("fallocate"), allow("fsync"), allow("fdatasync"),
      allow("copy_file_range"), allow("dup"),
      // Event loop and its fds.
      allow("epoll_create1"), allow("epoll_ctl"), allow("epoll_wait"), allow("epoll_pwait"), allow("eventfd2"),
      allow("timerfd_create"), allow("timerfd_settime"), allow("timerfd_gettime"), allow("signalfd4"),
      allow("poll"), allow("ppoll"),
      // Block engines and the entropy device.
      allow("io_uring_setup"), allow("io_uring_enter"), allow("io_uring_register"), allow("getrandom"),
      // The API socket and the Uffd snapshot backend's handler socket.
      allow("bind"), allow("listen"), allow("connect"), allow("accept4"), allow("sendmsg"), allow("recvmsg"),
      allow("sendto"), allow("recvfrom"), allow("shutdown"), allow("getsockopt"), allow("setsockopt"),
      allow("userfaultfd"),
      // Threads: the vCPU kick handler, naming and filtering new threads, glibc's thread start-up.
      allow("rt_sigaction"), allow("set_robust_list"), allow("rseq"), allow("sched_getaffinity"),
      allow("prlimit64"),
      allow_if("clone", {arg_masked(0, CLONE_THREAD, CLONE_THREAD)}),  // threads, never a new process
      allow_if("seccomp", {arg_eq32(0, SECCOMP_SET_MODE_FILTER)}),    // can only add restrictions
  };
  // glibc tries clone3 first and falls back to clone, whose flags a filter can see.
  r.push_back(Rule{"clone3", {}, Action{Action::Kind::kErrno, ENOSYS}});
  allow_values(r, "prctl", 0, {PR_SET_NAME, PR_GET_NAME, PR_SET_NO_NEW_PRIVS}, true);
  allow_values(r, "socket", 0, {AF_UNIX}, true);
  allow_values(r, "fcntl", 1, {F_DUPFD_CLOEXEC, F_GETPIPE_SZ, F_SETPIPE_SZ}, true);
  // Every KVM ioctl (type 0xAE), every userfaultfd ioctl (type 0xAA), and the terminal and size
  // queries on the console and drives; no other device's ioctls.
  r.push_back(allow_if("ioctl", {ArgCheck{1, CmpOp::kMaskedEq, 0xAE00, 0xff00, false}}));
  r.push_back(allow_if("ioctl", {ArgCheck{1, CmpOp::kMaskedEq, 0xAA00, 0xff00, false}}));
  allow_values(r, "ioctl", 1, {TCGETS, TCSETS, TCSETSW, TCSETSF, TIOCGWINSZ, FIONBIO, FIONREAD, BLKGETSIZE64}, true);
  // virtio-net: attach to the TAP by name, its vnet header size, the offloads the guest took.
  allow_values(r, "ioctl", 1, {TUNSETIFF, TUNSETVNETHDRSZ, TUNSETOFFLOAD}, true);
#if defined(__SANITIZE_ADDRESS__)
  // ASan builds only: LeakSanitizer's exit-time check runs on this thread and stops the others with
  // a ptrace-ing helper (which inherits this filter); it reads /proc with the legacy open and
  // getdents. One refused call kills the helper and leaves exit() spinning forever.
  append(r, {allow("clone"), allow("ptrace"), allow("wait4"), allow("getdents64"), allow("getdents"),
             allow("open"), allow("prctl"), allow("readlink"), allow("getppid"), allow("kill"),
             allow("process_vm_readv")});
#endif
  return r;
}

}  // namespace hearth::seccomp
