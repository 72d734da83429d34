/* `blk-read`: reads the whole first drive in large multi-descriptor requests (testguest.blk_req_kib,
 * default 1024, capped by what the device allows) and prints its SHA-256, which the runner compares with
 * sha256sum of the backing file. */
#include "blk_test.h"
#include "cmdline.h"
#include "printf.h"
#include "sha256.h"

#define DEFAULT_REQ_KIB 1024

static struct vblk blk;

static const char *run(struct guest_ctx *ctx) {
  if (sha256_self_check()) return "sha256 self-check failed";
  const char *why = blk_test_open(ctx, &blk);
  if (why) return why;
  uint64_t kib = DEFAULT_REQ_KIB;
  if (cmdline_get_u64(ctx->boot->cmdline, "testguest.blk_req_kib", &kib) < 0 || kib == 0 || kib > DEFAULT_REQ_KIB)
    return "testguest.blk_req_kib is not a decimal number in 1..1024";
  const uint32_t per_req = blk_test_req_sectors(&blk, (uint32_t)kib << 10);
  struct sha256 h;
  sha256_init(&h);
  uint64_t requests = 0;
  for (uint64_t s = 0; s < blk.capacity; s += per_req, requests++) {
    uint32_t n = blk.capacity - s < per_req ? (uint32_t)(blk.capacity - s) : per_req;
    if (vblk_rw(&blk, VBLK_T_IN, s, blk_test_buf, n * VBLK_SECTOR)) return blk_test_fail(ctx, &blk, "read");
    sha256_update(&h, blk_test_buf, (size_t)n * VBLK_SECTOR);
  }
  uint8_t digest[32];
  char hex[65];
  sha256_final(&h, digest);
  printf("BLK READ requests=%llu bytes_per_request=%u\n", (unsigned long long)requests, per_req * VBLK_SECTOR);
  printf("BLK READ sectors=%llu sha256=%s\n", (unsigned long long)blk.capacity, sha256_hex(digest, hex));
  return 0;
}

SELFTEST("blk-read", run);
