/* `rng-rate`: reads 2048 bytes in requests of testguest.rng_req bytes (default 512, at most 4096) and prints
 * how long that took, for host tests of a rate limiter. Waits up to testguest.rng_timeout_ms (default 60 s)
 * for each request, so a throttled device only makes it slow. */
#include "cmdline.h"
#include "io.h"
#include "printf.h"
#include "rng_test.h"
#include "tsc.h"

#define BYTES 2048u
#define DEFAULT_REQ 512u
#define DEFAULT_TIMEOUT_MS 60000u

static struct vrng rng;
static uint8_t data[BYTES];

static const char *run(struct guest_ctx *ctx) {
  uint64_t req = DEFAULT_REQ;
  if (cmdline_get_u64(ctx->boot->cmdline, "testguest.rng_req", &req) < 0 || req == 0 || req > RNG_TEST_MAX_REQ)
    return "testguest.rng_req is not a decimal number in 1..4096";
  const char *why = rng_test_open(ctx, &rng, DEFAULT_TIMEOUT_MS);
  if (why) return why;
  const char *source;
  const uint64_t khz = tsc_khz(&source);
  const uint32_t size = (uint32_t)req;
  struct rng_collect_stats st;
  const uint64_t start = rdtsc();
  why = rng_test_collect(ctx, &rng, data, BYTES, &size, 1, &st);
  uint64_t ticks = rdtsc() - start;
  if (why) return why;
  if (!ticks) ticks = 1;
  const uint64_t us = ticks * 1000 / khz;
  printf("rng-rate: bytes=%u requests=%u short=%u ticks=%llu us=%llu bytes_per_s=%llu tsc_khz=%llu source=%s\n", BYTES,
         st.requests, st.short_reads, (unsigned long long)ticks, (unsigned long long)us,
         (unsigned long long)(us ? (uint64_t)BYTES * 1000000 / us : 0), (unsigned long long)khz, source);
  return 0;
}

SELFTEST("rng-rate", run);
