#include "vmm/acpi/resource.h"

#include <fmt/format.h>

#include "vmm/acpi/aml.h"
#include "vmm/base/error.h"

namespace hearth::acpi::res {
namespace {

// Small descriptor tag byte: type in bits 6..3, length in bits 2..0.
constexpr uint8_t small_tag(uint8_t type, uint8_t len) { return static_cast<uint8_t>((type << 3) | len); }
constexpr uint8_t kIrqType = 0x04;
constexpr uint8_t kIoType = 0x08;
constexpr uint8_t kEndTagType = 0x0F;
// Large descriptor tag byte: bit 7 set, type in bits 6..0; a 16-bit length follows.
constexpr uint8_t kMemory32FixedTag = 0x86;
constexpr uint8_t kExtendedInterruptTag = 0x89;

}  // namespace

Bytes io_port(uint16_t min, uint16_t max, uint8_t alignment, uint8_t length) {
  if (min > max) throw Error(fmt::format("ACPI: IO range min {:#x} above max {:#x}", min, max));
  Bytes out{small_tag(kIoType, 7), 0x01};  // bit 0: decodes 16 address lines
  put_u16(out, min);
  put_u16(out, max);
  put_u8(out, alignment);
  put_u8(out, length);
  return out;
}

Bytes irq_no_flags(uint8_t irq) {
  if (irq > 15) throw Error(fmt::format("ACPI: IRQNoFlags irq {} is not an ISA irq (0..15)", irq));
  Bytes out{small_tag(kIrqType, 2)};
  put_u16(out, static_cast<uint16_t>(1u << irq));
  return out;
}

Bytes memory32_fixed(bool read_write, uint32_t base, uint32_t length) {
  if (uint64_t{base} + length > (uint64_t{1} << 32)) {
    throw Error(fmt::format("ACPI: Memory32Fixed {:#x}+{:#x} crosses 4 GiB", base, length));
  }
  Bytes out{kMemory32FixedTag};
  put_u16(out, 9);
  put_u8(out, read_write ? 1 : 0);
  put_u32(out, base);
  put_u32(out, length);
  return out;
}

Bytes extended_interrupt(uint32_t irq, InterruptFlags flags) {
  Bytes out{kExtendedInterruptTag};
  put_u16(out, 6);  // flags, count, one 32-bit interrupt number
  uint8_t f = 0x01;  // consumer
  if (flags.edge) f |= 0x02;
  if (flags.active_low) f |= 0x04;
  if (flags.shared) f |= 0x08;
  if (flags.wake_capable) f |= 0x10;
  put_u8(out, f);
  put_u8(out, 1);
  put_u32(out, irq);
  return out;
}

Bytes resource_template(const std::vector<Bytes>& descriptors) {
  Bytes data;
  for (const Bytes& d : descriptors) append(data, d);
  data.push_back(small_tag(kEndTagType, 1));
  data.push_back(0);
  data.back() = checksum(data);
  return aml::buffer(data);
}

}  // namespace hearth::acpi::res
