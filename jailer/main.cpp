// hearth-jailer: Firecracker's jailer for Hearth. Builds <base>/<exec>/<id>/root, puts the binary
// and device nodes in it, sets cgroups, rlimits and namespaces, pivots into it, drops to uid/gid
// with no capabilities, and execs the binary with everything after "--". docs/jailer.md.
#include <fcntl.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "jailer/args.h"
#include "jailer/cgroup.h"
#include "jailer/failure.h"
#include "jailer/jail_dir.h"
#include "jailer/libraries.h"
#include "jailer/namespaces.h"
#include "jailer/privileges.h"
#include "jailer/rollback.h"
#include "vmm/base/fd.h"

namespace hearth::jailer {
namespace {

uint64_t wall_us() {
  return static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::system_clock::now().time_since_epoch()).count());
}

uint64_t cpu_us() {
  timespec ts{};
  ::clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000 + static_cast<uint64_t>(ts.tv_nsec) / 1000;
}

[[noreturn]] void exec_jailed(const JailerArgs& args, uint64_t start_us, uint64_t start_cpu_us) {
  // The flags Firecracker's jailer adds, then the caller's.
  std::vector<std::string> argv = {args.exec_name(), "--id", args.id, "--start-time-us", std::to_string(start_us),
                                   "--start-time-cpu-us", std::to_string(start_cpu_us)};
  argv.insert(argv.end(), args.exec_args.begin(), args.exec_args.end());
  std::vector<char*> c_argv;
  for (std::string& a : argv) c_argv.push_back(a.data());
  c_argv.push_back(nullptr);
  const std::string path = "/" + args.exec_name();
  ::execv(path.c_str(), c_argv.data());
  fail_errno(Step::kExec, "exec " + path + " in the jail");
}

int run(int argc, char** argv) {
  const uint64_t start_us = wall_us();
  const uint64_t start_cpu_us = cpu_us();
  const auto parsed = parse_args(argc, argv);
  if (!parsed) return 0;
  const JailerArgs& args = *parsed;
  check_exec_file(args.exec_file);
  check_user(args.uid, args.gid);

  Rollback rollback;  // undoes the host-side steps if a later one fails
  const std::string root = make_jail_root(args, rollback);
  install_exec_file(args, root, rollback);
  install_libraries(args, root, rollback);
  make_device_nodes(args, root, rollback);
  setup_cgroups(args, rollback);
  if (!args.netns.empty()) join_netns(args.netns);
  apply_rlimits(args.fsize, args.no_file);
  UniqueFd null_fd;
  if (args.daemonize) {
    null_fd.reset(::open("/dev/null", O_RDWR | O_CLOEXEC));  // the jail has no /dev/null
    if (!null_fd) fail_errno(Step::kDaemonize, "opening /dev/null");
  }
  enter_jail(root);
  rollback.commit();  // from here on the host's paths are out of sight: the jail stays as made
  if (args.new_pid_ns) enter_new_pid_ns("/" + args.exec_name() + ".pid");
  if (args.daemonize) {
    if (::getpid() == ::getpgrp()) {  // a group leader cannot setsid: leave that to a child
      const pid_t child = ::fork();
      if (child < 0) fail_errno(Step::kDaemonize, "fork");
      if (child > 0) std::_Exit(0);
    }
    daemonize(null_fd.get());
    null_fd.reset();
  }
  close_inherited_fds();
  drop_privileges(args.uid, args.gid);
  exec_jailed(args, start_us, start_cpu_us);
}

}  // namespace
}  // namespace hearth::jailer

int main(int argc, char** argv) {
  try {
    return hearth::jailer::run(argc, argv);
  } catch (const hearth::jailer::JailError& e) {
    std::fprintf(stderr, "hearth-jailer: error: %s: %s\n", hearth::jailer::step_name(e.step()), e.what());
    return e.exit_code();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "hearth-jailer: error: %s\n", e.what());
    return 1;
  }
}
