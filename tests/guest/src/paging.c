#include "paging.h"

#include "boot_defs.h"
#include "io.h"

#define PD_PAGES (PAGING_MAX_BYTES >> 30)
#define PAGE_2M (2ull << 20)
#define FOUR_GIB (4ull << 30)

/* Also used by the 32-bit PVH entry (boot32.S) for its early 0..4 GiB map. */
uint64_t pt_pml4[512] __attribute__((aligned(4096)));
uint64_t pt_pdpt[512] __attribute__((aligned(4096)));
uint64_t pt_pd[PD_PAGES * 512] __attribute__((aligned(4096)));

static uint64_t mapped_limit;

static int is_ram_type(uint32_t type) { return type == E820_USABLE || type == E820_ACPI || type == E820_NVS; }

static int overlaps_ram(const struct boot_info *bi, uint64_t start, uint64_t end) {
  for (uint32_t i = 0; i < bi->e820_entries; i++) {
    const struct e820_entry *e = &bi->e820[i];
    uint64_t e_end = e->addr + e->size < e->addr ? UINT64_MAX : e->addr + e->size;
    if (is_ram_type(e->type) && e->addr < end && start < e_end) return 1;
  }
  return 0;
}

void paging_init(const struct boot_info *bi) {
  uint64_t limit = FOUR_GIB;
  for (uint32_t i = 0; i < bi->e820_entries; i++) {
    const struct e820_entry *e = &bi->e820[i];
    uint64_t end = e->addr + e->size;
    if (e->type == E820_USABLE && end > limit && end >= e->addr) limit = end;
  }
  if (limit > PAGING_MAX_BYTES) limit = PAGING_MAX_BYTES;
  limit = (limit + (1ull << 30) - 1) & ~((1ull << 30) - 1);

  for (uint64_t addr = 0; addr < limit; addr += PAGE_2M) {
    uint64_t pte = addr | PTE_P_RW | PTE_PS;
    if (addr < FOUR_GIB && !overlaps_ram(bi, addr, addr + PAGE_2M)) pte |= PTE_PCD | PTE_PWT;
    pt_pd[addr / PAGE_2M] = pte;
  }
  for (uint64_t gib = 0; gib < limit >> 30; gib++) pt_pdpt[gib] = (uint64_t)(uintptr_t)&pt_pd[gib * 512] | PTE_P_RW;
  pt_pml4[0] = (uint64_t)(uintptr_t)pt_pdpt | PTE_P_RW;
  write_cr3((uint64_t)(uintptr_t)pt_pml4);
  mapped_limit = limit;
}

int paging_mapped(uint64_t addr, uint64_t len) { return addr < mapped_limit && len <= mapped_limit - addr; }
