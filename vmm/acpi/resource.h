#pragma once
// ACPI resource descriptors (ACPI spec 6.4) and ResourceTemplate, the buffer a _CRS returns.
#include <cstdint>
#include <vector>

#include "vmm/acpi/bytes.h"

namespace hearth::acpi::res {

// IO(Decode16, min, max, alignment, length): small descriptor 0x47.
Bytes io_port(uint16_t min, uint16_t max, uint8_t alignment, uint8_t length);
// IRQNoFlags() {irq}: small descriptor 0x22, ISA IRQ 0..15 (edge, active high, exclusive).
Bytes irq_no_flags(uint8_t irq);
// Memory32Fixed(ReadWrite|ReadOnly, base, length): large descriptor 0x86.
Bytes memory32_fixed(bool read_write, uint32_t base, uint32_t length);

struct InterruptFlags {
  bool edge = true;         // false: level-triggered
  bool active_low = false;
  bool shared = false;
  bool wake_capable = false;
};
// Interrupt(ResourceConsumer, ...) {irq}: large Extended Interrupt descriptor 0x89, one GSI.
Bytes extended_interrupt(uint32_t irq, InterruptFlags flags = {});

// ResourceTemplate() { descriptors } as an AML Buffer, closed by an End Tag whose checksum byte
// makes the descriptor bytes sum to zero.
Bytes resource_template(const std::vector<Bytes>& descriptors);

}  // namespace hearth::acpi::res
