#include "virtio_balloon.h"

#include "io.h"
#include "printf.h"
#include "str.h"
#include "tsc.h"

static struct virtq_mem queue_mem[VBALLOON_MAX_QUEUES];
static uint32_t pfn_buf[VBALLOON_PFNS_MAX] __attribute__((aligned(64)));
static struct vballoon_stat stats_buf[16] __attribute__((aligned(64)));

#define fail(b, ...) format_reason((b)->err, sizeof (b)->err, __VA_ARGS__)

const char *vballoon_open(struct vballoon *b, const struct boot_info *bi, uint64_t wanted, uint32_t timeout_ms) {
  memset(b, 0, sizeof *b);
  b->timeout_tsc = (uint64_t)timeout_ms * tsc_khz(0);
  const struct virtio_driver drv = {
      .name = "virtio-balloon", .device_id = VIRTIO_ID_BALLOON, .features = wanted, .queue_name = "inflateq",
      .min_queue = 1};
  const char *why = virtio_mmio_open(&b->mmio, bi, &drv, b->err, sizeof b->err);
  if (why) return why;
  if ((why = virtio_mmio_negotiate(&b->mmio, wanted))) return fail(b, "virtio-balloon: %s", why);
  b->nq = 2;
  b->stats_q = b->report_q = -1;
  if (b->mmio.features & (1ull << VIRTIO_BALLOON_F_STATS_VQ)) b->stats_q = b->nq++;
  if (b->mmio.features & (1ull << VIRTIO_BALLOON_F_REPORTING)) b->report_q = b->nq++;
  for (int i = 0; i < b->nq; i++) {
    uint32_t max = virtio_mmio_queue_num_max(&b->mmio, (uint32_t)i), size = 64;
    while (size > max) size >>= 1;
    if (!size) return fail(b, "virtio-balloon: queue %d does not exist", i);
    virtq_init(&b->q[i], &queue_mem[i], (uint16_t)size);
    why = virtio_mmio_setup_queue(&b->mmio, (uint32_t)i, size, (uint64_t)(uintptr_t)queue_mem[i].desc,
                                  (uint64_t)(uintptr_t)&queue_mem[i].avail, (uint64_t)(uintptr_t)&queue_mem[i].used);
    if (why) return fail(b, "virtio-balloon queue %d: %s", i, why);
  }
  if ((why = virtio_mmio_init_done(&b->mmio, &drv, b->err, sizeof b->err))) return why;
  printf("balloon: dev base=0x%llx features=0x%llx queues=%d target=%u\n", (unsigned long long)b->mmio.slot.base,
         (unsigned long long)b->mmio.features, b->nq, vballoon_target(b));
  return 0;
}

uint32_t vballoon_target(struct vballoon *b) { return virtio_mmio_config32(&b->mmio, 0); }

void vballoon_set_actual(struct vballoon *b, uint32_t pages) {
  virtio_mmio_write(&b->mmio, VIRTIO_MMIO_CONFIG + 4, pages);
}

static const char *send_wait(struct vballoon *b, int q, const struct virtq_buf *bufs, uint16_t n) {
  virtq_write_chain(&b->q[q], 0, bufs, n);
  virtq_publish(&b->q[q], 0);
  virtio_mmio_notify(&b->mmio, (uint32_t)q);
  struct virtq_used_elem e;
  switch (virtio_mmio_wait_used(&b->mmio, &b->q[q], b->timeout_tsc, &e)) {
    case VIRTIO_WAIT_USED: return e.id == 0 ? 0 : fail(b, "queue %d: used id %u, sent 0", q, e.id);
    case VIRTIO_WAIT_NEEDS_RESET: return fail(b, "queue %d: device set DEVICE_NEEDS_RESET", q);
    case VIRTIO_WAIT_TIMEOUT: return fail(b, "queue %d: no completion", q);
    case VIRTIO_WAIT_BROKEN: return fail(b, "queue %d: used.idx moved too far", q);
  }
  return fail(b, "queue %d: ?", q);
}

const char *vballoon_pages(struct vballoon *b, int q, const uint32_t *pfns, uint32_t n) {
  if (n == 0 || n > VBALLOON_PFNS_MAX) return fail(b, "bad page count %u", n);
  memcpy(pfn_buf, pfns, n * 4);
  const struct virtq_buf buf = {(uint64_t)(uintptr_t)pfn_buf, n * 4, 0};
  return send_wait(b, q, &buf, 1);
}

const char *vballoon_raw(struct vballoon *b, int q, uint64_t addr, uint32_t len) {
  const struct virtq_buf buf = {addr, len, 0};
  return send_wait(b, q, &buf, 1);
}

void vballoon_stats_post(struct vballoon *b, const struct vballoon_stat *s, uint32_t n) {
  if (b->stats_q < 0 || n > 16) return;
  memcpy(stats_buf, s, n * sizeof *s);
  /* Alternate descriptors so a held buffer is never rewritten while the device has it. */
  static uint16_t slot;
  slot ^= 1;
  const struct virtq_buf buf = {(uint64_t)(uintptr_t)stats_buf, n * (uint32_t)sizeof *s, 0};
  virtq_write_chain(&b->q[b->stats_q], slot, &buf, 1);
  virtq_publish(&b->q[b->stats_q], slot);
  virtio_mmio_notify(&b->mmio, (uint32_t)b->stats_q);
}

int vballoon_stats_requested(struct vballoon *b) {
  if (b->stats_q < 0) return 0;
  struct virtq_used_elem e;
  return virtq_get_used(&b->q[b->stats_q], &e) == 1;
}

const char *vballoon_report(struct vballoon *b, const uint64_t *addrs, uint32_t len, uint32_t n) {
  if (b->report_q < 0) return fail(b, "free page reporting was not negotiated");
  struct virtq_buf bufs[32];
  if (n == 0 || n > 32) return fail(b, "bad range count %u", n);
  for (uint32_t i = 0; i < n; i++) bufs[i] = (struct virtq_buf){addrs[i], len, 1};
  return send_wait(b, b->report_q, bufs, (uint16_t)n);
}
