#pragma once
// A file that appears at its path only when complete: written under a temporary name in the same
// directory and renamed over the path by commit(). Destroyed uncommitted, it removes the temporary.
#include <string>
#include <string_view>

#include "vmm/base/fd.h"

namespace hearth::snapshot {

class AtomicFile {
 public:
  // Throws Error naming `what` and `path` when the directory is missing, not a directory or not writable.
  AtomicFile(std::string path, std::string_view what);
  ~AtomicFile();
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;

  int fd() const { return fd_.get(); }
  // fdatasync, then rename into place. Throws Error naming `what`; the temporary is removed either way.
  void commit();

 private:
  std::string path_;
  std::string what_;
  std::string temp_path_;
  UniqueFd fd_;
  bool committed_ = false;
};

}  // namespace hearth::snapshot
