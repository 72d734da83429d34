/* `blk-ro`: a read-only drive must advertise VIRTIO_BLK_F_RO and fail writes with IOERR, unchanged. */
#include "blk_test.h"
#include "printf.h"
#include "str.h"

static struct vblk blk;
static uint8_t before[VBLK_SECTOR], attempt[VBLK_SECTOR];

static const char *run(struct guest_ctx *ctx) {
  const char *why = blk_test_open(ctx, &blk);
  if (why) return why;
  if (!blk.read_only) return "blk-ro: drive does not advertise VIRTIO_BLK_F_RO";
  if (vblk_rw(&blk, VBLK_T_IN, 0, before, VBLK_SECTOR)) return blk_test_fail(ctx, &blk, "read");
  for (uint32_t j = 0; j < VBLK_SECTOR; j++) attempt[j] = (uint8_t)~before[j]; /* a write would show */
  int st = vblk_request(&blk, VBLK_T_OUT, 0, attempt, VBLK_SECTOR);
  if (st < 0) return blk_test_fail(ctx, &blk, "write");
  if (st != VBLK_S_IOERR) {
    snprintf(ctx->fail_reason, sizeof ctx->fail_reason, "blk-ro: write completed with status %d, not IOERR", st);
    return ctx->fail_reason;
  }
  if (vblk_rw(&blk, VBLK_T_IN, 0, blk_test_buf, VBLK_SECTOR)) return blk_test_fail(ctx, &blk, "read after write");
  if (memcmp(before, blk_test_buf, VBLK_SECTOR)) return "blk-ro: sector 0 changed after a refused write";
  printf("BLK RO ok\n");
  return 0;
}

SELFTEST("blk-ro", run);
