/* `pio-rate`: testguest.pio_count (default 20000) single-byte writes to an I/O port no device claims, timed
 * with the TSC, for host benchmarks of the exit path (bench/seccomp_bench.py). Each write is one
 * KVM_EXIT_IO to the VMM and one KVM_RUN back, and nothing else. */
#include "cmdline.h"
#include "io.h"
#include "printf.h"
#include "selftest.h"
#include "tsc.h"

/* Unclaimed by Hearth (its PIO bus holds only the UART at 0x3f8 and the i8042 at 0x60/0x64; KVM's irqchip and
 * PIT take 0x20/0xa0/0x4d0 and 0x40-0x43/0x61) and by QEMU microvm (`info mtree`: pic, pit, kvmvapic 0x7e,
 * serial, elcr, fw_cfg 0x510). Not 0x80: POST/io-delay port, which some VMMs give a device. Hearth logs an
 * unclaimed port only at Debug level. */
#define PIO_RATE_PORT 0x3e0
#define DEFAULT_COUNT 20000u
#define MAX_COUNT 10000000u

static const char *run(struct guest_ctx *ctx) {
  uint64_t count = DEFAULT_COUNT;
  if (cmdline_get_u64(ctx->boot->cmdline, "testguest.pio_count", &count) < 0 || count == 0 || count > MAX_COUNT)
    return "testguest.pio_count is not a decimal number in 1..10000000";
  const char *source;
  const uint64_t khz = tsc_khz(&source);
  /* The host times the loop from this line to the next: the PIT calibration above is noisy on a loaded host. */
  printf("pio-rate: start count=%llu port=0x%x\n", (unsigned long long)count, PIO_RATE_PORT);
  const uint64_t start = rdtsc();
  for (uint64_t i = 0; i < count; ++i) outb(PIO_RATE_PORT, (uint8_t)i);
  uint64_t ticks = rdtsc() - start;
  if (!ticks) ticks = 1;
  /* ticks * 10^6 could overflow after a long run, so divide in two steps. */
  const uint64_t ns_total = ticks / khz * 1000000 + ticks % khz * 1000000 / khz;
  const uint64_t centi_ns = ns_total * 100 / count;
  printf("pio-rate: count=%llu port=0x%x ticks=%llu ns_per_exit=%llu.%02llu tsc_khz=%llu source=%s\n",
         (unsigned long long)count, PIO_RATE_PORT, (unsigned long long)ticks, (unsigned long long)(centi_ns / 100),
         (unsigned long long)(centi_ns % 100), (unsigned long long)khz, source);
  return 0;
}

SELFTEST("pio-rate", run);
