// The memory file: regions at their file offsets; zero pages (Full) or clean pages (Diff) stay holes.
#include "vmm/snapshot/memory_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <limits>
#include <memory>

#include <fmt/format.h>

#include "vmm/base/error.h"
#include "vmm/memory/touched_pages.h"
#include "vmm/base/fd.h"

namespace hearth::snapshot {
namespace {

// One pwrite never carries more than this: bounded latency per call, still few calls per GiB.
constexpr uint64_t kMaxWriteBytes = 64ull << 20;
// The bounce buffer of rebase's pread/pwrite fallback.
constexpr size_t kCopyBufferBytes = 8u << 20;

[[noreturn]] void fail_errno(std::string_view what, std::string_view action) {
  const int saved = errno;
  throw Error(fmt::format("{}: {}: {}", what, action, std::strerror(saved)));
}

// Writes [data, data+len) at `offset`, in calls of at most kMaxWriteBytes, retrying short writes.
void write_run(int fd, const uint8_t* data, uint64_t len, uint64_t offset, MemoryWriteStats& stats,
               std::string_view what) {
  while (len > 0) {
    const size_t chunk = static_cast<size_t>(std::min(len, kMaxWriteBytes));
    const ssize_t n = ::pwrite(fd, data, chunk, static_cast<off_t>(offset));
    ++stats.write_calls;
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) fail_errno(what, fmt::format("writing {} bytes at offset 0x{:x}", chunk, offset));
    if (n == 0) throw Error(fmt::format("{}: writing at offset 0x{:x} made no progress", what, offset));
    data += n;
    len -= static_cast<uint64_t>(n);
    offset += static_cast<uint64_t>(n);
    stats.bytes_written += static_cast<uint64_t>(n);
  }
}

// pwrite on an O_APPEND fd writes at the end whatever the offset (open_host_file's create mode sets it).
void check_not_append(int fd, std::string_view what) {
  const int flags = ::fcntl(fd, F_GETFL);
  if (flags < 0) fail_errno(what, "reading the memory file's flags");
  if (flags & O_APPEND) {
    throw Error(fmt::format("{}: the file is open for appending; memory pages need positioned writes", what));
  }
}

uint64_t pages_of(uint64_t bytes) { return (bytes + kPageSize - 1) / kPageSize; }

// Empties `fd` and sizes it to hold every region, so pages never written read back as zero holes.
void reset_file(int fd, const std::vector<MemorySource>& regions, std::string_view what) {
  check_not_append(fd, what);
  uint64_t end = 0;
  for (size_t i = 0; i < regions.size(); ++i) {
    const MemorySource& r = regions[i];
    if (r.file_offset % kPageSize != 0) {
      throw Error(fmt::format("{}: region {} starts at file offset 0x{:x}, not a multiple of {}", what, i,
                              r.file_offset, kPageSize));
    }
    if (r.file_offset > std::numeric_limits<uint64_t>::max() - r.bytes.size()) {
      throw Error(fmt::format("{}: region {} ends beyond 2^64", what, i));
    }
    end = std::max<uint64_t>(end, r.file_offset + r.bytes.size());
  }
  if (end > static_cast<uint64_t>(std::numeric_limits<off_t>::max())) {
    throw Error(fmt::format("{}: the memory file would be {} bytes, beyond the largest file offset", what, end));
  }
  if (::ftruncate(fd, 0) != 0) fail_errno(what, "truncating the memory file");
  if (::ftruncate(fd, static_cast<off_t>(end)) != 0) {
    fail_errno(what, fmt::format("sizing the memory file to {} bytes", end));
  }
}

// A page run [first, end) of region `r`, written as one run.
void write_pages(int fd, const MemorySource& r, uint64_t first, uint64_t end, MemoryWriteStats& stats,
                 std::string_view what) {
  const uint64_t from = first * kPageSize;
  const uint64_t to = std::min<uint64_t>(end * kPageSize, r.bytes.size());
  write_run(fd, r.bytes.data() + from, to - from, r.file_offset + from, stats, what);
}

bool bit_set(const std::vector<uint64_t>& bitmap, uint64_t page) { return (bitmap[page / 64] >> (page % 64)) & 1; }

// Copies [offset, offset+len) of `from` into `to` at the same offset.
void copy_extent(int to, int from, uint64_t offset, uint64_t len, std::unique_ptr<uint8_t[]>& buffer,
                 MemoryWriteStats& stats) {
  bool use_copy_range = !buffer;
  while (len > 0) {
    if (use_copy_range) {
      loff_t in = static_cast<loff_t>(offset);
      loff_t out = static_cast<loff_t>(offset);
      const ssize_t n = ::copy_file_range(from, &in, to, &out, static_cast<size_t>(std::min(len, kMaxWriteBytes)), 0);
      ++stats.write_calls;
      if (n > 0) {
        offset += static_cast<uint64_t>(n);
        len -= static_cast<uint64_t>(n);
        stats.bytes_written += static_cast<uint64_t>(n);
        continue;
      }
      if (n < 0 && errno == EINTR) continue;
      // Not supported here (old kernel, across filesystems, special files): copy through a buffer instead.
      if (n < 0 && errno != EXDEV && errno != EINVAL && errno != ENOSYS && errno != EOPNOTSUPP && errno != EPERM) {
        fail_errno("rebase", fmt::format("copying {} bytes at offset 0x{:x}", len, offset));
      }
      use_copy_range = false;
      buffer.reset(new uint8_t[kCopyBufferBytes]);
      continue;
    }
    const size_t chunk = static_cast<size_t>(std::min<uint64_t>(len, kCopyBufferBytes));
    const ssize_t n = ::pread(from, buffer.get(), chunk, static_cast<off_t>(offset));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) fail_errno("rebase", fmt::format("reading the diff at offset 0x{:x}", offset));
    if (n == 0) throw Error(fmt::format("rebase: the diff shrank while it was read (at offset 0x{:x})", offset));
    write_run(to, buffer.get(), static_cast<uint64_t>(n), offset, stats, "rebase: writing the base");
    offset += static_cast<uint64_t>(n);
    len -= static_cast<uint64_t>(n);
  }
}

