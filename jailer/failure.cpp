#include "jailer/failure.h"

namespace hearth::jailer {

const char* step_name(Step step) {
  switch (step) {
    case Step::kArgs: return "arguments";
    case Step::kExecFile: return "exec file";
    case Step::kUser: return "user";
    case Step::kJailDir: return "jail directory";
    case Step::kDevNodes: return "device nodes";
    case Step::kCgroup: return "cgroup";
    case Step::kNetns: return "network namespace";
    case Step::kRlimit: return "resource limit";
    case Step::kMountNs: return "mount namespace";
    case Step::kPidNs: return "pid namespace";
    case Step::kFds: return "file descriptors";
    case Step::kDaemonize: return "daemonize";
    case Step::kPrivileges: return "privileges";
    case Step::kExec: return "exec";
  }
  return "?";
}

}  // namespace hearth::jailer
