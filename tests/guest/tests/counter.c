/* `counter`: a guest that keeps running and checks, every tick, that its memory still holds what it and the
 * block device put there, so a snapshot test can restore it and see it continue where it stopped.
 *
 * At start: fills a 64 KiB pattern buffer (byte i = ((i*31 + 7) ^ (i >> 8)) & 0xff) and, with a virtio-blk
 * drive, writes the marker sector 1 ("HEARTH COUNTER WRITE" then '#' up to 512 bytes) and FLUSHes.
 * Each tick (testguest.tick_ms, default 100): increments the in-memory counter, verifies a 4 KiB chunk of the
 * pattern (chunk tick % 16, so all of it every 16 ticks) and, with a drive, verifies the sectors the device
 * read into the ring during the last 8 ticks, then reads sector 2 + tick % 9 into ring slot tick % 8. The ring
 * is written only by the device (DMA from the VMM), and 9 sectors over 8 slots means each read changes its
 * slot's bytes, so a restore that lost pages the VMM wrote fails the next tick. Drive content expected: byte j
 * of sector s = (s*7 + j) & 0xff (blk-write's pattern) for sectors 2..10.
 * testguest.ticks=<n> passes after n ticks (0 or absent: runs forever), after verifying the whole pattern once
 * more. A tick costs about 10 ms of guest time under nested virtualisation (4 KiB compare ~4 ms, 8 slots ~4 ms,
 * one read), so testguest.tick_ms=1 ticks about every 11 ms there. */
#include "blk_test.h"
#include "cmdline.h"
#include "printf.h"
#include "str.h"
#include "tsc.h"

#define PATTERN_BYTES (64u << 10)
#define CHUNK_BYTES (4u << 10)
#define CHUNKS (PATTERN_BYTES / CHUNK_BYTES)
#define RING_SLOTS 8u
#define RING_SECTORS 9u /* sectors 2..10, coprime to RING_SLOTS */
#define FIRST_RING_SECTOR 2u
#define MARKER_SECTOR 1u
#define DEFAULT_TICK_MS 100u
#define MAX_TICK_MS 3600000u

static const char marker_text[] = "HEARTH COUNTER WRITE";

static struct vblk blk;
static volatile uint64_t counter;
static uint64_t pattern[PATTERN_BYTES / 8] __attribute__((aligned(4096)));
static uint8_t ring[RING_SLOTS][4096] __attribute__((aligned(4096)));
static uint8_t marker[VBLK_SECTOR] __attribute__((aligned(4096)));
/* Sector s holds (s*7 + j) & 0xff: a ramp starting at (s*7) & 0xff. */
static uint8_t ramp[256 + VBLK_SECTOR];

typedef uint64_t __attribute__((may_alias, aligned(1))) unaligned_u64;

/* Word w of the pattern: bytes 8w..8w+7. (i*31 + 7) & 0xff repeats every 256 bytes and i >> 8 is the same
 * for all bytes of a 256-byte block, so a word is one of 32 base words xor the block number in every byte. */
static uint64_t base_words[256 / 8];
static uint64_t pattern_word(uint32_t w) { return base_words[w % 32] ^ ((uint64_t)(w / 32) * 0x0101010101010101ull); }

static void make_base_words(void) {
  for (uint32_t w = 0; w < 32; w++) {
    uint64_t v = 0;
    for (uint32_t k = 0; k < 8; k++) v |= (uint64_t)(((w * 8 + k) * 31 + 7) & 0xff) << (8 * k);
    base_words[w] = v;
  }
}

static const char *pattern_fail(struct guest_ctx *ctx, uint32_t w, uint64_t tick) {
  const uint64_t want = pattern_word(w), got = pattern[w];
  uint32_t k = 0;
  while (((got >> (8 * k)) & 0xff) == ((want >> (8 * k)) & 0xff)) k++;
  return format_reason(ctx->fail_reason, sizeof ctx->fail_reason,
                       "counter: pattern byte %u is 0x%02x, expected 0x%02x at tick %llu", w * 8 + k,
                       (unsigned)((got >> (8 * k)) & 0xff), (unsigned)((want >> (8 * k)) & 0xff),
                       (unsigned long long)tick);
}

/* One 256-byte block at a time (32 words against base_words xor the block number): few instructions per word,
 * as guest instructions can be slow under nested virtualisation. */
static const char *check_pattern(struct guest_ctx *ctx, uint32_t chunk, uint64_t tick) {
  const uint32_t first = chunk * (CHUNK_BYTES / 256), last = first + CHUNK_BYTES / 256;
  for (uint32_t b = first; b < last; b++) {
    const uint64_t x = (uint64_t)b * 0x0101010101010101ull, *p = &pattern[b * 32];
    uint64_t diff = 0;
    for (uint32_t k = 0; k < 32; k++) diff |= p[k] ^ base_words[k] ^ x;
    if (diff)
      for (uint32_t k = 0; k < 32; k++)
        if (p[k] != (base_words[k] ^ x)) return pattern_fail(ctx, b * 32 + k, tick);
  }
  return 0;
}

