#include "virtio_blk.h"

#include <stdarg.h>

#include "io.h"
#include "printf.h"
#include "str.h"
#include "tsc.h"

#define TIMEOUT_MS 2000
#define STATUS_POLL_US 100 /* how often a wait also reads Status (an MMIO exit) for NEEDS_RESET */
#define STATUS_SENTINEL 0xff

/* One device at a time: the rings and request headers are static, as the guest has no allocator. */
static struct virtq_mem queue_mem;
static struct vblk_slot slot_mem[VBLK_MAX_SLOTS];
static uint32_t inflight;   /* bit per slot */
static uint32_t slot_bytes[VBLK_MAX_SLOTS]; /* data bytes of each in-flight request */
static uint32_t slot_descs; /* descriptors reserved per slot */

struct vblk_slot *vblk_slot(uint32_t slot) { return &slot_mem[slot % VBLK_MAX_SLOTS]; }

__attribute__((format(printf, 2, 3))) static const char *fail(struct vblk *b, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(b->err, sizeof b->err, fmt, ap);
  va_end(ap);
  return b->err;
}

static const char *read_config(struct vblk *b) {
  uint64_t f = b->mmio.features;
  b->seg_max = slot_descs - 2;
  if (f & 1ull << VBLK_F_SEG_MAX) {
    uint32_t seg_max = virtio_mmio_config32(&b->mmio, 12);
    if (seg_max == 0) return fail(b, "virtio-blk: SEG_MAX offered with seg_max 0");
    if (seg_max < b->seg_max) b->seg_max = seg_max;
  }
  b->seg_bytes = VBLK_MAX_SEG_BYTES;
  if (f & 1ull << VBLK_F_SIZE_MAX) {
    uint32_t size_max = virtio_mmio_config32(&b->mmio, 8) & ~(VBLK_SECTOR - 1);
    if (size_max == 0) return fail(b, "virtio-blk: size_max below one sector");
    if (size_max < b->seg_bytes) b->seg_bytes = size_max;
  }
  b->max_req_bytes = b->seg_max * b->seg_bytes;
  b->capacity = virtio_mmio_config64(&b->mmio, 0);
  b->blk_size = f & 1ull << VBLK_F_BLK_SIZE ? virtio_mmio_config32(&b->mmio, 20) : VBLK_SECTOR;
  b->read_only = (f & 1ull << VBLK_F_RO) != 0;
  b->has_flush = (f & 1ull << VBLK_F_FLUSH) != 0;
  return 0;
}

const char *vblk_init(struct vblk *b) {
  const uint64_t wanted = 1ull << VBLK_F_SIZE_MAX | 1ull << VBLK_F_SEG_MAX | 1ull << VBLK_F_RO |
                          1ull << VBLK_F_BLK_SIZE | 1ull << VBLK_F_FLUSH;
  inflight = 0;
  b->timeout_tsc = TIMEOUT_MS * tsc_khz(0);
  const char *why = virtio_mmio_negotiate(&b->mmio, wanted);
  if (why) return fail(b, "virtio-blk: %s", why);

  uint32_t max = virtio_mmio_queue_num_max(&b->mmio, 0);
  uint32_t size = VIRTQ_MAX_SIZE;
  while (size > max) size >>= 1; /* the largest power of two both sides can hold */
  if (size < 4) return fail(b, "virtio-blk: QueueNumMax %u is too small", max);
  virtq_init(&b->q, &queue_mem, (uint16_t)size);
  why = virtio_mmio_setup_queue(&b->mmio, 0, size, (uint64_t)(uintptr_t)queue_mem.desc,
                                (uint64_t)(uintptr_t)&queue_mem.avail, (uint64_t)(uintptr_t)&queue_mem.used);
  if (why) return fail(b, "virtio-blk queue 0: %s", why);
  slot_descs = size < VBLK_SLOT_DESCS ? size : VBLK_SLOT_DESCS;
  b->slots = size / slot_descs;
  if (b->slots > VBLK_MAX_SLOTS) b->slots = VBLK_MAX_SLOTS;
  if ((why = read_config(b))) return why;

  why = virtio_mmio_driver_ok(&b->mmio);
  if (why) return fail(b, "virtio-blk: %s (status 0x%x)", why, virtio_mmio_status(&b->mmio));
  return 0;
}

const char *vblk_open(struct vblk *b, const struct boot_info *bi) {
  struct virtio_mmio_slot slots[VIRTIO_MMIO_MAX_DEVICES];
  const char *bad = 0;
  memset(b, 0, sizeof *b);
  int n = virtio_mmio_discover(bi, slots, VIRTIO_MMIO_MAX_DEVICES, &bad);
  if (n < 0) {
    char word[48];
    size_t len = 0;
    while (bad[len] && bad[len] != ' ' && len + 1 < sizeof word) word[len] = bad[len], len++;
    word[len] = '\0';
    return fail(b, "bad or unusable virtio_mmio.device on the command line: %s", word);
  }
  for (int i = 0; i < n; i++) {
    const char *why = virtio_mmio_probe(&b->mmio, &slots[i]);
    if (why) return fail(b, "virtio-mmio at 0x%llx: %s", (unsigned long long)slots[i].base, why);
    if (b->mmio.device_id != VIRTIO_ID_BLOCK) continue;
    b->check_isr = 1;
    if ((why = vblk_init(b))) return why;
    printf("BLK DEV base=0x%llx irq=%u capacity=%llu features=0x%llx queue=%u seg_max=%u seg_bytes=%u ro=%d "
           "flush=%d\n",
           (unsigned long long)b->mmio.slot.base, b->mmio.slot.irq, (unsigned long long)b->capacity,
           (unsigned long long)b->mmio.device_features, b->q.size, b->seg_max, b->seg_bytes, b->read_only,
           b->has_flush);
    return 0;
  }
  return fail(b, "no virtio-blk device among %d virtio_mmio.device entries", n);
}

