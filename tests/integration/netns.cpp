#include "tests/integration/netns.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <stdexcept>

extern char** environ;

namespace hearth::test {
namespace {

// Unique per process and per object, so parallel ctest processes never share a name.
std::atomic<unsigned> g_counter{0};

struct Fd {
  int fd = -1;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

void must(const std::vector<std::string>& argv) {
  std::string out;
  if (int rc = run_command(argv, &out); rc != 0) {
    std::string cmd;
    for (const auto& a : argv) cmd += (cmd.empty() ? "" : " ") + a;
    throw std::runtime_error(cmd + " exited " + std::to_string(rc) + ": " + out);
  }
}

// `ip` by absolute path: wrap()'s argv may go to execv, which does not search PATH.
const std::string& ip_path() {
  static const std::string path = [] {
    const char* env = ::getenv("PATH");
    std::string dirs = env ? env : "/usr/sbin:/usr/bin:/sbin:/bin";
    dirs += ":/usr/sbin:/sbin";
    for (size_t start = 0; start <= dirs.size();) {
      size_t end = dirs.find(':', start);
      if (end == std::string::npos) end = dirs.size();
      std::string candidate = dirs.substr(start, end - start) + "/ip";
      if (end > start && ::access(candidate.c_str(), X_OK) == 0) return candidate;
      start = end + 1;
    }
    return std::string("ip");
  }();
  return path;
}

// A test killed by a timeout never runs its destructors: delete the namespaces of Netns objects whose
// process ("hearth-<tag>-<pid>-<n>") is gone.
void sweep_stale() {
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator("/run/netns", ec)) {
    const std::string name = entry.path().filename().string();
    if (name.rfind("hearth-", 0) != 0) continue;
    const size_t last = name.rfind('-'), prev = last == std::string::npos ? last : name.rfind('-', last - 1);
    if (prev == std::string::npos || prev < 7 || last + 1 >= name.size()) continue;
    const std::string pid_s = name.substr(prev + 1, last - prev - 1), n_s = name.substr(last + 1);
    if (pid_s.empty() || pid_s.find_first_not_of("0123456789") != std::string::npos ||
        n_s.find_first_not_of("0123456789") != std::string::npos || pid_s.size() > 9)
      continue;
    const pid_t pid = static_cast<pid_t>(std::stol(pid_s));
    if (pid > 0 && ::kill(pid, 0) != 0 && errno == ESRCH) run_command({"ip", "netns", "delete", name});
  }
}

}  // namespace

int run_command(const std::vector<std::string>& argv, std::string* out) {
  if (argv.empty()) return -1;
  int pipefd[2];
  if (::pipe2(pipefd, O_CLOEXEC) != 0) return -1;
  Fd rd{pipefd[0]}, wr{pipefd[1]};
  Fd devnull{::open("/dev/null", O_RDWR | O_CLOEXEC)};
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, devnull.fd, 0);
  posix_spawn_file_actions_adddup2(&fa, out ? wr.fd : devnull.fd, 1);
  posix_spawn_file_actions_adddup2(&fa, out ? wr.fd : devnull.fd, 2);
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid = -1;
  int err = ::posix_spawnp(&pid, args[0], &fa, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  ::close(wr.fd);
  wr.fd = -1;
  if (err != 0) {
    if (out) *out = std::string("spawn ") + argv[0] + ": " + std::strerror(err);
    return -1;
  }
  if (out) {
    out->clear();
    char buf[4096];
    for (;;) {
      ssize_t n = ::read(rd.fd, buf, sizeof buf);
      if (n > 0) out->append(buf, static_cast<size_t>(n));
      else if (n == 0 || errno != EINTR) break;
    }
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0)
    if (errno != EINTR) return -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

std::string Netns::unavailable_reason() {
  if (::geteuid() != 0) return "needs root for network namespaces and TAP devices";
  if (::access("/dev/net/tun", R_OK | W_OK) != 0) return std::string("/dev/net/tun: ") + std::strerror(errno);
  std::string out;
  if (run_command({"ip", "-V"}, &out) != 0) return "the `ip` tool (iproute2) is not available: " + out;
  return {};
}

Netns::Netns(const std::string& tag)
    : name_("hearth-" + tag + "-" + std::to_string(::getpid()) + "-" + std::to_string(g_counter++)) {
  sweep_stale();
  must({"ip", "netns", "add", name_});
  try {
    must({"ip", "-n", name_, "link", "set", "lo", "up"});
  } catch (...) {
    run_command({"ip", "netns", "delete", name_});
    throw;
  }
}

Netns::~Netns() {
  // Deleting the namespace removes its TAPs and addresses with it; processes still inside keep it alive
  // until they exit, but the name is gone.
  std::string out;
  if (run_command({"ip", "netns", "delete", name_}, &out) != 0)
    std::fprintf(stderr, "Netns: ip netns delete %s failed: %s\n", name_.c_str(), out.c_str());
}

void Netns::add_tap(const std::string& dev, const std::string& cidr, unsigned mtu) {
  must({"ip", "-n", name_, "tuntap", "add", "dev", dev, "mode", "tap"});
  if (!cidr.empty()) must({"ip", "-n", name_, "addr", "add", cidr, "dev", dev});
  if (mtu != 0) must({"ip", "-n", name_, "link", "set", dev, "mtu", std::to_string(mtu)});
  must({"ip", "-n", name_, "link", "set", dev, "up"});
}

std::vector<std::string> Netns::wrap(const std::vector<std::string>& argv) const {
  std::vector<std::string> v{ip_path(), "netns", "exec", name_};
  v.insert(v.end(), argv.begin(), argv.end());
  return v;
}

int Netns::run(const std::vector<std::string>& argv, std::string* out) const { return run_command(wrap(argv), out); }

}  // namespace hearth::test
