/* `blk-bench`: sequential read of the whole drive in 128 KiB requests, then random 4 KiB reads
 * (testguest.bench_ops, default 20000) at queue depth testguest.bench_qd (default 1), timed by the TSC. */
#include "blk_test.h"
#include "cmdline.h"
#include "io.h"
#include "printf.h"
#include "tsc.h"

#define SEQ_BYTES (128u << 10)
#define RAND_SECTORS 8u /* 4 KiB */
#define DEFAULT_OPS 20000ull
#define MAX_OPS 10000000ull

static struct vblk blk;

struct plan {
  uint64_t ops, next;    /* total and issued so far */
  uint64_t seq_sector;   /* sequential: next sector */
  uint32_t seq_sectors;  /* sequential: sectors per request; 0 = random 4 KiB */
  uint64_t lcg;
};

static void next_op(struct plan *p, uint64_t *sector, uint32_t *sectors) {
  if (p->seq_sectors) {
    *sector = p->seq_sector;
    *sectors = blk.capacity - p->seq_sector < p->seq_sectors ? (uint32_t)(blk.capacity - p->seq_sector)
                                                               : p->seq_sectors;
    p->seq_sector += *sectors;
  } else {
    p->lcg = p->lcg * 6364136223846793005ull + 1442695040888963407ull; /* Knuth's MMIX LCG */
    *sector = ((p->lcg >> 33) % (blk.capacity / RAND_SECTORS)) * RAND_SECTORS;
    *sectors = RAND_SECTORS;
  }
}

/* Keeps up to qd requests in flight until p->ops have completed; returns TSC ticks or 0 on failure. */
static uint64_t run_plan(struct guest_ctx *ctx, struct plan *p, uint32_t qd, const char **why) {
  uint32_t free_slots[VBLK_MAX_SLOTS], nfree = 0, busy = 0;
  for (uint32_t s = qd; s-- > 0;) free_slots[nfree++] = s;
  uint64_t start = rdtsc();
  while (p->next < p->ops || busy) {
    while (nfree && p->next < p->ops) {
      uint32_t slot = free_slots[--nfree], sectors;
      uint64_t sector;
      next_op(p, &sector, &sectors);
      uint8_t *buf = blk_test_buf + (uint64_t)slot * (BLK_TEST_BUF_BYTES / VBLK_MAX_SLOTS);
      if (vblk_submit(&blk, slot, VBLK_T_IN, sector, buf, sectors * VBLK_SECTOR) < 0) {
        *why = blk_test_fail(ctx, &blk, "submit");
        return 0;
      }
      p->next++, busy++;
    }
    uint32_t slot;
    uint8_t status;
    if (vblk_reap(&blk, &slot, &status) < 0) {
      *why = blk_test_fail(ctx, &blk, "read");
      return 0;
    }
    if (status != VBLK_S_OK) {
      snprintf(ctx->fail_reason, sizeof ctx->fail_reason, "blk-bench: read completed with status %u", status);
      *why = ctx->fail_reason;
      return 0;
    }
    free_slots[nfree++] = slot, busy--;
  }
  uint64_t ticks = rdtsc() - start;
  return ticks ? ticks : 1;
}

static uint64_t ticks_to_us(uint64_t ticks) { return ticks * 1000 / tsc_khz(0); }

static const char *run(struct guest_ctx *ctx) {
  const char *why = blk_test_open(ctx, &blk);
  if (why) return why;
  blk.check_isr = 0; /* measure the queue, not two extra MMIO exits per request; checked by the other tests */
  uint64_t ops = DEFAULT_OPS, qd = 1;
  if (cmdline_get_u64(ctx->boot->cmdline, "testguest.bench_ops", &ops) < 0 || ops > MAX_OPS)
    return "testguest.bench_ops is not a decimal number <= 10000000";
  if (cmdline_get_u64(ctx->boot->cmdline, "testguest.bench_qd", &qd) < 0 || qd == 0)
    return "testguest.bench_qd is not a positive decimal number";
  if (qd > blk.slots) qd = blk.slots;
  uint32_t seq_sectors = blk_test_req_sectors(&blk, SEQ_BYTES);
  if (BLK_TEST_BUF_BYTES / VBLK_MAX_SLOTS < SEQ_BYTES || seq_sectors == 0) return "blk-bench: buffer too small";
  if (blk.capacity < RAND_SECTORS) return "blk-bench: drive smaller than 4 KiB";

  struct plan seq = {.ops = (blk.capacity + seq_sectors - 1) / seq_sectors, .seq_sectors = seq_sectors};
  uint64_t seq_ticks = run_plan(ctx, &seq, (uint32_t)qd, &why);
  if (!seq_ticks) return why;
  struct plan rnd = {.ops = ops, .lcg = 0x2545F4914F6CDD1Dull};
  uint64_t rand_ticks = ops ? run_plan(ctx, &rnd, (uint32_t)qd, &why) : 1;
  if (!rand_ticks) return why;

  uint64_t seq_bytes = blk.capacity * VBLK_SECTOR, seq_us = ticks_to_us(seq_ticks), rand_us = ticks_to_us(rand_ticks);
  uint64_t mb_s_x10 = seq_us ? seq_bytes * 10 / seq_us : 0; /* bytes per µs = MB/s */
  uint64_t iops = rand_us ? ops * 1000000 / rand_us : 0;
  printf("BLK BENCH qd=%llu seq_request_bytes=%u tsc_khz=%llu\n", (unsigned long long)qd, seq_sectors * VBLK_SECTOR,
         (unsigned long long)tsc_khz(0));
  printf("BLK BENCH seq_bytes=%llu seq_us=%llu seq_mb_s=%llu.%llu rand_ops=%llu rand_us=%llu rand_iops=%llu\n",
         (unsigned long long)seq_bytes, (unsigned long long)seq_us, (unsigned long long)(mb_s_x10 / 10),
         (unsigned long long)(mb_s_x10 % 10), (unsigned long long)ops, (unsigned long long)rand_us,
         (unsigned long long)iops);
  return 0;
}

SELFTEST("blk-bench", run);
