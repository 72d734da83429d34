/* What the guest learns from its loader, in one shape for both boot protocols. */
#pragma once
#include <stdint.h>

#define E820_MAX_ENTRIES 128
#define CMDLINE_MAX 4096

enum e820_type { E820_USABLE = 1, E820_RESERVED = 2, E820_ACPI = 3, E820_NVS = 4 };

struct e820_entry {
  uint64_t addr;
  uint64_t size;
  uint32_t type;
};

struct boot_info {
  int kind; /* BOOT_KIND_* */
  char cmdline[CMDLINE_MAX];
  int cmdline_truncated;
  uint64_t rsdp;  /* 0: not given, scan for it */
  struct e820_entry e820[E820_MAX_ENTRIES];
  uint32_t e820_entries;
  const char *error; /* why the boot info is unusable, or NULL */
};

/* Copies everything out of the loader's structures (they live in RAM the guest may later test).
 * `ptr` is struct boot_params (Linux) or struct hvm_start_info (PVH). */
void bootinfo_parse(struct boot_info *bi, int kind, uint64_t ptr);
