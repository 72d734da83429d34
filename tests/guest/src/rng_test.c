#include "rng_test.h"

#include "cmdline.h"
#include "printf.h"
#include "str.h"

#define GUARD_BYTES 64
#define GUARD 0xa5
#define MAX_TIMEOUT_MS 3600000ull

/* Device-visible request buffer with a guard area behind the largest request. */
static uint8_t req_buf[RNG_TEST_MAX_REQ + GUARD_BYTES] __attribute__((aligned(4096)));

const char *rng_test_fail(struct guest_ctx *ctx, const struct vrng *r, const char *what) {
  snprintf(ctx->fail_reason, sizeof ctx->fail_reason, "%s: %s", what, r->err);
  return ctx->fail_reason;
}

const char *rng_test_open(struct guest_ctx *ctx, struct vrng *r, uint32_t default_timeout_ms) {
  uint64_t ms = default_timeout_ms;
  if (cmdline_get_u64(ctx->boot->cmdline, "testguest.rng_timeout_ms", &ms) < 0 || ms == 0 || ms > MAX_TIMEOUT_MS)
    return "testguest.rng_timeout_ms is not a decimal number in 1..3600000";
  return vrng_open(r, ctx->boot, (uint32_t)ms) ? rng_test_fail(ctx, r, "rng") : 0;
}

const char *rng_test_collect(struct guest_ctx *ctx, struct vrng *r, uint8_t *dst, uint32_t total,
                             const uint32_t *sizes, uint32_t nsizes, struct rng_collect_stats *st) {
  st->requests = st->short_reads = 0;
  for (uint32_t got = 0; got < total;) {
    uint32_t want = sizes[st->requests % nsizes];
    if (want > total - got) want = total - got;
    if (want == 0 || want > RNG_TEST_MAX_REQ) return "rng: bad request size";
    /* Zeroes, so a device that reports bytes it never wrote shows up in the bias checks. */
    memset(req_buf, 0, want);
    memset(req_buf + want, GUARD, GUARD_BYTES);
    int n = vrng_read(r, req_buf, want);
    st->requests++;
    if (n < 0) {
      snprintf(ctx->fail_reason, sizeof ctx->fail_reason, "rng: request %u (%u bytes, %u of %u collected): %s",
               st->requests, want, got, total, r->err);
      return ctx->fail_reason;
    }
    for (uint32_t i = 0; i < GUARD_BYTES; i++)
      if (req_buf[want + i] != GUARD) {
        snprintf(ctx->fail_reason, sizeof ctx->fail_reason,
                 "rng: device wrote past the end of a %u-byte buffer (byte %u)", want, want + i);
        return ctx->fail_reason;
      }
    if ((uint32_t)n < want) st->short_reads++;
    memcpy(dst + got, req_buf, (uint32_t)n);
    got += (uint32_t)n;
  }
  return 0;
}