uint64_t file_size(int fd, std::string_view which) {
  struct stat st{};
  if (::fstat(fd, &st) != 0) fail_errno("rebase", fmt::format("stat of the {} file", which));
  if (!S_ISREG(st.st_mode)) throw Error(fmt::format("rebase: the {} file is not a regular file", which));
  return static_cast<uint64_t>(st.st_size);
}

}  // namespace

std::vector<MemoryRegionLayout> pack_layout(const std::vector<std::pair<uint64_t, uint64_t>>& guest_addr_and_size) {
  std::vector<MemoryRegionLayout> layout;
  uint64_t offset = 0;
  for (const auto& [addr, size] : guest_addr_and_size) {
    if (offset > std::numeric_limits<uint64_t>::max() - size) throw Error("memory layout: regions exceed 2^64 bytes");
    layout.push_back({addr, size, offset});
    offset += size;
  }
  return layout;
}

MemoryWriteStats write_full_memory(int fd, const std::vector<MemorySource>& regions, std::string_view what) {
  reset_file(fd, regions, what);
  MemoryWriteStats stats;
  for (const MemorySource& r : regions) {
    const uint64_t pages = pages_of(r.bytes.size());
    uint64_t page = 0;
    auto touched = r.untouched_reads_as_zero ? std::make_unique<TouchedPages>(r.bytes.data()) : nullptr;
    while (page < pages) {
      auto zero = [&](uint64_t p) {
        if (touched && !touched->touched(p)) return true;
        const uint64_t at = p * kPageSize;
        return page_is_zero(r.bytes.data() + at, static_cast<size_t>(std::min(kPageSize, r.bytes.size() - at)));
      };
      while (page < pages && zero(page)) ++page;
      const uint64_t first = page;
      while (page < pages && !zero(page)) ++page;
      if (page > first) write_pages(fd, r, first, page, stats, what);
    }
  }
  return stats;
}