int vblk_submit(struct vblk *b, uint32_t slot, uint32_t type, uint64_t sector, void *buf, uint32_t len) {
  if (slot >= b->slots || (inflight & (1u << slot))) return fail(b, "slot %u busy or out of range", slot), -1;
  if (len > b->max_req_bytes) return fail(b, "request of %u bytes exceeds %u", len, b->max_req_bytes), -1;
  struct vblk_slot *s = &slot_mem[slot];
  s->hdr.type = type;
  s->hdr.reserved = 0;
  s->hdr.sector = sector;
  s->status = STATUS_SENTINEL;

  struct virtq_buf bufs[VBLK_SLOT_DESCS];
  uint16_t n = 0;
  bufs[n++] = (struct virtq_buf){(uint64_t)(uintptr_t)&s->hdr, sizeof s->hdr, 0};
  const int device_writes = type != VBLK_T_OUT;
  for (uint32_t off = 0; off < len; off += b->seg_bytes) {
    uint32_t chunk = len - off < b->seg_bytes ? len - off : b->seg_bytes;
    bufs[n++] = (struct virtq_buf){(uint64_t)(uintptr_t)buf + off, chunk, device_writes};
  }
  bufs[n++] = (struct virtq_buf){(uint64_t)(uintptr_t)&s->status, 1, 1};
  const uint16_t head = (uint16_t)(slot * slot_descs);
  virtq_write_chain(&b->q, head, bufs, n);
  inflight |= 1u << slot;
  slot_bytes[slot] = len;
  virtq_publish(&b->q, head);
  virtio_mmio_notify(&b->mmio, 0);
  return 0;
}

enum vblk_wait vblk_wait(struct vblk *b, struct virtq_used_elem *e) {
  const uint64_t start = rdtsc(), status_every = STATUS_POLL_US * tsc_khz(0) / 1000;
  uint64_t next_status = start + status_every;
  for (;;) {
    int r = virtq_get_used(&b->q, e);
    if (r > 0) return VBLK_WAIT_USED;
    if (r < 0) return VBLK_WAIT_BROKEN;
    uint64_t now = rdtsc();
    if (now >= next_status) {
      if (virtio_mmio_status(&b->mmio) & VIRTIO_STATUS_NEEDS_RESET) return VBLK_WAIT_NEEDS_RESET;
      next_status = now + status_every;
    }
    if (now - start > b->timeout_tsc) return VBLK_WAIT_TIMEOUT;
    cpu_relax();
  }
}

uint32_t vblk_wait_isr(struct vblk *b, uint32_t bits) {
  const uint64_t start = rdtsc();
  uint32_t seen;
  /* The device may publish used.idx a moment before it raises the interrupt: poll, bounded. */
  while (!((seen = virtio_mmio_interrupt_status(&b->mmio)) & bits) && rdtsc() - start < b->timeout_tsc) cpu_relax();
  if (seen) virtio_mmio_interrupt_ack(&b->mmio, seen);
  return seen & bits;
}

int vblk_reap(struct vblk *b, uint32_t *slot, uint8_t *status) {
  struct virtq_used_elem e;
  switch (vblk_wait(b, &e)) {
    case VBLK_WAIT_USED: break;
    case VBLK_WAIT_NEEDS_RESET:
      return fail(b, "device set DEVICE_NEEDS_RESET (status 0x%x)", virtio_mmio_status(&b->mmio)), -1;
    case VBLK_WAIT_TIMEOUT: return fail(b, "no completion within %u ms", TIMEOUT_MS), -1;
    case VBLK_WAIT_BROKEN: return fail(b, "device moved used.idx by more than the queue size"), -1;
  }
  /* Trust nothing the device wrote: the id must be the head of a request we have in flight. */
  uint32_t s = e.id / slot_descs;
  if (e.id % slot_descs || s >= b->slots || !(inflight & (1u << s)))
    return fail(b, "used element names descriptor %u, which is not an in-flight request", e.id), -1;
  inflight &= ~(1u << s);
  if (e.len > slot_bytes[s] + 1) return fail(b, "used.len %u exceeds the request's %u bytes", e.len, slot_bytes[s] + 1), -1;
  if (b->check_isr && !vblk_wait_isr(b, VIRTIO_INT_USED_BUFFER))
    return fail(b, "InterruptStatus never showed the used-buffer bit after a completion"), -1;
  *slot = s;
  *status = *(volatile uint8_t *)&slot_mem[s].status;
  return 0;
}

int vblk_request(struct vblk *b, uint32_t type, uint64_t sector, void *buf, uint32_t len) {
  if (vblk_submit(b, 0, type, sector, buf, len) < 0) return -1;
  uint32_t slot;
  uint8_t status;
  if (vblk_reap(b, &slot, &status) < 0) return -1;
  if (status == STATUS_SENTINEL) return fail(b, "device completed the request without writing its status"), -1;
  return status;
}

const char *vblk_rw(struct vblk *b, uint32_t type, uint64_t sector, void *buf, uint32_t len) {
  int st = vblk_request(b, type, sector, buf, len);
  if (st < 0) return b->err;
  if (st != VBLK_S_OK)
    return fail(b, "request type %u sector %llu len %u: status %d", type, (unsigned long long)sector, len, st);
  return 0;
}
