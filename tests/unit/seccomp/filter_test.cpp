// Each built-in filter, installed in a forked child: the calls its thread needs work, and one
// outside its list kills the process with SIGSYS after a log line naming the thread and the call.
#include <fcntl.h>
#include <linux/kvm.h>
#include <pthread.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <termios.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <thread>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "child.h"
#include "vmm/seccomp/builtin.h"
#include "vmm/seccomp/compile.h"
#include "vmm/seccomp/seccomp.h"

namespace hearth::seccomp {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using test::ChildResult;
using test::run_in_child;

constexpr ThreadKind kAllKinds[] = {ThreadKind::kVmm, ThreadKind::kApi, ThreadKind::kVcpu, ThreadKind::kMigration};

// Turns on the built-in policy and installs `kind`'s filter on the calling (child) thread.
void confine(ThreadKind kind, const char* thread_name = "test_thread") {
  ::pthread_setname_np(::pthread_self(), thread_name);
  set_policy({});
  install_thread_filter(kind);
}

void expect_killed_for(const ChildResult& r, const std::string& syscall, const std::string& kind) {
  EXPECT_TRUE(r.signaled) << "exit code " << r.exit_code << ", stderr: " << r.err;
  EXPECT_EQ(r.signal, SIGSYS) << r.err;
  EXPECT_THAT(r.err, HasSubstr("made syscall '" + syscall + "'"));
  EXPECT_THAT(r.err, HasSubstr("(" + kind + " filter)"));
}

std::string seccomp_status() {
  std::ifstream in("/proc/thread-self/status");
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("Seccomp:", 0) == 0) return line;
  }
  return "";
}

TEST(BuiltinPolicy, EveryKindCompiles) {
  const Policy p = builtin_policy();
  for (ThreadKind kind : kAllKinds) {
    ASSERT_TRUE(p.count(kind_name(kind))) << kind_name(kind);
    const BpfProgram prog = compile(p.at(kind_name(kind)), kind_name(kind));
    EXPECT_GT(prog.size(), 10u) << kind_name(kind);
    EXPECT_LT(prog.size(), 4096u) << kind_name(kind) << ": over the kernel's BPF limit";
  }
}

TEST(Filters, EveryKindKillsAForbiddenSyscallAndNamesIt) {
  for (ThreadKind kind : kAllKinds) {
    SCOPED_TRACE(kind_name(kind));
    // Loading a kernel module: what a compromised VMM would try; no Hearth thread needs it.
    ChildResult r = run_in_child([&] {
      confine(kind, "fc_probe");
      ::syscall(SYS_finit_module, -1, "", 0);
      std::fprintf(stderr, "still alive\n");
    });
    expect_killed_for(r, "finit_module", kind_name(kind));
    EXPECT_THAT(r.err, HasSubstr("thread 'fc_probe'"));
    EXPECT_THAT(r.err, Not(HasSubstr("still alive")));
  }
}

TEST(Filters, InstalledFilterShowsInProcStatus) {
  ChildResult r = run_in_child([] {
    if (seccomp_status() != "Seccomp:\t0") std::_Exit(3);
    confine(ThreadKind::kVmm);  // the vmm filter may open files, so the thread can read its own status
    if (seccomp_status() != "Seccomp:\t2") std::_Exit(4);
  });
  EXPECT_EQ(r.exit_code, 0) << r.err;
}

TEST(Filters, VcpuAndApiThreadsCannotOpenFiles) {
  for (ThreadKind kind : {ThreadKind::kVcpu, ThreadKind::kApi}) {
    SCOPED_TRACE(kind_name(kind));
    // EACCES rather than death: glibc's malloc may open a /proc file from any thread (rules.h).
    ChildResult r = run_in_child([&] {
      confine(kind);
      if (::open("/etc/passwd", O_RDONLY) != -1 || errno != EACCES) std::_Exit(3);
    });
    EXPECT_FALSE(r.signaled) << r.err;
    EXPECT_EQ(r.exit_code, 0) << r.err;
  }
}

TEST(Filters, DisabledPolicyInstallsNothing) {
  ChildResult r = run_in_child([] {
    set_policy({.enabled = false, .filter_file = ""});
    install_thread_filter(ThreadKind::kVcpu);
    if (enabled()) std::_Exit(3);
    if (seccomp_status() != "Seccomp:\t0") std::_Exit(4);
    ::syscall(SYS_getppid);
  });
  EXPECT_FALSE(r.signaled) << r.err;
  EXPECT_EQ(r.exit_code, 0) << r.err;
}

TEST(Filters, NoPolicyMeansNoFilterForInProcessTests) {
  ChildResult r = run_in_child([] {
    install_thread_filter(ThreadKind::kApi);  // set_policy never called
    if (seccomp_status() != "Seccomp:\t0") std::_Exit(4);
  });
  EXPECT_EQ(r.exit_code, 0) << r.err;
}

TEST(VcpuFilter, AllowsKvmRunButNoOtherIoctl) {
  ChildResult ok = run_in_child([] {
    confine(ThreadKind::kVcpu);
    // On a bad fd the kernel answers EBADF: the call got past the filter.
    if (::ioctl(-1, KVM_RUN, 0) != -1 || errno != EBADF) std::_Exit(3);
    if (::write(STDERR_FILENO, "wrote\n", 6) != 6) std::_Exit(4);
  });
  EXPECT_EQ(ok.exit_code, 0) << ok.err;
  EXPECT_THAT(ok.err, HasSubstr("wrote"));

  ChildResult bad = run_in_child([] {
    confine(ThreadKind::kVcpu);
    termios t{};
    ::ioctl(-1, TCGETS, &t);
  });
  expect_killed_for(bad, "ioctl", "vcpu");

  ChildResult vm_ioctl = run_in_child([] {
    confine(ThreadKind::kVcpu);
    ::ioctl(-1, KVM_CREATE_VCPU, 0);  // a KVM ioctl, but not one a vCPU thread makes
  });
  expect_killed_for(vm_ioctl, "ioctl", "vcpu");
}

