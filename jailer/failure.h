#pragma once
// Every jailer failure names its step; each step has its own exit code, so a supervisor can tell a
// bad argument from a missing cgroup controller without parsing the message.
#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <string>

#include <fmt/format.h>

namespace hearth::jailer {

enum class Step : int {
  kArgs = 2,            // a bad or missing flag
  kExecFile = 10,       // --exec-file missing, not a regular file, not executable
  kUser = 11,           // --uid/--gid not on this host
  kJailDir = 12,        // creating <base>/<exec>/<id>/root, copying the exec file
  kDevNodes = 13,       // /dev/kvm, /dev/net/tun, /dev/userfaultfd in the jail
  kCgroup = 14,         // creating, writing or joining a cgroup
  kNetns = 15,          // --netns
  kRlimit = 16,         // --resource-limit
  kMountNs = 17,        // unshare(CLONE_NEWNS), pivot_root, unmounting the old root
  kPidNs = 18,          // --new-pid-ns
  kFds = 19,            // closing inherited fds
  kDaemonize = 20,      // --daemonize
  kPrivileges = 21,     // dropping to uid/gid, clearing capabilities, no_new_privs
  kExec = 22,           // execve of the jailed binary
};

const char* step_name(Step step);

class JailError : public std::runtime_error {
 public:
  JailError(Step step, const std::string& what) : std::runtime_error(what), step_(step) {}
  Step step() const { return step_; }
  int exit_code() const { return static_cast<int>(step_); }

 private:
  Step step_;
};

// JailError "<what>: <strerror(errno)>", capturing errno at the call.
[[noreturn]] inline void fail_errno(Step step, const std::string& what) {
  const int saved = errno;
  throw JailError(step, fmt::format("{}: {}", what, std::strerror(saved)));
}

}  // namespace hearth::jailer
