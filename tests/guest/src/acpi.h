/* Finds the RSDP, walks the XSDT (or RSDT), checks every table's checksum and reads the MADT. */
#pragma once
#include <stdint.h>

struct acpi_info {
  uint64_t rsdp;
  uint64_t xsdt; /* 0 when only an RSDT exists */
  uint64_t rsdt;
  uint32_t tables;     /* tables listed, the DSDT included */
  uint32_t bad_tables; /* bad checksum, bad length or unreadable */
  int madt_found;
  uint32_t cpus;       /* enabled LAPIC + x2APIC entries */
  uint64_t ioapic;     /* first IOAPIC's address */
  int ioapic_found;
  const char *error;   /* structural problem (no RSDP, malformed MADT, ...), or NULL */
};

/* `rsdp_hint` comes from the boot protocol (0: scan the BIOS area). Prints the acpi:, cpus= and
 * ioapic= lines. Must run after paging_init(). */
void acpi_probe(uint64_t rsdp_hint, struct acpi_info *out);
