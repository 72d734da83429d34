/* Shared by the blk-* self-tests: one large DMA buffer and the open-or-fail boilerplate. */
#pragma once
#include <stdint.h>

#include "selftest.h"
#include "virtio_blk.h"

#define BLK_TEST_BUF_BYTES (2u << 20) /* room for VBLK_MAX_SLOTS requests of 128 KiB, or one of 1 MiB */

extern uint8_t blk_test_buf[BLK_TEST_BUF_BYTES];

/* Opens the first virtio-blk device; NULL, or the reason (in ctx->fail_reason). */
const char *blk_test_open(struct guest_ctx *ctx, struct vblk *b);
/* Copies b->err (prefixed by `what`) into ctx->fail_reason and returns it. */
const char *blk_test_fail(struct guest_ctx *ctx, const struct vblk *b, const char *what);
/* Largest request, in sectors, up to `limit_bytes`. */
uint32_t blk_test_req_sectors(const struct vblk *b, uint32_t limit_bytes);
