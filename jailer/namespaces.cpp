#include "jailer/namespaces.h"

#include <fcntl.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>

#include "jailer/failure.h"
#include "vmm/base/fd.h"

namespace hearth::jailer {

void join_netns(const std::string& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) fail_errno(Step::kNetns, "--netns " + path);
  if (::setns(fd.get(), CLONE_NEWNET) != 0) fail_errno(Step::kNetns, "setns " + path);
}

void enter_jail(const std::string& root) {
  if (::unshare(CLONE_NEWNS) != 0) fail_errno(Step::kMountNs, "unshare(CLONE_NEWNS)");
  // Our mounts and unmounts must not propagate back to the host's namespace.
  if (::mount(nullptr, "/", nullptr, MS_SLAVE | MS_REC, nullptr) != 0) fail_errno(Step::kMountNs, "making / a slave mount");
  // pivot_root wants the new root to be a mount point.
  if (::mount(root.c_str(), root.c_str(), nullptr, MS_BIND | MS_REC, nullptr) != 0) {
    fail_errno(Step::kMountNs, "bind-mounting " + root);
  }
  if (::chdir(root.c_str()) != 0) fail_errno(Step::kMountNs, "chdir " + root);
  const char* old_root = "old_root";
  if (::mkdir(old_root, 0700) != 0 && errno != EEXIST) fail_errno(Step::kMountNs, "creating " + root + "/old_root");
  if (::syscall(SYS_pivot_root, ".", old_root) != 0) fail_errno(Step::kMountNs, "pivot_root to " + root);
  if (::chdir("/") != 0) fail_errno(Step::kMountNs, "chdir / in the jail");
  if (::umount2("/old_root", MNT_DETACH) != 0) fail_errno(Step::kMountNs, "unmounting the old root");
  if (::rmdir("/old_root") != 0) fail_errno(Step::kMountNs, "removing /old_root in the jail");
}

void enter_new_pid_ns(const std::string& pid_file) {
  if (::unshare(CLONE_NEWPID) != 0) fail_errno(Step::kPidNs, "unshare(CLONE_NEWPID)");
  const pid_t child = ::fork();
  if (child < 0) fail_errno(Step::kPidNs, "fork into the new PID namespace");
  if (child == 0) return;
  // Firecracker's jailer leaves the pid in <jail>/<exec_name>.pid for whoever supervises the VM.
  UniqueFd fd(::open(pid_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
  if (!fd) fail_errno(Step::kPidNs, "creating " + pid_file);
  const std::string text = std::to_string(child) + "\n";
  if (::write(fd.get(), text.data(), text.size()) != static_cast<ssize_t>(text.size())) {
    fail_errno(Step::kPidNs, "writing " + pid_file);
  }
  std::_Exit(0);
}

}  // namespace hearth::jailer
