#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/unit/loader/test_images.h"
#include "vmm/arch/layout.h"
#include "vmm/loader/e820.h"
#include "vmm/loader/pvh.h"

namespace hearth::loader {
namespace {

using namespace test;

template <typename T>
T at(const GuestMemory& mem, uint64_t addr) {
  return mem.read_obj<T>(addr);
}

TEST(Pvh, StartInfoModuleAndMemoryMap) {
  auto mem = GuestMemory::create_anonymous({{0, 128 * kMiB}});
  const auto e820 = build_e820(128 * kMiB);
  write_pvh_start_info(mem, "console=hvc0", InitrdPlacement{0x7000000, 0x4321}, e820, 0xE0000);

  const uint64_t si = layout::kPvhStartInfoAddr;
  // Offsets from xen/include/public/arch-x86/hvm/start_info.h.
  EXPECT_EQ(at<uint32_t>(mem, si + 0), 0x336ec578u);
  EXPECT_EQ(at<uint32_t>(mem, si + 4), 1u);
  EXPECT_EQ(at<uint32_t>(mem, si + 8), 0u);
  EXPECT_EQ(at<uint32_t>(mem, si + 12), 1u);
  const auto modlist = at<uint64_t>(mem, si + 16);
  EXPECT_EQ(at<uint64_t>(mem, si + 24), layout::kCmdlineAddr);
  EXPECT_EQ(at<uint64_t>(mem, si + 32), 0xE0000u);
  const auto memmap = at<uint64_t>(mem, si + 40);
  EXPECT_EQ(at<uint32_t>(mem, si + 48), e820.size());

  // Everything lives in the one page after the start info.
  EXPECT_GE(modlist, si + sizeof(HvmStartInfo));
  EXPECT_LE(memmap + e820.size() * 24, si + layout::kPageSize);
  EXPECT_EQ(at<uint64_t>(mem, modlist), 0x7000000u);
  EXPECT_EQ(at<uint64_t>(mem, modlist + 8), 0x4321u);
  EXPECT_EQ(at<uint64_t>(mem, modlist + 16), 0u);
  for (size_t i = 0; i < e820.size(); ++i) {
    EXPECT_EQ(at<uint64_t>(mem, memmap + i * 24), e820[i].addr);
    EXPECT_EQ(at<uint64_t>(mem, memmap + i * 24 + 8), e820[i].size);
    EXPECT_EQ(at<uint32_t>(mem, memmap + i * 24 + 16), e820[i].type);
  }
  std::string line(13, 'x');
  mem.read(layout::kCmdlineAddr, std::span(reinterpret_cast<uint8_t*>(line.data()), line.size()));
  EXPECT_EQ(line, std::string("console=hvc0") + '\0');
}

TEST(Pvh, NoInitrdMeansNoModules) {
  auto mem = GuestMemory::create_anonymous({{0, 128 * kMiB}});
  mem.write(layout::kPvhStartInfoAddr, std::vector<uint8_t>(layout::kPageSize, 0x77));
  write_pvh_start_info(mem, "", std::nullopt, build_e820(128 * kMiB), 0);
  EXPECT_EQ(at<uint32_t>(mem, layout::kPvhStartInfoAddr + 12), 0u);
  EXPECT_EQ(at<uint64_t>(mem, layout::kPvhStartInfoAddr + 16), 0u);
  EXPECT_EQ(at<uint64_t>(mem, layout::kPvhStartInfoAddr + kPvhModlistOffset), 0u);  // stale bytes cleared
}

TEST(Pvh, RejectsOversizedInputs) {
  auto mem = GuestMemory::create_anonymous({{0, 128 * kMiB}});
  const auto e820 = build_e820(128 * kMiB);
  EXPECT_EQ(error_of([&] { write_pvh_start_info(mem, std::string(0x10000, 'a'), std::nullopt, e820, 0); }),
            "kernel command line is 65536 bytes; the kernel accepts at most 65535");
  std::vector<E820Entry> big(kPvhMemmapMax + 1, E820Entry{0x100000, 0x1000, kE820Ram});
  EXPECT_THAT(error_of([&] { write_pvh_start_info(mem, "", std::nullopt, big, 0); }),
              ::testing::HasSubstr("the PVH start info page holds at most"));
}

}  // namespace
}  // namespace hearth::loader
