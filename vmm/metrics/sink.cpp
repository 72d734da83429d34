#include "vmm/metrics/sink.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

#include "vmm/base/error.h"

namespace hearth::metrics {

LineSink::LineSink(const std::string& path) : path_(path) {
  // A FIFO is opened read-write, as Firecracker does: that never fails for want of a reader, and lines
  // wait in the pipe until one comes (or are counted lost once it is full).
  struct stat existing{};
  const bool fifo = ::stat(path.c_str(), &existing) == 0 && S_ISFIFO(existing.st_mode);
  const int flags = fifo ? O_RDWR : O_WRONLY | O_APPEND | O_CREAT;
  fd_.reset(::open(path.c_str(), flags | O_NONBLOCK | O_CLOEXEC, 0640));
  if (!fd_) throw_errno("metrics: cannot open '" + path + "'");
  struct stat st{};
  if (::fstat(fd_.get(), &st) != 0) throw_errno("metrics: cannot stat '" + path + "'");
  if (!S_ISREG(st.st_mode) && !S_ISFIFO(st.st_mode)) {
    throw Error("metrics: '" + path + "' is neither a regular file nor a FIFO");
  }
}

bool LineSink::write_line(std::string_view line) {
  std::string buf(line);
  buf.push_back('\n');
  ssize_t n;
  do {
    n = ::write(fd_.get(), buf.data(), buf.size());
  } while (n < 0 && errno == EINTR);
  // A short write to a full FIFO leaves a torn line; the reader resynchronises on '\n'.
  if (n != static_cast<ssize_t>(buf.size())) {
    ++lost_;
    return false;
  }
  return true;
}

bool flush_json_line(Registry& registry, LineSink& sink) {
  if (sink.write_line(registry.take_deltas_json().dump())) return true;
  registry.counter("metrics.lost_lines").add();
  return false;
}

}  // namespace hearth::metrics
