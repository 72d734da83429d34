#pragma once
// virtio-blk constants (spec 5.2).
#include <cstdint>

namespace hearth::virtio::blk {

inline constexpr uint64_t kSectorSize = 512;
inline constexpr uint32_t kSectorShift = 9;
inline constexpr uint32_t kIdBytes = 20;
inline constexpr uint64_t kHeaderSize = 16;        // struct virtio_blk_outhdr
inline constexpr uint64_t kDiscardSegmentSize = 16;  // struct virtio_blk_discard_write_zeroes

// Feature bits.
inline constexpr uint32_t kFeatureSegMax = 2;
inline constexpr uint32_t kFeatureRo = 5;
inline constexpr uint32_t kFeatureBlkSize = 6;
inline constexpr uint32_t kFeatureFlush = 9;
inline constexpr uint32_t kFeatureDiscard = 13;
inline constexpr uint32_t kFeatureWriteZeroes = 14;

// Request types.
inline constexpr uint32_t kTypeIn = 0;
inline constexpr uint32_t kTypeOut = 1;
inline constexpr uint32_t kTypeFlush = 4;
inline constexpr uint32_t kTypeGetId = 8;
inline constexpr uint32_t kTypeDiscard = 11;
inline constexpr uint32_t kTypeWriteZeroes = 13;

// Status byte values.
inline constexpr uint8_t kStatusOk = 0;
inline constexpr uint8_t kStatusIoErr = 1;
inline constexpr uint8_t kStatusUnsupp = 2;

// Discard / write-zeroes segment flag.
inline constexpr uint32_t kWriteZeroesFlagUnmap = 1;

// Our limits, advertised in the config space.
inline constexpr uint16_t kQueueSize = 256;
inline constexpr uint32_t kSegMax = kQueueSize - 2;  // header and status take two descriptors
inline constexpr uint32_t kMaxDiscardSectors = 1u << 22;  // 2 GiB per segment
inline constexpr uint32_t kMaxDiscardSegments = 32;
inline constexpr uint32_t kDiscardSectorAlignment = 8;   // 4 KiB: what hole punching can free

struct RequestHeader {
  uint32_t type;
  uint32_t reserved;
  uint64_t sector;
};
static_assert(sizeof(RequestHeader) == kHeaderSize);

struct DiscardSegment {
  uint64_t sector;
  uint32_t num_sectors;
  uint32_t flags;
};
static_assert(sizeof(DiscardSegment) == kDiscardSegmentSize);

}  // namespace hearth::virtio::blk
