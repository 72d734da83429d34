// The memory file: contents equal guest memory, zero pages are holes, writes are few and large, and a
// diff rebased onto its base gives the newer memory.
#include "vmm/snapshot/memory_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>

#include "tests/unit/error_of.h"
#include "tests/unit/snapshot/sample_state.h"
#include "vmm/base/fd.h"
#include "vmm/base/mapping.h"

namespace hearth::snapshot {
namespace {

using ::hearth::test::error_of;
using test::TempDir;

constexpr uint64_t P = kPageSize;

UniqueFd open_rw(const std::string& path) {
  UniqueFd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
  EXPECT_TRUE(fd.valid()) << path;
  return fd;
}

std::vector<uint8_t> read_all(int fd) {
  struct stat st{};
  EXPECT_EQ(::fstat(fd, &st), 0);
  std::vector<uint8_t> out(static_cast<size_t>(st.st_size));
  EXPECT_EQ(::pread(fd, out.data(), out.size(), 0), static_cast<ssize_t>(out.size()));
  return out;
}

// Data extents of `fd` as [start, end) byte ranges, by SEEK_DATA/SEEK_HOLE.
std::vector<std::pair<uint64_t, uint64_t>> extents(int fd) {
  std::vector<std::pair<uint64_t, uint64_t>> out;
  const off_t size = ::lseek(fd, 0, SEEK_END);
  off_t at = 0;
  while (at < size) {
    const off_t data = ::lseek(fd, at, SEEK_DATA);
    if (data < 0) break;
    const off_t hole = ::lseek(fd, data, SEEK_HOLE);
    out.emplace_back(static_cast<uint64_t>(data), static_cast<uint64_t>(hole));
    at = hole;
  }
  return out;
}

void fill_page(std::vector<uint8_t>& mem, uint64_t page, uint8_t value) {
  std::memset(mem.data() + page * P, value, P);
}

// Region A: 64 pages, data in 0-9, 20-39 and 41-63. Region B: 32 pages, only page 31 (its last byte).
struct TwoRegions {
  std::vector<uint8_t> a = std::vector<uint8_t>(64 * P, 0);
  std::vector<uint8_t> b = std::vector<uint8_t>(32 * P, 0);
  TwoRegions() {
    for (uint64_t p = 0; p < 64; ++p) {
      if (p < 10 || (p >= 20 && p != 40)) fill_page(a, p, static_cast<uint8_t>(p + 1));
    }
    b.back() = 0x5a;
  }
  std::vector<MemorySource> sources() const { return {{0, a}, {64 * P, b}}; }
  std::vector<uint8_t> concatenated() const {
    std::vector<uint8_t> all = a;
    all.insert(all.end(), b.begin(), b.end());
    return all;
  }
};

TEST(MemoryFile, PackLayoutPutsRegionsEndToEnd) {
  const auto layout = pack_layout({{0, 0x8000000}, {0x100000000, 0x200000}, {0x200000000, 0x1000}});
  ASSERT_EQ(layout.size(), 3u);
  EXPECT_EQ(layout[0].file_offset, 0u);
  EXPECT_EQ(layout[1].file_offset, 0x8000000u);
  EXPECT_EQ(layout[1].guest_addr, 0x100000000u);
  EXPECT_EQ(layout[2].file_offset, 0x8200000u);
  EXPECT_EQ(layout[2].size, 0x1000u);
}

TEST(MemoryFile, FullFileEqualsMemoryWithZeroPagesAsHoles) {
  TempDir dir;
  TwoRegions mem;
  UniqueFd fd = open_rw(dir / "mem");
  const MemoryWriteStats stats = write_full_memory(fd.get(), mem.sources(), "mem_file_path");
  EXPECT_EQ(read_all(fd.get()), mem.concatenated());
  // One call per run of non-zero pages: 0-9, 20-39, 41-63 in A and page 31 of B.
  EXPECT_EQ(stats.write_calls, 4u);
  EXPECT_EQ(stats.bytes_written, (10 + 20 + 23 + 1) * P);
  const std::vector<std::pair<uint64_t, uint64_t>> want = {
      {0, 10 * P}, {20 * P, 40 * P}, {41 * P, 64 * P}, {(64 + 31) * P, 96 * P}};
  EXPECT_EQ(extents(fd.get()), want);
  struct stat st{};
  ASSERT_EQ(::fstat(fd.get(), &st), 0);
  EXPECT_EQ(static_cast<uint64_t>(st.st_blocks) * 512, 54 * P);
}

TEST(MemoryFile, AReusedFileKeepsNoOldData) {
  TempDir dir;
  UniqueFd fd = open_rw(dir / "mem");
  const std::vector<uint8_t> junk(200 * P, 0xee);
  ASSERT_EQ(::pwrite(fd.get(), junk.data(), junk.size(), 0), static_cast<ssize_t>(junk.size()));
  TwoRegions mem;
  write_full_memory(fd.get(), mem.sources(), "mem_file_path");
  EXPECT_EQ(read_all(fd.get()), mem.concatenated());
}

TEST(MemoryFile, LargeMemoryIsWrittenInFewLargeCalls) {
  TempDir dir;
  UniqueFd fd = open_rw(dir / "mem");
  Mapping gib = Mapping::anonymous(1ull << 30);
  // Three data runs: 96 MiB (two calls at the 64 MiB cap), a page, and the last page.
  std::memset(gib.data() + (16ull << 20), 1, 96ull << 20);
  gib.data()[(512ull << 20) + 5] = 2;
  gib.data()[(1ull << 30) - 1] = 3;
  const MemoryWriteStats stats =
      write_full_memory(fd.get(), {{0, std::span<const uint8_t>(gib.data(), gib.size())}}, "mem_file_path");
  EXPECT_EQ(stats.write_calls, 4u);
  EXPECT_EQ(stats.bytes_written, (96ull << 20) + 2 * P);
  struct stat st{};
  ASSERT_EQ(::fstat(fd.get(), &st), 0);
  EXPECT_EQ(static_cast<uint64_t>(st.st_size), 1ull << 30);
  EXPECT_EQ(static_cast<uint64_t>(st.st_blocks) * 512, (96ull << 20) + 2 * P);
}

// A guest's untouched memory is most of it: Full must not read it (each read would map a zero page), so a
// 1 GiB guest with four touched pages costs four pages, not 262144 faults.
TEST(MemoryFile, UntouchedAnonymousPagesAreSkippedUnread) {
  TempDir dir;
  UniqueFd fd = open_rw(dir / "mem");
  Mapping gib = Mapping::anonymous(1ull << 30);
  for (uint64_t page : {0ull, 1000ull, 200000ull}) gib.data()[page * P + 7] = 0x42;
  std::memset(gib.data() + 5000 * P, 0, P);  // touched, yet zero: read, and still a hole
  MemorySource source{0, std::span<const uint8_t>(gib.data(), gib.size())};
  source.untouched_reads_as_zero = true;
  const MemoryWriteStats stats = write_full_memory(fd.get(), {source}, "mem_file_path");
  EXPECT_EQ(stats.bytes_written, 3 * P);
  EXPECT_EQ(extents(fd.get()), (std::vector<std::pair<uint64_t, uint64_t>>{
                                   {0, P}, {1000 * P, 1001 * P}, {200000 * P, 200001 * P}}));
  std::vector<unsigned char> resident((1ull << 30) / P);
  ASSERT_EQ(::mincore(gib.data(), gib.size(), resident.data()), 0);
  EXPECT_EQ(std::count_if(resident.begin(), resident.end(), [](unsigned char c) { return c & 1; }), 4);
}

TEST(MemoryFile, DiffHoldsDirtyPagesOnlyAndRebasesOntoItsBase) {
  TempDir dir;
  TwoRegions old_mem;
  UniqueFd base = open_rw(dir / "base");
  write_full_memory(base.get(), old_mem.sources(), "mem_file_path");

  // The guest writes pages 5 (new data), 12 (was a hole), 13 and 40 (zeroed: page 40 already was) in A
  // and page 31 of B back to zero.
  TwoRegions new_mem = old_mem;
  fill_page(new_mem.a, 5, 0xa5);
  fill_page(new_mem.a, 12, 0x12);
  fill_page(new_mem.a, 13, 0x13);
  fill_page(new_mem.a, 40, 0);
  new_mem.b.back() = 0;
  std::vector<std::vector<uint64_t>> dirty = {{(1ull << 5) | (1ull << 12) | (1ull << 13) | (1ull << 40)},
                                              {1ull << 31}};
  UniqueFd diff = open_rw(dir / "diff");
  const MemoryWriteStats stats = write_diff_memory(diff.get(), new_mem.sources(), dirty, "mem_file_path");
  EXPECT_EQ(stats.write_calls, 4u);  // runs: 5, 12-13, 40, B's 31
  EXPECT_EQ(stats.bytes_written, 5 * P);
  // Dirty zero pages are data: they must overwrite the base's page.
  const std::vector<std::pair<uint64_t, uint64_t>> want = {
      {5 * P, 6 * P}, {12 * P, 14 * P}, {40 * P, 41 * P}, {95 * P, 96 * P}};
  EXPECT_EQ(extents(diff.get()), want);

  const MemoryWriteStats rebased = rebase_memory(base.get(), diff.get());
  EXPECT_EQ(rebased.bytes_written, 5 * P);
  EXPECT_EQ(read_all(base.get()), new_mem.concatenated());

  UniqueFd full = open_rw(dir / "full");
  write_full_memory(full.get(), new_mem.sources(), "mem_file_path");
  EXPECT_EQ(read_all(base.get()), read_all(full.get()));
}

TEST(MemoryFile, RebaseAcrossFilesystemsCopiesTheSameBytes) {
  TempDir dir;
  char shm_tmpl[] = "/dev/shm/hearth-rebase-XXXXXX";
  UniqueFd base(::mkstemp(shm_tmpl));
  if (!base) GTEST_SKIP() << "no /dev/shm";
  ::unlink(shm_tmpl);
  TwoRegions old_mem;
  write_full_memory(base.get(), old_mem.sources(), "mem_file_path");
  TwoRegions new_mem = old_mem;
  fill_page(new_mem.a, 63, 0x63);
  fill_page(new_mem.b, 0, 0x64);
  UniqueFd diff = open_rw(dir / "diff");
  write_diff_memory(diff.get(), new_mem.sources(), {{1ull << 63}, {1}}, "mem_file_path");
  EXPECT_EQ(rebase_memory(base.get(), diff.get()).bytes_written, 2 * P);
  EXPECT_EQ(read_all(base.get()), new_mem.concatenated());
}

TEST(MemoryFile, RebaseRefusesADiffLongerThanItsBase) {
  TempDir dir;
  UniqueFd base = open_rw(dir / "base");
  UniqueFd diff = open_rw(dir / "diff");
  ASSERT_EQ(::ftruncate(base.get(), 8 * P), 0);
  ASSERT_EQ(::ftruncate(diff.get(), 9 * P), 0);
  EXPECT_EQ(error_of([&] { rebase_memory(base.get(), diff.get()); }),
            "rebase: the diff file is 36864 bytes, larger than the base file's 32768: it belongs to another snapshot");
}

TEST(MemoryFile, DiffBitmapsMustCoverEveryPage) {
  TempDir dir;
  TwoRegions mem;
  UniqueFd fd = open_rw(dir / "diff");
  EXPECT_EQ(error_of([&] { write_diff_memory(fd.get(), mem.sources(), {{0}}, "mem_file_path"); }),
            "mem_file_path: 1 dirty bitmaps for 2 memory regions");
  std::vector<uint8_t> big(65 * P, 0);
  EXPECT_EQ(error_of([&] { write_diff_memory(fd.get(), {{0, big}}, {{0}}, "mem_file_path"); }),
            "mem_file_path: region 0 has 65 pages, so its dirty bitmap needs 2 words, not 1");
}

TEST(MemoryFile, WriteErrorsNameWhat) {
  TempDir dir;
  TwoRegions mem;
  UniqueFd ro(::open((dir / "ro").c_str(), O_RDONLY | O_CREAT | O_CLOEXEC, 0600));
  ASSERT_TRUE(ro.valid());
  EXPECT_EQ(error_of([&] { write_full_memory(ro.get(), mem.sources(), "mem_file_path"); }),
            "mem_file_path: truncating the memory file: Invalid argument");
  UniqueFd append(::open((dir / "append").c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600));
  EXPECT_EQ(error_of([&] { write_full_memory(append.get(), mem.sources(), "mem_file_path"); }),
            "mem_file_path: the file is open for appending; memory pages need positioned writes");
  EXPECT_EQ(error_of([&] { rebase_memory(append.get(), ro.get()); }),
            "rebase: the base file: the file is open for appending; memory pages need positioned writes");
  EXPECT_EQ(error_of([&] { write_full_memory(ro.get(), {{100, mem.a}}, "mem_file_path"); }),
            "mem_file_path: region 0 starts at file offset 0x64, not a multiple of 4096");
}

TEST(MemoryFile, CheckMemoryFileSizeNamesTheNeedAndTheSize) {
  const auto layout = pack_layout({{0, 0x8000000}, {0x100000000, 0x200000}});
  check_memory_file_size(layout, 0x8200000, "mem_file_path");
  check_memory_file_size(layout, 0x9000000, "mem_file_path");
  check_memory_file_size({}, 0, "mem_file_path");
  EXPECT_EQ(error_of([&] { check_memory_file_size(layout, 0x81fffff, "mem_backend.backend_path"); }),
            "mem_backend.backend_path: the memory file is 136314879 bytes, but the snapshot's 2 memory regions need "
            "136314880 bytes");
  EXPECT_EQ(error_of([&] { check_memory_file_size({{0, 0x2000, ~0ull - 0xfff}}, ~0ull, "m"); }),
            "m: a region at file offset 0xfffffffffffff000 of 8192 bytes ends beyond 2^64");
}

}  // namespace
}  // namespace hearth::snapshot
