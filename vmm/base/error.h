#pragma once
// Errors that reach the user: one line naming what is wrong.
#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <string>

#include <fmt/format.h>

namespace hearth {

class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Throws Error("<what>: <strerror(errno)>"), capturing errno at the call.
[[noreturn]] inline void throw_errno(const std::string& what) {
  int saved = errno;
  throw Error(fmt::format("{}: {}", what, std::strerror(saved)));
}

}  // namespace hearth
