#include "vmm/base/host_file.h"

#include <limits.h>
#include <linux/fs.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <fmt/format.h>

#include "vmm/base/error.h"

namespace hearth {
namespace {

HostFileKind kind_of(unsigned mode, bool& known) {
  known = true;
  if (S_ISREG(mode)) return kRegularFile;
  if (S_ISBLK(mode)) return kBlockDevice;
  if (S_ISFIFO(mode)) return kFifo;
  if (S_ISCHR(mode)) return kCharDevice;
  known = false;
  return kRegularFile;
}

std::string allowed_kinds(unsigned kinds) {
  std::vector<std::string_view> names;
  if (kinds & kRegularFile) names.push_back("a regular file");
  if (kinds & kBlockDevice) names.push_back("a block device");
  if (kinds & kFifo) names.push_back("a FIFO");
  if (kinds & kCharDevice) names.push_back("a character device");
  std::string out;
  for (size_t i = 0; i < names.size(); ++i) {
    if (i) out += i + 1 == names.size() ? " or " : ", ";
    out += names[i];
  }
  return out;
}

[[noreturn]] void fail_errno(std::string_view what, std::string_view verb, const std::string& path) {
  const int saved = errno;
  throw Error(fmt::format("{}: cannot {} '{}': {}", what, verb, path, std::strerror(saved)));
}

uint64_t size_of(int fd, HostFileKind kind, const struct stat& st, std::string_view what, const std::string& path) {
  if (kind == kRegularFile) return static_cast<uint64_t>(st.st_size);
  if (kind != kBlockDevice) return 0;
  uint64_t bytes = 0;
  if (::ioctl(fd, BLKGETSIZE64, &bytes) != 0) fail_errno(what, "size", path);
  return bytes;
}

// Creates a missing output file; an invalid fd when something already exists there.
UniqueFd create_new(const std::string& path, const HostFileRules& rules, std::string_view what) {
  const int access = rules.access == O_RDONLY ? O_WRONLY : rules.access;
  UniqueFd fd(::open(path.c_str(), access | O_CREAT | O_EXCL | O_APPEND | O_CLOEXEC | O_NOCTTY | O_NONBLOCK, 0600));
  if (!fd && errno != EEXIST) fail_errno(what, "create", path);
  return fd;
}

bool is_dev_null(const struct stat& st) {
  struct stat null_st{};
  return ::stat("/dev/null", &null_st) == 0 && S_ISCHR(null_st.st_mode) && st.st_rdev == null_st.st_rdev;
}

}  // namespace

std::string_view describe_file_type(unsigned mode) {
  if (S_ISREG(mode)) return "a regular file";
  if (S_ISDIR(mode)) return "a directory";
  if (S_ISBLK(mode)) return "a block device";
  if (S_ISCHR(mode)) return "a character device";
  if (S_ISFIFO(mode)) return "a FIFO";
  if (S_ISSOCK(mode)) return "a socket";
  if (S_ISLNK(mode)) return "a symbolic link";
  return "an unknown kind of file";
}

void check_host_path(std::string_view path, std::string_view what) {
  if (path.empty()) throw Error(fmt::format("{}: the path is empty", what));
  if (path.find('\0') != std::string_view::npos) {
    throw Error(fmt::format("{}: the path contains a NUL character", what));
  }
  if (path.size() >= PATH_MAX) {
    throw Error(fmt::format("{}: the path is {} bytes long; the limit is {}", what, path.size(), PATH_MAX - 1));
  }
}

HostFile open_host_file(const std::string& path, std::string_view what, const HostFileRules& rules) {
  check_host_path(path, what);
  // O_PATH opens nothing: no FIFO wait, no device driver open, so the kind can be checked first.
  UniqueFd probe(::open(path.c_str(), O_PATH | O_CLOEXEC));
  if (!probe && errno == ENOENT && rules.create) {
    if (UniqueFd created = create_new(path, rules, what)) return HostFile{std::move(created), kRegularFile, 0};
    probe.reset(::open(path.c_str(), O_PATH | O_CLOEXEC));  // it appeared meanwhile
  }
  if (!probe) fail_errno(what, "open", path);
  struct stat before{};
  if (::fstat(probe.get(), &before) != 0) fail_errno(what, "stat", path);
  bool known = false;
  const HostFileKind kind = kind_of(before.st_mode, known);
  if (!known || !(rules.kinds & kind)) {
    throw Error(fmt::format("{}: '{}' is {}; it must be {}", what, path, describe_file_type(before.st_mode),
                            allowed_kinds(rules.kinds)));
  }
  if (rules.max_bytes && kind == kRegularFile && static_cast<uint64_t>(before.st_size) > rules.max_bytes) {
    throw Error(fmt::format("{}: '{}' is {} bytes, more than the {} allowed{}{}", what, path, before.st_size,
                            rules.max_bytes, rules.max_bytes_reason.empty() ? "" : " by ", rules.max_bytes_reason));
  }

  int flags = rules.access | O_CLOEXEC | O_NOCTTY | O_NONBLOCK;
  if (kind == kFifo && rules.access != O_RDONLY) flags = (flags & ~O_ACCMODE) | O_RDWR;
  if (rules.create && kind == kRegularFile) flags |= O_APPEND;
  UniqueFd fd(::open(path.c_str(), flags));
  if (!fd) fail_errno(what, "open", path);
  struct stat after{};
  if (::fstat(fd.get(), &after) != 0) fail_errno(what, "stat", path);
  if (after.st_dev != before.st_dev || after.st_ino != before.st_ino) {
    throw Error(fmt::format("{}: '{}' was replaced while it was being opened", what, path));
  }
  if (kind == kCharDevice && rules.create && !::isatty(fd.get()) && !is_dev_null(after)) {
    // Output may go to a terminal or be discarded; writing it into /dev/kvm or /dev/zero is a mistake.
    throw Error(fmt::format("{}: '{}' is a character device other than /dev/null or a terminal", what, path));
  }
  if (kind == kRegularFile || kind == kBlockDevice) {
    // io_uring and plain reads of regular files must block normally, not fail with EAGAIN.
    const int fl = ::fcntl(fd.get(), F_GETFL);
    if (fl < 0 || ::fcntl(fd.get(), F_SETFL, fl & ~O_NONBLOCK) != 0) fail_errno(what, "configure", path);
  }
  const uint64_t size = size_of(fd.get(), kind, after, what, path);
  if (rules.max_bytes && size > rules.max_bytes) {
    throw Error(fmt::format("{}: '{}' is {} bytes, more than the {} allowed{}{}", what, path, size, rules.max_bytes,
                            rules.max_bytes_reason.empty() ? "" : " by ", rules.max_bytes_reason));
  }
  return HostFile{std::move(fd), kind, size};
}

namespace {

// The whole of an open regular file of `file.size` bytes, refusing one that changes size meanwhile.
std::vector<uint8_t> read_regular(const HostFile& file, const std::string& path, std::string_view what) {
  std::vector<uint8_t> data(file.size);
  size_t done = 0;
  while (done < data.size()) {
    const ssize_t n = ::read(file.fd.get(), data.data() + done, data.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) fail_errno(what, "read", path);
    if (n == 0) throw Error(fmt::format("{}: '{}' shrank while it was being read", what, path));
    done += static_cast<size_t>(n);
  }
  uint8_t extra = 0;
  ssize_t n;
  do {
    n = ::read(file.fd.get(), &extra, 1);
  } while (n < 0 && errno == EINTR);
  if (n > 0) throw Error(fmt::format("{}: '{}' grew while it was being read", what, path));
  return data;
}

}  // namespace

std::vector<uint8_t> read_host_file(const std::string& path, std::string_view what, uint64_t max_bytes,
                                    std::string_view max_bytes_reason) {
  HostFileRules rules;
  rules.max_bytes = max_bytes;
  rules.max_bytes_reason = max_bytes_reason;
  return read_regular(open_host_file(path, what, rules), path, what);
}

std::vector<uint8_t> read_host_stream(const std::string& path, std::string_view what, uint64_t max_bytes,
                                      int idle_timeout_ms) {
  HostFileRules rules;
  rules.kinds = kRegularFile | kFifo;
  rules.max_bytes = max_bytes;
  HostFile file = open_host_file(path, what, rules);
  if (file.kind == kRegularFile) return read_regular(file, path, what);
  std::vector<uint8_t> data;
  uint8_t chunk[4096];
  while (true) {
    const ssize_t n = ::read(file.fd.get(), chunk, sizeof(chunk));
    if (n > 0) {
      if (data.size() + static_cast<size_t>(n) > max_bytes) {
        throw Error(fmt::format("{}: '{}' sends more than the {} bytes allowed", what, path, max_bytes));
      }
      data.insert(data.end(), chunk, chunk + n);
      continue;
    }
    if (n == 0) return data;  // EOF: every writer closed (or there never was one)
    if (errno == EINTR) continue;
    if (errno != EAGAIN) fail_errno(what, "read", path);
    pollfd p{file.fd.get(), POLLIN, 0};
    const int ready = ::poll(&p, 1, idle_timeout_ms);
    if (ready < 0 && errno != EINTR) fail_errno(what, "poll", path);
    if (ready == 0) {
      throw Error(fmt::format("{}: '{}' sent nothing for {} ms and did not end", what, path, idle_timeout_ms));
    }
  }
}

}  // namespace hearth
