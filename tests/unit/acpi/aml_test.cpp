#include "vmm/acpi/aml.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/unit/acpi/test_util.h"
#include "vmm/base/error.h"

namespace hearth::acpi {
namespace {

using ::testing::ElementsAre;
using ::testing::ElementsAreArray;

TEST(AmlPkgLength, OneByteFormUpTo63) {
  EXPECT_THAT(aml::pkg_length(0), ElementsAre(0x01));
  EXPECT_THAT(aml::pkg_length(62), ElementsAre(0x3F));  // 62 + 1 = 63, the one-byte maximum
}

TEST(AmlPkgLength, TwoByteFormFrom64To4095) {
  // A body of 63 no longer fits with one byte: 63 + 2 = 65 = 0x41.
  EXPECT_THAT(aml::pkg_length(63), ElementsAre(0x41, 0x04));
  EXPECT_THAT(aml::pkg_length(64), ElementsAre(0x42, 0x04));
  EXPECT_THAT(aml::pkg_length(4093), ElementsAre(0x4F, 0xFF));  // 4095, the two-byte maximum
}

TEST(AmlPkgLength, ThreeByteFormFrom4096) {
  EXPECT_THAT(aml::pkg_length(4094), ElementsAre(0x81, 0x00, 0x01));  // 4094 + 3 = 0x1001
  EXPECT_THAT(aml::pkg_length(4095), ElementsAre(0x82, 0x00, 0x01));
  EXPECT_THAT(aml::pkg_length(4096), ElementsAre(0x83, 0x00, 0x01));
  EXPECT_THAT(aml::pkg_length((1u << 20) - 4), ElementsAre(0x8F, 0xFF, 0xFF));
}

TEST(AmlPkgLength, FourByteFormAndLimit) {
  EXPECT_THAT(aml::pkg_length((1u << 20) - 3), ElementsAre(0xC1, 0x00, 0x00, 0x01));
  EXPECT_THAT(aml::pkg_length((1u << 28) - 5), ElementsAre(0xCF, 0xFF, 0xFF, 0xFF));
  EXPECT_THROW(aml::pkg_length((1u << 28) - 4), Error);
}

TEST(AmlPkgLength, DecodesToBodyPlusItsOwnSize) {
  for (size_t body : {0u, 1u, 61u, 62u, 63u, 64u, 65u, 4092u, 4093u, 4094u, 4095u, 4096u, 70000u, 1048572u, 1048573u}) {
    Bytes enc = aml::pkg_length(body);
    test::PkgLen got = test::decode_pkg_length(enc, 0);
    EXPECT_EQ(got.size, enc.size()) << body;
    EXPECT_EQ(got.value, body + enc.size()) << body;
  }
}

TEST(AmlInteger, ShortestForm) {
  EXPECT_THAT(aml::integer(0), ElementsAre(0x00));
  EXPECT_THAT(aml::integer(1), ElementsAre(0x01));
  EXPECT_THAT(aml::integer(2), ElementsAre(0x0A, 0x02));
  EXPECT_THAT(aml::integer(0xFF), ElementsAre(0x0A, 0xFF));
  EXPECT_THAT(aml::integer(0x100), ElementsAre(0x0B, 0x00, 0x01));
  EXPECT_THAT(aml::integer(0xFFFF), ElementsAre(0x0B, 0xFF, 0xFF));
  EXPECT_THAT(aml::integer(0x10000), ElementsAre(0x0C, 0x00, 0x00, 0x01, 0x00));
  EXPECT_THAT(aml::integer(0xD0001000), ElementsAre(0x0C, 0x00, 0x10, 0x00, 0xD0));
  EXPECT_THAT(aml::integer(0x100000000), ElementsAre(0x0E, 0, 0, 0, 0, 1, 0, 0, 0));
  EXPECT_THAT(aml::integer(0x0123456789ABCDEF), ElementsAre(0x0E, 0xEF, 0xCD, 0xAB, 0x89, 0x67, 0x45, 0x23, 0x01));
}

TEST(AmlInteger, FixedWidths) {
  EXPECT_THAT(aml::byte_const(0), ElementsAre(0x0A, 0x00));
  EXPECT_THAT(aml::word_const(1), ElementsAre(0x0B, 0x01, 0x00));
  EXPECT_THAT(aml::dword_const(0x12345678), ElementsAre(0x0C, 0x78, 0x56, 0x34, 0x12));
  EXPECT_THAT(aml::qword_const(2), ElementsAre(0x0E, 2, 0, 0, 0, 0, 0, 0, 0));
}

TEST(AmlNameString, Forms) {
  EXPECT_THAT(aml::name_string("_HID"), ElementsAre('_', 'H', 'I', 'D'));
  EXPECT_THAT(aml::name_string("PS2"), ElementsAre('P', 'S', '2', '_'));
  EXPECT_THAT(aml::name_string("\\_SB_"), ElementsAre('\\', '_', 'S', 'B', '_'));
  EXPECT_THAT(aml::name_string("\\_SB_.COM1"),
              ElementsAre('\\', 0x2E, '_', 'S', 'B', '_', 'C', 'O', 'M', '1'));
  EXPECT_THAT(aml::name_string("\\_SB.PCI0.ISA"),
              ElementsAre('\\', 0x2F, 3, '_', 'S', 'B', '_', 'P', 'C', 'I', '0', 'I', 'S', 'A', '_'));
  EXPECT_THAT(aml::name_string("^^V000"), ElementsAre('^', '^', 'V', '0', '0', '0'));
  EXPECT_THAT(aml::name_string("\\"), ElementsAre('\\', 0x00));
}

TEST(AmlNameString, RejectsBadNames) {
  for (const char* bad : {"", "1ABC", "ABCDE", "abcd", "A-B", "FOO.", "\\.FOO", "FOO..BAR"}) {
    EXPECT_THROW(aml::name_string(bad), Error) << bad;
  }
}

TEST(AmlString, NulTerminatedWithPrefix) {
  EXPECT_THAT(aml::string("LNRO0005"), ElementsAre(0x0D, 'L', 'N', 'R', 'O', '0', '0', '0', '5', 0x00));
  EXPECT_THAT(aml::string(""), ElementsAre(0x0D, 0x00));
  EXPECT_THROW(aml::string(std::string_view("a\0b", 3)), Error);
}

TEST(AmlEisaId, CompressesLikeIasl) {
  EXPECT_EQ(aml::eisa_id_value("PNP0501"), 0x0105d041u);
  EXPECT_EQ(aml::eisa_id_value("PNP0303"), 0x0303d041u);
  EXPECT_EQ(aml::eisa_id_value("PNP0A08"), 0x080ad041u);
  EXPECT_THAT(aml::eisa_id("PNP0501"), ElementsAre(0x0C, 0x41, 0xD0, 0x05, 0x01));
}

TEST(AmlEisaId, RejectsMalformed) {
  for (const char* bad : {"pnp0501", "PNP050", "PNP05011", "PNP050G", "P1P0501", "PNP050a"}) {
    EXPECT_THROW(aml::eisa_id_value(bad), Error) << bad;
  }
}

TEST(AmlName, NameOpThenNameThenValue) {
  EXPECT_THAT(aml::name("_UID", aml::integer(0)), ElementsAre(0x08, '_', 'U', 'I', 'D', 0x00));
  EXPECT_THAT(aml::name("_HID", aml::eisa_id("PNP0501")),
              ElementsAre(0x08, '_', 'H', 'I', 'D', 0x0C, 0x41, 0xD0, 0x05, 0x01));
}

TEST(AmlPackage, CountAndLength) {
  EXPECT_THAT(aml::package({aml::integer(1), aml::string("a")}),
              ElementsAre(0x12, 0x06, 0x02, 0x01, 0x0D, 'a', 0x00));
  EXPECT_THAT(aml::package({}), ElementsAre(0x12, 0x02, 0x00));
  EXPECT_THROW(aml::package(std::vector<Bytes>(256, aml::integer(0))), Error);
}

TEST(AmlBuffer, SizeThenBytes) {
  const uint8_t data[] = {1, 2, 3};
  EXPECT_THAT(aml::buffer(data), ElementsAre(0x11, 0x06, 0x0A, 0x03, 1, 2, 3));
}

TEST(AmlMethod, StaReturningConstant) {
  Bytes sta = aml::method("_STA", 0, false, {aml::return_value(aml::byte_const(0x0F))});
  EXPECT_THAT(sta, ElementsAre(0x14, 0x09, '_', 'S', 'T', 'A', 0x00, 0xA4, 0x0A, 0x0F));
  Bytes m = aml::method("MTHD", 2, true, {});
  EXPECT_THAT(m, ElementsAre(0x14, 0x06, 'M', 'T', 'H', 'D', 0x0A));
  EXPECT_THROW(aml::method("MTHD", 8, false, {}), Error);
}

TEST(AmlDevice, ExtOpDeviceWithBody) {
  EXPECT_THAT(aml::device("COM1", {aml::name("_UID", aml::integer(0))}),
              ElementsAre(0x5B, 0x82, 0x0B, 'C', 'O', 'M', '1', 0x08, '_', 'U', 'I', 'D', 0x00));
}

TEST(AmlScope, PkgLengthCoversNameAndBodyAcrossForms) {
  // "\_SB_" is 5 bytes; pick bodies that land on the one/two/three-byte boundaries.
  for (size_t filler : {57u, 58u, 4088u, 4089u, 5000u}) {
    Bytes s = aml::scope("\\_SB_", {Bytes(filler, 0xA3)});
    ASSERT_EQ(s[0], 0x10);
    test::PkgLen len = test::decode_pkg_length(s, 1);
    EXPECT_EQ(len.value, s.size() - 1) << filler;  // everything after the opcode
    EXPECT_EQ(s[1 + len.size], '\\') << filler;
  }
  EXPECT_EQ(aml::scope("\\_SB_", {Bytes(57, 0)}).size(), 1 + 1 + 5 + 57u);  // 63: one byte
  EXPECT_EQ(aml::scope("\\_SB_", {Bytes(58, 0)}).size(), 1 + 2 + 5 + 58u);  // 64: two bytes
}

}  // namespace
}  // namespace hearth::acpi
