#include "virtio/blk/sync_engine.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>

namespace hearth::virtio::blk {
namespace {

// Repeats short transfers (signals, large requests) until done, EOF or an error.
int64_t transfer(const IoOp& op) {
  std::vector<iovec> iov = op.iov;
  size_t first = 0;
  uint64_t done = 0;
  while (first < iov.size()) {
    const int count = static_cast<int>(std::min<size_t>(iov.size() - first, IOV_MAX));
    const auto off = static_cast<off_t>(op.offset + done);
    ssize_t n = op.kind == IoOp::Kind::kRead ? ::preadv(op.fd, &iov[first], count, off)
                                             : ::pwritev(op.fd, &iov[first], count, off);
    if (n < 0) {
      if (errno == EINTR) continue;
      return -errno;
    }
    if (n == 0) break;  // EOF: the file shrank under us
    done += static_cast<uint64_t>(n);
    auto left = static_cast<size_t>(n);
    while (first < iov.size() && left >= iov[first].iov_len) left -= iov[first++].iov_len;
    if (left) {
      iov[first].iov_base = static_cast<uint8_t*>(iov[first].iov_base) + left;
      iov[first].iov_len -= left;
    }
  }
  return static_cast<int64_t>(done);
}

}  // namespace

std::optional<IoCompletion> SyncEngine::submit(IoOp op) {
  if (op.kind == IoOp::Kind::kFlush) {
    return IoCompletion{op.tag, ::fdatasync(op.fd) < 0 ? -int64_t{errno} : 0};
  }
  return IoCompletion{op.tag, transfer(op)};
}

}  // namespace hearth::virtio::blk
