// The process-wide choice (built-in, a user file, or off) and the per-thread install.
#include <unistd.h>

#include <array>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <ctime>

#include "vmm/base/error.h"
#include "vmm/seccomp/builtin.h"
#include "vmm/seccomp/compile.h"
#include "vmm/seccomp/policy_file.h"
#include "vmm/seccomp/precompiled.h"
#include "vmm/seccomp/seccomp.h"
#include "vmm/seccomp/self_test.h"
#include "vmm/seccomp/violation.h"

namespace hearth::seccomp {
namespace {

constexpr size_t kKinds = 4;
// Written once by set_policy() before any thread starts; read-only afterwards.
std::array<BpfProgram, kKinds> g_programs;
std::atomic<bool> g_enabled{false};

size_t index_of(ThreadKind kind) { return static_cast<size_t>(kind); }

}  // namespace

const char* kind_name(ThreadKind kind) {
  switch (kind) {
    case ThreadKind::kVmm: return "vmm";
    case ThreadKind::kApi: return "api";
    case ThreadKind::kVcpu: return "vcpu";
    case ThreadKind::kMigration: return "migration";
  }
  return "?";
}

Settings settings_from_flags(bool no_seccomp, const std::string& filter_file) {
  const char* require = std::getenv("HEARTH_SECCOMP_REQUIRE");
  const bool forced = require && std::string(require) == "1";
  if (no_seccomp && forced) std::fprintf(stderr, "hearth: --no-seccomp ignored: HEARTH_SECCOMP_REQUIRE=1\n");
  return Settings{!no_seccomp || forced, filter_file};
}

void set_policy(const Settings& settings) {
  if (!settings.enabled) {
    g_enabled = false;
    return;
  }
  if (settings.filter_file.empty() && settings.builtin) {
    const auto pid = static_cast<uint32_t>(::getpid());
    for (size_t i = 0; i < kKinds; ++i) g_programs[i] = instantiate(*settings.builtin, i, pid);
  } else {
    const Policy policy = settings.filter_file.empty() ? builtin_policy() : read_policy_file(settings.filter_file);
    const std::string origin = settings.filter_file.empty() ? "built-in seccomp policy" : settings.filter_file;
    for (ThreadKind kind : {ThreadKind::kVmm, ThreadKind::kApi, ThreadKind::kVcpu, ThreadKind::kMigration}) {
      g_programs[index_of(kind)] = compile(policy.at(kind_name(kind)), fmt::format("{}: {} filter", origin, kind_name(kind)));
    }
  }
  load_self_test_from_env();
  install_violation_handler();
  // glibc reads the time zone on the first localtime() (spdlog's first line), which may come from a
  // vCPU or API thread that cannot open files: read it now.
  ::tzset();
  g_enabled = true;
}

bool enabled() { return g_enabled; }

std::vector<sock_filter> instantiate(const PrecompiledPolicy& policy, size_t index, uint32_t pid) {
  std::vector<sock_filter> program(policy.programs[index].begin(), policy.programs[index].end());
  for (uint16_t slot : policy.pid_slots[index]) program.at(slot).k = pid;
  return program;
}

void install_thread_filter(ThreadKind kind) noexcept {
  if (!g_enabled) return;
  remember_thread(kind_name(kind));
  try {
    load(g_programs[index_of(kind)]);
  } catch (const std::exception& e) {
    // Fail closed: a thread that cannot be confined must not go on to read guest or client input.
    std::fprintf(stderr, "hearth: error: seccomp: cannot install the %s filter: %s\n", kind_name(kind), e.what());
    ::_exit(1);
  }
  run_self_test(kind);
}

}  // namespace hearth::seccomp
