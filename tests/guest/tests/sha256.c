/* `sha256`: the guest's SHA-256 against the FIPS 180-2 test vectors. */
#include "printf.h"
#include "selftest.h"
#include "sha256.h"

static const char *run(struct guest_ctx *ctx) {
  const char *bad = sha256_self_check();
  if (bad) {
    snprintf(ctx->fail_reason, sizeof ctx->fail_reason, "sha256: wrong digest, expected %s", bad);
    return ctx->fail_reason;
  }
  printf("SHA256 ok\n");
  return 0;
}

SELFTEST("sha256", run);
