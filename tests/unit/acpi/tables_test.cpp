#include "vmm/acpi/tables.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/unit/acpi/test_util.h"
#include "vmm/acpi/sdt.h"
#include "vmm/base/error.h"

namespace hearth::acpi {
namespace {

using test::chars;
using test::le16;
using test::le32;
using test::le64;
using test::sum8;

void expect_header(const Bytes& t, std::string_view sig, uint8_t revision) {
  ASSERT_GE(t.size(), kSdtHeaderSize);
  EXPECT_EQ(chars(t, 0, 4), sig);
  EXPECT_EQ(le32(t, 4), t.size());
  EXPECT_EQ(t[8], revision);
  EXPECT_EQ(chars(t, 10, 6), "HEARTH");
  EXPECT_EQ(chars(t, 16, 4), "HRTH");  // OEM table id prefix
  EXPECT_EQ(chars(t, 28, 4), "HRTH");  // creator id
  EXPECT_EQ(sum8(t), 0) << sig << " checksum";
}

TEST(Sdt, FinishSetsLengthAndChecksum) {
  Bytes t = sdt_header("TEST", 3, "HRTHTEST");
  EXPECT_EQ(t.size(), kSdtHeaderSize);
  t.insert(t.end(), {1, 2, 3, 250});
  sdt_finish(t);
  expect_header(t, "TEST", 3);
  EXPECT_THROW(sdt_header("TES", 1, "HRTHTEST"), Error);
}

TEST(Rsdp, Acpi2WithBothChecksums) {
  Bytes r = build_rsdp(0xE0040);
  ASSERT_EQ(r.size(), 36u);
  EXPECT_EQ(chars(r, 0, 8), "RSD PTR ");
  EXPECT_EQ(sum8(std::span(r).first(20)), 0);  // ACPI 1.0 checksum
  EXPECT_EQ(sum8(r), 0);                       // extended checksum
  EXPECT_EQ(chars(r, 9, 6), "HEARTH");
  EXPECT_EQ(r[15], 2);                         // revision
  EXPECT_EQ(le32(r, 16), 0u);                  // no RSDT
  EXPECT_EQ(le32(r, 20), 36u);                 // length
  EXPECT_EQ(le64(r, 24), 0xE0040u);            // XSDT
  // The XSDT address lies outside the first 20 bytes: only the extended checksum follows it.
  Bytes other = build_rsdp(0xE0048);
  EXPECT_EQ(r[8], other[8]);
  EXPECT_NE(r[32], other[32]);
}

TEST(Xsdt, ListsTableAddresses) {
  Bytes x = build_xsdt({0xE0100, 0x1'0000'0000});
  expect_header(x, "XSDT", 1);
  ASSERT_EQ(x.size(), 36u + 16);
  EXPECT_EQ(le64(x, 36), 0xE0100u);
  EXPECT_EQ(le64(x, 44), 0x1'0000'0000u);
}

TEST(Fadt, HardwareReducedRevision6) {
  Bytes f = build_fadt(0xE0400);
  ASSERT_EQ(f.size(), kFadtSize);
  expect_header(f, "FACP", 6);
  EXPECT_EQ(f[131], 5);                      // minor version: ACPI 6.5
  EXPECT_EQ(le32(f, 40), 0u);                // 32-bit DSDT unused
  EXPECT_EQ(le64(f, 140), 0xE0400u);         // X_DSDT
  uint32_t flags = le32(f, 112);
  EXPECT_TRUE(flags & (1u << 20)) << "HW_REDUCED_ACPI";
  EXPECT_TRUE(flags & (1u << 4)) << "PWR_BUTTON (none)";
  EXPECT_TRUE(flags & (1u << 5)) << "SLP_BUTTON (none)";
  uint16_t iapc = le16(f, 109);
  EXPECT_EQ(iapc & 0x1, 0) << "LEGACY_DEVICES";
  EXPECT_EQ(iapc & 0x2, 0) << "8042 (found via DSDT instead)";
  EXPECT_NE(iapc & 0x4, 0) << "VGA not present";
  EXPECT_NE(iapc & 0x20, 0) << "CMOS RTC not present";
  EXPECT_EQ(le16(f, 46), 0u);                // no SCI
  EXPECT_EQ(chars(f, 268, 8), "HEARTHVM");
}

class MadtTest : public ::testing::TestWithParam<uint32_t> {};

TEST_P(MadtTest, OneEnabledLapicPerVcpuAndOneIoapic) {
  const uint32_t n = GetParam();
  Bytes m = build_madt(n, 0xFEE00000, 0xFEC00000);
  expect_header(m, "APIC", 6);
  ASSERT_EQ(m.size(), kMadtHeaderSize + n * kMadtLapicSize + kMadtIoapicSize);
  EXPECT_EQ(le32(m, 36), 0xFEE00000u);
  EXPECT_EQ(le32(m, 40), 0u);  // no PCAT_COMPAT

  uint32_t lapics = 0, ioapics = 0;
  for (size_t off = kMadtHeaderSize; off < m.size();) {
    uint8_t type = m[off], len = m[off + 1];
    ASSERT_GE(len, 2);
    ASSERT_LE(off + len, m.size());
    if (type == 0) {
      ASSERT_EQ(len, 8);
      EXPECT_EQ(m[off + 2], lapics) << "processor UID";
      EXPECT_EQ(m[off + 3], lapics) << "APIC id = vCPU index";
      EXPECT_EQ(le32(m, off + 4), 1u) << "enabled";
      ++lapics;
    } else if (type == 1) {
      ASSERT_EQ(len, 12);
      EXPECT_EQ(m[off + 2], 0) << "IOAPIC id";
      EXPECT_EQ(le32(m, off + 4), 0xFEC00000u);
      EXPECT_EQ(le32(m, off + 8), 0u) << "GSI base";
      ++ioapics;
    } else {
      ADD_FAILURE() << "unexpected MADT entry type " << int{type};
    }
    off += len;
  }
  EXPECT_EQ(lapics, n);
  EXPECT_EQ(ioapics, 1u);
}

INSTANTIATE_TEST_SUITE_P(VcpuCounts, MadtTest, ::testing::Values(1u, 2u, 32u, 254u));

TEST(Madt, RejectsVcpuCountsXapicCannotAddress) {
  EXPECT_THROW(build_madt(0, 0xFEE00000, 0xFEC00000), Error);
  EXPECT_THROW(build_madt(255, 0xFEE00000, 0xFEC00000), Error);
}

}  // namespace
}  // namespace hearth::acpi