TEST(Filters, NoKindMayMapExecutableMemory) {
  for (ThreadKind kind : kAllKinds) {
    SCOPED_TRACE(kind_name(kind));
    ChildResult plain = run_in_child([&] {
      confine(kind);
      void* p = ::mmap(nullptr, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
      if (p == MAP_FAILED) std::_Exit(3);
    });
    EXPECT_EQ(plain.exit_code, 0) << plain.err;
    ChildResult exec = run_in_child([&] {
      confine(kind);
      ::mmap(nullptr, 4096, PROT_READ | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    });
    expect_killed_for(exec, "mmap", kind_name(kind));
  }
}

TEST(Filters, SocketFamiliesPerKind) {
  // The migration threads talk TCP to the peer; the API thread makes no sockets; no kind makes a raw one.
  ChildResult tcp = run_in_child([] {
    confine(ThreadKind::kMigration);
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) std::_Exit(3);
  });
  EXPECT_EQ(tcp.exit_code, 0) << tcp.err;
  ChildResult raw = run_in_child([] {
    confine(ThreadKind::kMigration);
    ::socket(AF_PACKET, SOCK_RAW, 0);
  });
  expect_killed_for(raw, "socket", "migration");
  ChildResult api = run_in_child([] {
    confine(ThreadKind::kApi);
    ::socket(AF_UNIX, SOCK_STREAM, 0);
  });
  expect_killed_for(api, "socket", "api");
  ChildResult vmm_raw = run_in_child([] {
    confine(ThreadKind::kVmm);
    ::socket(AF_NETLINK, SOCK_RAW, 0);
  });
  expect_killed_for(vmm_raw, "socket", "vmm");
}

TEST(VmmFilter, StartsThreadsThroughCloneNotClone3) {
  ChildResult r = run_in_child([] {
    confine(ThreadKind::kVmm, "fc_vmm");
    // clone3 answers ENOSYS (its flags live in memory a filter cannot read); glibc falls back to clone.
    if (::syscall(SYS_clone3, nullptr, 0) != -1 || errno != ENOSYS) std::_Exit(3);
    int seen = 0;
    std::thread t([&] {
      ::pthread_setname_np(::pthread_self(), "fc_api");
      install_thread_filter(ThreadKind::kApi);  // stacks on the inherited vmm filter
      seen = 1;
    });
    t.join();
    if (seen != 1) std::_Exit(4);
  });
  EXPECT_EQ(r.exit_code, 0) << r.err;
}

TEST(VmmFilter, NoNewProcessesOrSignalsToOthers) {
#if defined(__SANITIZE_ADDRESS__)
  GTEST_SKIP() << "SKIP (ASan build): the vmm filter lets LeakSanitizer clone and ptrace";
#endif
  ChildResult fork_child = run_in_child([] {
    confine(ThreadKind::kVmm);
    ::syscall(SYS_clone, SIGCHLD, 0, 0, 0, 0);  // fork(): no CLONE_THREAD
  });
  expect_killed_for(fork_child, "clone", "vmm");
  ChildResult kill_other = run_in_child([] {
    confine(ThreadKind::kVmm);
    ::syscall(SYS_tgkill, 1, 1, 0);  // init, as a compromised VMM would try
  });
  expect_killed_for(kill_other, "tgkill", "vmm");
  ChildResult exec = run_in_child([] {
    confine(ThreadKind::kVmm);
    const char* argv[] = {"/bin/true", nullptr};
    ::execve("/bin/true", const_cast<char**>(argv), nullptr);
  });
  expect_killed_for(exec, "execve", "vmm");
}

TEST(Filters, AThreadOfAnotherKindHasItsOwnLog) {
  ChildResult r = run_in_child([] {
    confine(ThreadKind::kVmm, "fc_vmm");
    std::thread t([] {
      ::pthread_setname_np(::pthread_self(), "fc_vcpu 0");
      install_thread_filter(ThreadKind::kVcpu);
      ::syscall(SYS_getppid);
    });
    t.join();
  });
  expect_killed_for(r, "getppid", "vcpu");
  EXPECT_THAT(r.err, HasSubstr("thread 'fc_vcpu 0'"));
}

TEST(SelfTest, EnvironmentHookIssuesTheCallAfterTheFilter) {
  ChildResult denied = run_in_child([] {
    ::setenv("HEARTH_SECCOMP_SELFTEST", "api:mount:/proc:/mnt:/proc:0:0", 1);
    confine(ThreadKind::kApi, "fc_api");
  });
  expect_killed_for(denied, "mount", "api");
  ChildResult allowed = run_in_child([] {
    ::setenv("HEARTH_SECCOMP_SELFTEST", "vmm:openat:-100:/nonexistent/hearth:0", 1);
    confine(ThreadKind::kVmm, "fc_vmm");
  });
  EXPECT_EQ(allowed.exit_code, 0) << allowed.err;
  EXPECT_THAT(allowed.err, HasSubstr("self-test: vmm thread: openat returned -1 (No such file or directory)"));
  ChildResult other_kind = run_in_child([] {
    ::setenv("HEARTH_SECCOMP_SELFTEST", "vcpu:ptrace", 1);
    confine(ThreadKind::kApi, "fc_api");  // not a vcpu: the hook stays quiet
  });
  EXPECT_EQ(other_kind.exit_code, 0) << other_kind.err;
}

}  // namespace
}  // namespace hearth::seccomp
