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
 * one read), so testguest.tick_ms=1 ticks about every 11 ms there.
 *
 * Dirtying (for live-migration tests), off unless testguest.dirty_pages=N > 0: an area of
 * testguest.dirty_area_pages=M pages (default 256, at most 16384, N <= M) plus its bookkeeping (last[page], one
 * u64 each) is carved from free RAM (the lowest usable e820 range above the guest image, 2 MiB aligned; an
 * initrd is not looked for), not .bss, so the image and every other test's boot stay as they were. Page p holds
 * 512 copies of one word f(t, p) (a bijective mix of t << 20 ^ p), t = last[p], the tick that last wrote it (0:
 * the fill at start). Each tick, after the pattern and blk checks: verifies N pages round-robin starting half the
 * area away from the writes (repe scasq against f(last[p], p)), then rewrites the next N pages round-robin with
 * f(tick, p) (rep stosq) and sets last[p] = tick; every time the write rotation wraps, and after the last tick,
 * it verifies the whole area. The tick line gets " dirty=ok" appended. Measured under the nested virtualisation
 * here (rep stosq / repe scasq: about 0.2-0.25 ms per page on a quiet host, 15-20 MB/s; a C compare loop is ten
 * times slower), tick_ms=1, no drive, M=256, median gap between tick lines, QEMU / Hearth, host load ~2.5 (~6):
 * N=0 6 / 6 ms (19 / 25), N=16 14 / 13 ms (49 / 61), N=64 31 / 44 ms (97 / 160); a tick that also checks the whole
 * area (1 MiB) takes 65-115 ms (260-420). The fill at start costs about one whole-area check. */
#include "blk_test.h"
#include "cmdline.h"
#include "noclear.h"
#include "paging.h"
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
#define PAGE_BYTES 4096u
#define PAGE_WORDS (PAGE_BYTES / 8)
#define DEFAULT_DIRTY_AREA_PAGES 256u
#define MAX_DIRTY_AREA_PAGES 16384u
#define DIRTY_ALIGN (2ull << 20)

static const char marker_text[] = "HEARTH COUNTER WRITE";

static struct vblk blk;
static volatile uint64_t counter;
NOCLEAR static uint64_t pattern[PATTERN_BYTES / 8] __attribute__((aligned(4096)));
NOCLEAR static uint8_t ring[RING_SLOTS][4096] __attribute__((aligned(4096)));
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

/* The dirtying area (see the header comment). Everything, cursors included, lives in guest memory, so a VM
 * that is moved or restored goes on with it. */
static struct {
  uint64_t *area; /* pages * PAGE_WORDS words, in free RAM */
  uint64_t *last; /* last[p]: the tick that last wrote page p, 0 for the fill at start; right after the area */
  uint32_t pages, per_tick;
  uint32_t next_write, next_verify;
  uint64_t full_checks;
} dirty;

extern char __image_end[];

/* The word page p holds after tick t wrote it: a bijection of (t << 20) ^ p (p < 2^14), so no two (t, p) share
 * a value and a page left from an older tick, another page or zeros is told apart. */
static uint64_t dirty_value(uint64_t t, uint32_t p) {
  uint64_t x = (t << 20) ^ p ^ 0x9e3779b97f4a7c15ull;
  x *= 0xff51afd7ed558ccdull;
  x ^= x >> 33;
  x *= 0xc4ceb9fe1a85ec53ull;
  return x ^ (x >> 29);
}

/* One string instruction each: fast when guest instructions are emulated. The ABI keeps DF clear. */
static void fill_words(uint64_t *dst, uint64_t v, uint64_t words) {
  __asm__ volatile("rep stosq" : "+D"(dst), "+c"(words) : "a"(v) : "memory");
}
/* Index of the first word of page p that is not v, or PAGE_WORDS when all are. */
static uint32_t scan_page(const uint64_t *p, uint64_t v) {
  uint64_t n = PAGE_WORDS;
  uint8_t ne;
  __asm__ volatile("repe scasq\n\tsetne %2"
                   : "+D"(p), "+c"(n), "=q"(ne)
                   : "a"(v), "m"(*(const uint64_t(*)[PAGE_WORDS])p)
                   : "cc");
  return ne ? (uint32_t)(PAGE_WORDS - 1 - n) : PAGE_WORDS;
}

/* Lowest usable RAM above the image, 2 MiB aligned, holding `bytes`, inside the identity map; 0 if none. */
static uint64_t find_free_ram(const struct boot_info *bi, uint64_t bytes) {
  const uint64_t floor = ((uint64_t)(uintptr_t)__image_end + DIRTY_ALIGN - 1) & ~(DIRTY_ALIGN - 1);
  uint64_t best = 0;
  for (uint32_t i = 0; i < bi->e820_entries; i++) {
    const struct e820_entry *e = &bi->e820[i];
    if (e->type != E820_USABLE || e->addr + e->size < e->addr) continue;
    uint64_t lo = (e->addr + DIRTY_ALIGN - 1) & ~(DIRTY_ALIGN - 1);
    if (lo < floor) lo = floor;
    const uint64_t hi = e->addr + e->size;
    if (lo >= hi || hi - lo < bytes || !paging_mapped(lo, bytes)) continue;
    if (!best || lo < best) best = lo;
  }
  return best;
}

