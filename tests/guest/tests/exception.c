/* `exception`: executes ud2, so harnesses can check the IDT reports
 * "TESTGUEST FAIL exception 6 rip=0x..." and the VM still ends. */
#include "selftest.h"

static const char *run(struct guest_ctx *ctx) {
  (void)ctx;
  __asm__ volatile("ud2");
  return "ud2 did not raise #UD";
}

SELFTEST("exception", run);
