#pragma once
// The SIGSYS handler: names the thread and the syscall on stderr, then lets the kernel kill the
// process with SIGSYS. Everything it reads is prepared beforehand; it only calls write().

namespace hearth::seccomp {

// Builds the syscall name table and installs the handler (SA_SIGINFO). Main thread, before filters.
void install_violation_handler();

// What the calling thread's log line says about it: its filter kind (a string literal) and its
// name, taken now (before the filter is on).
void remember_thread(const char* kind);

// See seccomp.h.
void set_violation_metrics_fd(int fd);

}  // namespace hearth::seccomp
