// hearth-seccomp-policy: prints Hearth's built-in seccomp policy as a --seccomp-filter JSON file.
#include <cstdio>

#include "vmm/seccomp/builtin.h"
#include "vmm/seccomp/policy_file.h"

int main(int argc, char**) {
  if (argc != 1) {
    std::fprintf(stderr, "hearth-seccomp-policy: error: takes no arguments (prints the built-in policy)\n");
    return 2;
  }
  std::printf("%s\n", hearth::seccomp::policy_to_json(hearth::seccomp::builtin_policy()).dump(2).c_str());
  return 0;
}
