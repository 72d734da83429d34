#include "virtio_rng.h"

#include "io.h"
#include "printf.h"
#include "str.h"
#include "tsc.h"

/* One device at a time: the rings are static, as the guest has no allocator. */
static struct virtq_mem queue_mem;

#define fail(r, ...) format_reason((r)->err, sizeof (r)->err, __VA_ARGS__)

/* VIRTIO_F_VERSION_1 only; no config space. */
static const struct virtio_driver rng_driver = {
    .name = "virtio-rng", .device_id = VIRTIO_ID_RNG, .features = 0, .queue_name = "requestq", .min_queue = 1,
};

const char *vrng_init(struct vrng *r) {
  r->timeout_tsc = (uint64_t)r->timeout_ms * tsc_khz(0);
  r->next_desc = 0;
  const char *why = virtio_mmio_init_device(&r->mmio, &rng_driver, &r->q, &queue_mem, r->err, sizeof r->err);
  return why ? why : virtio_mmio_init_done(&r->mmio, &rng_driver, r->err, sizeof r->err);
}

const char *vrng_open(struct vrng *r, const struct boot_info *bi, uint32_t timeout_ms) {
  memset(r, 0, sizeof *r);
  r->timeout_ms = timeout_ms;
  const char *why = virtio_mmio_open(&r->mmio, bi, &rng_driver, r->err, sizeof r->err);
  if (why) return why;
  r->check_isr = 1;
  if ((why = vrng_init(r))) return why;
  printf("rng: dev base=0x%llx irq=%u features=0x%llx queue=%u\n", (unsigned long long)r->mmio.slot.base,
         r->mmio.slot.irq, (unsigned long long)r->mmio.device_features, r->q.size);
  return 0;
}

enum virtio_wait vrng_wait(struct vrng *r, struct virtq_used_elem *e) {
  return virtio_mmio_wait_used(&r->mmio, &r->q, r->timeout_tsc, e);
}

uint32_t vrng_wait_isr(struct vrng *r, uint32_t bits) { return virtio_mmio_wait_isr(&r->mmio, bits, r->timeout_tsc); }

int vrng_read(struct vrng *r, void *buf, uint32_t len) {
  if (len == 0) return fail(r, "vrng_read of 0 bytes"), -1;
  const uint16_t head = r->next_desc;
  r->next_desc = (uint16_t)((head + 1) & (r->q.size - 1));
  const struct virtq_buf b = {(uint64_t)(uintptr_t)buf, len, 1};
  virtq_write_chain(&r->q, head, &b, 1);
  virtq_publish(&r->q, head);
  virtio_mmio_notify(&r->mmio, 0);

  struct virtq_used_elem e;
  switch (vrng_wait(r, &e)) {
    case VIRTIO_WAIT_USED: break;
    case VIRTIO_WAIT_NEEDS_RESET:
      return fail(r, "device set DEVICE_NEEDS_RESET (status 0x%x)", virtio_mmio_status(&r->mmio)), -1;
    case VIRTIO_WAIT_TIMEOUT: return fail(r, "no completion of a %u-byte request within %u ms", len, r->timeout_ms), -1;
    case VIRTIO_WAIT_BROKEN: return fail(r, "device moved used.idx by more than the queue size"), -1;
  }
  /* Trust nothing the device wrote. */
  if (e.id != head) return fail(r, "used element names descriptor %u, the request was %u", e.id, head), -1;
  if (e.len > len) return fail(r, "used.len %u exceeds the %u-byte buffer", e.len, len), -1;
  if (e.len == 0) return fail(r, "used.len 0 for a %u-byte request (5.4.6.1: one or more bytes)", len), -1;
  if (r->check_isr && !vrng_wait_isr(r, VIRTIO_INT_USED_BUFFER))
    return fail(r, "InterruptStatus never showed the used-buffer bit after a completion"), -1;
  return (int)e.len;
}