static const char *dirty_setup(struct guest_ctx *ctx, uint64_t per_tick, uint64_t pages) {
  if (pages == 0 || pages > MAX_DIRTY_AREA_PAGES)
    return "counter: testguest.dirty_area_pages must be 1..16384";
  if (per_tick > pages) return "counter: testguest.dirty_pages must be <= testguest.dirty_area_pages";
  const uint64_t book = (pages * 8 + PAGE_BYTES - 1) & ~(uint64_t)(PAGE_BYTES - 1);
  const uint64_t base = find_free_ram(ctx->boot, pages * PAGE_BYTES + book);
  if (!base)
    return format_reason(ctx->fail_reason, sizeof ctx->fail_reason,
                         "counter: no free RAM for %llu dirty pages", (unsigned long long)pages);
  dirty.area = (uint64_t *)(uintptr_t)base;
  dirty.last = dirty.area + pages * PAGE_WORDS;
  dirty.pages = (uint32_t)pages;
  dirty.per_tick = (uint32_t)per_tick;
  dirty.next_write = 0;
  dirty.next_verify = (uint32_t)(pages / 2);
  fill_words(dirty.last, 0, pages);
  for (uint32_t p = 0; p < dirty.pages; p++)
    fill_words(dirty.area + (uint64_t)p * PAGE_WORDS, dirty_value(0, p), PAGE_WORDS);
  return 0;
}

static const char *dirty_verify(struct guest_ctx *ctx, uint32_t p, uint64_t tick) {
  const uint64_t *page = dirty.area + (uint64_t)p * PAGE_WORDS, want = dirty_value(dirty.last[p], p);
  const uint32_t w = scan_page(page, want);
  if (w == PAGE_WORDS) return 0;
  return format_reason(ctx->fail_reason, sizeof ctx->fail_reason,
                       "counter: dirty page %u word %u is 0x%llx, expected 0x%llx (tick %llu) at tick %llu", p, w,
                       (unsigned long long)page[w], (unsigned long long)want, (unsigned long long)dirty.last[p],
                       (unsigned long long)tick);
}

static const char *dirty_verify_all(struct guest_ctx *ctx, uint64_t tick) {
  for (uint32_t p = 0; p < dirty.pages; p++) {
    const char *why = dirty_verify(ctx, p, tick);
    if (why) return why;
  }
  dirty.full_checks++;
  return 0;
}

/* Tick t: verify N pages, rewrite the next N, and check everything when the writes wrapped around. */
static const char *dirty_tick(struct guest_ctx *ctx, uint64_t t) {
  for (uint32_t k = 0; k < dirty.per_tick; k++) {
    const char *why = dirty_verify(ctx, dirty.next_verify, t);
    if (why) return why;
    if (++dirty.next_verify == dirty.pages) dirty.next_verify = 0;
  }
  int wrapped = 0;
  for (uint32_t k = 0; k < dirty.per_tick; k++) {
    const uint32_t p = dirty.next_write;
    fill_words(dirty.area + (uint64_t)p * PAGE_WORDS, dirty_value(t, p), PAGE_WORDS);
    dirty.last[p] = t;
    if (++dirty.next_write == dirty.pages) {
      dirty.next_write = 0;
      wrapped = 1;
    }
  }
  return wrapped ? dirty_verify_all(ctx, t) : 0;
}

static const char *run(struct guest_ctx *ctx) {
  uint64_t ticks = 0, tick_ms = DEFAULT_TICK_MS;
  if (cmdline_get_u64(ctx->boot->cmdline, "testguest.ticks", &ticks) < 0)
    return "counter: testguest.ticks is not a decimal number";
  if (cmdline_get_u64(ctx->boot->cmdline, "testguest.tick_ms", &tick_ms) < 0 || tick_ms > MAX_TICK_MS)
    return "counter: testguest.tick_ms is not a decimal number <= 3600000";
  uint64_t dirty_pages = 0, dirty_area_pages = DEFAULT_DIRTY_AREA_PAGES;
  if (cmdline_get_u64(ctx->boot->cmdline, "testguest.dirty_pages", &dirty_pages) < 0)
    return "counter: testguest.dirty_pages is not a decimal number";
  if (cmdline_get_u64(ctx->boot->cmdline, "testguest.dirty_area_pages", &dirty_area_pages) < 0)
    return "counter: testguest.dirty_area_pages is not a decimal number";

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
  if (dirty_pages) {
    const char *why = dirty_setup(ctx, dirty_pages, dirty_area_pages);
    if (why) return why;
    printf("counter: start pattern_bytes=%u drive=%s dirty_pages=%u dirty_area_pages=%u dirty_base=0x%llx\n",
           PATTERN_BYTES, drive ? "yes" : "no", dirty.per_tick, dirty.pages,
           (unsigned long long)(uintptr_t)dirty.area);
  } else {
    printf("counter: start pattern_bytes=%u drive=%s\n", PATTERN_BYTES, drive ? "yes" : "no");
  }

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
    if (dirty.per_tick && (why = dirty_tick(ctx, t))) return why;
    printf("counter: tick=%llu pattern=ok blk=%s%s\n", (unsigned long long)t, drive ? "ok" : "none",
           dirty.per_tick ? " dirty=ok" : "");
    if (ticks && t >= ticks) break;
  }
  for (uint32_t chunk = 0; chunk < CHUNKS; chunk++) {
    const char *why = check_pattern(ctx, chunk, counter);
    if (why) return why;
  }
  if (dirty.per_tick) {
    const char *why = dirty_verify_all(ctx, counter);
    if (why) return why;
    printf("counter: done ticks=%llu dirty=ok full_checks=%llu\n", (unsigned long long)counter,
           (unsigned long long)dirty.full_checks);
  } else {
    printf("counter: done ticks=%llu\n", (unsigned long long)counter);
  }
  return 0;
}

SELFTEST("counter", run);
