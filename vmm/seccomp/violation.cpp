#include "vmm/seccomp/violation.h"

#include <pthread.h>
#include <signal.h>
#include <sys/syscall.h>
#include <ucontext.h>
#include <unistd.h>

#include <seccomp.h>

#include <array>
#include <atomic>
#include <cstdlib>
#include <ctime>
#include <cstring>

#include "vmm/base/error.h"

namespace hearth::seccomp {
namespace {

constexpr int kMaxSyscall = 512;
std::array<char[32], kMaxSyscall> g_names{};  // filled before any filter; read-only afterwards

std::atomic<int> g_metrics_fd{-1};  // lock-free: read in the handler
static_assert(std::atomic<int>::is_always_lock_free);

thread_local const char* t_kind = "vmm (inherited)";  // a thread that never installed its own filter
thread_local char t_name[16] = "?";

// Appends without allocating: the handler runs on whatever thread made the call.
struct Line {
  char buf[256];
  size_t len = 0;
  void add(const char* s) {
    while (*s && len < sizeof(buf) - 1) buf[len++] = *s++;
  }
  void add(long v) {
    char digits[24];
    int n = 0;
    unsigned long u = v < 0 ? static_cast<unsigned long>(-v) : static_cast<unsigned long>(v);
    do digits[n++] = static_cast<char>('0' + u % 10); while ((u /= 10) && n < 23);
    if (v < 0) add("-");
    while (n > 0 && len < sizeof(buf) - 1) buf[len++] = digits[--n];
  }
  void hex(unsigned long v) {
    char digits[17];
    int n = 0;
    do digits[n++] = "0123456789abcdef"[v & 15]; while ((v >>= 4) && n < 16);
    add("0x");
    while (n > 0 && len < sizeof(buf) - 1) buf[len++] = digits[--n];
  }
};

// The process's last metrics line, so a supervisor that reads only metrics sees the kill too.
void write_fault_metrics_line() {
  const int fd = g_metrics_fd.load();
  if (fd < 0) return;
  timespec now{};
  ::clock_gettime(CLOCK_REALTIME, &now);
  Line m;
  m.add("{\"utc_timestamp_ms\":");
  m.add(static_cast<long>(now.tv_sec) * 1000 + now.tv_nsec / 1000000);
  m.add(",\"seccomp\":{\"num_faults\":1}}\n");
  [[maybe_unused]] ssize_t w = ::write(fd, m.buf, m.len);
}

void on_sigsys(int, siginfo_t* info, void* context) {
  const int nr = info->si_syscall;
  const greg_t* r = static_cast<ucontext_t*>(context)->uc_mcontext.gregs;
  Line line;
  line.add("hearth: seccomp: thread '");
  line.add(t_name);
  line.add("' (");
  line.add(t_kind);
  line.add(" filter) made syscall '");
  line.add(nr >= 0 && nr < kMaxSyscall && g_names[nr][0] ? g_names[nr] : "unknown");
  line.add("' (");
  line.add(static_cast<long>(nr));
  // The first arguments say which ioctl, fcntl command or socket family it was.
  line.add(", args ");
  line.hex(static_cast<unsigned long>(r[REG_RDI]));
  line.add(" ");
  line.hex(static_cast<unsigned long>(r[REG_RSI]));
  line.add(" ");
  line.hex(static_cast<unsigned long>(r[REG_RDX]));
  line.add("), which its filter does not allow; killing the process\n");
  [[maybe_unused]] ssize_t w = ::write(STDERR_FILENO, line.buf, line.len);
  write_fault_metrics_line();
  // Replay the call from the saved registers: the filter traps it again and, SIGSYS being blocked
  // in this handler, the kernel falls back to SIGSYS's default action and kills the process, so a
  // supervisor sees "killed by SIGSYS" (a core dump where enabled).
  ::syscall(nr, r[REG_RDI], r[REG_RSI], r[REG_RDX], r[REG_R10], r[REG_R8], r[REG_R9]);
  ::syscall(SYS_exit_group, 128 + SIGSYS);  // only if the replay was let through
}

}  // namespace

void install_violation_handler() {
  for (int nr = 0; nr < kMaxSyscall; ++nr) {
    char* name = seccomp_syscall_resolve_num_arch(SCMP_ARCH_NATIVE, nr);
    if (name) {
      std::strncpy(g_names[nr], name, sizeof(g_names[nr]) - 1);
      std::free(name);
    }
  }
  struct sigaction sa {};
  sa.sa_sigaction = on_sigsys;
  sa.sa_flags = SA_SIGINFO;
  sigemptyset(&sa.sa_mask);
  if (::sigaction(SIGSYS, &sa, nullptr) != 0) throw_errno("sigaction(SIGSYS)");
}

void set_violation_metrics_fd(int fd) { g_metrics_fd.store(fd); }

void remember_thread(const char* kind) {
  t_kind = kind;
  if (::pthread_getname_np(::pthread_self(), t_name, sizeof(t_name)) != 0) std::strcpy(t_name, "?");
}

}  // namespace hearth::seccomp