MemoryWriteStats write_diff_memory(int fd, const std::vector<MemorySource>& regions,
                                   const std::vector<std::vector<uint64_t>>& dirty_bitmaps, std::string_view what) {
  if (dirty_bitmaps.size() != regions.size()) {
    throw Error(fmt::format("{}: {} dirty bitmaps for {} memory regions", what, dirty_bitmaps.size(), regions.size()));
  }
  for (size_t i = 0; i < regions.size(); ++i) {
    const uint64_t words = (pages_of(regions[i].bytes.size()) + 63) / 64;
    if (dirty_bitmaps[i].size() < words) {
      throw Error(fmt::format("{}: region {} has {} pages, so its dirty bitmap needs {} words, not {}", what, i,
                              pages_of(regions[i].bytes.size()), words, dirty_bitmaps[i].size()));
    }
  }
  reset_file(fd, regions, what);
  MemoryWriteStats stats;
  for (size_t i = 0; i < regions.size(); ++i) {
    const MemorySource& r = regions[i];
    const std::vector<uint64_t>& bitmap = dirty_bitmaps[i];
    const uint64_t pages = pages_of(r.bytes.size());
    uint64_t page = 0;
    while (page < pages) {
      // Clean stretches are skipped a word at a time.
      if (page % 64 == 0 && bitmap[page / 64] == 0) {
        page += 64;
        continue;
      }
      if (!bit_set(bitmap, page)) {
        ++page;
        continue;
      }
      const uint64_t first = page;
      while (page < pages && bit_set(bitmap, page)) ++page;
      write_pages(fd, r, first, page, stats, what);
    }
  }
  return stats;
}

MemoryWriteStats rebase_memory(int base_fd, int diff_fd) {
  const uint64_t base_bytes = file_size(base_fd, "base");
  const uint64_t diff_bytes = file_size(diff_fd, "diff");
  if (diff_bytes > base_bytes) {
    throw Error(fmt::format("rebase: the diff file is {} bytes, larger than the base file's {}: it belongs to "
                            "another snapshot",
                            diff_bytes, base_bytes));
  }
  check_not_append(base_fd, "rebase: the base file");
  MemoryWriteStats stats;
  std::unique_ptr<uint8_t[]> buffer;  // allocated only when copy_file_range cannot be used
  off_t at = 0;
  while (static_cast<uint64_t>(at) < diff_bytes) {
    const off_t data = ::lseek(diff_fd, at, SEEK_DATA);
    if (data < 0 && errno == ENXIO) break;  // only holes remain
    if (data < 0) fail_errno("rebase", fmt::format("finding data in the diff after offset 0x{:x}", at));
    off_t hole = ::lseek(diff_fd, data, SEEK_HOLE);
    if (hole < 0) fail_errno("rebase", fmt::format("finding the end of the data at offset 0x{:x}", data));
    hole = std::min<off_t>(hole, static_cast<off_t>(diff_bytes));
    copy_extent(base_fd, diff_fd, static_cast<uint64_t>(data), static_cast<uint64_t>(hole - data), buffer, stats);
    at = hole;
  }
  if (::fsync(base_fd) != 0) fail_errno("rebase", "fsync of the base file");
  return stats;
}

void check_memory_file_size(const std::vector<MemoryRegionLayout>& layout, uint64_t file_bytes, std::string_view what) {
  uint64_t need = 0;
  for (const MemoryRegionLayout& r : layout) {
    if (r.file_offset > std::numeric_limits<uint64_t>::max() - r.size) {
      throw Error(fmt::format("{}: a region at file offset 0x{:x} of {} bytes ends beyond 2^64", what, r.file_offset,
                              r.size));
    }
    need = std::max(need, r.file_offset + r.size);
  }
  if (file_bytes < need) {
    throw Error(fmt::format("{}: the memory file is {} bytes, but the snapshot's {} memory regions need {} bytes",
                            what, file_bytes, layout.size(), need));
  }
}

}  // namespace hearth::snapshot
