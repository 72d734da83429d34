// Syscalls every Hearth thread makes through glibc, libstdc++ and spdlog.
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "vmm/seccomp/builtin.h"

namespace hearth::seccomp {

std::vector<Rule> common_rules() {
  std::vector<Rule> r = {
      allow("read"), allow("write"), allow("readv"), allow("writev"), allow("close"),
      allow("futex"), allow("brk"), allow("munmap"), allow("madvise"), allow("mremap"),
      // No executable mappings anywhere in Hearth: a filter that allows PROT_EXEC would let an
      // attacker map shellcode, so only non-executable mmap/mprotect pass.
      allow_if("mmap", {arg_masked(2, PROT_EXEC, 0)}),
      allow_if("mprotect", {arg_masked(2, PROT_EXEC, 0)}),
      allow("rt_sigprocmask"), allow("rt_sigreturn"), allow("sigaltstack"),
      allow("clock_gettime"), allow("clock_nanosleep"), allow("nanosleep"), allow("sched_yield"),
      allow("gettid"), allow("getpid"), allow("restart_syscall"),
      allow("exit"), allow("exit_group"),
      // glibc's fstat: newfstatat(fd, "", buf, AT_EMPTY_PATH) (stdio's first write, spdlog sinks).
      allow_if("newfstatat", {arg_masked(3, AT_EMPTY_PATH, AT_EMPTY_PATH)}),
      allow("fstat"),
      allow("lseek"),
      // pthread_getattr_np reads the thread's own affinity; ASan calls it in every new thread.
      allow("sched_getaffinity"),
  };
  // Signals only to our own process (pthread_kill, abort): never to another one.
  ArgCheck own{0, CmpOp::kEq, 0, 0, false};
  own.own_pid = true;
  r.push_back(allow_if("tgkill", {own}));
  allow_values(r, "fcntl", 1, {F_GETFD, F_SETFD, F_GETFL, F_SETFL}, true);
#if defined(__SANITIZE_ADDRESS__)
  // Sanitizer builds only: UBSan's vptr check probes memory by writing it into a pipe
  // (IsAccessibleMemoryRange), on whichever thread first meets a type. Never in a production build.
  append(r, {allow("pipe2"), allow("pipe")});
#endif
  return r;
}

}  // namespace hearth::seccomp
