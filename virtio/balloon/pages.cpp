#include "virtio/balloon/pages.h"

#include <algorithm>
#include <cstring>

namespace hearth::virtio::balloon {

std::vector<GuestRange> pfn_ranges(std::span<const uint8_t> bytes) {
  const size_t count = std::min<size_t>(bytes.size(), kMaxPfnBytes) / 4;
  std::vector<uint32_t> pfns(count);
  if (count > 0) std::memcpy(pfns.data(), bytes.data(), count * 4);  // little-endian host (x86)
  std::sort(pfns.begin(), pfns.end());
  std::vector<GuestRange> ranges;
  for (size_t i = 0; i < pfns.size();) {
    const uint64_t first = pfns[i];
    uint64_t last = first;
    while (++i < pfns.size() && pfns[i] <= last + 1) last = pfns[i];
    ranges.push_back({first << kPageShift, (last - first + 1) << kPageShift});
  }
  return ranges;
}

std::optional<BalloonStats> parse_stats(std::span<const uint8_t> bytes) {
  if (bytes.size() % kStatRecordSize != 0 || bytes.size() > kMaxStatsBytes) return std::nullopt;
  BalloonStats stats;
  for (size_t off = 0; off < bytes.size(); off += kStatRecordSize) {
    uint16_t tag;
    uint64_t value;
    std::memcpy(&tag, bytes.data() + off, 2);
    std::memcpy(&value, bytes.data() + off + 2, 8);
    if (tag < kStatTagCount) stats.values[tag] = value;
  }
  return stats;
}

GuestRange reported_pages(uint64_t addr, uint64_t len) {
  const uint64_t first = (addr + kPageSize - 1) & ~(kPageSize - 1);
  if (first < addr || len == 0 || addr + len < addr) return {};
  const uint64_t end = (addr + len) & ~(kPageSize - 1);
  if (end <= first) return {};
  return {first, end - first};
}

}  // namespace hearth::virtio::balloon
