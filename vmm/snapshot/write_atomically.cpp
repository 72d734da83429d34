// write_file_atomically: a temporary file beside the target, written, fsynced and renamed over it.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <fmt/format.h>

#include "vmm/base/error.h"
#include "vmm/base/fd.h"
#include "vmm/base/host_file.h"
#include "vmm/snapshot/state_file.h"

namespace hearth::snapshot {
namespace {

[[noreturn]] void fail(std::string_view what, const std::string& path, std::string_view problem) {
  throw Error(fmt::format("{}: cannot write '{}': {}", what, path, problem));
}

[[noreturn]] void fail_errno(std::string_view what, const std::string& path, std::string_view verb,
                             const std::string& object) {
  const int saved = errno;
  fail(what, path, fmt::format("cannot {} '{}': {}", verb, object, std::strerror(saved)));
}

std::string parent_of(const std::string& path) {
  const size_t slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

// Removes the temporary file unless the rename consumed it.
class TempFile {
 public:
  explicit TempFile(std::string path) : path_(std::move(path)) {}
  TempFile(const TempFile&) = delete;
  TempFile& operator=(const TempFile&) = delete;
  ~TempFile() {
    if (!path_.empty()) ::unlink(path_.c_str());
  }
  const std::string& path() const { return path_; }
  void committed() { path_.clear(); }

 private:
  std::string path_;
};

}  // namespace

void write_file_atomically(const std::string& path, std::span<const uint8_t> bytes, std::string_view what) {
  check_host_path(path, what);
  if (path.back() == '/') fail(what, path, "the path names a directory");
  const std::string dir = parent_of(path);
  // Named reasons first: mkstemp's ENOENT/ENOTDIR would not say which part is wrong.
  struct stat st{};
  if (::stat(dir.c_str(), &st) != 0) {
    if (errno == ENOENT) fail(what, path, fmt::format("the directory '{}' does not exist", dir));
    fail_errno(what, path, "stat", dir);
  }
  if (!S_ISDIR(st.st_mode)) {
    fail(what, path, fmt::format("'{}' is {}, not a directory", dir, describe_file_type(st.st_mode)));
  }
  if (::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) fail(what, path, "it is a directory");

  const size_t slash = path.find_last_of('/');
  std::string name = dir + "/." + (slash == std::string::npos ? path : path.substr(slash + 1)) + ".tmp-XXXXXX";
  // mkostemp opens with O_CREAT|O_EXCL and mode 0600: a state file names host paths, so keep it private.
  UniqueFd fd(::mkostemp(name.data(), O_CLOEXEC));
  if (!fd) fail_errno(what, path, "create a temporary file in", dir);
  TempFile temp(name);

  size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = ::write(fd.get(), bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) fail_errno(what, path, "write", temp.path());
    if (n == 0) fail(what, path, fmt::format("writing '{}' made no progress", temp.path()));
    done += static_cast<size_t>(n);
  }
  if (::fsync(fd.get()) != 0) fail_errno(what, path, "fsync", temp.path());
  if (::close(fd.release()) != 0) fail_errno(what, path, "close", temp.path());
  if (::rename(temp.path().c_str(), path.c_str()) != 0) {
    const int saved = errno;
    fail(what, path, fmt::format("cannot rename '{}' onto it: {}", temp.path(), std::strerror(saved)));
  }
  temp.committed();
  // The rename is durable once the directory is; a failure here leaves a complete file, so it is not fatal.
  UniqueFd dir_fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (dir_fd) ::fsync(dir_fd.get());
}

}  // namespace hearth::snapshot
