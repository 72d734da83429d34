#include "virtio_rng.h"

#include <stdarg.h>

#include "io.h"
#include "printf.h"
#include "str.h"
#include "tsc.h"

#define STATUS_POLL_US 100 /* how often a wait also reads Status (an MMIO exit) for NEEDS_RESET */

/* One device at a time: the rings are static, as the guest has no allocator. */
static struct virtq_mem queue_mem;

__attribute__((format(printf, 2, 3))) static const char *fail(struct vrng *r, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(r->err, sizeof r->err, fmt, ap);
  va_end(ap);
  return r->err;
}

const char *vrng_init(struct vrng *r) {
  r->timeout_tsc = (uint64_t)r->timeout_ms * tsc_khz(0);
  r->next_desc = 0;
  const char *why = virtio_mmio_negotiate(&r->mmio, 0); /* VIRTIO_F_VERSION_1 only */
  if (why) return fail(r, "virtio-rng: %s", why);

  uint32_t max = virtio_mmio_queue_num_max(&r->mmio, 0);
  uint32_t size = VIRTQ_MAX_SIZE;
  while (size > max) size >>= 1; /* the largest power of two both sides can hold */
  if (size == 0) return fail(r, "virtio-rng: requestq does not exist (QueueNumMax %u)", max);
  virtq_init(&r->q, &queue_mem, (uint16_t)size);
  why = virtio_mmio_setup_queue(&r->mmio, 0, size, (uint64_t)(uintptr_t)queue_mem.desc,
                                (uint64_t)(uintptr_t)&queue_mem.avail, (uint64_t)(uintptr_t)&queue_mem.used);
  if (why) return fail(r, "virtio-rng requestq: %s", why);
  why = virtio_mmio_driver_ok(&r->mmio);
  if (why) return fail(r, "virtio-rng: %s (status 0x%x)", why, virtio_mmio_status(&r->mmio));
  return 0;
}

const char *vrng_open(struct vrng *r, const struct boot_info *bi, uint32_t timeout_ms) {
  struct virtio_mmio_slot slots[VIRTIO_MMIO_MAX_DEVICES];
  const char *bad = 0;
  memset(r, 0, sizeof *r);
  r->timeout_ms = timeout_ms;
  int n = virtio_mmio_discover(bi, slots, VIRTIO_MMIO_MAX_DEVICES, &bad);
  if (n < 0) {
    char word[48];
    size_t len = 0;
    while (bad[len] && bad[len] != ' ' && len + 1 < sizeof word) word[len] = bad[len], len++;
    word[len] = '\0';
    return fail(r, "bad or unusable virtio_mmio.device on the command line: %s", word);
  }
  for (int i = 0; i < n; i++) {
    const char *why = virtio_mmio_probe(&r->mmio, &slots[i]);
    if (why) return fail(r, "virtio-mmio at 0x%llx: %s", (unsigned long long)slots[i].base, why);
    if (r->mmio.device_id != VIRTIO_ID_RNG) continue;
    r->check_isr = 1;
    if ((why = vrng_init(r))) return why;
    printf("rng: dev base=0x%llx irq=%u features=0x%llx queue=%u\n", (unsigned long long)r->mmio.slot.base,
           r->mmio.slot.irq, (unsigned long long)r->mmio.device_features, r->q.size);
    return 0;
  }
  return fail(r, "no virtio-rng device among %d virtio_mmio.device entries", n);
}

enum vrng_wait vrng_wait(struct vrng *r, struct virtq_used_elem *e) {
  const uint64_t start = rdtsc(), status_every = STATUS_POLL_US * tsc_khz(0) / 1000;
  uint64_t next_status = start + status_every;
  for (;;) {
    int got = virtq_get_used(&r->q, e);
    if (got > 0) return VRNG_WAIT_USED;
    if (got < 0) return VRNG_WAIT_BROKEN;
    uint64_t now = rdtsc();
    if (now >= next_status) {
      if (virtio_mmio_status(&r->mmio) & VIRTIO_STATUS_NEEDS_RESET) return VRNG_WAIT_NEEDS_RESET;
      next_status = now + status_every;
    }
    if (now - start > r->timeout_tsc) return VRNG_WAIT_TIMEOUT;
    cpu_relax();
  }
}

uint32_t vrng_wait_isr(struct vrng *r, uint32_t bits) {
  const uint64_t start = rdtsc();
  uint32_t seen;
  /* The device may publish used.idx a moment before it raises the interrupt: poll, bounded. */
  while (!((seen = virtio_mmio_interrupt_status(&r->mmio)) & bits) && rdtsc() - start < r->timeout_tsc) cpu_relax();
  if (seen) virtio_mmio_interrupt_ack(&r->mmio, seen);
  return seen & bits;
}

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
    case VRNG_WAIT_USED: break;
    case VRNG_WAIT_NEEDS_RESET:
      return fail(r, "device set DEVICE_NEEDS_RESET (status 0x%x)", virtio_mmio_status(&r->mmio)), -1;
    case VRNG_WAIT_TIMEOUT: return fail(r, "no completion of a %u-byte request within %u ms", len, r->timeout_ms), -1;
    case VRNG_WAIT_BROKEN: return fail(r, "device moved used.idx by more than the queue size"), -1;
  }
  /* Trust nothing the device wrote. */
  if (e.id != head) return fail(r, "used element names descriptor %u, the request was %u", e.id, head), -1;
  if (e.len > len) return fail(r, "used.len %u exceeds the %u-byte buffer", e.len, len), -1;
  if (e.len == 0) return fail(r, "used.len 0 for a %u-byte request (5.4.6.1: one or more bytes)", len), -1;
  if (r->check_isr && !vrng_wait_isr(r, VIRTIO_INT_USED_BUFFER))
    return fail(r, "InterruptStatus never showed the used-buffer bit after a completion"), -1;
  return (int)e.len;
}
