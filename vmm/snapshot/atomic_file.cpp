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
  const size_t slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

}  // namespace

void AtomicFile::fail(std::string_view problem) const {
  throw Error(fmt::format("{}: cannot write '{}': {}", what_, path_, problem));
}

void AtomicFile::fail_errno(std::string_view verb, const std::string& object) const {
  const int saved = errno;
  fail(fmt::format("cannot {} '{}': {}", verb, object, std::strerror(saved)));
}

AtomicFile::AtomicFile(std::string path, std::string_view what) : path_(std::move(path)), what_(what) {
  check_host_path(path_, what_);
  if (path_.back() == '/') fail("the path names a directory");
  dir_ = parent_of(path_);
  // Named reasons first: mkstemp's ENOENT/ENOTDIR would not say which part is wrong.
  struct stat st {};
  if (::stat(dir_.c_str(), &st) != 0) {
    if (errno == ENOENT) fail(fmt::format("the directory '{}' does not exist", dir_));
    fail_errno("stat", dir_);
  }
  if (!S_ISDIR(st.st_mode)) fail(fmt::format("'{}' is {}, not a directory", dir_, describe_file_type(st.st_mode)));
  if (::stat(path_.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) fail("it is a directory");

  const size_t slash = path_.find_last_of('/');
  std::string temp = dir_ + "/." + (slash == std::string::npos ? path_ : path_.substr(slash + 1)) + ".tmp-XXXXXX";
  // mkostemp opens with O_CREAT|O_EXCL and mode 0600: guest memory and state are private to the VMM's user.
  fd_.reset(::mkostemp(temp.data(), O_CLOEXEC));
  if (!fd_) fail_errno("create a temporary file in", dir_);
  temp_path_ = std::move(temp);
}

AtomicFile::~AtomicFile() {
  if (!committed_ && !temp_path_.empty()) ::unlink(temp_path_.c_str());
}

void AtomicFile::write_all(std::span<const uint8_t> bytes) {
  size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = ::write(fd_.get(), bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) fail_errno("write", temp_path_);
    if (n == 0) fail(fmt::format("writing '{}' made no progress", temp_path_));
    done += static_cast<size_t>(n);
  }
}

void AtomicFile::commit() {
  if (::fsync(fd_.get()) != 0) fail_errno("fsync", temp_path_);
  if (::close(fd_.release()) != 0) fail_errno("close", temp_path_);
  if (::rename(temp_path_.c_str(), path_.c_str()) != 0) {
    const int saved = errno;
    fail(fmt::format("cannot rename '{}' onto it: {}", temp_path_, std::strerror(saved)));
  }
  committed_ = true;
  // The rename is durable once the directory is; a failure here leaves a complete file, so it is not fatal.
  UniqueFd dir_fd(::open(dir_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (dir_fd) ::fsync(dir_fd.get());
}

}  // namespace hearth::snapshot
