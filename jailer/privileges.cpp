#include "jailer/privileges.h"

#include <grp.h>
#include <linux/capability.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "jailer/failure.h"

#ifndef CLOSE_RANGE_UNSHARE
#define CLOSE_RANGE_UNSHARE 2
#endif

namespace hearth::jailer {
namespace {

void set_limit(int resource, uint64_t value, const char* name) {
  const rlimit limit{value, value};
  if (::setrlimit(resource, &limit) != 0) fail_errno(Step::kRlimit, fmt::format("setrlimit {}={}", name, value));
}

}  // namespace

void apply_rlimits(std::optional<uint64_t> fsize, uint64_t no_file) {
  if (fsize) set_limit(RLIMIT_FSIZE, *fsize, "fsize");
  set_limit(RLIMIT_NOFILE, no_file, "no-file");
}

void close_inherited_fds() {
  if (::syscall(SYS_close_range, 3u, ~0u, 0u) == 0) return;
  // Kernels before 5.9: close them one by one.
  rlimit limit{};
  ::getrlimit(RLIMIT_NOFILE, &limit);
  for (rlim_t fd = 3; fd < limit.rlim_cur; ++fd) ::close(static_cast<int>(fd));
}

void daemonize(int null_fd) {
  if (::setsid() < 0) fail_errno(Step::kDaemonize, "setsid");
  for (int fd = 0; fd <= 2; ++fd) {
    if (::dup2(null_fd, fd) < 0) fail_errno(Step::kDaemonize, "redirecting stdio to /dev/null");
  }
}

void drop_privileges(uid_t uid, gid_t gid) {
  // The bounding set can only shrink while we still hold CAP_SETPCAP, i.e. before setresuid.
  for (int cap = 0; cap <= CAP_LAST_CAP; ++cap) {
    if (::prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0 && errno != EINVAL) fail_errno(Step::kPrivileges, "dropping the bounding set");
  }
  if (::prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) != 0) fail_errno(Step::kPrivileges, "clearing ambient capabilities");
  if (::setgroups(1, &gid) != 0) fail_errno(Step::kPrivileges, "setgroups");
  if (::setresgid(gid, gid, gid) != 0) fail_errno(Step::kPrivileges, fmt::format("setresgid {}", gid));
  if (::setresuid(uid, uid, uid) != 0) fail_errno(Step::kPrivileges, fmt::format("setresuid {}", uid));
  // With uid 0 the kernel keeps capabilities across setresuid: clear them explicitly either way.
  __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct data[2] = {};
  if (::syscall(SYS_capset, &header, data) != 0) fail_errno(Step::kPrivileges, "capset (clearing capabilities)");
  if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) fail_errno(Step::kPrivileges, "prctl(PR_SET_NO_NEW_PRIVS)");
  uid_t r, e, s;
  gid_t rg, eg, sg;
  if (::getresuid(&r, &e, &s) != 0 || r != uid || e != uid || s != uid || ::getresgid(&rg, &eg, &sg) != 0 ||
      rg != gid || eg != gid || sg != gid) {
    throw JailError(Step::kPrivileges, fmt::format("still not running as {}:{} after dropping privileges", uid, gid));
  }
}

}  // namespace hearth::jailer
