#include "virtio/blk/config_space.h"

#include <cstring>

#include "virtio/blk/defs.h"

namespace hearth::virtio::blk {
namespace {

template <typename T>
void put(std::array<uint8_t, kConfigSpaceSize>& space, size_t offset, T value) {
  std::memcpy(space.data() + offset, &value, sizeof(T));  // little-endian host, as the spec wants
}

}  // namespace

std::array<uint8_t, kConfigSpaceSize> make_config_space(uint64_t capacity_sectors) {
  std::array<uint8_t, kConfigSpaceSize> space{};
  put<uint64_t>(space, 0, capacity_sectors);        // capacity
  put<uint32_t>(space, 12, kSegMax);                // seg_max (SEG_MAX)
  put<uint32_t>(space, 36, kMaxDiscardSectors);     // max_discard_sectors
  put<uint32_t>(space, 40, kMaxDiscardSegments);    // max_discard_seg
  put<uint32_t>(space, 44, kDiscardSectorAlignment);  // discard_sector_alignment
  put<uint32_t>(space, 48, kMaxDiscardSectors);     // max_write_zeroes_sectors
  put<uint32_t>(space, 52, kMaxDiscardSegments);    // max_write_zeroes_seg
  put<uint8_t>(space, 56, 1);                       // write_zeroes_may_unmap
  return space;
}

}  // namespace hearth::virtio::blk
