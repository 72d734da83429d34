#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/unit/loader/test_images.h"
#include "vmm/arch/layout.h"
#include "vmm/loader/e820.h"

namespace hearth::loader {
namespace {

using namespace test;
using ::testing::ElementsAre;

TEST(E820, SmallGuest) {
  EXPECT_THAT(build_e820(128 * kMiB), ElementsAre(E820Entry{0, 0x9fc00, kE820Ram},
                                                  E820Entry{0x9fc00, 0x100000 - 0x9fc00, kE820Reserved},
                                                  E820Entry{0x100000, 127 * kMiB, kE820Ram}));
}

TEST(E820, MemoryEndingExactlyAtTheGap) {
  const auto map = build_e820(layout::kMmioGapStart);  // 3.25 GiB
  ASSERT_EQ(map.size(), 3u);
  EXPECT_EQ(map[2], (E820Entry{0x100000, 0xD0000000 - 0x100000, kE820Ram}));
}

TEST(E820, MemoryCrossingTheGapContinuesAbove4GiB) {
  const auto map = build_e820(4096 * kMiB);
  ASSERT_EQ(map.size(), 4u);
  EXPECT_EQ(map[2], (E820Entry{0x100000, 0xD0000000 - 0x100000, kE820Ram}));
  EXPECT_EQ(map[3], (E820Entry{0x100000000, 0x30000000, kE820Ram}));
}

TEST(E820, RejectsMemoryWithNothingAboveOneMiB) {
  EXPECT_EQ(error_of([] { build_e820(1 * kMiB); }),
            "guest memory of 1048576 bytes is too small: it must extend above 1 MiB");
  EXPECT_THAT(error_of([] { build_e820(0); }), ::testing::HasSubstr("too small"));
  EXPECT_EQ(build_e820(1 * kMiB + 4096).back(), (E820Entry{0x100000, 4096, kE820Ram}));
}

}  // namespace
}  // namespace hearth::loader
