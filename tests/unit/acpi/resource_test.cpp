#include "vmm/acpi/resource.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/unit/acpi/test_util.h"
#include "vmm/base/error.h"

namespace hearth::acpi {
namespace {

using ::testing::ElementsAre;

TEST(Resource, IoPortDecode16) {
  EXPECT_THAT(res::io_port(0x3F8, 0x3F8, 1, 8), ElementsAre(0x47, 0x01, 0xF8, 0x03, 0xF8, 0x03, 0x01, 0x08));
  EXPECT_THROW(res::io_port(0x10, 0x0F, 1, 1), Error);
}

TEST(Resource, IrqNoFlagsIsABitMask) {
  EXPECT_THAT(res::irq_no_flags(4), ElementsAre(0x22, 0x10, 0x00));
  EXPECT_THAT(res::irq_no_flags(1), ElementsAre(0x22, 0x02, 0x00));
  EXPECT_THAT(res::irq_no_flags(15), ElementsAre(0x22, 0x00, 0x80));
  EXPECT_THROW(res::irq_no_flags(16), Error);
}

TEST(Resource, Memory32Fixed) {
  EXPECT_THAT(res::memory32_fixed(true, 0xD0001000, 0x1000),
              ElementsAre(0x86, 0x09, 0x00, 0x01, 0x00, 0x10, 0x00, 0xD0, 0x00, 0x10, 0x00, 0x00));
  EXPECT_EQ(res::memory32_fixed(false, 0, 1)[3], 0x00);
  EXPECT_NO_THROW(res::memory32_fixed(true, 0xFFFFF000, 0x1000));
  EXPECT_THROW(res::memory32_fixed(true, 0xFFFFF000, 0x1001), Error);
}

TEST(Resource, ExtendedInterruptFlags) {
  // Consumer, edge, active high, exclusive: flags 0x03.
  EXPECT_THAT(res::extended_interrupt(5), ElementsAre(0x89, 0x06, 0x00, 0x03, 0x01, 0x05, 0x00, 0x00, 0x00));
  EXPECT_EQ(res::extended_interrupt(5, {.edge = false, .active_low = true, .shared = true})[3], 0x0D);
  EXPECT_EQ(res::extended_interrupt(5, {.wake_capable = true})[3], 0x13);
  EXPECT_THAT(res::extended_interrupt(0x12345678),
              ElementsAre(0x89, 0x06, 0x00, 0x03, 0x01, 0x78, 0x56, 0x34, 0x12));
}

TEST(Resource, TemplateEndTagChecksum) {
  // 0x22+0x10+0x79 = 0xAB, so the checksum byte is 0x55.
  EXPECT_THAT(res::resource_template({res::irq_no_flags(4)}),
              ElementsAre(0x11, 0x08, 0x0A, 0x05, 0x22, 0x10, 0x00, 0x79, 0x55));
  EXPECT_THAT(res::resource_template({}), ElementsAre(0x11, 0x05, 0x0A, 0x02, 0x79, 0x87));
}

TEST(Resource, TemplateDescriptorsSumToZero) {
  Bytes t = res::resource_template({res::memory32_fixed(true, 0xD0002000, 0x1000), res::extended_interrupt(6),
                                    res::io_port(0x60, 0x60, 1, 1)});
  ASSERT_EQ(t[0], 0x11);
  test::PkgLen len = test::decode_pkg_length(t, 1);
  EXPECT_EQ(len.value, t.size() - 1);
  size_t size_at = 1 + len.size;
  ASSERT_EQ(t[size_at], 0x0A);  // BytePrefix: 12 + 9 + 8 + 2 = 31 bytes of descriptors
  EXPECT_EQ(t[size_at + 1], 31);
  std::span<const uint8_t> data(t.begin() + static_cast<std::ptrdiff_t>(size_at + 2), t.end());
  ASSERT_EQ(data.size(), 31u);
  EXPECT_EQ(data[data.size() - 2], 0x79);
  EXPECT_EQ(test::sum8(data), 0);
}

}  // namespace
}  // namespace hearth::acpi
