#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

#include "tests/unit/loader/test_images.h"
#include "vmm/arch/layout.h"
#include "vmm/loader/boot_params.h"
#include "vmm/loader/e820.h"
#include "vmm/loader/kernel_image.h"

namespace hearth::loader {
namespace {

using namespace test;

constexpr uint64_t kRsdp = 0xE0000;

// Reads a field of the zero page by its documented offset (zero-page.rst), not through our struct.
template <typename T>
T zp(const GuestMemory& mem, uint64_t offset) {
  return mem.read_obj<T>(layout::kZeroPageAddr + offset);
}

std::string cmdline_in_guest(const GuestMemory& mem, size_t n) {
  std::string s(n, '\0');
  mem.read(layout::kCmdlineAddr, std::span(reinterpret_cast<uint8_t*>(s.data()), n));
  return s;
}

TEST(BootParams, ElfKernelZeroPageFieldsAtDocumentedOffsets) {
  auto mem = GuestMemory::create_anonymous({{0, 128 * kMiB}});
  const auto k = load_kernel(mem, ElfBuilder().load(0x1000000, pattern(64, 0), 0x1000).entry(0x1000000).build());
  const auto e820 = build_e820(128 * kMiB);
  write_boot_params(mem, k, "console=ttyS0 reboot=k", InitrdPlacement{0x7000000, 0x12345}, e820, kRsdp);

  EXPECT_EQ(cmdline_in_guest(mem, 23), std::string("console=ttyS0 reboot=k") + '\0');
  EXPECT_EQ(zp<uint64_t>(mem, 0x070), kRsdp);
  EXPECT_EQ(zp<uint32_t>(mem, 0x0c8), 0u);  // ext_cmd_line_ptr
  EXPECT_EQ(zp<uint8_t>(mem, 0x1e8), 3u);
  EXPECT_EQ(zp<uint8_t>(mem, 0x1ef), 0u);  // sentinel
  EXPECT_EQ(zp<uint16_t>(mem, 0x1fe), 0xAA55u);
  EXPECT_EQ(zp<uint32_t>(mem, 0x202), 0x53726448u);
  EXPECT_EQ(zp<uint16_t>(mem, 0x206), 0x020fu);
  EXPECT_EQ(zp<uint8_t>(mem, 0x210), 0xffu);
  EXPECT_EQ(zp<uint8_t>(mem, 0x211), kLoadflagLoadedHigh);
  EXPECT_EQ(zp<uint32_t>(mem, 0x218), 0x7000000u);
  EXPECT_EQ(zp<uint32_t>(mem, 0x21c), 0x12345u);
  EXPECT_EQ(zp<uint32_t>(mem, 0x228), layout::kCmdlineAddr);
  EXPECT_EQ(zp<uint32_t>(mem, 0x230), 0x01000000u);
  EXPECT_EQ(zp<uint32_t>(mem, 0x238), layout::kCmdlineMaxSize - 1);
  for (size_t i = 0; i < e820.size(); ++i) {
    const uint64_t at = 0x2d0 + i * 20;
    EXPECT_EQ(zp<uint64_t>(mem, at), e820[i].addr);
    EXPECT_EQ(zp<uint64_t>(mem, at + 8), e820[i].size);
    EXPECT_EQ(zp<uint32_t>(mem, at + 16), e820[i].type);
  }
  EXPECT_EQ(zp<uint64_t>(mem, 0x2d0 + 3 * 20), 0u);
}

TEST(BootParams, BzImageHeaderIsCopiedIntoZeroPage) {
  auto mem = GuestMemory::create_anonymous({{0, 128 * kMiB}});
  const auto image = make_bzimage(BzImageSpec{});
  const auto k = load_kernel(mem, image);
  // Stale bytes from a previous boot must not survive.
  mem.write(layout::kZeroPageAddr, std::vector<uint8_t>(4096, 0x5a));
  write_boot_params(mem, k, "quiet", std::nullopt, build_e820(128 * kMiB), kRsdp);

  std::vector<uint8_t> zero_page(4096);
  mem.read(layout::kZeroPageAddr, zero_page);
  // Fields the kernel owns come straight from the image.
  for (uint64_t off : {0x1f1, 0x206, 0x214, 0x22c, 0x230, 0x234, 0x236, 0x238, 0x258, 0x260}) {
    EXPECT_EQ(zero_page[off], image[off]) << std::hex << off;
  }
  EXPECT_EQ(peek<uint64_t>(zero_page, 0x258), 0x1000000u);  // pref_address
  EXPECT_EQ(peek<uint32_t>(zero_page, 0x230), 0x200000u);   // kernel_alignment, read by head_64.S
  // Fields the loader owns.
  EXPECT_EQ(zero_page[0x210], 0xff);
  EXPECT_EQ(zero_page[0x211], kLoadflagLoadedHigh | kLoadflagCanUseHeap);
  EXPECT_EQ(peek<uint16_t>(zero_page, 0x224), 0xde00u);
  EXPECT_EQ(peek<uint32_t>(zero_page, 0x228), layout::kCmdlineAddr);
  EXPECT_EQ(peek<uint32_t>(zero_page, 0x218), 0u);
  EXPECT_EQ(peek<uint64_t>(zero_page, 0x250), 0u);  // setup_data from the image is dropped
  EXPECT_EQ(zero_page[0x1e8], 3);
  EXPECT_EQ(zero_page[0x000], 0);  // screen_info cleared
  EXPECT_EQ(zero_page[0xfff], 0);
}

TEST(BootParams, RejectsCommandLineLongerThanTheKernelAccepts) {
  auto mem = GuestMemory::create_anonymous({{0, 128 * kMiB}});
  BzImageSpec spec;
  spec.cmdline_size = 255;
  const auto bz = load_kernel(mem, make_bzimage(spec));
  const auto e820 = build_e820(128 * kMiB);
  EXPECT_NO_THROW(write_boot_params(mem, bz, std::string(255, 'a'), std::nullopt, e820, kRsdp));
  EXPECT_EQ(error_of([&] { write_boot_params(mem, bz, std::string(256, 'a'), std::nullopt, e820, kRsdp); }),
            "kernel command line is 256 bytes; the kernel accepts at most 255");

  LoadedKernel elf;  // our own buffer caps kernels that state no limit
  elf.cmdline_max = UINT64_MAX;
  EXPECT_EQ(error_of([&] { write_boot_params(mem, elf, std::string(0x10000, 'a'), std::nullopt, e820, kRsdp); }),
            "kernel command line is 65536 bytes; the kernel accepts at most 65535");
  EXPECT_EQ(error_of([&] { write_boot_params(mem, elf, std::string("a\0b", 3), std::nullopt, e820, kRsdp); }),
            "kernel command line contains a NUL byte");
}

TEST(BootParams, RejectsMoreE820EntriesThanTheZeroPageHolds) {
  auto mem = GuestMemory::create_anonymous({{0, 128 * kMiB}});
  LoadedKernel k;
  k.cmdline_max = 100;
  std::vector<E820Entry> e820(129, E820Entry{0x100000, 0x1000, kE820Ram});
  EXPECT_EQ(error_of([&] { write_boot_params(mem, k, "", std::nullopt, e820, 0); }),
            "e820 map has 129 entries; the zero page holds at most 128");
  e820.pop_back();
  write_boot_params(mem, k, "", std::nullopt, e820, 0);
  EXPECT_EQ(zp<uint8_t>(mem, 0x1e8), 128u);
}

}  // namespace
}  // namespace hearth::loader
