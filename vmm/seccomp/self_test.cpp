#include "vmm/seccomp/self_test.h"

#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <sstream>
#include <string>
#include <vector>

#include "vmm/base/error.h"
#include "vmm/seccomp/compile.h"

namespace hearth::seccomp {
namespace {

struct SelfTest {
  std::string kind;
  std::string syscall;
  int nr = -1;
  std::vector<std::string> strings;  // kept alive for pointer arguments
  long args[6] = {};
};
SelfTest* g_test = nullptr;  // set once on the main thread, before threads start
std::atomic<bool> g_done{false};

}  // namespace

void load_self_test_from_env() {
  const char* env = std::getenv("HEARTH_SECCOMP_SELFTEST");
  if (!env || !*env) return;
  auto* t = new SelfTest;  // lives for the process
  std::vector<std::string> parts;
  std::stringstream in(env);
  for (std::string part; std::getline(in, part, ':');) parts.push_back(part);
  if (parts.size() < 2 || parts.size() > 8) throw Error("HEARTH_SECCOMP_SELFTEST: expected <kind>:<syscall>[:<arg>...]");
  t->kind = parts[0];
  t->syscall = parts[1];
  t->nr = syscall_number(t->syscall);
  if (t->nr < 0) throw Error(fmt::format("HEARTH_SECCOMP_SELFTEST: unknown syscall '{}'", t->syscall));
  t->strings.reserve(6);
  for (size_t i = 2; i < parts.size(); ++i) {
    if (!parts[i].empty() && parts[i][0] == '/') {
      t->strings.push_back(parts[i]);
      t->args[i - 2] = reinterpret_cast<long>(t->strings.back().c_str());
    } else {
      char* end = nullptr;
      t->args[i - 2] = std::strtol(parts[i].c_str(), &end, 0);
      if (parts[i].empty() || *end) throw Error(fmt::format("HEARTH_SECCOMP_SELFTEST: bad argument '{}'", parts[i]));
    }
  }
  g_test = t;
}

void run_self_test(ThreadKind kind) {
  if (!g_test || g_test->kind != kind_name(kind) || g_done.exchange(true)) return;
  const long* a = g_test->args;
  const long rc = ::syscall(g_test->nr, a[0], a[1], a[2], a[3], a[4], a[5]);
  const int err = errno;
  std::fprintf(stderr, "hearth: seccomp self-test: %s thread: %s returned %ld (%s)\n", kind_name(kind),
               g_test->syscall.c_str(), rc, rc < 0 ? std::strerror(err) : "ok");
}

}  // namespace hearth::seccomp
