/* `blk-id`: GET_ID into a 20-byte buffer; prints the ID up to its first NUL. */
#include "blk_test.h"
#include "printf.h"

static struct vblk blk;
static uint8_t id[VBLK_ID_BYTES + 1];

static const char *run(struct guest_ctx *ctx) {
  const char *why = blk_test_open(ctx, &blk);
  if (why) return why;
  if (vblk_rw(&blk, VBLK_T_GET_ID, 0, id, VBLK_ID_BYTES)) return blk_test_fail(ctx, &blk, "get id");
  char text[VBLK_ID_BYTES + 1];
  uint32_t n = 0;
  for (; n < VBLK_ID_BYTES && id[n]; n++) text[n] = id[n] >= 0x20 && id[n] < 0x7f ? (char)id[n] : '?';
  text[n] = '\0';
  printf("BLK ID %s\n", text);
  return 0;
}

SELFTEST("blk-id", run);
