#pragma once
// Turns a popped descriptor chain into a validated block request, or into the status the
// driver must get back (spec 5.2.6). Request layout: readable header + data-out, then writable
// data-in + one status byte, with no assumption about where descriptors split them.
#include <cstdint>
#include <optional>
#include <variant>
#include <vector>

#include "virtio/blk/defs.h"
#include "virtio/queue/descriptor_chain.h"
#include "vmm/memory/guest_memory.h"

namespace hearth::virtio::blk {

struct DiskGeometry {
  uint64_t capacity_sectors = 0;
  bool read_only = false;
  bool discard = false;  // DISCARD and WRITE_ZEROES offered
};

struct Request {
  uint32_t type = 0;
  uint64_t sector = 0;
  std::vector<GuestBuffer> data;  // IN/GET_ID: buffers to fill; OUT: buffers to write out
  uint32_t data_len = 0;
  std::vector<DiscardSegment> segments;  // DISCARD / WRITE_ZEROES
  uint64_t status_addr = 0;
};

// The request cannot run: answer with `status` at `status_addr`, or, when the chain has no
// writable byte for a status, return it with used length 0 (drop).
struct Rejection {
  std::optional<uint64_t> status_addr;
  uint8_t status = kStatusIoErr;
};

std::variant<Request, Rejection> parse_request(const GuestMemory& mem, const DescriptorChain& chain,
                                               const DiskGeometry& disk);

}  // namespace hearth::virtio::blk
