/* `boot`: the facts printed while booting must all be present and sane. */
#include "selftest.h"

static const char *run(struct guest_ctx *ctx) {
  const struct acpi_info *a = ctx->acpi;
  if (a->error) return a->error;
  if (!a->rsdp) return "no RSDP";
  if (a->bad_tables) return "ACPI table with a bad checksum or length";
  if (!a->madt_found) return "no MADT";
  if (a->cpus < 1) return "MADT lists no enabled CPU";
  if (!a->ioapic_found) return "MADT lists no IOAPIC";
  if (ctx->memtest->failed) return "memtest failed";
  if (ctx->memtest->regions < 1) return "memtest found no usable region to test";
  if (ctx->ram_total_mib < 1) return "less than 1 MiB of usable RAM";
  return 0;
}

SELFTEST("boot", run);
