#include "bootinfo.h"

#include "boot_defs.h"
#include "str.h"

/* struct boot_params offsets (Documentation/arch/x86/zero-page.rst, boot.rst). */
#define BP_ACPI_RSDP_ADDR 0x070
#define BP_EXT_CMD_LINE_PTR 0x0c8
#define BP_E820_ENTRIES 0x1e8
#define BP_CMD_LINE_PTR 0x228
#define BP_E820_TABLE 0x2d0
#define BP_E820_ENTRY_SIZE 20
#define BP_E820_MAX 128

/* struct hvm_start_info (xen/include/public/arch-x86/hvm/start_info.h). */
#define PVH_MAGIC 0x336ec578
#define PVH_MAGIC_OFF 0
#define PVH_VERSION 4
#define PVH_CMDLINE_PADDR 24
#define PVH_RSDP_PADDR 32
#define PVH_MEMMAP_PADDR 40
#define PVH_MEMMAP_ENTRIES 48
#define PVH_MEMMAP_ENTRY_SIZE 24

/* The loader's structures must lie inside the boot-time identity map (0..4 GiB). */
#define BOOT_MAP_LIMIT 0x100000000ull

static uint64_t rd64(uint64_t a) { return *(const volatile uint64_t *)(uintptr_t)a; }
static uint32_t rd32(uint64_t a) { return *(const volatile uint32_t *)(uintptr_t)a; }
static uint8_t rd8(uint64_t a) { return *(const volatile uint8_t *)(uintptr_t)a; }

static int in_boot_map(uint64_t addr, uint64_t len) {
  return addr != 0 && addr < BOOT_MAP_LIMIT && len <= BOOT_MAP_LIMIT - addr;
}

static void copy_cmdline(struct boot_info *bi, uint64_t addr) {
  bi->cmdline[0] = '\0';
  if (addr == 0) return;
  if (!in_boot_map(addr, 1)) {
    bi->error = "command line address outside the first 4 GiB";
    return;
  }
  uint64_t n = 0;
  while (n + 1 < CMDLINE_MAX && addr + n < BOOT_MAP_LIMIT) {
    char c = (char)rd8(addr + n);
    if (!c) break;
    bi->cmdline[n++] = c;
  }
  bi->cmdline[n] = '\0';
  bi->cmdline_truncated = addr + n < BOOT_MAP_LIMIT && rd8(addr + n) != 0;
}

static void add_e820(struct boot_info *bi, uint64_t addr, uint64_t size, uint32_t type) {
  if (bi->e820_entries >= E820_MAX_ENTRIES) return;
  struct e820_entry *e = &bi->e820[bi->e820_entries++];
  e->addr = addr;
  e->size = size;
  e->type = type;
}

static void parse_linux64(struct boot_info *bi, uint64_t bp) {
  if (!in_boot_map(bp, 0x1000)) {
    bi->error = "boot_params pointer (RSI) outside the first 4 GiB";
    return;
  }
  bi->rsdp = rd64(bp + BP_ACPI_RSDP_ADDR);
  uint64_t cmd = rd32(bp + BP_CMD_LINE_PTR) | ((uint64_t)rd32(bp + BP_EXT_CMD_LINE_PTR) << 32);
  copy_cmdline(bi, cmd);
  uint32_t n = rd8(bp + BP_E820_ENTRIES);
  if (n > BP_E820_MAX) n = BP_E820_MAX;
  for (uint32_t i = 0; i < n; i++) {
    uint64_t e = bp + BP_E820_TABLE + (uint64_t)i * BP_E820_ENTRY_SIZE;
    add_e820(bi, rd64(e), rd64(e + 8), rd32(e + 16));
  }
}

static void parse_pvh(struct boot_info *bi, uint64_t si) {
  if (!in_boot_map(si, 56)) {
    bi->error = "hvm_start_info pointer (EBX) invalid";
    return;
  }
  if (rd32(si + PVH_MAGIC_OFF) != PVH_MAGIC) {
    bi->error = "hvm_start_info magic mismatch";
    return;
  }
  uint32_t version = rd32(si + PVH_VERSION);
  bi->rsdp = rd64(si + PVH_RSDP_PADDR);
  copy_cmdline(bi, rd64(si + PVH_CMDLINE_PADDR));
  if (version < 1) return; /* no memory map: reported as an empty e820 */
  uint64_t map = rd64(si + PVH_MEMMAP_PADDR);
  uint32_t n = rd32(si + PVH_MEMMAP_ENTRIES);
  if (n > E820_MAX_ENTRIES) n = E820_MAX_ENTRIES;
  if (n && !in_boot_map(map, (uint64_t)n * PVH_MEMMAP_ENTRY_SIZE)) {
    bi->error = "hvm_start_info memmap outside the first 4 GiB";
    return;
  }
  for (uint32_t i = 0; i < n; i++) {
    uint64_t e = map + (uint64_t)i * PVH_MEMMAP_ENTRY_SIZE;
    add_e820(bi, rd64(e), rd64(e + 8), rd32(e + 16));
  }
}

void bootinfo_parse(struct boot_info *bi, int kind, uint64_t ptr) {
  memset(bi, 0, sizeof *bi);
  bi->kind = kind;
  if (kind == BOOT_KIND_PVH)
    parse_pvh(bi, ptr);
  else
    parse_linux64(bi, ptr);
  if (!bi->error && bi->e820_entries == 0) bi->error = "empty e820 map";
}
