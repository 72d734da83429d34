// jail_probe: stands in for a compromised VMM inside hearth-jailer's jail. It reports what it can
// see and do as key=value lines (the jailer test checks them): who it runs as, its capabilities
// and limits, what "/" holds, and how each escape attempt fails. With "wait" it then prints
// "ready" and waits (at most a minute) for the test to create /stop in the jail, so the test can
// look at it from the host meanwhile.
#include <dirent.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>

namespace {

void report(const char* key, const std::string& value) { std::printf("%s=%s\n", key, value.c_str()); }

// "ok" when the call succeeded, else the errno name (EPERM, ENOENT, ...).
std::string outcome(long rc) {
  if (rc >= 0) return "ok";
  const char* name = strerrorname_np(errno);
  return name ? name : std::to_string(errno);
}

std::string root_entries() {
  std::string out;
  DIR* d = ::opendir("/");
  if (!d) return "<cannot list>";
  while (dirent* e = ::readdir(d)) {
    if (std::strcmp(e->d_name, ".") == 0 || std::strcmp(e->d_name, "..") == 0) continue;
    out += (out.empty() ? "" : ",") + std::string(e->d_name);
  }
  ::closedir(d);
  return out;
}

int open_fds() {
  int n = 0;
  for (int fd = 0; fd < 1024; ++fd) n += ::fcntl(fd, F_GETFD) >= 0;
  return n;
}

}  // namespace

int main(int argc, char** argv) {
  bool wait = false;
  for (int i = 1; i < argc; ++i) wait = wait || std::string(argv[i]) == "wait";
  report("uid", std::to_string(::getuid()) + ":" + std::to_string(::geteuid()));
  report("gid", std::to_string(::getgid()) + ":" + std::to_string(::getegid()));
  report("pid", std::to_string(::getpid()));
  __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct caps[2] = {};
  ::syscall(SYS_capget, &header, caps);
  report("caps", std::to_string(caps[0].effective | caps[0].permitted | caps[1].effective | caps[1].permitted));
  int bounding = 0;
  for (int c = 0; c <= CAP_LAST_CAP; ++c) bounding += ::prctl(PR_CAPBSET_READ, c, 0, 0, 0) == 1;
  report("bounding", std::to_string(bounding));
  report("no_new_privs", std::to_string(::prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0)));
  rlimit files{}, fsize{};
  ::getrlimit(RLIMIT_NOFILE, &files);
  ::getrlimit(RLIMIT_FSIZE, &fsize);
  report("nofile", std::to_string(files.rlim_cur));
  report("fsize", fsize.rlim_cur == RLIM_INFINITY ? "unlimited" : std::to_string(fsize.rlim_cur));
  report("fds", std::to_string(open_fds()));
  report("root", root_entries());
  // The escapes a compromised VMM would try.
  report("escape.open_host_file", outcome(::open("/etc/passwd", O_RDONLY)));
  report("escape.chroot_dotdot", outcome(::chroot("..")));
  report("escape.ptrace_init", outcome(::ptrace(PTRACE_ATTACH, 1, nullptr, nullptr)));
  report("escape.mount", outcome(::mount("none", "/", "tmpfs", 0, nullptr)));
  report("escape.load_module", outcome(::syscall(SYS_finit_module, 0, "", 0)));
  report("escape.raw_socket", outcome(::socket(AF_PACKET, SOCK_RAW, 0)));
  report("escape.setuid_root", outcome(::setuid(0)));
  std::fflush(stdout);
  if (wait) {
    std::printf("ready\n");
    std::fflush(stdout);
    for (int i = 0; i < 1200 && ::access("/stop", F_OK) != 0; ++i) ::usleep(50000);
  }
  return 0;
}
