#pragma once
// User seccomp policies (--seccomp-filter): Firecracker's seccompiler JSON, documented in
// docs/seccomp.md. Every error names the line of the offending value.
#include <string>

#include <nlohmann/json.hpp>

#include "vmm/seccomp/rules.h"

namespace hearth::seccomp {

// Parses and validates `text` (read from `path`, used in messages). The policy must have a filter
// for every thread kind and name only syscalls this architecture has. Throws Error
// "<path>:<line>: <what is wrong>".
Policy parse_policy(const std::string& text, const std::string& path);

// Reads the file, then parse_policy. Throws Error naming the path when it cannot be read.
Policy read_policy_file(const std::string& path);

// The same format, e.g. the built-in policy as a starting point for a custom one.
nlohmann::json policy_to_json(const Policy& policy);

}  // namespace hearth::seccomp
