#pragma once
// The message of the hearth::Error that `f` throws, or "<no error>": tests compare messages.
#include <string>

#include "vmm/base/error.h"

namespace hearth::test {

template <typename F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "<no error>";
}

}  // namespace hearth::test
