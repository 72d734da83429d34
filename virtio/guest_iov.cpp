#include "virtio/guest_iov.h"

#include <algorithm>
#include <cstring>

namespace hearth::virtio {

uint64_t total_len(std::span<const GuestBuffer> buffers) {
  uint64_t total = 0;
  for (const auto& b : buffers) total += b.len;
  return total;
}

std::optional<std::vector<GuestBuffer>> sub_range(std::span<const GuestBuffer> buffers, uint64_t offset,
                                                  uint64_t len) {
  std::vector<GuestBuffer> out;
  for (const auto& b : buffers) {
    if (len == 0) break;
    if (offset >= b.len) {
      offset -= b.len;
      continue;
    }
    const uint64_t take = std::min<uint64_t>(b.len - offset, len);
    out.push_back(GuestBuffer{b.addr + offset, static_cast<uint32_t>(take)});
    len -= take;
    offset = 0;
  }
  if (len != 0) return std::nullopt;
  return out;
}

bool copy_from_guest(const GuestMemory& mem, std::span<const GuestBuffer> buffers, uint64_t offset,
                     std::span<uint8_t> out) {
  auto parts = sub_range(buffers, offset, out.size());
  if (!parts) return false;
  size_t done = 0;
  for (const auto& p : *parts) {
    if (!mem.try_read(p.addr, out.subspan(done, p.len))) return false;
    done += p.len;
  }
  return true;
}

bool copy_to_guest(const GuestMemory& mem, std::span<const GuestBuffer> buffers, uint64_t offset,
                   std::span<const uint8_t> in) {
  auto parts = sub_range(buffers, offset, in.size());
  if (!parts) return false;
  size_t done = 0;
  for (const auto& p : *parts) {
    if (!mem.try_write(p.addr, in.subspan(done, p.len))) return false;
    done += p.len;
  }
  return true;
}

std::optional<std::vector<iovec>> to_iovecs(const GuestMemory& mem, std::span<const GuestBuffer> buffers,
                                            IovDirection direction) {
  std::vector<iovec> iov;
  iov.reserve(buffers.size());
  for (const auto& b : buffers) {
    if (b.len == 0) continue;
    if (direction == IovDirection::kIntoGuest) {
      auto s = mem.slice(b.addr, b.len);  // marks dirty
      if (!s) return std::nullopt;
      iov.push_back(iovec{s->data(), s->size()});
    } else {
      auto s = mem.view(b.addr, b.len);
      if (!s) return std::nullopt;
      // The kernel only reads through this iovec; iov_base is non-const by POSIX's signature alone.
      iov.push_back(iovec{const_cast<uint8_t*>(s->data()), s->size()});
    }
  }
  return iov;
}

void mark_dirty(const GuestMemory& mem, std::span<const GuestBuffer> buffers) {
  for (const auto& b : buffers) mem.mark_dirty(b.addr, b.len);
}

}  // namespace hearth::virtio
