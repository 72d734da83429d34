#include "vmm/memory/guest_memory.h"

#include <gtest/gtest.h>

#include <array>
#include <atomic>
#include <cstdint>
#include <limits>
#include <set>
#include <thread>
#include <vector>

#include "vmm/base/error.h"

namespace hearth {
namespace {

GuestMemory two_regions() {
  return GuestMemory::create_anonymous({{0, 0x10000}, {0x100000, 0x2000}});
}

TEST(GuestMemory, ReadWriteRoundTripInsideRegion) {
  auto mem = two_regions();
  mem.write_obj<uint64_t>(0x100ff8, 0x1122334455667788ULL);
  EXPECT_EQ(mem.read_obj<uint64_t>(0x100ff8), 0x1122334455667788ULL);
  EXPECT_EQ(mem.total_size(), 0x12000u);
}

TEST(GuestMemory, RejectsAccessCrossingRegionEnd) {
  auto mem = two_regions();
  std::array<uint8_t, 8> buf{};
  EXPECT_FALSE(mem.try_read(0xfffc, buf));
  EXPECT_FALSE(mem.try_write(0x101ffc, buf));
  EXPECT_THROW(mem.read(0x10000, buf), Error);
}

TEST(GuestMemory, RejectsHolesAndOverflow) {
  auto mem = two_regions();
  EXPECT_FALSE(mem.contains(0x20000, 1));
  EXPECT_FALSE(mem.contains(0x100000, std::numeric_limits<uint64_t>::max()));
  EXPECT_FALSE(mem.contains(std::numeric_limits<uint64_t>::max(), 2));
  EXPECT_TRUE(mem.contains(0x101fff, 1));
  EXPECT_FALSE(mem.contains(0x101fff, 2));
}

TEST(GuestMemory, SliceAliasesHostMemory) {
  auto mem = two_regions();
  auto s = mem.slice(0x100010, 4);
  ASSERT_TRUE(s.has_value());
  (*s)[0] = 0xab;
  EXPECT_EQ(mem.read_obj<uint8_t>(0x100010), 0xab);
}

TEST(GuestMemory, RejectsOverlappingOrUnalignedRanges) {
  EXPECT_THROW(GuestMemory::create_anonymous({{0, 0x2000}, {0x1000, 0x1000}}), Error);
  EXPECT_THROW(GuestMemory::create_anonymous({{0x10, 0x1000}}), Error);
  EXPECT_THROW(GuestMemory::create_anonymous({{0, 0}}), Error);
}

// The pages set in one region's bitmap.
std::set<uint64_t> pages(const std::vector<uint64_t>& bitmap) {
  std::set<uint64_t> out;
  for (size_t w = 0; w < bitmap.size(); ++w) {
    for (int b = 0; b < 64; ++b) {
      if (bitmap[w] >> b & 1) out.insert(w * 64 + b);
    }
  }
  return out;
}

TEST(GuestMemoryDirty, WritesMarkExactlyTheTouchedPages) {
  auto mem = two_regions();
  mem.enable_dirty_tracking();
  EXPECT_TRUE(mem.dirty_tracking());
  mem.write_obj<uint32_t>(0x3010, 1);            // page 3
  mem.write_obj<uint64_t>(0x5ffc, 2);            // crosses into page 6: pages 5 and 6
  mem.write_obj<uint8_t>(0x101fff, 3);           // second region, its last page
  ASSERT_TRUE(mem.try_write(0x8000, std::array<uint8_t, 0>{}));  // empty: nothing
  EXPECT_FALSE(mem.try_write(0xfffc, std::array<uint8_t, 8>{}));  // refused: nothing
  std::array<uint8_t, 16> buf{};
  mem.read(0x9000, buf);                           // reads mark nothing
  ASSERT_TRUE(mem.view(0xa000, 16).has_value());   // nor do read-only views
  EXPECT_TRUE(mem.contains(0xb000, 16));
  const auto maps = mem.take_vmm_dirty_bitmaps();
  ASSERT_EQ(maps.size(), 2u);
  EXPECT_EQ(maps[0].size(), 1u);  // 16 pages
  EXPECT_EQ(pages(maps[0]), (std::set<uint64_t>{3, 5, 6}));
  EXPECT_EQ(pages(maps[1]), (std::set<uint64_t>{1}));
}

TEST(GuestMemoryDirty, MutableSliceMarksWhenHandedOut) {
  auto mem = two_regions();
  mem.enable_dirty_tracking();
  auto s = mem.slice(0x1ff0, 0x20);  // pages 1 and 2
  ASSERT_TRUE(s.has_value());
  EXPECT_EQ(pages(mem.take_vmm_dirty_bitmaps()[0]), (std::set<uint64_t>{1, 2}));
  mem.mark_dirty(0xe000, 0x10000);  // runs past the region: clipped to its pages 14 and 15
  mem.mark_dirty(0x20000, 0x1000);  // in no region: ignored
  EXPECT_EQ(pages(mem.take_vmm_dirty_bitmaps()[0]), (std::set<uint64_t>{14, 15}));
}

TEST(GuestMemoryDirty, LargeWriteAcrossWordsMarksEveryPage) {
  auto mem = GuestMemory::create_anonymous({{0, 200 * GuestMemory::kDirtyPageSize}});
  mem.enable_dirty_tracking();
  std::vector<uint8_t> big(130 * GuestMemory::kDirtyPageSize + 2, 0x5a);
  mem.write(60 * GuestMemory::kDirtyPageSize - 1, big);  // pages 59..190
  const auto maps = mem.take_vmm_dirty_bitmaps();
  ASSERT_EQ(maps[0].size(), 4u);
  std::set<uint64_t> want;
  for (uint64_t p = 59; p <= 190; ++p) want.insert(p);
  EXPECT_EQ(pages(maps[0]), want);
}

TEST(GuestMemoryDirty, TakeClears) {
  auto mem = two_regions();
  mem.enable_dirty_tracking();
  mem.write_obj<uint32_t>(0x100000, 1);
  EXPECT_EQ(pages(mem.take_vmm_dirty_bitmaps()[1]), (std::set<uint64_t>{0}));
  const auto again = mem.take_vmm_dirty_bitmaps();
  EXPECT_TRUE(pages(again[0]).empty());
  EXPECT_TRUE(pages(again[1]).empty());
  mem.enable_dirty_tracking();  // a second enable keeps the bitmaps
  mem.write_obj<uint32_t>(0x100000, 1);
  mem.enable_dirty_tracking();
  EXPECT_EQ(pages(mem.take_vmm_dirty_bitmaps()[1]), (std::set<uint64_t>{0}));
}

TEST(GuestMemoryDirty, DisabledTrackingMarksNothing) {
  auto mem = two_regions();
  EXPECT_FALSE(mem.dirty_tracking());
  mem.write_obj<uint32_t>(0x3010, 1);
  ASSERT_TRUE(mem.slice(0x4000, 8).has_value());
  mem.mark_dirty(0x5000, 8);
  const auto maps = mem.take_vmm_dirty_bitmaps();  // the same shape, all clear
  ASSERT_EQ(maps.size(), 2u);
  EXPECT_EQ(maps[0].size(), 1u);
  EXPECT_TRUE(pages(maps[0]).empty());
  EXPECT_TRUE(pages(maps[1]).empty());
}

// Writers on several threads against a taker: every page written is reported by some take.
TEST(GuestMemoryDirty, ConcurrentTakesLoseNothing) {
  auto mem = GuestMemory::create_anonymous({{0, 256 * GuestMemory::kDirtyPageSize}});
  mem.enable_dirty_tracking();
  std::vector<uint64_t> seen(4, 0);
  std::atomic<bool> done{false};
  std::thread taker([&] {
    while (!done.load()) {
      auto m = mem.take_vmm_dirty_bitmaps();
      for (size_t w = 0; w < 4; ++w) seen[w] |= m[0][w];
    }
  });
  std::vector<std::thread> writers;
  for (int t = 0; t < 4; ++t) {
    writers.emplace_back([&mem, t] {
      for (uint64_t p = static_cast<uint64_t>(t); p < 256; p += 4) {
        mem.write_obj<uint32_t>(p * GuestMemory::kDirtyPageSize + 8, static_cast<uint32_t>(p));
      }
    });
  }
  for (auto& w : writers) w.join();
  done = true;
  taker.join();
  auto last = mem.take_vmm_dirty_bitmaps();
  for (size_t w = 0; w < 4; ++w) EXPECT_EQ(seen[w] | last[0][w], ~uint64_t{0}) << "word " << w;
}

}  // namespace
}  // namespace hearth
