#include "virtio_blk.h"

#include "io.h"
#include "printf.h"
#include "str.h"
#include "tsc.h"

#define TIMEOUT_MS 2000
#define STATUS_SENTINEL 0xff

/* One device at a time: the rings and request headers are static, as the guest has no allocator. */
static struct virtq_mem queue_mem;
static struct vblk_slot slot_mem[VBLK_MAX_SLOTS];
static uint32_t inflight;   /* bit per slot */
static uint32_t slot_bytes[VBLK_MAX_SLOTS]; /* data bytes of each in-flight request */
static uint32_t slot_descs; /* descriptors reserved per slot */

struct vblk_slot *vblk_slot(uint32_t slot) { return &slot_mem[slot % VBLK_MAX_SLOTS]; }

#define fail(b, ...) format_reason((b)->err, sizeof (b)->err, __VA_ARGS__)

static const struct virtio_driver blk_driver = {
    .name = "virtio-blk",
    .device_id = VIRTIO_ID_BLOCK,
    .features = 1ull << VBLK_F_SIZE_MAX | 1ull << VBLK_F_SEG_MAX | 1ull << VBLK_F_RO | 1ull << VBLK_F_BLK_SIZE |
                1ull << VBLK_F_FLUSH,
    .queue_name = "queue 0",
    .min_queue = 4,
};

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
  inflight = 0;
  b->timeout_tsc = TIMEOUT_MS * tsc_khz(0);
  const char *why = virtio_mmio_init_device(&b->mmio, &blk_driver, &b->q, &queue_mem, b->err, sizeof b->err);
  if (why) return why;
  const uint32_t size = b->q.size;
  slot_descs = size < VBLK_SLOT_DESCS ? size : VBLK_SLOT_DESCS;
  b->slots = size / slot_descs;
  if (b->slots > VBLK_MAX_SLOTS) b->slots = VBLK_MAX_SLOTS;
  if ((why = read_config(b))) return why;
  return virtio_mmio_init_done(&b->mmio, &blk_driver, b->err, sizeof b->err);
}

const char *vblk_open(struct vblk *b, const struct boot_info *bi) {
  memset(b, 0, sizeof *b);
  const char *why = virtio_mmio_open(&b->mmio, bi, &blk_driver, b->err, sizeof b->err);
  if (why) return why;
  b->check_isr = 1;
  if ((why = vblk_init(b))) return why;
  printf("BLK DEV base=0x%llx irq=%u capacity=%llu features=0x%llx queue=%u seg_max=%u seg_bytes=%u ro=%d "
         "flush=%d\n",
         (unsigned long long)b->mmio.slot.base, b->mmio.slot.irq, (unsigned long long)b->capacity,
         (unsigned long long)b->mmio.device_features, b->q.size, b->seg_max, b->seg_bytes, b->read_only,
         b->has_flush);
  return 0;
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

enum virtio_wait vblk_wait(struct vblk *b, struct virtq_used_elem *e) {
  return virtio_mmio_wait_used(&b->mmio, &b->q, b->timeout_tsc, e);
}

uint32_t vblk_wait_isr(struct vblk *b, uint32_t bits) { return virtio_mmio_wait_isr(&b->mmio, bits, b->timeout_tsc); }

int vblk_reap(struct vblk *b, uint32_t *slot, uint8_t *status) {
  struct virtq_used_elem e;
  switch (vblk_wait(b, &e)) {
    case VIRTIO_WAIT_USED: break;
    case VIRTIO_WAIT_NEEDS_RESET:
      return fail(b, "device set DEVICE_NEEDS_RESET (status 0x%x)", virtio_mmio_status(&b->mmio)), -1;
    case VIRTIO_WAIT_TIMEOUT: return fail(b, "no completion within %u ms", TIMEOUT_MS), -1;
    case VIRTIO_WAIT_BROKEN: return fail(b, "device moved used.idx by more than the queue size"), -1;
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
