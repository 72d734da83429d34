#include "virtio/blk/async_engine.h"

#include <cerrno>

#include "virtio/blk/sync_engine.h"
#include "vmm/base/error.h"

namespace hearth::virtio::blk {

AsyncEngine::AsyncEngine(unsigned queue_depth) : depth_(queue_depth) {
  if (int rc = io_uring_queue_init(queue_depth, &ring_, 0); rc < 0) {
    errno = -rc;
    throw_errno("io_uring_queue_init for the async block engine");
  }
  if (int rc = io_uring_register_eventfd(&ring_, event_.fd()); rc < 0) {
    io_uring_queue_exit(&ring_);
    errno = -rc;
    throw_errno("io_uring_register_eventfd");
  }
}

AsyncEngine::~AsyncEngine() {
  // The kernel may still be writing into guest memory; wait before tearing the ring down.
  drain();
  io_uring_queue_exit(&ring_);
}

std::optional<IoCompletion> AsyncEngine::submit(IoOp op) {
  if (broken_) return IoCompletion{op.tag, -EIO};
  io_uring_sqe* sqe = in_flight_.size() < depth_ ? io_uring_get_sqe(&ring_) : nullptr;
  if (!sqe) return IoCompletion{op.tag, -EAGAIN};  // callers check has_room() first
  const uint64_t id = next_id_++;
  auto [it, inserted] = in_flight_.emplace(id, std::move(op));
  IoOp& stored = it->second;
  const auto nr = static_cast<unsigned>(stored.iov.size());
  switch (stored.kind) {
    case IoOp::Kind::kRead: io_uring_prep_readv(sqe, stored.fd, stored.iov.data(), nr, stored.offset); break;
    case IoOp::Kind::kWrite: io_uring_prep_writev(sqe, stored.fd, stored.iov.data(), nr, stored.offset); break;
    case IoOp::Kind::kFlush: io_uring_prep_fsync(sqe, stored.fd, IORING_FSYNC_DATASYNC); break;
  }
  io_uring_sqe_set_data64(sqe, id);
  // A failed submit leaves the sqe queued in the ring, so the op (and its iovecs) stays in
  // flight and the submit is retried at the next reap.
  unsubmitted_ = io_uring_submit(&ring_) < 0;
  return std::nullopt;
}

bool AsyncEngine::flush_submissions() {
  if (unsubmitted_) unsubmitted_ = io_uring_submit(&ring_) < 0;
  return !unsubmitted_;
}

void AsyncEngine::collect(io_uring_cqe* cqe, std::vector<IoCompletion>& out) {
  const uint64_t id = io_uring_cqe_get_data64(cqe);
  const int64_t res = cqe->res;
  io_uring_cqe_seen(&ring_, cqe);
  auto it = in_flight_.find(id);
  if (it == in_flight_.end()) return;
  out.push_back(IoCompletion{it->second.tag, res});
  in_flight_.erase(it);
}

std::vector<IoCompletion> AsyncEngine::reap() {
  event_.consume();
  flush_submissions();
  std::vector<IoCompletion> out;
  io_uring_cqe* cqe = nullptr;
  while (io_uring_peek_cqe(&ring_, &cqe) == 0 && cqe) collect(cqe, out);
  return out;
}

std::vector<IoCompletion> AsyncEngine::drain() {
  std::vector<IoCompletion> out = reap();
  if (!flush_submissions()) {
    // The kernel refuses our ops: fail them, and never touch the ring again, so the queued sqes
    // (pointing at iovecs we free now) can never be submitted later.
    broken_ = true;
    for (auto& [id, op] : in_flight_) out.push_back(IoCompletion{op.tag, -EIO});
    in_flight_.clear();
  }
  while (!in_flight_.empty()) {
    io_uring_cqe* cqe = nullptr;
    int rc = io_uring_wait_cqe(&ring_, &cqe);
    if (rc == -EINTR) continue;
    if (rc < 0) break;  // ring unusable; nothing more will complete
    collect(cqe, out);
  }
  event_.consume();
  return out;
}

std::unique_ptr<IoBackend> make_io_engine(hearth::IoEngine kind, unsigned queue_depth) {
  if (kind == hearth::IoEngine::kAsync) return std::make_unique<AsyncEngine>(queue_depth);
  return std::make_unique<SyncEngine>();
}

}  // namespace hearth::virtio::blk
