#pragma once
// Runs a function in a forked child (filters cannot be taken off again) and reports how it ended
// and what it wrote to stderr.
#include <functional>
#include <string>

namespace hearth::seccomp::test {

struct ChildResult {
  bool signaled = false;
  int signal = 0;
  int exit_code = -1;
  std::string err;
};

// `body` runs in the child; returning normally exits 0.
ChildResult run_in_child(const std::function<void()>& body);

}  // namespace hearth::seccomp::test
