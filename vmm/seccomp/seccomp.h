#pragma once
// Per-thread seccomp filters. main() chooses the policy once (set_policy); each thread calls
// install_thread_filter(kind) as its first act, before it reads any guest- or client-controlled input.
// A syscall outside the thread's list raises SIGSYS: a handler writes one line naming the thread and
// the syscall to stderr, then the process dies of SIGSYS.
#include <string>

namespace hearth::seccomp {

struct PrecompiledPolicy;

enum class ThreadKind { kVmm, kApi, kVcpu, kMigration };

// "vmm", "api", "vcpu", "migration": the names policy files and log lines use.
const char* kind_name(ThreadKind kind);

struct Settings {
  bool enabled = true;      // false: --no-seccomp
  std::string filter_file;  // --seccomp-filter: a JSON policy (docs/seccomp.md) instead of the built-in one
  // The built-in policy compiled at build time (precompiled.h); null: compile it at start-up.
  const PrecompiledPolicy* builtin = nullptr;
};

// --no-seccomp and --seccomp-filter as Settings. HEARTH_SECCOMP_REQUIRE=1 in the environment (the
// "filters on" test mode, scripts/test-seccomp.sh) turns filters on even under --no-seccomp, so a
// test suite written with --no-seccomp still runs every hearth it starts filtered.
Settings settings_from_flags(bool no_seccomp, const std::string& filter_file);

// Compiles every kind's filter now (so a bad policy file fails at start-up, naming the line) and
// installs the SIGSYS handler. Call once, on the main thread, before any thread starts.
// Throws Error for a bad policy file.
void set_policy(const Settings& settings);

// Installs the calling thread's filter. Does nothing until set_policy() enabled filters, so unit
// tests that run servers or vCPUs in-process stay unfiltered. A failure to install is fatal: the
// process prints one line and exits 1 rather than run unconfined.
void install_thread_filter(ThreadKind kind) noexcept;

// True once set_policy() turned filters on.
bool enabled();

// The metrics file (or FIFO) the SIGSYS handler writes its last line to:
// {"utc_timestamp_ms": N, "seccomp": {"num_faults": 1}}, Firecracker's counter, before the process
// dies. -1 (the default): no metrics file. The caller keeps the fd open while it is set.
void set_violation_metrics_fd(int fd);

}  // namespace hearth::seccomp
