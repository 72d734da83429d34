#include "vmm/snapshot/atomic_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <fmt/format.h>

#include "vmm/base/error.h"
#include "vmm/base/host_file.h"

namespace hearth::snapshot {
namespace {

std::string parent_of(const std::string& path) {
  const auto slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}

}  // namespace

AtomicFile::AtomicFile(std::string path, std::string_view what) : path_(std::move(path)), what_(what) {
  check_host_path(path_, what_);
  if (path_.back() == '/') throw Error(fmt::format("{}: '{}' names a directory, not a file", what_, path_));
  const std::string dir = parent_of(path_);
  struct stat st {};
  if (::stat(dir.c_str(), &st) != 0) {
    throw Error(fmt::format("{}: directory '{}' of '{}': {}", what_, dir, path_, std::strerror(errno)));
  }
  if (!S_ISDIR(st.st_mode)) {
    throw Error(fmt::format("{}: '{}' of '{}' is a {}, not a directory", what_, dir, path_,
                            describe_file_type(st.st_mode)));
  }
  if (::stat(path_.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) {
    throw Error(fmt::format("{}: '{}' is a directory", what_, path_));
  }
  std::string temp = path_ + ".tmp-XXXXXX";
  const int fd = ::mkostemp(temp.data(), O_CLOEXEC);
  if (fd < 0) throw Error(fmt::format("{}: cannot create a file in '{}': {}", what_, dir, std::strerror(errno)));
  fd_.reset(fd);
  temp_path_ = temp;
  ::fchmod(fd, 0600);  // guest memory and state are private to whoever runs the VMM
}

AtomicFile::~AtomicFile() {
  if (!committed_ && !temp_path_.empty()) ::unlink(temp_path_.c_str());
}

void AtomicFile::commit() {
  if (::fdatasync(fd_.get()) != 0) {
    throw Error(fmt::format("{}: writing '{}' failed: {}", what_, path_, std::strerror(errno)));
  }
  if (::rename(temp_path_.c_str(), path_.c_str()) != 0) {
    throw Error(fmt::format("{}: cannot rename into '{}': {}", what_, path_, std::strerror(errno)));
  }
  committed_ = true;
  fd_.reset();
}

}  // namespace hearth::snapshot
