#pragma once
// A file that appears at its path only when complete: written under a temporary name in the same
// directory and renamed over the path by commit(). Destroyed uncommitted, it removes the temporary.
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "vmm/base/fd.h"

namespace hearth::snapshot {

class AtomicFile {
 public:
  // Throws Error("<what>: cannot write '<path>': ...") when the directory is missing, not a directory or
  // not writable.
  AtomicFile(std::string path, std::string_view what);
  ~AtomicFile();
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;

  int fd() const { return fd_.get(); }
  // Appends `bytes` to the temporary file, retrying short writes.
  void write_all(std::span<const uint8_t> bytes);
  // fsync, rename into place, fsync the directory. Throws Error naming `what`; on failure the temporary
  // is removed by the destructor.
  void commit();

 private:
  [[noreturn]] void fail(std::string_view problem) const;
  [[noreturn]] void fail_errno(std::string_view verb, const std::string& object) const;

  std::string path_;
  std::string what_;
  std::string dir_;
  std::string temp_path_;
  UniqueFd fd_;
  bool committed_ = false;
};

}  // namespace hearth::snapshot
