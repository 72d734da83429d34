#include "vmm/memory/guest_memory.h"

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>

#include "vmm/base/error.h"

namespace hearth {

namespace {

uint64_t host_page_size() { return static_cast<uint64_t>(::sysconf(_SC_PAGESIZE)); }

// Checks `ranges` (page-aligned, non-empty, disjoint) and returns the indices in address order.
std::vector<size_t> checked_order(const std::vector<GuestRange>& ranges) {
  const uint64_t page = host_page_size();
  std::vector<size_t> order(ranges.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return ranges[a].start < ranges[b].start; });
  for (size_t k = 0; k < order.size(); ++k) {
    const GuestRange& r = ranges[order[k]];
    if (r.size == 0 || r.start % page || r.size % page) {
      throw Error(fmt::format("guest memory range {:#x}+{:#x} is empty or not page-aligned", r.start, r.size));
    }
    if (r.end() < r.start || (k > 0 && ranges[order[k - 1]].end() > r.start)) {
      throw Error(fmt::format("guest memory range {:#x}+{:#x} overlaps or wraps", r.start, r.size));
    }
  }
  return order;
}

constexpr const char* kHugePool2M = "/sys/kernel/mm/hugepages/hugepages-2048kB";

// One counter of the 2 MiB pool; 0 when the host has no such pool (no hugetlbfs support).
uint64_t read_pool_counter(const char* name) {
  std::ifstream in(fmt::format("{}/{}", kHugePool2M, name));
  uint64_t value = 0;
  if (!(in >> value)) return 0;
  return value;
}

void check_huge_aligned(const std::vector<GuestRange>& ranges) {
  for (const GuestRange& r : ranges) {
    if (r.start % kHugePageSize || r.size % kHugePageSize) {
      throw Error(fmt::format("guest memory range {:#x}+{:#x} is not 2 MiB-aligned for huge pages", r.start, r.size));
    }
  }
}

// The error for a pool too small for the guest.
Error short_pool(uint64_t needed, uint64_t available) {
  return Error(fmt::format("machine-config.huge_pages: \"2M\" needs {} free 2 MiB huge pages ({} MiB of guest memory), "
                           "the host has {} free ({}/free_hugepages minus resv_hugepages); reserve more through "
                           "/proc/sys/vm/nr_hugepages",
                           needed, needed * 2, available, kHugePool2M));
}

}  // namespace

uint64_t GuestMemory::free_huge_pages_2m() {
  const uint64_t free = read_pool_counter("free_hugepages");
  const uint64_t reserved = read_pool_counter("resv_hugepages");
  return free > reserved ? free - reserved : 0;
}

GuestMemory GuestMemory::create_anonymous(const std::vector<GuestRange>& ranges, AnonymousPages pages) {
  const auto order = checked_order(ranges);
  if (pages != AnonymousPages::kHost) check_huge_aligned(ranges);
  uint64_t needed = 0;
  for (const GuestRange& r : ranges) needed += r.size / kHugePageSize;
  if (pages == AnonymousPages::kHugetlb2M && needed > free_huge_pages_2m()) throw short_pool(needed, free_huge_pages_2m());
  GuestMemory mem;
  for (size_t i : order) {
    try {
      const uint64_t page = pages == AnonymousPages::kHugetlb2M ? kHugePageSize : host_page_size();
      mem.regions_.push_back(Region{ranges[i], Mapping::anonymous(ranges[i].size, pages), true, page});
    } catch (const Error&) {
      // Another process took pages between the check and the mmap: say so rather than "Cannot allocate memory".
      // The regions mapped so far are released with `mem`.
      if (pages == AnonymousPages::kHugetlb2M && needed > free_huge_pages_2m()) throw short_pool(needed, free_huge_pages_2m());
      throw;
    }
  }
  mem.allocate_dirty_bitmaps();
  return mem;
}

GuestMemory GuestMemory::create_from_file(const std::vector<GuestRange>& ranges, int fd,
                                          const std::vector<uint64_t>& file_offsets) {
  if (file_offsets.size() != ranges.size()) throw Error("guest memory: one file offset per range is needed");
  GuestMemory mem;
  for (size_t i : checked_order(ranges)) {
    mem.regions_.push_back(
        Region{ranges[i], Mapping::file_private(fd, file_offsets[i], ranges[i].size), false, host_page_size()});
  }
  mem.allocate_dirty_bitmaps();
  return mem;
}

void GuestMemory::mark_filled_elsewhere() {
  for (auto& r : regions_) r.untouched_reads_as_zero = false;
}

uint64_t GuestMemory::total_size() const {
  uint64_t total = 0;
  for (const auto& r : regions_) total += r.range.size;
  return total;
}

