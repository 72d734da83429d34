#pragma once
// preadv/pwritev/fdatasync on the calling (VMM) thread.
#include "virtio/blk/io_engine.h"

namespace hearth::virtio::blk {

class SyncEngine : public IoBackend {
 public:
  std::optional<IoCompletion> submit(IoOp op) override;
  bool has_room() const override { return true; }
  int completion_fd() const override { return -1; }
  std::vector<IoCompletion> reap() override { return {}; }
  std::vector<IoCompletion> drain() override { return {}; }
  size_t in_flight() const override { return 0; }
};

}  // namespace hearth::virtio::blk
