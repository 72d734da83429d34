/* Boot flow shared by both entry paths: report what the VMM gave us, run one self-test, reset. */
#include "acpi.h"
#include "boot_defs.h"
#include "bootinfo.h"
#include "cmdline.h"
#include "idt.h"
#include "io.h"
#include "memtest.h"
#include "paging.h"
#include "printf.h"
#include "reset.h"
#include "selftest.h"
#include "serial.h"
#include "tsc.h"

/* Hearth's boot-timer device (layout.h kBootTimerAddr); QEMU ignores the write. */
#define BOOT_TIMER_ADDR 0xD0000000ull
#define BOOT_TIMER_MAGIC 123
#define MAX_HOLD_MS 3600000ull

void guest_main(int kind, uint64_t boot_ptr) __attribute__((noreturn));

static struct boot_info boot;
static struct acpi_info acpi;
static struct memtest_result memtest;
static struct guest_ctx ctx;

__attribute__((noreturn)) static void finish(const char *fail_reason) {
  if (fail_reason)
    printf("TESTGUEST FAIL %s\n", fail_reason);
  else
    printf("TESTGUEST PASS\n");
  machine_reset();
}

static const char *e820_type_name(uint32_t type, char buf[16]) {
  switch (type) {
    case E820_USABLE: return "usable";
    case E820_RESERVED: return "reserved";
    case E820_ACPI: return "ACPI";
    case E820_NVS: return "NVS";
    default: snprintf(buf, 16, "type %u", type); return buf;
  }
}

static void print_memory_map(void) {
  uint64_t usable = 0;
  for (uint32_t i = 0; i < boot.e820_entries; i++) {
    const struct e820_entry *e = &boot.e820[i];
    char type[16];
    uint64_t last = e->size ? e->addr + e->size - 1 : e->addr;
    printf("e820: [mem 0x%016llx-0x%016llx] %s\n", (unsigned long long)e->addr, (unsigned long long)last,
           e820_type_name(e->type, type));
    if (e->type == E820_USABLE) usable += e->size;
  }
  ctx.ram_total_mib = usable >> 20;
  printf("ram_total_mib=%llu\n", (unsigned long long)ctx.ram_total_mib);
}

static void print_hypervisor(void) {
  if (!(cpuid(1, 0).ecx & (1u << 31))) {
    printf("hypervisor=none\n");
    return;
  }
  struct cpuid_regs r = cpuid(0x40000000, 0);
  uint32_t words[3] = {r.ebx, r.ecx, r.edx};
  char sig[13];
  int n = 0;
  /* KVM pads "KVMKVMKVM" with NULs: stop there; mask anything unprintable. */
  for (int i = 0; i < 12; i++) {
    char c = (char)(words[i / 4] >> (8 * (i % 4)));
    if (!c) break;
    sig[n++] = (c >= 0x20 && c < 0x7f) ? c : '?';
  }
  sig[n] = '\0';
  printf("hypervisor=%s\n", sig);
}

/* What CPUID says about this CPU's place in the topology (leaf 0xB when the VMM offers it). */
static void print_topology(void) {
  const uint32_t apic_id = cpuid(1, 0).ebx >> 24;
  if (cpuid(0, 0).eax < 0xb) {
    printf("topology: apic_id=%u\n", apic_id);
    return;
  }
  const struct cpuid_regs smt = cpuid(0xb, 0), core = cpuid(0xb, 1);
  printf("topology: apic_id=%u smt_threads=%u logical=%u x2apic_id=%u\n", apic_id, smt.ebx & 0xffff,
         core.ebx & 0xffff, smt.edx);
}

static void hold(void) {
  uint64_t ms = 0;
  int r = cmdline_get_u64(boot.cmdline, "testguest.hold_ms", &ms);
  if (r < 0) finish("testguest.hold_ms is not a decimal number");
  if (r == 0 || ms == 0) return;
  if (ms > MAX_HOLD_MS) ms = MAX_HOLD_MS;
  const char *source;
  uint64_t khz = tsc_khz(&source);
  printf("hold: ms=%llu tsc_khz=%llu source=%s\n", (unsigned long long)ms, (unsigned long long)khz, source);
  delay_ms(ms);
}

void guest_main(int kind, uint64_t boot_ptr) {
  serial_init();
  /* First, so the first serial byte measures the VMM and the boot protocol, not the guest's own set-up. */
  printf("TESTGUEST START boot=%s\n", kind == BOOT_KIND_PVH ? "pvh" : "linux64");
  idt_init();
  bootinfo_parse(&boot, kind, boot_ptr);
  paging_init(&boot);
  mmio_write8(BOOT_TIMER_ADDR, BOOT_TIMER_MAGIC);

  printf("cmdline: %s\n", boot.cmdline);
  if (boot.cmdline_truncated) finish("command line longer than the guest's buffer");
  if (boot.error) finish(boot.error);
  print_memory_map();

  acpi_probe(boot.rsdp, &acpi);
  print_hypervisor();
  print_topology();
  memtest_run(&boot, &memtest);
  if (memtest.failed)
    printf("memtest: FAIL at 0x%llx\n", (unsigned long long)memtest.bad_addr);
  else
    printf("memtest: ok regions=%u\n", memtest.regions);

  ctx.boot = &boot;
  ctx.acpi = &acpi;
  ctx.memtest = &memtest;
  char name[64] = "boot";
  cmdline_get(boot.cmdline, "testguest.run", name, sizeof name);
  const struct selftest *t = selftest_find(name);
  if (!t) {
    snprintf(ctx.fail_reason, sizeof ctx.fail_reason, "unknown test '%s'", name);
    finish(ctx.fail_reason);
  }
  printf("test: %s\n", t->name);
  const char *why = t->run(&ctx);
  hold();
  finish(why);
}
