/* `cpuid`: prints the CPUID leaves that CPU templates change, one line each,
 *   CPUID <leaf>.<subleaf> eax=<hex> ebx=<hex> ecx=<hex> edx=<hex>
 * (leaves above the maximum the CPU reports are skipped), then IA32_ARCH_CAPABILITIES
 *   MSR 0000010a=<hex>
 * only when CPUID.7.0:EDX[29] says it exists (reading a missing MSR faults), else `MSR 0000010a absent`.
 * testguest.cpuid_rounds=N (default 1) repeats it N times, `cpuid: round=<k>` first, testguest.cpuid_gap_ms=M
 * (default 100) apart, so a snapshot taken meanwhile shows what the restored vCPU reports. */
#include "cmdline.h"
#include "io.h"
#include "printf.h"
#include "selftest.h"
#include "tsc.h"

#define IA32_ARCH_CAPABILITIES 0x10au
#define LEAF7_EDX_ARCH_CAPABILITIES (1u << 29)

static const struct {
  uint32_t leaf, subleaf;
} leaves[] = {{0x0, 0},        {0x1, 0},        {0x6, 0},        {0x7, 0},        {0x7, 1},
              {0xd, 0},        {0xd, 1},        {0x80000001, 0}, {0x80000007, 0}, {0x80000008, 0}};

static inline uint64_t rdmsr(uint32_t msr) {
  uint32_t lo, hi;
  __asm__ volatile("rdmsr" : "=a"(lo), "=d"(hi) : "c"(msr));
  return ((uint64_t)hi << 32) | lo;
}

static void print_round(void) {
  const uint32_t max_basic = cpuid(0, 0).eax;
  const uint32_t max_ext = cpuid(0x80000000u, 0).eax;
  for (unsigned i = 0; i < sizeof leaves / sizeof leaves[0]; i++) {
    const uint32_t leaf = leaves[i].leaf, sub = leaves[i].subleaf;
    if (leaf >= 0x80000000u ? leaf > max_ext : leaf > max_basic) continue;
    const struct cpuid_regs r = cpuid(leaf, sub);
    printf("CPUID %08x.%02x eax=%08x ebx=%08x ecx=%08x edx=%08x\n", leaf, sub, r.eax, r.ebx, r.ecx, r.edx);
  }
  if (max_basic >= 7 && (cpuid(7, 0).edx & LEAF7_EDX_ARCH_CAPABILITIES)) {
    printf("MSR %08x=%016llx\n", IA32_ARCH_CAPABILITIES, (unsigned long long)rdmsr(IA32_ARCH_CAPABILITIES));
  } else {
    printf("MSR %08x absent\n", IA32_ARCH_CAPABILITIES);
  }
}

static const char *run(struct guest_ctx *ctx) {
  uint64_t rounds = 1, gap_ms = 100;
  if (cmdline_get_u64(ctx->boot->cmdline, "testguest.cpuid_rounds", &rounds) < 0 ||
      cmdline_get_u64(ctx->boot->cmdline, "testguest.cpuid_gap_ms", &gap_ms) < 0) {
    return "bad testguest.cpuid_rounds or testguest.cpuid_gap_ms";
  }
  for (uint64_t k = 1; k <= rounds; k++) {
    if (rounds > 1) printf("cpuid: round=%llu\n", (unsigned long long)k);
    print_round();
    if (k < rounds) delay_ms(gap_ms);
  }
  return 0;
}

SELFTEST("cpuid", run);
