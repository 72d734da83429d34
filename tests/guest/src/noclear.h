#pragma once
/* Large buffers that are always written before they are read go here, not in .bss: the entry code clears
 * .bss with `rep stosq`, which the emulated guest of a nested host runs at ~15 MB/s, so 2.3 MiB of
 * buffers cost ~150 ms before the first serial byte. The VMM hands over zeroed RAM, but nothing relies on it. */
#define NOCLEAR __attribute__((section(".bss.noclear")))
