#pragma once
// A listening AF_UNIX stream socket that owns its path: refuses a path where something is
// listening, replaces a stale socket file, unlinks the path on destruction.
#include <string>

#include "vmm/base/fd.h"

namespace hearth::api {

class UnixListener {
 public:
  // Throws Error("api socket '<path>': ...") on any problem.
  explicit UnixListener(std::string path, int backlog = 16);
  UnixListener(const UnixListener&) = delete;
  UnixListener& operator=(const UnixListener&) = delete;
  ~UnixListener();

  int fd() const { return fd_.get(); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  UniqueFd fd_;
};

}  // namespace hearth::api
