#include "vmm/memory/guest_memory.h"

#include <gtest/gtest.h>

#include <array>
#include <cstdint>
#include <limits>

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

}  // namespace
}  // namespace hearth
