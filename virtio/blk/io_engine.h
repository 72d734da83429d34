#pragma once
// Where block I/O runs. Sync: on the VMM thread, result at once. Async: io_uring, results later
// through completion_fd() (registered in the EventLoop). Both move bytes straight between the
// backing file and guest memory through iovecs.
#include <sys/uio.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include "vmm/config/vm_config.h"

namespace hearth::virtio::blk {

struct IoOp {
  enum class Kind { kRead, kWrite, kFlush };
  Kind kind = Kind::kRead;
  int fd = -1;
  uint64_t offset = 0;
  std::vector<iovec> iov;  // host views of guest buffers; kept alive until completion
  uint64_t tag = 0;        // returned in the completion
};

struct IoCompletion {
  uint64_t tag = 0;
  int64_t result = 0;  // bytes moved (0 for flush), or -errno
};

class IoBackend {
 public:
  virtual ~IoBackend() = default;
  // The completion when it finished at once (sync, or an async submission error); nullopt
  // when queued (async).
  virtual std::optional<IoCompletion> submit(IoOp op) = 0;
  // False when an async ring is full: the caller stops and retries after completions.
  virtual bool has_room() const = 0;
  virtual int completion_fd() const = 0;  // -1 for sync
  // Finished operations, without blocking.
  virtual std::vector<IoCompletion> reap() = 0;
  // Waits for everything in flight (reset, snapshot, backing-file swap).
  virtual std::vector<IoCompletion> drain() = 0;
  virtual size_t in_flight() const = 0;
};

// Throws Error when the engine cannot be set up (e.g. io_uring unavailable).
std::unique_ptr<IoBackend> make_io_engine(hearth::IoEngine kind, unsigned queue_depth);

}  // namespace hearth::virtio::blk
