/* `blk-hostile-*`: malformed requests and queue setups a device must survive (for Hearth). Acceptable
 * reactions (virtio 1.2, 2.1.2 and 5.2.6): the request completes with a non-zero status, or the device
 * sets DEVICE_NEEDS_RESET with a config-change interrupt; for a bad queue size, QueueReady or DRIVER_OK is
 * refused. Afterwards the device must still serve a good read of sector 0, after a reset if it asked for
 * one. Every wait is bounded (vblk_wait), so a device that ignores the request fails the test, never hangs. */
#include "blk_test.h"
#include "io.h"
#include "printf.h"
#include "str.h"

#define HEAD 0
#define STATUS_UNWRITTEN 0xff
#define OOB_ADDR 0xFFFFFFFF0000ull
#define GUARD 0xa5

static struct vblk blk;
static uint8_t ref[VBLK_SECTOR];     /* sector 0 as first read: what a recovered device must return */
static uint8_t scratch[VBLK_SECTOR]; /* data buffer of the hostile chains */

static struct guest_ctx *cur;

#define fail(...) format_reason(cur->fail_reason, sizeof cur->fail_reason, __VA_ARGS__)

static const char *good_read(const char *when) {
  if (vblk_rw(&blk, VBLK_T_IN, 0, blk_test_buf, VBLK_SECTOR)) return fail("good read %s: %s", when, blk.err);
  if (memcmp(blk_test_buf, ref, VBLK_SECTOR)) return fail("good read %s returned different data", when);
  return 0;
}

static const char *setup(struct guest_ctx *ctx) {
  cur = ctx;
  const char *why = blk_test_open(ctx, &blk);
  if (why) return why;
  if (vblk_rw(&blk, VBLK_T_IN, 0, ref, VBLK_SECTOR)) return fail("first read: %s", blk.err);
  return 0;
}

/* After DEVICE_NEEDS_RESET: full reset and re-initialisation, then a good read. With want_config_irq, the
 * config-change interrupt that must come with NEEDS_RESET is awaited and acked first. */
static const char *recover(const char *name, int want_config_irq) {
  if (want_config_irq && !vblk_wait_isr(&blk, VIRTIO_INT_CONFIG_CHANGE))
    return fail("%s: DEVICE_NEEDS_RESET without a config-change interrupt", name);
  virtio_mmio_reset(&blk.mmio);
  if (virtio_mmio_status(&blk.mmio) != 0) return fail("%s: Status not 0 after reset", name);
  if (vblk_init(&blk)) return fail("%s: re-initialisation after reset: %s", name, blk.err);
  return good_read("after reset");
}

static void desc(uint16_t i, uint64_t addr, uint32_t len, uint16_t flags, uint16_t next) {
  blk.q.mem->desc[i] = (struct virtq_desc){addr, len, flags, next};
}

/* Header (device-readable) for a read of sector 0 in descriptor HEAD; returns the status byte's address. */
static uint64_t header_in(void) {
  struct vblk_slot *s = vblk_slot(0);
  s->hdr = (struct vblk_req_hdr){VBLK_T_IN, 0, 0};
  s->status = STATUS_UNWRITTEN;
  desc(HEAD, (uint64_t)(uintptr_t)&s->hdr, sizeof s->hdr, VIRTQ_DESC_F_NEXT, HEAD + 1);
  return (uint64_t)(uintptr_t)&s->status;
}

enum allow { ALLOW_ERROR = 0, ALLOW_OK_EMPTY = 1, ALLOW_DROPPED = 2 };

