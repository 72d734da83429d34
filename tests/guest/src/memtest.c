#include "memtest.h"

#include "paging.h"
#include "str.h"

#define PAGE 4096ull
#define LOW_LIMIT 0x100000ull

extern char __image_start[], __image_end[];

static uint64_t saved[PAGE / 8];

/* Two complementary address-dependent patterns catch stuck bits and aliased pages. */
static int test_page(uint64_t page, uint64_t *bad) {
  volatile uint64_t *p = (volatile uint64_t *)(uintptr_t)page;
  const uint64_t n = PAGE / 8;
  for (uint64_t i = 0; i < n; i++) saved[i] = p[i];
  int ok = 1;
  for (int pass = 0; pass < 2 && ok; pass++) {
    uint64_t flip = pass ? ~0ull : 0;
    for (uint64_t i = 0; i < n; i++) p[i] = ((page + i * 8) ^ 0x5a5aa5a5c3c33c3cull) ^ flip;
    for (uint64_t i = 0; i < n; i++) {
      if (p[i] != (((page + i * 8) ^ 0x5a5aa5a5c3c33c3cull) ^ flip)) {
        *bad = page + i * 8;
        ok = 0;
        break;
      }
    }
  }
  for (uint64_t i = 0; i < n; i++) p[i] = saved[i];
  return ok;
}

static int skip_page(uint64_t page) {
  uint64_t img_lo = (uint64_t)(uintptr_t)__image_start, img_hi = (uint64_t)(uintptr_t)__image_end;
  return page < LOW_LIMIT || (page < img_hi && page + PAGE > img_lo) || !paging_mapped(page, PAGE);
}

void memtest_run(const struct boot_info *bi, struct memtest_result *r) {
  memset(r, 0, sizeof *r);
  for (uint32_t i = 0; i < bi->e820_entries && !r->failed; i++) {
    const struct e820_entry *e = &bi->e820[i];
    if (e->type != E820_USABLE || e->addr + e->size < e->addr) continue;
    uint64_t first = (e->addr + PAGE - 1) & ~(PAGE - 1);
    uint64_t end = (e->addr + e->size) & ~(PAGE - 1);
    if (end < first + PAGE) continue;
    uint64_t pages[2] = {first, end - PAGE};
    int tested = 0;
    for (int k = 0; k < 2 && !r->failed; k++) {
      if ((k == 1 && pages[1] == pages[0]) || skip_page(pages[k])) continue;
      if (!test_page(pages[k], &r->bad_addr)) r->failed = 1;
      r->pages++;
      tested = 1;
    }
    if (tested) r->regions++;
  }
}
