#pragma once
// The snapshot memory file: guest RAM regions laid end to end (MemoryRegionLayout::file_offset).
// Full files leave never-written (all-zero) pages as holes; diff files hold only dirty pages, each at
// its own offset, so copying a diff's data extents over its base gives the newer memory.
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "vmm/snapshot/state_file.h"

namespace hearth::snapshot {

inline constexpr uint64_t kPageSize = 4096;

// One region's bytes as the VMM sees them, and where they go in the file.
struct MemorySource {
  uint64_t file_offset = 0;
  std::span<const uint8_t> bytes;  // page-aligned length
  // Anonymous memory of this process: pages /proc/self/pagemap shows neither present nor swapped were never
  // touched and are zero, so Full skips them without reading (reading would map a zero page for each).
  bool untouched_reads_as_zero = false;
};

struct MemoryWriteStats {
  uint64_t bytes_written = 0;  // data bytes, holes excluded
  uint64_t write_calls = 0;    // pwrite/pwritev calls made
};

// The layout for `sizes` regions at `guest_addrs`, packed end to end from offset 0.
std::vector<MemoryRegionLayout> pack_layout(const std::vector<std::pair<uint64_t, uint64_t>>& guest_addr_and_size);

// Writes every region at its offset with large writes (runs of non-zero pages, many pages per call); all-zero
// pages stay holes. Truncates `fd` to the end of the last region first. Throws Error naming `what` on failure.
MemoryWriteStats write_full_memory(int fd, const std::vector<MemorySource>& regions, std::string_view what);
// Writes the pages whose bit is set in dirty_bitmaps[r] (bit i of word i/64 = page i of region r, as
// KVM_GET_DIRTY_LOG), runs of pages per call, zero pages included; the rest stays holes.
MemoryWriteStats write_diff_memory(int fd, const std::vector<MemorySource>& regions,
                                   const std::vector<std::vector<uint64_t>>& dirty_bitmaps, std::string_view what);

// Copies every data extent of `diff_fd` (SEEK_DATA/SEEK_HOLE) into `base_fd` at the same offset: Firecracker's
// rebase-snap. Throws Error when the diff is larger than the base or a read/write fails.
MemoryWriteStats rebase_memory(int base_fd, int diff_fd);

// Throws Error naming `what` unless a file of `file_bytes` holds every region of `layout`.
void check_memory_file_size(const std::vector<MemoryRegionLayout>& layout, uint64_t file_bytes, std::string_view what);

}  // namespace hearth::snapshot
