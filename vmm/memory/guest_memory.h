#pragma once
// Guest physical memory: a few host mappings, each at a guest address.
// Every access is bounds-checked; guest-supplied addresses are hostile input.
//
// Dirty tracking: KVM's dirty log sees only guest CPU writes, so with enable_dirty_tracking() every write
// the VMM makes through this class (write*, and the mutable slice() it hands out) is also recorded in a
// bitmap per region. Read-only access goes through view(), which marks nothing.
#include <atomic>
#include <cstdint>
#include <cstring>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <type_traits>
#include <vector>

#include "vmm/base/mapping.h"

namespace hearth {

struct GuestRange {
  uint64_t start = 0;
  uint64_t size = 0;
  uint64_t end() const { return start + size; }
};

class GuestMemory {
 public:
  struct Region {
    GuestRange range;
    Mapping mapping;
    // True for plain anonymous memory: a page the process never touched reads as zero, so a snapshot may
    // skip it unread. False for a file mapping or memory another process fills (userfaultfd).
    bool untouched_reads_as_zero = true;
    // The host page size backing it (2 MiB for hugetlb): the unit a userfaultfd handler must copy.
    uint64_t host_page_size = 4096;
  };

  // Maps one anonymous region per range. Ranges must be page-aligned, non-empty and disjoint (2 MiB-aligned
  // for huge pages). With kHugetlb2M a host pool too small for all ranges is an Error naming how many 2 MiB
  // pages are needed and how many are free, before anything is mapped.
  static GuestMemory create_anonymous(const std::vector<GuestRange>& ranges,
                                      AnonymousPages pages = AnonymousPages::kHost);
  // The host's 2 MiB pool: pages neither in use nor promised to another mapping.
  static uint64_t free_huge_pages_2m();
  // Maps ranges[i] from `fd` at file_offsets[i], private: a snapshot's memory file loads page by page on
  // first touch and many VMs share its page cache. The caller has checked the file is large enough.
  static GuestMemory create_from_file(const std::vector<GuestRange>& ranges, int fd,
                                      const std::vector<uint64_t>& file_offsets);

  const std::vector<Region>& regions() const { return regions_; }
  // For memory whose untouched pages another process fills (a userfaultfd handler): never take them as zero.
  void mark_filled_elsewhere();
  uint64_t total_size() const;

  // True when [addr, addr+len) lies inside one region (no overflow, len 0 allowed at a valid addr).
  bool contains(uint64_t addr, uint64_t len) const;

  // Writable host view of [addr, addr+len) when it lies inside one region; nullopt otherwise.
  // Marks the range dirty when handed out: the caller is taken to write it. A caller whose writes may race
  // take_vmm_dirty_bitmaps() (live migration) calls mark_dirty() again once it has written.
  std::optional<std::span<uint8_t>> slice(uint64_t addr, uint64_t len) const;
  // Read-only host view; marks nothing.
  std::optional<std::span<const uint8_t>> view(uint64_t addr, uint64_t len) const;

  // Bitmap granularity, as KVM_GET_DIRTY_LOG on x86.
  static constexpr uint64_t kDirtyPageSize = 4096;
  // Starts (stops) recording the VMM's writes; safe while devices run (live migration turns it on late).
  void enable_dirty_tracking() const { tracking_->store(true, std::memory_order_release); }
  void disable_dirty_tracking() const { tracking_->store(false, std::memory_order_release); }
  bool dirty_tracking() const { return tracking_ && tracking_->load(std::memory_order_acquire); }
  // Marks the pages of [addr, addr+len) written; the part outside the region holding addr is ignored.
  // Nothing (one branch) when tracking is off.
  void mark_dirty(uint64_t addr, uint64_t len) const;
  // Per region (in regions() order), bit i of word i/64 set when page i was written by the VMM since the
  // previous call, the layout of KVM_GET_DIRTY_LOG; clears them. All zero when tracking is off.
  std::vector<std::vector<uint64_t>> take_vmm_dirty_bitmaps() const;

  // Gives the host pages of [addr, addr+len) back (a balloon's inflated or reported pages), shrunk inward to
  // whole host pages of its region: MADV_DONTNEED, so anonymous memory reads as zero again and a private
  // file mapping (snapshot File backend) reads the file again; hugetlb regions only drop whole 2 MiB pages
  // inside the range. Returns the bytes given back; 0 when the range is not inside one region or the
  // kernel refused. Marks the pages dirty (their content changed). Safe while vCPUs run.
  uint64_t discard(uint64_t addr, uint64_t len) const;

  // Non-throwing access for device code: false when out of range.
  bool try_read(uint64_t addr, std::span<uint8_t> out) const;
  bool try_write(uint64_t addr, std::span<const uint8_t> in) const;

  // Throwing access for the loader and builder: Error names the address.
  void read(uint64_t addr, std::span<uint8_t> out) const;
  void write(uint64_t addr, std::span<const uint8_t> in) const;

  template <typename T>
  std::optional<T> try_read_obj(uint64_t addr) const {
    static_assert(std::is_trivially_copyable_v<T>);
    T value;
    if (!try_read(addr, std::span(reinterpret_cast<uint8_t*>(&value), sizeof(T)))) return std::nullopt;
    return value;
  }
  template <typename T>
  bool try_write_obj(uint64_t addr, const T& value) const {
    static_assert(std::is_trivially_copyable_v<T>);
    return try_write(addr, std::span(reinterpret_cast<const uint8_t*>(&value), sizeof(T)));
  }
  template <typename T>
  T read_obj(uint64_t addr) const {
    static_assert(std::is_trivially_copyable_v<T>);
    T value;
    read(addr, std::span(reinterpret_cast<uint8_t*>(&value), sizeof(T)));
    return value;
  }
  template <typename T>
  void write_obj(uint64_t addr, const T& value) const {
    static_assert(std::is_trivially_copyable_v<T>);
    write(addr, std::span(reinterpret_cast<const uint8_t*>(&value), sizeof(T)));
  }

 private:
  struct Located {
    size_t region;
    uint64_t offset;
  };
  std::optional<Located> locate(uint64_t addr, uint64_t len) const;
  void allocate_dirty_bitmaps();
  void mark_pages(size_t region, uint64_t offset, uint64_t len) const;

  std::vector<Region> regions_;
  // One array of words per region (1 bit per page, 32 KiB per GiB), filled while tracking_ is set.
  // Words only ever gain bits except in take_vmm_dirty_bitmaps().
  std::vector<std::unique_ptr<std::atomic<uint64_t>[]>> dirty_;
  std::unique_ptr<std::atomic<bool>> tracking_ = std::make_unique<std::atomic<bool>>(false);
};

}  // namespace hearth