/* Publishes the chain at HEAD and judges the device's reaction; prints one detail line. */
static const char *submit(const char *name, int allow) {
  virtq_publish(&blk.q, HEAD);
  virtio_mmio_notify(&blk.mmio, 0);
  struct virtq_used_elem e;
  switch (vblk_wait(&blk, &e)) {
    case VIRTIO_WAIT_TIMEOUT:
      return fail("%s: device neither completed the request nor set DEVICE_NEEDS_RESET in time", name);
    case VIRTIO_WAIT_BROKEN: return fail("%s: device moved used.idx by more than the queue size", name);
    case VIRTIO_WAIT_NEEDS_RESET: {
      const char *why = recover(name, 1);
      if (why) return why;
      printf("BLK HOSTILE %s needs_reset recovered\n", name);
      return 0;
    }
    case VIRTIO_WAIT_USED: break;
  }
  if (e.id != HEAD) return fail("%s: used element names descriptor %u, not %u", name, e.id, HEAD);
  if (!vblk_wait_isr(&blk, VIRTIO_INT_USED_BUFFER)) return fail("%s: completion without used-buffer interrupt", name);
  uint8_t st = *(volatile uint8_t *)&vblk_slot(0)->status;
  const char *what;
  if (st == VBLK_S_IOERR || st == VBLK_S_UNSUPP) {
    what = st == VBLK_S_IOERR ? "status=ioerr" : "status=unsupp";
  } else if (st == VBLK_S_OK && (allow & ALLOW_OK_EMPTY) && e.len <= 1) {
    what = "status=ok (empty request, nothing transferred)";
  } else if (st == STATUS_UNWRITTEN && (allow & ALLOW_DROPPED) && e.len == 0) {
    what = "dropped (no writable status byte), used.len=0";
  } else {
    return fail("%s: device completed it with status %u, used.len %u", name, st, e.len);
  }
  const char *why = good_read("after the bad request");
  if (why) return why;
  printf("BLK HOSTILE %s %s alive\n", name, what);
  return 0;
}

static const char *done(const char *name, const char *why) {
  if (!why) printf("BLK HOSTILE %s ok\n", name);
  return why;
}

static const char *loop(struct guest_ctx *ctx) {
  const char *why = setup(ctx);
  if (why) return why;
  uint64_t status = header_in();
  desc(HEAD + 1, (uint64_t)(uintptr_t)scratch, VBLK_SECTOR, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, HEAD + 2);
  desc(HEAD + 2, status, 1, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, HEAD + 1); /* back to the data descriptor */
  return done("loop", submit("loop", ALLOW_ERROR));
}

/* A read of sector 0 whose data descriptor (addr, len, data_flags) and status byte (status_flags) are as given. */
static const char *bad_read(const char *name, uint64_t addr, uint32_t len, uint16_t data_flags, uint16_t status_flags,
                            int allow) {
  uint64_t status = header_in();
  desc(HEAD + 1, addr, len, data_flags | VIRTQ_DESC_F_NEXT, HEAD + 2);
  desc(HEAD + 2, status, 1, status_flags, 0);
  return submit(name, allow);
}

/* bad_read into a guarded scratch buffer of `len` bytes, which the device must leave alone (`what` it is). */
static const char *guarded_read(const char *name, uint32_t len, uint16_t data_flags, uint16_t status_flags, int allow,
                                const char *what) {
  memset(scratch, GUARD, sizeof scratch);
  const char *why = bad_read(name, (uint64_t)(uintptr_t)scratch, len, data_flags, status_flags, allow);
  for (uint32_t i = 0; !why && i < sizeof scratch; i++)
    if (scratch[i] != GUARD) why = fail("%s: device wrote into %s", name, what);
  return why;
}

static const char *oob(struct guest_ctx *ctx) {
  const char *why = setup(ctx);
  if (why) return why;
  return done("oob", bad_read("oob", OOB_ADDR, VBLK_SECTOR, VIRTQ_DESC_F_WRITE, VIRTQ_DESC_F_WRITE, ALLOW_ERROR));
}

static const char *zero_len(struct guest_ctx *ctx) {
  const char *why = setup(ctx);
  if (why) return why;
  /* A zero-byte read is degenerate rather than invalid: OK is acceptable if nothing was written. */
  return done("zero-len", guarded_read("zero-len", 0, VIRTQ_DESC_F_WRITE, VIRTQ_DESC_F_WRITE, ALLOW_OK_EMPTY,
                                       "the zero-length buffer"));
}