std::optional<GuestMemory::Located> GuestMemory::locate(uint64_t addr, uint64_t len) const {
  for (size_t i = 0; i < regions_.size(); ++i) {
    const GuestRange& r = regions_[i].range;
    if (addr < r.start || addr >= r.end()) continue;
    const uint64_t offset = addr - r.start;
    if (len > r.size - offset) return std::nullopt;
    return Located{i, offset};
  }
  return std::nullopt;
}

std::optional<std::span<uint8_t>> GuestMemory::slice(uint64_t addr, uint64_t len) const {
  auto at = locate(addr, len);
  if (!at) return std::nullopt;
  mark_pages(at->region, at->offset, len);
  return std::span<uint8_t>(regions_[at->region].mapping.data() + at->offset, len);
}

std::optional<std::span<const uint8_t>> GuestMemory::view(uint64_t addr, uint64_t len) const {
  auto at = locate(addr, len);
  if (!at) return std::nullopt;
  return std::span<const uint8_t>(regions_[at->region].mapping.data() + at->offset, len);
}

bool GuestMemory::contains(uint64_t addr, uint64_t len) const { return locate(addr, len).has_value(); }

bool GuestMemory::try_read(uint64_t addr, std::span<uint8_t> out) const {
  auto s = view(addr, out.size());
  if (!s) return false;
  if (!out.empty()) std::memcpy(out.data(), s->data(), out.size());
  return true;
}

bool GuestMemory::try_write(uint64_t addr, std::span<const uint8_t> in) const {
  auto at = locate(addr, in.size());
  if (!at) return false;
  if (!in.empty()) std::memcpy(regions_[at->region].mapping.data() + at->offset, in.data(), in.size());
  mark_pages(at->region, at->offset, in.size());  // after the copy, so a concurrent take cannot miss it
  return true;
}

uint64_t GuestMemory::discard(uint64_t addr, uint64_t len) const {
  auto at = locate(addr, len);
  if (!at || len == 0) return 0;
  const Region& region = regions_[at->region];
  const uint64_t page = region.host_page_size;
  const uint64_t first = (at->offset + page - 1) / page * page;
  const uint64_t last = (at->offset + len) / page * page;
  if (last <= first) return 0;
  // MADV_DONTNEED, not MADV_REMOVE: every backing here is a private mapping (anonymous, hugetlb or a
  // snapshot file), where it drops the pages without touching any file; hugetlb needs Linux 5.18.
  if (::madvise(region.mapping.data() + first, last - first, MADV_DONTNEED) != 0) return 0;
  mark_pages(at->region, first, last - first);
  return last - first;
}

void GuestMemory::allocate_dirty_bitmaps() {
  for (const auto& r : regions_) {
    const uint64_t words = ((r.range.size + kDirtyPageSize - 1) / kDirtyPageSize + 63) / 64;
    dirty_.push_back(std::make_unique<std::atomic<uint64_t>[]>(words));  // value-initialised: zero
  }
}

void GuestMemory::mark_dirty(uint64_t addr, uint64_t len) const {
  if (len == 0 || !dirty_tracking()) return;
  for (size_t i = 0; i < regions_.size(); ++i) {
    const GuestRange& r = regions_[i].range;
    if (addr < r.start || addr >= r.end()) continue;
    const uint64_t offset = addr - r.start;
    mark_pages(i, offset, std::min(len, r.size - offset));
    return;
  }
}

void GuestMemory::mark_pages(size_t region, uint64_t offset, uint64_t len) const {
  if (len == 0 || !dirty_tracking()) return;
  std::atomic<uint64_t>* words = dirty_[region].get();
  const uint64_t first = offset / kDirtyPageSize;
  const uint64_t last = (offset + len - 1) / kDirtyPageSize;
  for (uint64_t page = first; page <= last;) {
    const uint64_t word = page / 64;
    const uint64_t lo = page % 64;
    const uint64_t hi = std::min<uint64_t>(63, lo + (last - page));
    const uint64_t mask = (hi == 63 ? ~uint64_t{0} : (uint64_t{1} << (hi + 1)) - 1) & ~((uint64_t{1} << lo) - 1);
    // Always the RMW, never "load, skip if set": a plain load could pass a concurrent take's clear and
    // lose the page. Release pairs with the take's acquire, so a taker that sees the bit sees the data.
    words[word].fetch_or(mask, std::memory_order_release);
    page += hi - lo + 1;
  }
}

std::vector<std::vector<uint64_t>> GuestMemory::take_vmm_dirty_bitmaps() const {
  std::vector<std::vector<uint64_t>> out;
  for (size_t i = 0; i < regions_.size(); ++i) {
    const uint64_t words = ((regions_[i].range.size + kDirtyPageSize - 1) / kDirtyPageSize + 63) / 64;
    std::vector<uint64_t>& bitmap = out.emplace_back(words, 0);
    if (dirty_.empty()) continue;
    for (uint64_t w = 0; w < words; ++w) bitmap[w] = dirty_[i][w].exchange(0, std::memory_order_acquire);
  }
  return out;
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
