#include "vmm/memory/guest_memory.h"

#include <unistd.h>

#include <algorithm>

#include "vmm/base/error.h"

namespace hearth {

GuestMemory GuestMemory::create_anonymous(const std::vector<GuestRange>& ranges) {
  const uint64_t page = static_cast<uint64_t>(::sysconf(_SC_PAGESIZE));
  std::vector<GuestRange> sorted = ranges;
  std::sort(sorted.begin(), sorted.end(), [](auto& a, auto& b) { return a.start < b.start; });
  GuestMemory mem;
  for (size_t i = 0; i < sorted.size(); ++i) {
    const GuestRange& r = sorted[i];
    if (r.size == 0 || r.start % page || r.size % page) {
      throw Error(fmt::format("guest memory range {:#x}+{:#x} is empty or not page-aligned", r.start, r.size));
    }
    if (r.end() < r.start || (i > 0 && sorted[i - 1].end() > r.start)) {
      throw Error(fmt::format("guest memory range {:#x}+{:#x} overlaps or wraps", r.start, r.size));
    }
    mem.regions_.push_back(Region{r, Mapping::anonymous(r.size)});
  }
  return mem;
}

uint64_t GuestMemory::total_size() const {
  uint64_t total = 0;
  for (const auto& r : regions_) total += r.range.size;
  return total;
}

std::optional<std::span<uint8_t>> GuestMemory::slice(uint64_t addr, uint64_t len) const {
  for (const auto& r : regions_) {
    if (addr < r.range.start || addr >= r.range.end()) continue;
    const uint64_t offset = addr - r.range.start;
    if (len > r.range.size - offset) return std::nullopt;
    return std::span<uint8_t>(r.mapping.data() + offset, len);
  }
  return std::nullopt;
}

bool GuestMemory::contains(uint64_t addr, uint64_t len) const { return slice(addr, len).has_value(); }

bool GuestMemory::try_read(uint64_t addr, std::span<uint8_t> out) const {
  auto s = slice(addr, out.size());
  if (!s) return false;
  if (!out.empty()) std::memcpy(out.data(), s->data(), out.size());
  return true;
}

bool GuestMemory::try_write(uint64_t addr, std::span<const uint8_t> in) const {
  auto s = slice(addr, in.size());
  if (!s) return false;
  if (!in.empty()) std::memcpy(s->data(), in.data(), in.size());
  return true;
}

void GuestMemory::read(uint64_t addr, std::span<uint8_t> out) const {
  if (!try_read(addr, out)) {
    throw Error(fmt::format("guest memory read of {} bytes at {:#x} is outside guest RAM", out.size(), addr));
  }
}

void GuestMemory::write(uint64_t addr, std::span<const uint8_t> in) const {
  if (!try_write(addr, in)) {
    throw Error(fmt::format("guest memory write of {} bytes at {:#x} is outside guest RAM", in.size(), addr));
  }
}

}  // namespace hearth