static const char *huge_len(struct guest_ctx *ctx) {
  const char *why = setup(ctx);
  if (why) return why;
  return done("huge-len", bad_read("huge-len", (uint64_t)(uintptr_t)scratch, 0xFFFFFFFFu, VIRTQ_DESC_F_WRITE,
                                   VIRTQ_DESC_F_WRITE, ALLOW_ERROR));
}

static const char *direction(struct guest_ctx *ctx) {
  const char *why = setup(ctx);
  if (why) return why;
  /* 1: IN request whose data buffer is device-readable: the device must not write it. */
  why = guarded_read("direction-data", VBLK_SECTOR, 0, VIRTQ_DESC_F_WRITE, ALLOW_ERROR, "a device-readable buffer");
  if (why) return why;
  /* 2: the status byte is device-readable too: nowhere to report, so dropping the chain is fine. */
  return done("direction",
              guarded_read("direction-status", VBLK_SECTOR, 0, 0, ALLOW_DROPPED, "a device-readable buffer"));
}

/* Programs queue 0 with `num` entries and tries to go live; the device must refuse somewhere. */
static const char *bad_qsize(const char *name, uint32_t num) {
  uint32_t max = virtio_mmio_queue_num_max(&blk.mmio, 0);
  const char *why = virtio_mmio_negotiate(&blk.mmio, 0);
  if (why) return fail("%s: %s", name, why);
  struct virtq_mem *m = blk.q.mem;
  virtio_mmio_program_queue(&blk.mmio, 0, num, (uint64_t)(uintptr_t)m->desc, (uint64_t)(uintptr_t)&m->avail,
                            (uint64_t)(uintptr_t)&m->used);
  uint32_t ready = virtio_mmio_read(&blk.mmio, VIRTIO_MMIO_QUEUE_READY);
  virtio_mmio_set_status(&blk.mmio, virtio_mmio_status(&blk.mmio) | VIRTIO_STATUS_DRIVER_OK);
  uint32_t status = virtio_mmio_status(&blk.mmio);
  uint32_t isr = virtio_mmio_interrupt_status(&blk.mmio);
  if (isr) virtio_mmio_interrupt_ack(&blk.mmio, isr);
  if (ready && (status & VIRTIO_STATUS_DRIVER_OK) && !(status & VIRTIO_STATUS_NEEDS_RESET))
    return fail("%s: device accepted QueueNum=%u (QueueNumMax %u) and DRIVER_OK", name, num, max);
  if ((why = recover(name, 0))) return why;
  printf("BLK HOSTILE %s num=%u max=%u queue_ready=%u status=0x%x%s%s%s recovered\n", name, num, max, ready, status,
         !ready ? " queue_not_ready" : "", status & VIRTIO_STATUS_NEEDS_RESET ? " needs_reset" : "",
         isr & VIRTIO_INT_CONFIG_CHANGE ? " config_irq" : "");
  return 0;
}

static const char *qsize(struct guest_ctx *ctx) {
  const char *why = setup(ctx);
  if (why) return why;
  uint32_t max = virtio_mmio_queue_num_max(&blk.mmio, 0);
  if ((why = bad_qsize("qsize-too-big", max * 2))) return why;
  uint32_t odd = max - 1;
  if (!(odd & (odd - 1))) odd = 3; /* max - 1 is a power of two only for tiny queues */
  if ((why = bad_qsize("qsize-not-pow2", odd))) return why;
  return done("qsize", 0);
}

SELFTEST("blk-hostile-loop", loop);
SELFTEST("blk-hostile-oob", oob);
SELFTEST("blk-hostile-zero-len", zero_len);
SELFTEST("blk-hostile-huge-len", huge_len);
SELFTEST("blk-hostile-direction", direction);
SELFTEST("blk-hostile-qsize", qsize);
