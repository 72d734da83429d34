#include "vmm/metrics/sink.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

#include "vmm/base/error.h"
#include "vmm/base/host_file.h"

namespace hearth::metrics {

LineSink::LineSink(const std::string& path, std::string_view what) : path_(path) {
  // A FIFO is opened read-write, as Firecracker does: that never fails for want of a reader, and lines
  // wait in the pipe until one comes (or are counted lost once it is full).
  HostFileRules rules;
  rules.kinds = kRegularFile | kFifo | kCharDevice;
  rules.access = O_WRONLY;
  rules.create = true;
  HostFile file = open_host_file(path, what, rules);
  // FIFOs and character devices stay non-blocking: a full pipe loses the line instead of stalling.
  fd_ = std::move(file.fd);
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

bool flush_json_line(Registry& registry, LineSink& sink, const nlohmann::json& extra) {
  nlohmann::json line = registry.take_deltas_json();
  for (const auto& [key, value] : extra.items()) line[key] = value;
  if (sink.write_line(line.dump())) return true;
  registry.counter("metrics.lost_lines").add();
  return false;
}

}  // namespace hearth::metrics
