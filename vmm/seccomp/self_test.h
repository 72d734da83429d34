#pragma once
// A hook for tests of the real binary: HEARTH_SECCOMP_SELFTEST=<kind>:<syscall>[:<arg>...] makes the
// first thread of that kind issue that syscall right after its filter is on, as compromised code
// would. Arguments are numbers, or a string starting with '/' (passed as a pointer to it). A call
// the filter lets through logs its result and the thread carries on. It can only make a filtered
// process fail, never widen a filter.
#include "vmm/seccomp/seccomp.h"

namespace hearth::seccomp {

// Reads the variable (set_policy, main thread). Throws Error for a malformed value.
void load_self_test_from_env();
void run_self_test(ThreadKind kind);

}  // namespace hearth::seccomp
