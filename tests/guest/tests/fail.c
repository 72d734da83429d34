/* `fail`: always fails, so harnesses can check that a failure is reported. */
#include "selftest.h"

static const char *run(struct guest_ctx *ctx) {
  (void)ctx;
  return "requested";
}

SELFTEST("fail", run);
