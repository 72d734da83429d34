#include "vmm/acpi/acpi.h"

#include <functional>
#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/unit/acpi/test_util.h"
#include "tests/unit/error_of.h"
#include "vmm/acpi/sdt.h"
#include "vmm/base/error.h"

namespace hearth::acpi {
namespace {

using test::chars;
using test::le32;
using test::le64;
using test::npos;
using test::sum8;

constexpr uint64_t kBase = 0xE0000;
constexpr uint64_t kLimit = 0x100000;

Description sample(size_t virtio_count, uint32_t vcpus = 2) { return test::sample_description(virtio_count, vcpus); }

Bytes read(const GuestMemory& mem, uint64_t addr, size_t len) {
  Bytes b(len);
  mem.read(addr, b);
  return b;
}

// Reads a whole table back from guest memory by its header's length.
Bytes read_table(const GuestMemory& mem, uint64_t addr, std::string_view sig) {
  Bytes head = read(mem, addr, kSdtHeaderSize);
  EXPECT_EQ(chars(head, 0, 4), sig) << "at " << addr;
  uint32_t len = le32(head, 4);
  EXPECT_GE(len, kSdtHeaderSize);
  EXPECT_LE(addr + len, kLimit);
  EXPECT_EQ(addr % 8, 0u) << sig << " alignment";
  return read(mem, addr, len);
}

using hearth::test::error_of;

TEST(WriteTables, GuestCanWalkFromRsdpToEveryTable) {
  GuestMemory mem = GuestMemory::create_anonymous({{0, 0x100000}});
  uint64_t rsdp_addr = write_tables(mem, sample(4), kBase, kLimit);
  EXPECT_EQ(rsdp_addr, kBase);

  Bytes rsdp = read(mem, rsdp_addr, 36);
  EXPECT_EQ(chars(rsdp, 0, 8), "RSD PTR ");
  EXPECT_EQ(sum8(std::span(rsdp).first(20)), 0);
  EXPECT_EQ(sum8(rsdp), 0);

  Bytes xsdt = read_table(mem, le64(rsdp, 24), "XSDT");
  EXPECT_EQ(sum8(xsdt), 0);
  ASSERT_EQ(xsdt.size(), 36u + 16);
  Bytes fadt = read_table(mem, le64(xsdt, 36), "FACP");
  Bytes madt = read_table(mem, le64(xsdt, 44), "APIC");
  EXPECT_EQ(sum8(fadt), 0);
  EXPECT_EQ(sum8(madt), 0);
  Bytes dsdt = read_table(mem, le64(fadt, 140), "DSDT");
  EXPECT_EQ(sum8(dsdt), 0);
  EXPECT_NE(test::find(dsdt, "V003"), npos);
  EXPECT_EQ(madt.size(), 44u + 2 * 8 + 12);
}

TEST(WriteTables, PlacementIsOrderedAlignedAndDisjoint) {
  std::vector<PlacedTable> tables = place_tables(sample(32, 32), kBase, kLimit);
  ASSERT_EQ(tables.size(), 5u);
  EXPECT_EQ(tables[0].name, "RSDP");
  EXPECT_EQ(tables[0].addr, kBase);
  for (size_t i = 1; i < tables.size(); ++i) {
    EXPECT_EQ(tables[i].addr % 8, 0u) << tables[i].name;
    EXPECT_GE(tables[i].addr, tables[i - 1].addr + tables[i - 1].bytes.size()) << tables[i].name;
  }
  EXPECT_LE(tables.back().addr + tables.back().bytes.size(), kLimit);
}

TEST(WriteTables, TablesThatDoNotFitNameTheTable) {
  std::vector<PlacedTable> tables = place_tables(sample(8), kBase, kLimit);
  const PlacedTable& dsdt = tables.back();
  ASSERT_EQ(dsdt.name, "DSDT");
  uint64_t exact = dsdt.addr + dsdt.bytes.size();
  EXPECT_NO_THROW(place_tables(sample(8), kBase, exact));
  EXPECT_THAT(error_of([&] { place_tables(sample(8), kBase, exact - 1); }), ::testing::HasSubstr("DSDT"));
  EXPECT_THAT(error_of([&] { place_tables(sample(8), kBase, tables[3].addr + 4); }), ::testing::HasSubstr("MADT"));
  EXPECT_THAT(error_of([&] { place_tables(sample(8), kBase, kBase + 20); }), ::testing::HasSubstr("RSDP"));
  // A limit right at the top of the address space must not wrap around.
  EXPECT_THAT(error_of([&] { place_tables(sample(8), UINT64_MAX - 0x3F, UINT64_MAX); }),
              ::testing::HasSubstr("does not fit"));
}

TEST(WriteTables, RejectsBadArea) {
  GuestMemory mem = GuestMemory::create_anonymous({{0, 0x100000}});
  EXPECT_THAT(error_of([&] { write_tables(mem, sample(1), kBase + 8, kLimit); }),
              ::testing::HasSubstr("16-byte aligned"));
  EXPECT_THAT(error_of([&] { write_tables(mem, sample(1), kBase, kBase); }), ::testing::HasSubstr("empty"));
}

TEST(WriteTables, NothingWrittenWhenATableFallsOutsideGuestMemory) {
  // RAM ends at 0xE1000: the RSDP fits but the DSDT of 32 devices runs past the end.
  GuestMemory mem = GuestMemory::create_anonymous({{0, 0xE1000}});
  EXPECT_THAT(error_of([&] { write_tables(mem, sample(32), 0xE0800, kLimit); }),
              ::testing::HasSubstr("DSDT"));
  Bytes rsdp = read(mem, 0xE0800, 36);
  EXPECT_EQ(rsdp, Bytes(36, 0));
}

}  // namespace
}  // namespace hearth::acpi
