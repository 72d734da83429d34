/* The guest's own identity map: 2 MiB pages over 0..max(4 GiB, end of RAM), at most 64 GiB. */
#pragma once
#include <stdint.h>

#include "bootinfo.h"

#define PAGING_MAX_BYTES (64ull << 30)

/* Builds the tables in .bss and switches CR3 to them. Pages below 4 GiB that hold no RAM
 * (the MMIO gap, LAPIC/IOAPIC) are mapped uncached. */
void paging_init(const struct boot_info *bi);

/* True if [addr, addr+len) is inside the identity map, so touching it cannot page-fault. */
int paging_mapped(uint64_t addr, uint64_t len);
