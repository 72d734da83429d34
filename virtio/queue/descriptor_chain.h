#pragma once
// Walks and validates one descriptor chain of a split virtqueue (spec 2.7.5), direct or indirect.
// The whole chain is checked before the device sees any of it.
#include <cstdint>
#include <vector>

#include "virtio/queue/queue_error.h"
#include "vmm/memory/guest_memory.h"

namespace hearth::virtio {

inline constexpr uint16_t kDescFlagNext = 1;
inline constexpr uint16_t kDescFlagWrite = 2;
inline constexpr uint16_t kDescFlagIndirect = 4;
inline constexpr uint64_t kDescSize = 16;

// struct virtq_desc as laid out in guest memory (little-endian host).
struct VirtqDesc {
  uint64_t addr;
  uint32_t len;
  uint16_t flags;
  uint16_t next;
};
static_assert(sizeof(VirtqDesc) == kDescSize);

// One guest buffer; [addr, addr+len) is known to lie inside one guest RAM region.
struct GuestBuffer {
  uint64_t addr = 0;
  uint32_t len = 0;
};

struct DescriptorChain {
  uint16_t head = 0;                  // index returned in the used ring
  std::vector<GuestBuffer> readable;  // device reads these (driver -> device), in order
  std::vector<GuestBuffer> writable;  // device writes these (device -> driver), in order
  uint32_t readable_len = 0;
  uint32_t writable_len = 0;
};

struct ChainLimits {
  uint16_t queue_size = 0;       // direct table size; also the longest chain accepted
  bool indirect_allowed = false;  // VIRTIO_F_INDIRECT_DESC negotiated
};

// Reads the chain starting at `head` in the table at `desc_table`.
QueueResult<DescriptorChain> read_chain(const GuestMemory& mem, uint64_t desc_table, uint16_t head,
                                        const ChainLimits& limits);

}  // namespace hearth::virtio
