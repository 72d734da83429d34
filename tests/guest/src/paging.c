#include "paging.h"

#include "boot_defs.h"
#include "io.h"
#include "noclear.h"

#define PD_PAGES (PAGING_MAX_BYTES >> 30)
#define PAGE_2M (2ull << 20)
#define FOUR_GIB (4ull << 30)

/* Also used by the 32-bit PVH entry (boot32.S) for its early 0..4 GiB map. */
uint64_t pt_pml4[512] __attribute__((aligned(4096)));
uint64_t pt_pdpt[512] __attribute__((aligned(4096)));
/* Every entry below the mapped limit is written before CR3 points at it; the rest is unreachable. */
NOCLEAR uint64_t pt_pd[PD_PAGES * 512] __attribute__((aligned(4096)));

static uint64_t mapped_limit;

static int is_ram_type(uint32_t type) { return type == E820_USABLE || type == E820_ACPI || type == E820_NVS; }

/* Pages below 4 GiB start uncached; each RAM entry then makes the 2 MiB pages it touches cacheable. One pass
 * per e820 entry, not an e820 scan per page: 2048 scans cost ~100 ms of emulated guest time. */
static void mark_ram_cacheable(const struct boot_info *bi, uint64_t limit) {
  for (uint32_t i = 0; i < bi->e820_entries; i++) {
    const struct e820_entry *e = &bi->e820[i];
    if (!is_ram_type(e->type) || e->size == 0) continue;
    uint64_t end = e->addr + e->size < e->addr ? UINT64_MAX : e->addr + e->size;
    if (end > FOUR_GIB) end = FOUR_GIB;
    if (end > limit) end = limit;
    for (uint64_t addr = e->addr & ~(PAGE_2M - 1); addr < end; addr += PAGE_2M) {
      pt_pd[addr / PAGE_2M] &= ~(uint64_t)(PTE_PCD | PTE_PWT);
    }
  }
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
    pt_pd[addr / PAGE_2M] = addr | PTE_P_RW | PTE_PS | (addr < FOUR_GIB ? PTE_PCD | PTE_PWT : 0);
  }
  mark_ram_cacheable(bi, limit);
  for (uint64_t gib = 0; gib < limit >> 30; gib++) pt_pdpt[gib] = (uint64_t)(uintptr_t)&pt_pd[gib * 512] | PTE_P_RW;
  pt_pml4[0] = (uint64_t)(uintptr_t)pt_pdpt | PTE_P_RW;
  write_cr3((uint64_t)(uintptr_t)pt_pml4);
  mapped_limit = limit;
}

int paging_mapped(uint64_t addr, uint64_t len) { return addr < mapped_limit && len <= mapped_limit - addr; }
