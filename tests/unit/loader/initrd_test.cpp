#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/unit/loader/test_images.h"
#include "vmm/arch/layout.h"
#include "vmm/loader/initrd.h"
#include "vmm/loader/kernel_image.h"

namespace hearth::loader {
namespace {

using namespace test;

LoadedKernel kernel_ending_at(uint64_t end, uint32_t initrd_addr_max = UINT32_MAX) {
  LoadedKernel k;
  k.kernel_start = 0x1000000;
  k.kernel_end = end;
  k.initrd_addr_max = initrd_addr_max;
  return k;
}

TEST(Initrd, GoesToTopOfLowRam) {
  auto mem = GuestMemory::create_anonymous({{0, 128 * kMiB}});
  const auto initrd = pattern(0x1800, 3);
  const InitrdPlacement at = place_initrd(mem, initrd, kernel_ending_at(0x2000000), 128 * kMiB);
  EXPECT_EQ(at.addr, 128 * kMiB - 0x2000);  // page-aligned down
  EXPECT_EQ(at.size, 0x1800u);
  std::vector<uint8_t> back(initrd.size());
  mem.read(at.addr, back);
  EXPECT_EQ(back, initrd);
}

TEST(Initrd, RespectsInitrdAddrMax) {
  auto mem = GuestMemory::create_anonymous({{0, 1024 * kMiB}});
  const InitrdPlacement at = place_initrd(mem, pattern(0x2000, 0), kernel_ending_at(0x2000000, 0x37ffffff), 1024 * kMiB);
  EXPECT_EQ(at.addr, 0x38000000u - 0x2000);
}

TEST(Initrd, StaysBelowTheMmioGap) {
  // Only the low region is mapped: the placement must not need the RAM above 4 GiB.
  auto mem = GuestMemory::create_anonymous({{0, layout::kMmioGapStart}});
  const InitrdPlacement at = place_initrd(mem, pattern(0x1000, 0), kernel_ending_at(0x2000000), 8192 * kMiB);
  EXPECT_EQ(at.addr, layout::kMmioGapStart - 0x1000);
}

TEST(Initrd, RejectsInitrdThatDoesNotFitAboveTheKernel) {
  auto mem = GuestMemory::create_anonymous({{0, 16 * kMiB}});
  const auto initrd = std::vector<uint8_t>(5 * kMiB);
  EXPECT_EQ(error_of([&] { place_initrd(mem, initrd, kernel_ending_at(12 * kMiB), 16 * kMiB); }),
            "initrd (5242880 bytes) does not fit below 0x1000000 above the kernel (which ends at 0xc00000)");
  // Exactly filling the space between the page-aligned kernel end and the limit is fine.
  const auto exact = std::vector<uint8_t>(4 * kMiB);
  EXPECT_EQ(place_initrd(mem, exact, kernel_ending_at(12 * kMiB - 10), 16 * kMiB).addr, 12 * kMiB);
  const auto huge = std::vector<uint8_t>(17 * kMiB);
  EXPECT_THAT(error_of([&] { place_initrd(mem, huge, kernel_ending_at(2 * kMiB), 16 * kMiB); }),
              ::testing::HasSubstr("does not fit below 0x1000000"));
}

TEST(Initrd, RejectsEmptyInitrd) {
  auto mem = GuestMemory::create_anonymous({{0, 128 * kMiB}});
  EXPECT_EQ(error_of([&] { place_initrd(mem, {}, kernel_ending_at(2 * kMiB), 128 * kMiB); }), "initrd is empty");
}

}  // namespace
}  // namespace hearth::loader
