#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/unit/loader/test_images.h"
#include "vmm/arch/layout.h"
#include "vmm/loader/bzimage.h"
#include "vmm/loader/kernel_image.h"

namespace hearth::loader {
namespace {

using namespace test;
using ::testing::HasSubstr;

GuestMemory ram128() { return GuestMemory::create_anonymous({{0, 128 * kMiB}}); }

TEST(BzImageLoader, LoadsPayloadAtPreferredAddress) {
  auto mem = ram128();
  const BzImageSpec spec;
  const auto image = make_bzimage(spec);
  const LoadedKernel k = load_kernel(mem, image);
  EXPECT_EQ(k.format, KernelFormat::kBzImage);
  EXPECT_EQ(k.kernel_start, 0x1000000u);
  EXPECT_EQ(k.entry64, 0x1000200u);
  EXPECT_EQ(k.kernel_end, 0x1000000u + spec.init_size);
  EXPECT_FALSE(k.pvh_entry);
  EXPECT_EQ(k.cmdline_max, 2047u);
  EXPECT_EQ(k.initrd_addr_max, 0x7fffffffu);
  ASSERT_TRUE(k.setup_header);
  EXPECT_EQ(std::memcmp(&*k.setup_header, image.data() + kSetupHeaderStart, sizeof(SetupHeader)), 0);

  std::vector<uint8_t> loaded(spec.payload_size);
  mem.read(0x1000000, loaded);
  EXPECT_EQ(loaded, std::vector<uint8_t>(image.begin() + 5 * 512, image.end()));
}

TEST(BzImageLoader, SetupSectsZeroMeansFour) {
  BzImageSpec spec;
  spec.setup_sects = 0;
  const auto image = make_bzimage(spec);
  const BzImage bz = parse_bzimage(image);
  EXPECT_EQ(bz.payload_offset, 5u * 512);
  EXPECT_EQ(bz.payload_size, spec.payload_size);
}

TEST(BzImageLoader, ZeroesBytesPastTheDeclaredHeaderEnd) {
  BzImageSpec spec;
  spec.header_len = 0x264 - 0x202;  // a 2.12-style header: no handover or kernel_info offsets
  const BzImage bz = parse_bzimage(make_bzimage(spec));
  EXPECT_EQ(uint32_t{bz.header.init_size}, spec.init_size);
  EXPECT_EQ(uint32_t{bz.header.handover_offset}, 0u);  // the image has setup code bytes there
  EXPECT_EQ(uint32_t{bz.header.kernel_info_offset}, 0u);
}

TEST(BzImageLoader, FallsBackToOneMiBWhenRelocatable) {
  BzImageSpec spec;
  spec.pref_address = 0x80000;  // below 1 MiB: unusable
  const BzImagePlacement at = place_bzimage(parse_bzimage(make_bzimage(spec)), 128 * kMiB);
  EXPECT_EQ(at.load_addr, layout::kHimemStart);
  // head_64.S decompresses at align_up(load, kernel_alignment) when that is above pref_address.
  EXPECT_EQ(at.end, 0x200000u + spec.init_size);

  spec.relocatable = 0;
  EXPECT_THAT(error_of([&] { place_bzimage(parse_bzimage(make_bzimage(spec)), 128 * kMiB); }),
              HasSubstr("guest RAM below the MMIO gap ends at 0x8000000"));
}

TEST(BzImageLoader, RejectsOldProtocol) {
  BzImageSpec spec;
  spec.version = 0x0205;
  EXPECT_EQ(error_of([&] { parse_bzimage(make_bzimage(spec)); }),
            "kernel image: bzImage boot protocol 2.05 is too old (need 2.06 or later)");
}

TEST(BzImageLoader, RejectsMissingKernel64) {
  BzImageSpec spec;
  spec.xloadflags = 0x2;
  EXPECT_EQ(error_of([&] { parse_bzimage(make_bzimage(spec)); }),
            "kernel image: bzImage has no 64-bit entry point (boot protocol 2.15, XLF_KERNEL_64 not set)");
  spec.xloadflags = kXlfKernel64;
  spec.version = 0x020a;  // before xloadflags existed
  EXPECT_THAT(error_of([&] { parse_bzimage(make_bzimage(spec)); }), HasSubstr("no 64-bit entry point"));
}

TEST(BzImageLoader, RejectsSetupBeyondFile) {
  BzImageSpec spec;
  spec.payload_size = 0;
  auto image = make_bzimage(spec);
  EXPECT_EQ(error_of([&] { parse_bzimage(image); }),
            "kernel image: bzImage setup (4 sectors) extends past end of file (2560 bytes)");
  image = make_bzimage(BzImageSpec{});
  image[kSetupHeaderStart] = 60;
  EXPECT_THAT(error_of([&] { parse_bzimage(image); }), HasSubstr("setup (60 sectors) extends past end of file"));
}

TEST(BzImageLoader, RejectsShortHeaderAndBadAlignment) {
  BzImageSpec spec;
  spec.header_len = 0x30;
  EXPECT_EQ(error_of([&] { parse_bzimage(make_bzimage(spec)); }),
            "kernel image: bzImage setup header ends at 0x232, too short for boot protocol 2.15");
  spec = {};
  spec.kernel_alignment = 0x300000;
  EXPECT_EQ(error_of([&] { parse_bzimage(make_bzimage(spec)); }),
            "kernel image: bzImage kernel_alignment 0x300000 is not a power of two");
}

TEST(BzImageLoader, RejectsInitSizeTooBigForRamWithoutWriting) {
  auto mem = ram128();
  BzImageSpec spec;
  spec.init_size = 0x7800000;  // 16 MiB + 120 MiB > 128 MiB
  EXPECT_EQ(error_of([&] { load_kernel(mem, make_bzimage(spec)); }),
            "kernel image: bzImage needs 0x7800000 bytes (init_size) at 0x1000000 but guest RAM below the MMIO gap "
            "ends at 0x8000000");
  EXPECT_EQ(mem.read_obj<uint64_t>(0x1000000), 0u);
}

TEST(BzImageLoader, RejectsHostileAddressesWithoutOverflow) {
  BzImageSpec spec;
  spec.pref_address = UINT64_MAX - 0x1000;
  spec.relocatable = 0;
  EXPECT_THAT(error_of([&] { place_bzimage(parse_bzimage(make_bzimage(spec)), 128 * kMiB); }), HasSubstr("needs"));
  spec.relocatable = 1;
  EXPECT_THAT(error_of([&] { place_bzimage(parse_bzimage(make_bzimage(spec)), 128 * kMiB); }), HasSubstr("needs"));
  spec.pref_address = 0;
  spec.kernel_alignment = 0x80000000;
  const BzImagePlacement at = place_bzimage(parse_bzimage(make_bzimage(spec)), layout::kMmioGapStart);
  EXPECT_EQ(at.load_addr, layout::kHimemStart);  // 1 MiB aligns up to 2 GiB before decompressing
  EXPECT_EQ(at.end, 0x80000000u + spec.init_size);
}

// A truncated bzImage used to boot into garbage and end as a "guest reset"; each inconsistent
// header field is now refused by name.
TEST(BzImageLoader, RejectsTruncatedPayloadBySyssize) {
  auto image = make_bzimage(BzImageSpec{});
  image.resize(image.size() - 100);
  EXPECT_EQ(error_of([&] { parse_bzimage(image); }),
            "kernel image: bzImage is truncated: setup_header.syssize declares a 12288-byte kernel after setup_sects 4 "
            "but the file holds only 12188 bytes there");
}

TEST(BzImageLoader, LoadsOnlyTheSyssizeBytesOfAPaddedFile) {
  auto image = make_bzimage(BzImageSpec{});
  image.resize(image.size() + 4096, 0xee);  // trailing junk is not kernel
  EXPECT_EQ(parse_bzimage(image).payload_size, 0x3000u);
}

TEST(BzImageLoader, RejectsZeroSyssizeAndInconsistentPayloadFields) {
  BzImageSpec spec;
  spec.syssize = 0;
  EXPECT_THAT(error_of([&] { parse_bzimage(make_bzimage(spec)); }), HasSubstr("setup_header.syssize is 0"));
  auto image = make_bzimage(BzImageSpec{});
  SetupHeader h = peek<SetupHeader>(image, kSetupHeaderStart);
  h.payload_offset = 0x2000;
  h.payload_length = 0x2000;
  poke(image, kSetupHeaderStart, h);
  EXPECT_THAT(error_of([&] { parse_bzimage(image); }),
              HasSubstr("setup_header.payload_offset 0x2000 + payload_length 0x2000 extends past the 12288-byte kernel"));
  spec = {};
  spec.init_size = 0x1000;
  EXPECT_THAT(error_of([&] { parse_bzimage(make_bzimage(spec)); }),
              HasSubstr("setup_header.init_size 0x1000 is smaller than the 0x3000-byte kernel"));
}

}  // namespace
}  // namespace hearth::loader
