#include "acpi.h"

#include "paging.h"
#include "printf.h"
#include "str.h"

#define SDT_HEADER_LEN 36
#define SDT_MAX_LEN (16u << 20) /* far above any real table; guards against garbage lengths */
#define MAX_SDT_ENTRIES 64
#define RSDP_V1_LEN 20
#define RSDP_SCAN_START 0xE0000
#define RSDP_SCAN_END 0x100000

/* FADT fields (ACPI 6.x, 5.2.9). */
#define FADT_DSDT 40
#define FADT_X_DSDT 140

/* MADT (ACPI 6.x, 5.2.12). */
#define MADT_ENTRIES 44
#define MADT_LAPIC 0
#define MADT_IOAPIC 1
#define MADT_X2APIC 9
#define MADT_ENABLED 1

/* Tables may be unaligned: read them bytewise. */
static uint64_t rd(uint64_t addr, int bytes) {
  uint64_t v = 0;
  for (int i = bytes - 1; i >= 0; i--) v = (v << 8) | *(const volatile uint8_t *)(uintptr_t)(addr + (uint64_t)i);
  return v;
}

static uint8_t sum(uint64_t addr, uint64_t len) {
  uint8_t s = 0;
  for (uint64_t i = 0; i < len; i++) s = (uint8_t)(s + rd(addr + i, 1));
  return s;
}

static int rsdp_valid(uint64_t a) {
  if (!paging_mapped(a, RSDP_V1_LEN) || memcmp((const void *)(uintptr_t)a, "RSD PTR ", 8) != 0) return 0;
  if (sum(a, RSDP_V1_LEN) != 0) return 0;
  if (rd(a + 15, 1) < 2) return 1; /* ACPI 1.0: no extended part */
  uint32_t len = (uint32_t)rd(a + 20, 4);
  return len >= 36 && len <= 4096 && paging_mapped(a, len) && sum(a, len) == 0;
}

static uint64_t rsdp_scan(void) {
  for (uint64_t a = RSDP_SCAN_START; a < RSDP_SCAN_END; a += 16)
    if (rsdp_valid(a)) return a;
  return 0;
}

static void signature(uint64_t addr, char out[5]) {
  for (int i = 0; i < 4; i++) {
    char c = (char)rd(addr + (uint64_t)i, 1);
    out[i] = (c >= 0x20 && c < 0x7f) ? c : '?';
  }
  out[4] = '\0';
}

/* Prints the table line; returns its length, or 0 if it cannot be used. */
static uint32_t check_table(struct acpi_info *ai, uint64_t addr, char sig[5]) {
  ai->tables++;
  if (!paging_mapped(addr, SDT_HEADER_LEN)) {
    printf("acpi: table at 0x%llx unreadable\n", (unsigned long long)addr);
    ai->bad_tables++;
    return 0;
  }
  signature(addr, sig);
  uint32_t len = (uint32_t)rd(addr + 4, 4);
  if (len < SDT_HEADER_LEN || len > SDT_MAX_LEN || !paging_mapped(addr, len)) {
    printf("acpi: table %s at 0x%llx len=%u checksum=bad\n", sig, (unsigned long long)addr, len);
    ai->bad_tables++;
    return 0;
  }
  int ok = sum(addr, len) == 0;
  printf("acpi: table %s at 0x%llx len=%u checksum=%s\n", sig, (unsigned long long)addr, len, ok ? "ok" : "bad");
  if (!ok) ai->bad_tables++;
  return ok ? len : 0;
}

static void parse_madt(struct acpi_info *ai, uint64_t madt, uint32_t len) {
  ai->madt_found = 1;
  for (uint32_t off = MADT_ENTRIES; off < len;) {
    if (len - off < 2) {
      ai->error = "MADT: truncated entry header";
      return;
    }
    uint8_t type = (uint8_t)rd(madt + off, 1), elen = (uint8_t)rd(madt + off + 1, 1);
    if (elen < 2 || elen > len - off) {
      ai->error = "MADT: bad entry length";
      return;
    }
    uint64_t e = madt + off;
    if (type == MADT_LAPIC && elen >= 8 && (rd(e + 4, 4) & MADT_ENABLED)) ai->cpus++;
    if (type == MADT_X2APIC && elen >= 16 && (rd(e + 8, 4) & MADT_ENABLED)) ai->cpus++;
    if (type == MADT_IOAPIC && elen >= 12 && !ai->ioapic_found) {
      ai->ioapic = rd(e + 4, 4);
      ai->ioapic_found = 1;
    }
    off += elen;
  }
}

static void check_fadt(struct acpi_info *ai, uint64_t fadt, uint32_t len) {
  uint64_t dsdt = 0;
  if (len >= FADT_X_DSDT + 8) dsdt = rd(fadt + FADT_X_DSDT, 8);
  if (!dsdt && len >= FADT_DSDT + 4) dsdt = rd(fadt + FADT_DSDT, 4);
  char sig[5];
  if (dsdt) check_table(ai, dsdt, sig);
}

void acpi_probe(uint64_t rsdp_hint, struct acpi_info *ai) {
  memset(ai, 0, sizeof *ai);
  if (rsdp_hint) {
    if (!rsdp_valid(rsdp_hint)) {
      printf("acpi: rsdp=0x%llx invalid\n", (unsigned long long)rsdp_hint);
      ai->error = "RSDP given by the loader is invalid";
      return;
    }
    ai->rsdp = rsdp_hint;
  } else {
    ai->rsdp = rsdp_scan();
  }
  if (!ai->rsdp) {
    printf("acpi: no rsdp\n");
    ai->error = "no RSDP found";
    return;
  }
  if (rd(ai->rsdp + 15, 1) >= 2) ai->xsdt = rd(ai->rsdp + 24, 8);
  ai->rsdt = rd(ai->rsdp + 16, 4);
  uint64_t root = ai->xsdt ? ai->xsdt : ai->rsdt;
  int entry_size = ai->xsdt ? 8 : 4;
  if (ai->xsdt)
    printf("acpi: rsdp=0x%llx xsdt=0x%llx\n", (unsigned long long)ai->rsdp, (unsigned long long)ai->xsdt);
  else
    printf("acpi: rsdp=0x%llx rsdt=0x%llx\n", (unsigned long long)ai->rsdp, (unsigned long long)ai->rsdt);

  char sig[5];
  uint32_t root_len = check_table(ai, root, sig);
  if (!root_len) {
    ai->error = "XSDT/RSDT unusable";
    return;
  }
  uint32_t n = (root_len - SDT_HEADER_LEN) / (uint32_t)entry_size;
  if (n > MAX_SDT_ENTRIES) n = MAX_SDT_ENTRIES;
  for (uint32_t i = 0; i < n; i++) {
    uint64_t t = rd(root + SDT_HEADER_LEN + (uint64_t)i * (uint64_t)entry_size, entry_size);
    uint32_t len = check_table(ai, t, sig);
    if (!len) continue;
    if (memcmp(sig, "FACP", 4) == 0) check_fadt(ai, t, len);
    if (memcmp(sig, "APIC", 4) == 0 && !ai->madt_found) parse_madt(ai, t, len);
  }
  printf("cpus=%u\n", ai->cpus);
  if (ai->ioapic_found)
    printf("ioapic=0x%llx\n", (unsigned long long)ai->ioapic);
  else
    printf("ioapic=none\n");
}
