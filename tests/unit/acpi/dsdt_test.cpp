#include "vmm/acpi/dsdt.h"

#include <map>
#include <string>

#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/unit/acpi/test_util.h"
#include "vmm/acpi/sdt.h"
#include "vmm/base/error.h"

namespace hearth::acpi {
namespace {

using test::chars;
using test::decode_pkg_length;
using test::find;
using test::npos;

Description sample(size_t virtio_count) { return test::sample_description(virtio_count, 2, false); }

// Device name -> body (what follows the name inside the Device), read from the \_SB_ scope.
std::map<std::string, Bytes> devices_in(const Bytes& dsdt) {
  std::map<std::string, Bytes> out;
  size_t off = kSdtHeaderSize;
  EXPECT_EQ(dsdt.at(off), 0x10) << "Scope";
  auto scope_len = decode_pkg_length(dsdt, off + 1);
  EXPECT_EQ(off + 1 + scope_len.value, dsdt.size()) << "scope spans the rest of the table";
  off += 1 + scope_len.size;
  EXPECT_EQ(chars(dsdt, off, 5), "\\_SB_");
  off += 5;
  while (off < dsdt.size()) {
    if (dsdt[off] != 0x5B || dsdt[off + 1] != 0x82) {
      ADD_FAILURE() << "expected Device at offset " << off;
      break;
    }
    auto len = decode_pkg_length(dsdt, off + 2);
    size_t end = off + 2 + len.value;
    if (end > dsdt.size()) {
      ADD_FAILURE() << "device overruns the table";
      break;
    }
    size_t name_at = off + 2 + len.size;
    out[std::string(chars(dsdt, name_at, 4))] = Bytes(dsdt.begin() + static_cast<std::ptrdiff_t>(name_at + 4),
                                                      dsdt.begin() + static_cast<std::ptrdiff_t>(end));
    off = end;
  }
  return out;
}

Bytes memory32(uint32_t base, uint32_t size) {
  Bytes b{0x86, 0x09, 0x00, 0x01};
  put_u32(b, base);
  put_u32(b, size);
  return b;
}

Bytes ext_irq(uint32_t irq) {
  Bytes b{0x89, 0x06, 0x00, 0x03, 0x01};
  put_u32(b, irq);
  return b;
}

TEST(Dsdt, HeaderAndChecksum) {
  Bytes t = build_dsdt(sample(3));
  EXPECT_EQ(chars(t, 0, 4), "DSDT");
  EXPECT_EQ(test::le32(t, 4), t.size());
  EXPECT_GE(t[8], 2) << "revision >= 2 for 64-bit integers";
  EXPECT_EQ(chars(t, 10, 6), "HEARTH");
  EXPECT_EQ(test::sum8(t), 0);
}

TEST(Dsdt, Com1IsPnp0501WithPortsAndIrq) {
  auto devs = devices_in(build_dsdt(sample(0)));
  ASSERT_EQ(devs.size(), 1u);
  ASSERT_TRUE(devs.contains("COM1"));
  const Bytes& com1 = devs["COM1"];
  const uint8_t hid[] = {0x08, '_', 'H', 'I', 'D', 0x0C, 0x41, 0xD0, 0x05, 0x01};
  EXPECT_NE(find(com1, hid), npos);
  const uint8_t io[] = {0x47, 0x01, 0xF8, 0x03, 0xF8, 0x03, 0x01, 0x08};
  EXPECT_NE(find(com1, io), npos);
  const uint8_t irq4[] = {0x22, 0x10, 0x00};
  EXPECT_NE(find(com1, irq4), npos);
}

TEST(Dsdt, OneDevicePerVirtioWindow) {
  for (size_t count : {1u, 3u, 32u}) {
    Bytes t = build_dsdt(sample(count));
    auto devs = devices_in(t);
    ASSERT_EQ(devs.size(), count + 1) << count;
    for (size_t i = 0; i < count; ++i) {
      std::string name = fmt::format("V{:03}", i);
      ASSERT_TRUE(devs.contains(name)) << name;
      const Bytes& dev = devs[name];
      EXPECT_NE(find(dev, std::string_view("_HID\x0DLNRO0005\0", 14)), npos) << name;
      size_t uid = find(dev, "_UID");
      ASSERT_NE(uid, npos) << name;
      // _UID = i, in its shortest encoding: ZeroOp, OneOp, then BytePrefix.
      Bytes uid_value = i == 0 ? Bytes{0x00} : i == 1 ? Bytes{0x01} : Bytes{0x0A, static_cast<uint8_t>(i)};
      EXPECT_TRUE(std::equal(uid_value.begin(), uid_value.end(), dev.begin() + static_cast<std::ptrdiff_t>(uid + 4)))
          << name;
      auto base = static_cast<uint32_t>(0xD0001000 + i * 0x1000);
      EXPECT_NE(find(dev, memory32(base, 0x1000)), npos) << name;
      EXPECT_NE(find(dev, ext_irq(static_cast<uint32_t>(5 + i))), npos) << name;
    }
  }
}

TEST(Dsdt, ManyDevicesUseLongerPkgLength) {
  Bytes t = build_dsdt(sample(32));
  EXPECT_GT(t.size(), 2000u);
  EXPECT_EQ(t[kSdtHeaderSize + 1] >> 6, 1) << "two-byte PkgLength for the scope";
}

TEST(Dsdt, I8042OnlyWhenDescribed) {
  Description d = sample(1);
  const uint8_t pnp0303[] = {0x0C, 0x41, 0xD0, 0x03, 0x03};
  EXPECT_FALSE(devices_in(build_dsdt(d)).contains("PS2_"));
  EXPECT_EQ(find(build_dsdt(d), pnp0303), npos);

  d.i8042 = I8042Device{0x60, 0x64, 1};
  auto devs = devices_in(build_dsdt(d));
  ASSERT_TRUE(devs.contains("PS2_"));
  const Bytes& ps2 = devs["PS2_"];
  EXPECT_NE(find(ps2, pnp0303), npos);
  const uint8_t data_port[] = {0x47, 0x01, 0x60, 0x00, 0x60, 0x00, 0x01, 0x01};
  const uint8_t cmd_port[] = {0x47, 0x01, 0x64, 0x00, 0x64, 0x00, 0x01, 0x01};
  const uint8_t irq1[] = {0x22, 0x02, 0x00};
  const uint8_t sta[] = {0x14, 0x09, '_', 'S', 'T', 'A', 0x00, 0xA4, 0x0A, 0x0F};
  EXPECT_NE(find(ps2, data_port), npos);
  EXPECT_NE(find(ps2, cmd_port), npos);
  EXPECT_NE(find(ps2, irq1), npos);
  EXPECT_NE(find(ps2, sta), npos);
}

TEST(Dsdt, RejectsWhatTheTablesCannotExpress) {
  auto expect_error = [](Description d, std::string_view field) {
    try {
      build_dsdt(d);
      ADD_FAILURE() << "no error for " << field;
    } catch (const Error& e) {
      EXPECT_NE(std::string_view(e.what()).find(field), npos) << e.what();
    }
  };
  Description d = sample(1);
  d.serial_irq = 16;
  expect_error(d, "serial_irq");
  d = sample(1);
  d.virtio_devices[0].size = 0;
  expect_error(d, "virtio device 0");
  d = sample(2);
  d.virtio_devices[1].base = 0xFFFFF800;
  expect_error(d, "virtio device 1");
  d = sample(1);
  d.virtio_devices[0].base = 0x1'0000'0000;
  expect_error(d, "virtio device 0");
  d = sample(0);
  d.vcpu_count = 0;
  expect_error(d, "vcpu_count");
  d = sample(0);
  d.ioapic_addr = 0x1'0000'0000;
  expect_error(d, "ioapic_addr");
  d = sample(0);
  d.i8042 = I8042Device{0x60, 0x64, 20};
  expect_error(d, "i8042");
}

}  // namespace
}  // namespace hearth::acpi
