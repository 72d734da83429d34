#pragma once
// Where metrics (and, for the logger's owner, log lines) are flushed: a file or a FIFO opened
// non-blocking, so a slow or absent reader never stalls the VMM thread. Lines that cannot be
// written whole are dropped and counted.
#include <cstdint>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "vmm/base/fd.h"
#include "vmm/metrics/registry.h"

namespace hearth::metrics {

class LineSink {
 public:
  // Opens `path` for appending: a regular file (created if missing), a FIFO (which may have no
  // reader yet) or a character device such as /dev/null. Throws Error("<what>: ...").
  LineSink(const std::string& path, std::string_view what);

  // Appends `line` and a newline; returns false (and counts it) when the line was lost.
  bool write_line(std::string_view line);
  uint64_t lost() const { return lost_; }
  const std::string& path() const { return path_; }
  int fd() const { return fd_.get(); }

 private:
  std::string path_;
  UniqueFd fd_;
  uint64_t lost_ = 0;
};

// Writes one JSON line of deltas from `registry`, with the members of `extra` (an object) added at the top
// level (Firecracker's "id" and "properties"); a lost line also bumps "metrics.lost_lines".
bool flush_json_line(Registry& registry, LineSink& sink, const nlohmann::json& extra = nlohmann::json::object());

}  // namespace hearth::metrics
