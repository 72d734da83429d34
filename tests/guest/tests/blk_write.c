/* `blk-write`: writes a known pattern over sectors [0, n), flushes, reads it back and compares. Byte j of
 * sector s is (s*7 + j) & 0xff, so the runner can check the host file too. */
#include "blk_test.h"
#include "cmdline.h"
#include "printf.h"

#define REQ_BYTES (1u << 20)

static struct vblk blk;

/* Sector s holds bytes (s*7 + j) & 0xff: the ramp below, starting at (s*7) & 0xff. */
static uint8_t ramp[256 + VBLK_SECTOR];

/* 8 bytes at a time: guest instructions can be slow under nested virtualisation. */
typedef uint64_t __attribute__((may_alias, aligned(1))) unaligned_u64;

static const uint8_t *expected(uint64_t sector) { return ramp + ((sector * 7) & 0xff); }

static void fill(uint64_t first, uint32_t count) {
  for (uint32_t i = 0; i < count; i++) {
    unaligned_u64 *dst = (unaligned_u64 *)(blk_test_buf + i * VBLK_SECTOR);
    const unaligned_u64 *src = (const unaligned_u64 *)expected(first + i);
    for (uint32_t w = 0; w < VBLK_SECTOR / 8; w++) dst[w] = src[w];
  }
}

/* Index of the first differing byte of the sector at buf, or -1. */
static int first_difference(const uint8_t *buf, uint64_t sector) {
  const unaligned_u64 *got = (const unaligned_u64 *)buf, *want = (const unaligned_u64 *)expected(sector);
  for (uint32_t w = 0; w < VBLK_SECTOR / 8; w++)
    if (got[w] != want[w])
      for (uint32_t j = w * 8;; j++)
        if (buf[j] != expected(sector)[j]) return (int)j;
  return -1;
}

static const char *run(struct guest_ctx *ctx) {
  const char *why = blk_test_open(ctx, &blk);
  if (why) return why;
  if (blk.read_only) return "blk-write: drive advertises VIRTIO_BLK_F_RO";
  uint64_t n = blk.capacity;
  if (cmdline_get_u64(ctx->boot->cmdline, "testguest.blk_sectors", &n) < 0)
    return "testguest.blk_sectors is not a decimal number";
  if (n > blk.capacity) n = blk.capacity;
  const uint32_t per_req = blk_test_req_sectors(&blk, REQ_BYTES);
  for (uint32_t i = 0; i < sizeof ramp; i++) ramp[i] = (uint8_t)i;

  for (uint64_t s = 0; s < n; s += per_req) {
    uint32_t k = n - s < per_req ? (uint32_t)(n - s) : per_req;
    fill(s, k);
    if (vblk_rw(&blk, VBLK_T_OUT, s, blk_test_buf, k * VBLK_SECTOR)) return blk_test_fail(ctx, &blk, "write");
  }
  if (blk.has_flush) {
    if (vblk_rw(&blk, VBLK_T_FLUSH, 0, 0, 0)) return blk_test_fail(ctx, &blk, "flush");
    printf("BLK WRITE flushed\n");
  } else {
    printf("BLK WRITE flush not offered (VIRTIO_BLK_F_FLUSH clear): skipped\n");
  }
  for (uint64_t s = 0; s < n; s += per_req) {
    uint32_t k = n - s < per_req ? (uint32_t)(n - s) : per_req;
    if (vblk_rw(&blk, VBLK_T_IN, s, blk_test_buf, k * VBLK_SECTOR)) return blk_test_fail(ctx, &blk, "read back");
    for (uint32_t i = 0; i < k; i++) {
      int j = first_difference(blk_test_buf + i * VBLK_SECTOR, s + i);
      if (j >= 0) {
        snprintf(ctx->fail_reason, sizeof ctx->fail_reason, "blk-write: sector %llu byte %d reads 0x%02x, wrote 0x%02x",
                 (unsigned long long)(s + i), j, blk_test_buf[i * VBLK_SECTOR + (uint32_t)j], expected(s + i)[j]);
        return ctx->fail_reason;
      }
    }
  }
  printf("BLK WRITE sectors=%llu ok\n", (unsigned long long)n);
  return 0;
}

SELFTEST("blk-write", run);
