#pragma once
// Turns a Filter into a classic BPF program with libseccomp, ahead of time: installing it later is
// two plain syscalls, which a thread already under a filter can still make.
#include <linux/filter.h>

#include <vector>

#include "vmm/seccomp/rules.h"

namespace hearth::seccomp {

using BpfProgram = std::vector<sock_filter>;

// Throws Error naming the rule (`what`: where the filter came from, e.g. "vcpu filter") for an unknown
// syscall, a bad argument index or a rule libseccomp refuses.
BpfProgram compile(const Filter& filter, const std::string& what);
// The same with `own_pid` for "self_pid" checks instead of this process's pid (hearth-seccomp-bpf compiles
// with a placeholder that start-up replaces).
BpfProgram compile(const Filter& filter, const std::string& what, uint32_t own_pid);

// The syscall's number on this architecture, or -1 when libseccomp does not know the name.
int syscall_number(const std::string& name);

// Installs `program` on the calling thread (sets no_new_privs first). Throws Error on failure.
void load(const BpfProgram& program);

}  // namespace hearth::seccomp
