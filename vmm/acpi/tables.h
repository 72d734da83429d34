#pragma once
// Byte images of the fixed-layout ACPI tables. Addresses of other tables are inputs, so the
// caller decides placement (see acpi.h) and tests can check bytes without guest memory.
#include <cstdint>
#include <vector>

#include "vmm/acpi/bytes.h"

namespace hearth::acpi {

inline constexpr size_t kRsdpSize = 36;
inline constexpr size_t kFadtSize = 276;
inline constexpr size_t kMadtHeaderSize = 44;
inline constexpr size_t kMadtLapicSize = 8;
inline constexpr size_t kMadtIoapicSize = 12;

// RSDP, ACPI 2.0+ form: revision 2, no RSDT, both checksums.
Bytes build_rsdp(uint64_t xsdt_addr);
// XSDT listing `tables` (64-bit physical addresses).
Bytes build_xsdt(const std::vector<uint64_t>& tables);
// FADT revision 6.5 for a hardware-reduced ACPI platform whose DSDT lives at dsdt_addr.
Bytes build_fadt(uint64_t dsdt_addr);
// MADT: one enabled Processor Local APIC per vCPU (APIC id = processor UID = vCPU index),
// one IOAPIC (id 0, GSI base 0). vcpu_count 1..254; addresses below 4 GiB.
Bytes build_madt(uint32_t vcpu_count, uint32_t lapic_addr, uint32_t ioapic_addr);

}  // namespace hearth::acpi
