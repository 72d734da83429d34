#pragma once
// Byte-stream view of a chain's buffers: the virtio spec forbids assuming any framing, so a
// request header or status byte may sit anywhere across descriptor boundaries.
#include <sys/uio.h>

#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "virtio/queue/descriptor_chain.h"
#include "vmm/memory/guest_memory.h"

namespace hearth::virtio {

uint64_t total_len(std::span<const GuestBuffer> buffers);

// The buffers covering bytes [offset, offset+len) of the stream; nullopt if past its end.
std::optional<std::vector<GuestBuffer>> sub_range(std::span<const GuestBuffer> buffers, uint64_t offset, uint64_t len);

// Copies between the stream at `offset` and host memory; false when out of range.
bool copy_from_guest(const GuestMemory& mem, std::span<const GuestBuffer> buffers, uint64_t offset,
                     std::span<uint8_t> out);
bool copy_to_guest(const GuestMemory& mem, std::span<const GuestBuffer> buffers, uint64_t offset,
                   std::span<const uint8_t> in);

// Whether the host side of an iovec will write guest memory (a disk read) or only read it (a disk write).
enum class IovDirection { kIntoGuest, kFromGuest };

// Host iovecs for the buffers (zero-length ones skipped); nullopt if one is not in guest RAM.
// kIntoGuest marks the buffers dirty here, as the kernel (io_uring, preadv) writes them behind our back;
// kFromGuest marks nothing. The default is the safe one.
std::optional<std::vector<iovec>> to_iovecs(const GuestMemory& mem, std::span<const GuestBuffer> buffers,
                                            IovDirection direction = IovDirection::kIntoGuest);

// Marks the buffers dirty. For asynchronous writes into the guest, call again on completion: a
// dirty-bitmap take between to_iovecs() and the kernel's write would otherwise lose those pages.
void mark_dirty(const GuestMemory& mem, std::span<const GuestBuffer> buffers);

}  // namespace hearth::virtio
