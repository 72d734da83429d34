#include "tsc.h"

#include "io.h"

#define PIT_HZ 1193182ull
#define PIT_CH0 0x40
#define PIT_CH2 0x42
#define PIT_CMD 0x43
#define PIT_CMD_CH0_LOHI_MODE0 0x30
#define PIT_CMD_CH2_LOHI_MODE0 0xB0
#define PIT_READBACK_CH0_STATUS 0xE2 /* latch status only, channel 0 */
#define PIT_STATUS_OUT 0x80
#define PORT_B 0x61 /* bit 0: ch2 gate, bit 1: speaker, bit 5: ch2 output */
#define CALIBRATE_MS 10
#define PIT_LATCH (PIT_HZ * CALIBRATE_MS / 1000)
#define FALLBACK_KHZ 2000000ull
#define MIN_KHZ 100000ull     /* anything outside 100 MHz .. 20 GHz is a broken measurement */
#define MAX_KHZ 20000000ull

static uint64_t cached_khz;
static const char *cached_source;

static uint64_t from_cpuid(void) {
  uint32_t max = cpuid(0, 0).eax;
  if (max >= 0x15) {
    struct cpuid_regs r = cpuid(0x15, 0); /* TSC/crystal ratio EBX/EAX, crystal Hz in ECX */
    if (r.eax && r.ebx && r.ecx) return (uint64_t)r.ecx * r.ebx / r.eax / 1000;
  }
  if (max >= 0x16) {
    uint32_t mhz = cpuid(0x16, 0).eax & 0xffff; /* base frequency, MHz */
    if (mhz) return (uint64_t)mhz * 1000;
  }
  return 0;
}

static uint64_t khz_or_zero(uint64_t ticks) {
  uint64_t khz = ticks / CALIBRATE_MS;
  return khz >= MIN_KHZ && khz <= MAX_KHZ ? khz : 0;
}

/* Mode 0 on channel 2 (gated through port 0x61, as Linux does): OUT2 rises when the count expires. */
static uint64_t from_pit_ch2(void) {
  uint8_t b = inb(PORT_B);
  outb(PORT_B, (uint8_t)((b & ~0x02) | 0x01));
  uint8_t check = inb(PORT_B);
  if ((check & 0x03) != 0x01) return 0; /* no port 0x61 (QEMU microvm): the gate cannot be opened */
  outb(PIT_CMD, PIT_CMD_CH2_LOHI_MODE0);
  outb(PIT_CH2, (uint8_t)PIT_LATCH);
  outb(PIT_CH2, (uint8_t)(PIT_LATCH >> 8));
  uint64_t t0 = rdtsc(), t1 = t0;
  int started_low = !(inb(PORT_B) & 0x20);
  while (started_low) {
    t1 = rdtsc();
    if ((inb(PORT_B) & 0x20) || t1 - t0 > MAX_KHZ * CALIBRATE_MS) break;
  }
  outb(PORT_B, b);
  return started_low ? khz_or_zero(t1 - t0) : 0;
}

/* Same on channel 0, whose gate is always open; OUT0 is read with the read-back command. */
static uint64_t from_pit_ch0(void) {
  outb(PIT_CMD, PIT_CMD_CH0_LOHI_MODE0);
  outb(PIT_CH0, (uint8_t)PIT_LATCH);
  outb(PIT_CH0, (uint8_t)(PIT_LATCH >> 8));
  uint64_t t0 = rdtsc(), t1 = t0;
  for (;;) {
    t1 = rdtsc();
    outb(PIT_CMD, PIT_READBACK_CH0_STATUS);
    if ((inb(PIT_CH0) & PIT_STATUS_OUT) || t1 - t0 > MAX_KHZ * CALIBRATE_MS) break;
  }
  return khz_or_zero(t1 - t0);
}

uint64_t tsc_khz(const char **source) {
  if (!cached_khz) {
    cached_source = "cpuid";
    cached_khz = from_cpuid();
    if (!cached_khz) cached_source = "pit-ch2", cached_khz = from_pit_ch2();
    if (!cached_khz) cached_source = "pit-ch0", cached_khz = from_pit_ch0();
    if (!cached_khz) cached_source = "guess", cached_khz = FALLBACK_KHZ;
  }
  if (source) *source = cached_source;
  return cached_khz;
}

void delay_ms(uint64_t ms) {
  uint64_t khz = tsc_khz(0);
  uint64_t start = rdtsc();
  while (rdtsc() - start < ms * khz) cpu_relax();
}
