#pragma once
// Parsers for what a balloon driver sends (all hostile input, all bounded): the inflate/deflate page
// arrays (little-endian u32 PFNs of 4 KiB pages), the statistics buffer (packed {u16 tag, u64 value}
// records) and free page reporting ranges. Pure functions, shared with the fuzz target.
#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "vmm/memory/guest_memory.h"

namespace hearth::virtio::balloon {

inline constexpr uint64_t kPageShift = 12;  // VIRTIO_BALLOON_PFN_SHIFT
inline constexpr uint64_t kPageSize = uint64_t{1} << kPageShift;
// Most bytes of PFNs read from one chain (Linux sends at most 256 PFNs, 1 KiB); the rest is ignored.
inline constexpr uint32_t kMaxPfnBytes = 64 * 1024;

// The PFNs of `bytes` (a trailing partial PFN is ignored) as sorted, disjoint guest-physical ranges:
// repeats collapse, neighbours merge. At most kMaxPfnBytes / 4 PFNs are read.
std::vector<GuestRange> pfn_ranges(std::span<const uint8_t> bytes);

// Statistics tags (virtio spec 5.5.6.3).
enum StatTag : uint16_t {
  kSwapIn = 0,
  kSwapOut = 1,
  kMajorFaults = 2,
  kMinorFaults = 3,
  kFreeMemory = 4,
  kTotalMemory = 5,
  kAvailableMemory = 6,
  kDiskCaches = 7,
  kHugetlbAllocations = 8,
  kHugetlbFailures = 9,
  kStatTagCount = 10,
};
inline constexpr uint32_t kStatRecordSize = 10;
// Most bytes of a statistics buffer read (the spec has 10 tags; repeats and unknown tags are skipped).
inline constexpr uint32_t kMaxStatsBytes = 4096;

struct BalloonStats {
  std::optional<uint64_t> values[kStatTagCount];
  bool operator==(const BalloonStats&) const = default;
};

// Parses the packed records of `bytes`; unknown tags are ignored, a later record of a tag wins.
// nullopt when the length is not a whole number of records.
std::optional<BalloonStats> parse_stats(std::span<const uint8_t> bytes);

// The part of a reported range [addr, addr+len) that is whole 4 KiB pages; size 0 when there is none.
GuestRange reported_pages(uint64_t addr, uint64_t len);

}  // namespace hearth::virtio::balloon
