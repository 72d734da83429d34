#pragma once
// The jailer's namespace steps: join a network namespace, enter a private mount namespace whose
// root is the jail (pivot_root, old root unmounted), and an optional new PID namespace.
#include <string>

namespace hearth::jailer {

void join_netns(const std::string& path);

// After this the process sees only the jail: "/" is `root`, the host's tree is gone.
void enter_jail(const std::string& root);

// Unshares the PID namespace and forks: the child (PID 1 there) returns; the parent writes the
// child's host pid to `pid_file` (inside the jail) and exits 0 without returning.
void enter_new_pid_ns(const std::string& pid_file);

}  // namespace hearth::jailer
