#pragma once
// Hearth's built-in allow-lists, one function per thread kind (each in its own *_rules.cpp).
#include <vector>

#include "vmm/seccomp/rules.h"

namespace hearth::seccomp {

// What every thread does through glibc and the C++ runtime: memory, futexes, signals, clocks, exit.
std::vector<Rule> common_rules();
std::vector<Rule> vmm_rules();        // the event loop: VM building, devices, snapshots (vmm_rules.cpp)
std::vector<Rule> api_rules();        // the HTTP server on the API socket
std::vector<Rule> vcpu_rules();       // KVM_RUN and the device registers it reaches through the buses
std::vector<Rule> migration_rules();  // live-migration sender/receiver and uffd threads

// Every kind's filter: common rules plus its own. A thread's filter stays in force in the threads it
// creates (the kernel stacks filters), so the vmm filter also holds what the threads it starts need.
Policy builtin_policy();

}  // namespace hearth::seccomp