static uint32_t ring_sector(uint64_t tick) { return FIRST_RING_SECTOR + (uint32_t)(tick % RING_SECTORS); }

/* The slot filled at tick `filled` must hold its sector. */
static const char *check_slot(struct guest_ctx *ctx, uint64_t filled, uint64_t tick) {
  const uint32_t slot = (uint32_t)(filled % RING_SLOTS), sector = ring_sector(filled);
  const uint8_t *want = ramp + ((sector * 7) & 0xff), *got = ring[slot];
  const unaligned_u64 *g = (const unaligned_u64 *)got, *e = (const unaligned_u64 *)want;
  uint64_t diff = 0;
  for (uint32_t w = 0; w < VBLK_SECTOR / 8; w++) diff |= g[w] ^ e[w];
  if (diff)
    for (uint32_t j = 0;; j++)
      if (got[j] != want[j])
        return format_reason(ctx->fail_reason, sizeof ctx->fail_reason,
                             "counter: blk slot %u (sector %u, read at tick %llu) byte %u is 0x%02x, expected "
                             "0x%02x at tick %llu",
                             slot, sector, (unsigned long long)filled, j, got[j], want[j], (unsigned long long)tick);
  return 0;
}

static const char *blk_fail(struct guest_ctx *ctx, const char *what, uint64_t tick) {
  return format_reason(ctx->fail_reason, sizeof ctx->fail_reason, "counter: %s: %s at tick %llu", what, blk.err,
                       (unsigned long long)tick);
}

/* 1: a drive is there and open; 0: none; -1: it is there but could not be used (reason in ctx). */
static int open_drive(struct guest_ctx *ctx) {
  static const char none[] = "no virtio-blk device among";
  if (!vblk_open(&blk, ctx->boot)) return 1;
  if (!strncmp(blk.err, none, sizeof none - 1)) return 0;
  format_reason(ctx->fail_reason, sizeof ctx->fail_reason, "counter: drive: %s", blk.err);
  return -1;
}

static const char *run(struct guest_ctx *ctx) {
  uint64_t ticks = 0, tick_ms = DEFAULT_TICK_MS;
  if (cmdline_get_u64(ctx->boot->cmdline, "testguest.ticks", &ticks) < 0)
    return "counter: testguest.ticks is not a decimal number";
  if (cmdline_get_u64(ctx->boot->cmdline, "testguest.tick_ms", &tick_ms) < 0 || tick_ms > MAX_TICK_MS)
    return "counter: testguest.tick_ms is not a decimal number <= 3600000";

  make_base_words();
  for (uint32_t w = 0; w < PATTERN_BYTES / 8; w++) pattern[w] = pattern_word(w);
  for (uint32_t i = 0; i < sizeof ramp; i++) ramp[i] = (uint8_t)i;

  const int drive = open_drive(ctx);
  if (drive < 0) return ctx->fail_reason;
  if (drive) {
    if (blk.read_only) return "counter: drive advertises VIRTIO_BLK_F_RO";
    if (blk.capacity < FIRST_RING_SECTOR + RING_SECTORS)
      return "counter: drive has fewer than 11 sectors";
    memset(marker, '#', sizeof marker);
    memcpy(marker, marker_text, sizeof marker_text - 1);
    if (vblk_rw(&blk, VBLK_T_OUT, MARKER_SECTOR, marker, VBLK_SECTOR)) return blk_fail(ctx, "write marker", 0);
    if (blk.has_flush && vblk_rw(&blk, VBLK_T_FLUSH, 0, 0, 0)) return blk_fail(ctx, "flush", 0);
  }
  printf("counter: start pattern_bytes=%u drive=%s\n", PATTERN_BYTES, drive ? "yes" : "no");

  for (;;) {
    delay_ms(tick_ms);
    const uint64_t t = counter + 1;
    counter = t;
    const char *why = check_pattern(ctx, (uint32_t)(t % CHUNKS), t);
    if (why) return why;
    if (drive) {
      for (uint64_t back = 1; back <= RING_SLOTS && back < t; back++)
        if ((why = check_slot(ctx, t - back, t))) return why;
      if (vblk_rw(&blk, VBLK_T_IN, ring_sector(t), ring[t % RING_SLOTS], VBLK_SECTOR))
        return blk_fail(ctx, "read", t);
    }
    printf("counter: tick=%llu pattern=ok blk=%s\n", (unsigned long long)t, drive ? "ok" : "none");
    if (ticks && t >= ticks) break;
  }
  for (uint32_t chunk = 0; chunk < CHUNKS; chunk++) {
    const char *why = check_pattern(ctx, chunk, counter);
    if (why) return why;
  }
  printf("counter: done ticks=%llu\n", (unsigned long long)counter);
  return 0;
}

SELFTEST("counter", run);
