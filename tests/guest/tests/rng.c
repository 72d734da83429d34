/* `rng`: reads 4096 bytes from the first virtio-rng device in requests of 64, 512, 1000 and 2520 bytes (one
 * at a time; short answers are kept and the rest asked for again), prints their SHA-256 and runs crude bias
 * checks: 48%..52% one bits, no byte value more than 40 times, and a second 4096-byte read that differs. */
#include "printf.h"
#include "rng_test.h"
#include "sha256.h"
#include "str.h"

#define BYTES 4096u
#define BITS (BYTES * 8u)
#define MAX_SAME_BYTE 40u /* expected 16 per value */

static struct vrng rng;
static uint8_t first[BYTES], second[BYTES];
static const uint32_t sizes[] = {64, 512, 1000, 2520};

static const char *digest_hex(const uint8_t *data, uint32_t len, char hex[65]) {
  struct sha256 h;
  uint8_t digest[32];
  sha256_init(&h);
  sha256_update(&h, data, len);
  sha256_final(&h, digest);
  return sha256_hex(digest, hex);
}

static const char *run(struct guest_ctx *ctx) {
  if (sha256_self_check()) return "sha256 self-check failed";
  const char *why = rng_test_open(ctx, &rng, VRNG_DEFAULT_TIMEOUT_MS);
  if (why) return why;
  struct rng_collect_stats st;
  if ((why = rng_test_collect(ctx, &rng, first, BYTES, sizes, 4, &st))) return why;
  printf("rng: requests=%u short=%u\n", st.requests, st.short_reads);
  char hex[65];
  printf("rng: bytes=%u sha256=%s\n", BYTES, digest_hex(first, BYTES, hex));

  uint32_t ones = 0, count[256] = {0};
  for (uint32_t i = 0; i < BYTES; i++) {
    count[first[i]]++;
    for (uint8_t b = first[i]; b; b &= (uint8_t)(b - 1)) ones++;
  }
  uint32_t max_count = 0, max_value = 0;
  for (uint32_t v = 0; v < 256; v++)
    if (count[v] > max_count) max_count = count[v], max_value = v;
  printf("rng: ones=%u/%u permille=%u max_byte_count=%u value=0x%02x\n", ones, BITS, ones * 1000u / BITS, max_count,
         max_value);

  if ((why = rng_test_collect(ctx, &rng, second, BYTES, sizes, 4, &st))) return why;
  const int same = memcmp(first, second, BYTES) == 0;
  printf("rng: second bytes=%u sha256=%s %s\n", BYTES, digest_hex(second, BYTES, hex), same ? "same" : "differs");

  if (ones * 100u < 48u * BITS || ones * 100u > 52u * BITS) {
    snprintf(ctx->fail_reason, sizeof ctx->fail_reason, "rng: %u of %u bits set, outside 48%%..52%%", ones, BITS);
    return ctx->fail_reason;
  }
  if (max_count > MAX_SAME_BYTE) {
    snprintf(ctx->fail_reason, sizeof ctx->fail_reason, "rng: byte 0x%02x occurs %u times in %u bytes (max %u)",
             max_value, max_count, BYTES, MAX_SAME_BYTE);
    return ctx->fail_reason;
  }
  if (same) return "rng: two successive 4096-byte reads returned the same bytes";
  printf("rng: ok\n");
  return 0;
}

SELFTEST("rng", run);
