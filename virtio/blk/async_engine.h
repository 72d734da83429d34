#pragma once
// io_uring engine: operations complete out of order; the ring signals an eventfd that the device
// registers in the EventLoop. Each in-flight op keeps its iovecs alive until its completion.
#include <liburing.h>

#include <unordered_map>

#include "virtio/blk/io_engine.h"
#include "vmm/base/eventfd.h"

namespace hearth::virtio::blk {

class AsyncEngine : public IoBackend {
 public:
  explicit AsyncEngine(unsigned queue_depth);
  ~AsyncEngine() override;
  AsyncEngine(const AsyncEngine&) = delete;
  AsyncEngine& operator=(const AsyncEngine&) = delete;

  std::optional<IoCompletion> submit(IoOp op) override;
  bool has_room() const override { return in_flight_.size() < depth_; }
  int completion_fd() const override { return event_.fd(); }
  std::vector<IoCompletion> reap() override;
  std::vector<IoCompletion> drain() override;
  size_t in_flight() const override { return in_flight_.size(); }

 private:
  void collect(io_uring_cqe* cqe, std::vector<IoCompletion>& out);
  bool flush_submissions();

  io_uring ring_{};
  unsigned depth_;
  EventFd event_;
  uint64_t next_id_ = 1;
  bool unsubmitted_ = false;  // an io_uring_submit failed; retried on the next reap
  bool broken_ = false;
  std::unordered_map<uint64_t, IoOp> in_flight_;  // keyed by the sqe's user_data
};

}  // namespace hearth::virtio::blk
