#pragma once
// hearth links against Debian's shared libraries (fmt, spdlog, liburing, libseccomp, libstdc++), and
// the jail has no /lib: the jailer puts the exec file's ELF interpreter and the libraries it loads
// into the jail, at the same paths, hard-linked where possible. A static binary needs nothing.
#include <string>
#include <vector>

#include "jailer/args.h"
#include "jailer/rollback.h"

namespace hearth::jailer {

// PT_INTERP of the ELF file ("" for a static binary). Throws JailError(kExecFile) for a non-ELF file.
std::string elf_interpreter(const std::string& path);

// Absolute library paths in the dynamic loader's `--list` output.
std::vector<std::string> parse_loader_list(const std::string& output);

// Interpreter plus every library it would load for the exec file, placed under `root`.
void install_libraries(const JailerArgs& args, const std::string& root, Rollback& rollback);

}  // namespace hearth::jailer
