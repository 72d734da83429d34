/* `blk-resize`: waits for a config-change interrupt (the host swapped or grew the backing file,
 * e.g. PATCH /drives), prints the new capacity and reads the new last sector. */
#include "blk_test.h"
#include "io.h"
#include "printf.h"
#include "tsc.h"

#define RESIZE_TIMEOUT_MS 30000
#define ISR_CONFIG_CHANGE 2u

static struct vblk blk;
static uint8_t sector[VBLK_SECTOR];

static const char *run(struct guest_ctx *ctx) {
  const char *why = blk_test_open(ctx, &blk);
  if (why) return why;
  printf("BLK RESIZE READY capacity=%llu\n", (unsigned long long)blk.capacity);
  const uint64_t deadline = rdtsc() + tsc_khz(0) * RESIZE_TIMEOUT_MS;
  while (!(vblk_wait_isr(&blk, ISR_CONFIG_CHANGE) & ISR_CONFIG_CHANGE)) {
    if (rdtsc() > deadline) return "no config-change interrupt within 30 s";
  }
  const uint64_t capacity = virtio_mmio_config64(&blk.mmio, 0);
  printf("BLK RESIZE capacity=%llu\n", (unsigned long long)capacity);
  if (capacity == 0) return "new capacity is 0";
  if (vblk_rw(&blk, VBLK_T_IN, capacity - 1, sector, VBLK_SECTOR)) return blk_test_fail(ctx, &blk, "read new last sector");
  printf("BLK RESIZE last sector byte0=%u\n", sector[0]);
  return 0;
}

SELFTEST("blk-resize", run);
