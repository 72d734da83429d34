/* Pattern test of the first and last 4 KiB page of every usable e820 region. */
#pragma once
#include <stdint.h>

#include "bootinfo.h"

struct memtest_result {
  uint32_t regions; /* usable regions with at least one page tested */
  uint32_t pages;
  uint64_t bad_addr; /* first failing address, valid when failed */
  int failed;
};

/* Skips memory below 1 MiB, the guest image (code, data, stack, page tables) and anything
 * outside the identity map. The old contents are restored, so loader data survive. */
void memtest_run(const struct boot_info *bi, struct memtest_result *out);
