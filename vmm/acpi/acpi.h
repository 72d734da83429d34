#pragma once
// Entry point: place the ACPI tables for a microVM in guest memory.
#include <cstdint>
#include <string>
#include <vector>

#include "vmm/acpi/bytes.h"
#include "vmm/acpi/description.h"
#include "vmm/memory/guest_memory.h"

namespace hearth::acpi {

struct PlacedTable {
  std::string name;  // "RSDP", "XSDT", "FACP", "APIC", "DSDT"
  uint64_t addr;
  Bytes bytes;
};

// Builds every table and assigns addresses: RSDP at `base` (16-byte aligned, where Linux scans),
// then XSDT, FADT, MADT, DSDT, each 8-byte aligned, all inside [base, limit).
// Throws Error naming the table that does not fit, or the Description field that is invalid.
std::vector<PlacedTable> place_tables(const Description& desc, uint64_t base, uint64_t limit);

// place_tables() then writes them. Returns the RSDP address. Throws Error naming the table
// when one falls outside guest memory.
uint64_t write_tables(const GuestMemory& mem, const Description& desc, uint64_t base, uint64_t limit);

}  // namespace hearth::acpi
