/* Shared by the rng* self-tests: opening the device with testguest.rng_timeout_ms and reading a number of
 * bytes in requests of given sizes, tolerating short answers. */
#pragma once
#include <stdint.h>

#include "selftest.h"
#include "virtio_rng.h"

#define RNG_TEST_MAX_REQ 4096u /* largest single request */

struct rng_collect_stats {
  uint32_t requests; /* requests sent */
  uint32_t short_reads; /* of which the device filled less than asked */
};

/* Opens the first virtio-rng device, `default_timeout_ms` per wait unless testguest.rng_timeout_ms says
 * otherwise; NULL, or the reason (in ctx->fail_reason). */
const char *rng_test_open(struct guest_ctx *ctx, struct vrng *r, uint32_t default_timeout_ms);
/* Copies r->err (prefixed by `what`) into ctx->fail_reason and returns it. */
const char *rng_test_fail(struct guest_ctx *ctx, const struct vrng *r, const char *what);
/* Fills dst[0..total) from the device, one request at a time; request k asks for
 * min(sizes[k % nsizes], what is still missing) bytes (each <= RNG_TEST_MAX_REQ) and keeps the used.len bytes
 * it got. Also checks the device wrote nothing past the buffer it was given. NULL or why not. */
const char *rng_test_collect(struct guest_ctx *ctx, struct vrng *r, uint8_t *dst, uint32_t total,
                             const uint32_t *sizes, uint32_t nsizes, struct rng_collect_stats *st);
