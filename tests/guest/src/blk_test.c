#include "blk_test.h"

#include "noclear.h"
#include "printf.h"

NOCLEAR uint8_t blk_test_buf[BLK_TEST_BUF_BYTES] __attribute__((aligned(4096)));

const char *blk_test_fail(struct guest_ctx *ctx, const struct vblk *b, const char *what) {
  snprintf(ctx->fail_reason, sizeof ctx->fail_reason, "%s: %s", what, b->err);
  return ctx->fail_reason;
}

const char *blk_test_open(struct guest_ctx *ctx, struct vblk *b) {
  return vblk_open(b, ctx->boot) ? blk_test_fail(ctx, b, "open") : 0;
}

uint32_t blk_test_req_sectors(const struct vblk *b, uint32_t limit_bytes) {
  uint32_t bytes = b->max_req_bytes < limit_bytes ? b->max_req_bytes : limit_bytes;
  if (bytes > BLK_TEST_BUF_BYTES) bytes = BLK_TEST_BUF_BYTES;
  return bytes / VBLK_SECTOR;
}
