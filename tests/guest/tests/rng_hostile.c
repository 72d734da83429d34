/* `rng-hostile` (all cases in turn) and `rng-hostile-<case>` (one): malformed requests a virtio-rng device
 * must survive. After each, the device must either set DEVICE_NEEDS_RESET (with a config-change interrupt,
 * virtio 1.2 2.1.2) or complete the request with used.len 0 (and a used-buffer interrupt), and must not
 * write any buffer it was not allowed to. Then the guest resets it (Status 0), re-initialises it and a normal
 * 64-byte read must succeed. Every wait is bounded, so a device that ignores a request fails, never hangs.
 *
 * Cases: oob (buffer outside guest RAM), readable (buffer without VIRTQ_DESC_F_WRITE), zero-len (writable,
 * length 0), loop (a descriptor whose next is itself), avail-jump (avail.idx moved by queue size + 1). */
#include "printf.h"
#include "rng_test.h"
#include "str.h"

#define READ_BYTES 64u
#define OOB_ADDR 0xFFFFFFFF0000ull
#define GUARD 0xa5

static struct vrng rng;
static uint8_t buf[READ_BYTES] __attribute__((aligned(64)));
static uint8_t scratch[2 * READ_BYTES] __attribute__((aligned(64))); /* the hostile chains' buffer, guarded */
static struct guest_ctx *cur;

#define fail(...) format_reason(cur->fail_reason, sizeof cur->fail_reason, __VA_ARGS__)

static const char *good_read(const char *name, const char *when) {
  int n = vrng_read(&rng, buf, READ_BYTES);
  if (n < 0) return fail("%s: normal read %s: %s", name, when, rng.err);
  printf("rng-hostile: %s normal read %s bytes=%d\n", name, when, n);
  return 0;
}

static const char *setup(struct guest_ctx *ctx) {
  cur = ctx;
  const char *why = rng_test_open(ctx, &rng, VRNG_DEFAULT_TIMEOUT_MS);
  if (why) return why;
  return good_read("setup", "before");
}

static void desc(uint16_t i, uint64_t addr, uint32_t len, uint16_t flags, uint16_t next) {
  rng.q.mem->desc[i] = (struct virtq_desc){addr, len, flags, next};
}

static int scratch_untouched(void) {
  for (uint32_t i = 0; i < sizeof scratch; i++)
    if (scratch[i] != GUARD) return 0;
  return 1;
}

/* Waits for the device's reaction to what was just published at `head`, judges it, then resets,
 * re-initialises and reads. `check_scratch`: the device must not have written `scratch`. */
static const char *judge(const char *name, uint16_t head, int check_scratch) {
  virtio_mmio_notify(&rng.mmio, 0);
  struct virtq_used_elem e;
  const char *what;
  char detail[64];
  switch (vrng_wait(&rng, &e)) {
    case VIRTIO_WAIT_TIMEOUT:
      return fail("%s: device neither completed the request (used.len 0) nor set DEVICE_NEEDS_RESET in %u ms",
                  name, rng.timeout_ms);
    case VIRTIO_WAIT_BROKEN: return fail("%s: device moved used.idx by more than the queue size", name);
    case VIRTIO_WAIT_NEEDS_RESET:
      if (!vrng_wait_isr(&rng, VIRTIO_INT_CONFIG_CHANGE))
        return fail("%s: DEVICE_NEEDS_RESET without a config-change interrupt", name);
      snprintf(detail, sizeof detail, "needs_reset status=0x%x", virtio_mmio_status(&rng.mmio));
      what = detail;
      break;
    case VIRTIO_WAIT_USED:
      if (e.id != head) return fail("%s: used element names descriptor %u, not %u", name, e.id, head);
      if (e.len != 0) return fail("%s: device completed the bad request with used.len %u (want 0)", name, e.len);
      if (!vrng_wait_isr(&rng, VIRTIO_INT_USED_BUFFER))
        return fail("%s: completion without the used-buffer interrupt bit", name);
      what = "used_len=0";
      break;
    default: return fail("%s: unexpected wait result", name);
  }
  if (check_scratch && !scratch_untouched()) return fail("%s: device wrote into a buffer it must not write", name);
  printf("rng-hostile: %s %s\n", name, what);
  virtio_mmio_reset(&rng.mmio);
  if (virtio_mmio_status(&rng.mmio) != 0) return fail("%s: Status not 0 after reset", name);
  if (vrng_init(&rng)) return fail("%s: re-initialisation after reset: %s", name, rng.err);
  const char *why = good_read(name, "after reset");
  if (why) return why;
  printf("rng-hostile: %s recovered\n", name);
  return 0;
}

/* Descriptor `head` as given, published as one request. */
static const char *one(const char *name, uint64_t addr, uint32_t len, uint16_t flags, int check_scratch) {
  const uint16_t head = rng.next_desc;
  memset(scratch, GUARD, sizeof scratch);
  desc(head, addr, len, flags, flags & VIRTQ_DESC_F_NEXT ? head : 0);
  virtq_publish(&rng.q, head);
  return judge(name, head, check_scratch);
}

static const char *oob(void) { return one("oob", OOB_ADDR, READ_BYTES, VIRTQ_DESC_F_WRITE, 0); }
static const char *readable(void) { return one("readable", (uint64_t)(uintptr_t)scratch, READ_BYTES, 0, 1); }
static const char *zero_len(void) {
  return one("zero-len", (uint64_t)(uintptr_t)scratch, 0, VIRTQ_DESC_F_WRITE, 1);
}
/* The descriptor's next is itself; a device may fill the buffer before it notices, so scratch is not checked. */
static const char *loop(void) {
  return one("loop", (uint64_t)(uintptr_t)scratch, READ_BYTES, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 0);
}

/* avail.idx jumps queue size + 1 past what the device has seen. Every ring entry names a well-formed request,
 * so a device that does not check the index would answer with random bytes (and fail the used.len check). */
static const char *avail_jump(void) {
  const uint16_t head = rng.next_desc;
  memset(scratch, GUARD, sizeof scratch);
  desc(head, (uint64_t)(uintptr_t)scratch, READ_BYTES, VIRTQ_DESC_F_WRITE, 0);
  for (uint32_t i = 0; i < rng.q.size; i++) ((volatile uint16_t *)rng.q.mem->avail.ring)[i] = head;
  virtq_mb();
  rng.q.avail_idx = (uint16_t)(rng.q.avail_idx + rng.q.size + 1);
  *(volatile uint16_t *)&rng.q.mem->avail.idx = rng.q.avail_idx;
  virtq_mb();
  return judge("avail-jump", head, 0);
}

struct hostile_case {
  const char *name;
  const char *(*fn)(void);
};
static const struct hostile_case cases[] = {
    {"oob", oob}, {"readable", readable}, {"zero-len", zero_len}, {"loop", loop}, {"avail-jump", avail_jump},
};
#define NCASES (sizeof cases / sizeof cases[0])

static const char *run_cases(struct guest_ctx *ctx, const char *only) {
  const char *why = setup(ctx);
  if (why) return why;
  uint32_t ran = 0;
  for (uint32_t i = 0; i < NCASES; i++) {
    if (only && !streq(only, cases[i].name)) continue;
    if ((why = cases[i].fn())) return why;
    ran++;
  }
  printf("rng-hostile: ok cases=%u\n", ran);
  return 0;
}

static const char *all(struct guest_ctx *ctx) { return run_cases(ctx, 0); }
static const char *t_oob(struct guest_ctx *ctx) { return run_cases(ctx, "oob"); }
static const char *t_readable(struct guest_ctx *ctx) { return run_cases(ctx, "readable"); }
static const char *t_zero_len(struct guest_ctx *ctx) { return run_cases(ctx, "zero-len"); }
static const char *t_loop(struct guest_ctx *ctx) { return run_cases(ctx, "loop"); }
static const char *t_avail_jump(struct guest_ctx *ctx) { return run_cases(ctx, "avail-jump"); }

SELFTEST("rng-hostile", all);
SELFTEST("rng-hostile-oob", t_oob);
SELFTEST("rng-hostile-readable", t_readable);
SELFTEST("rng-hostile-zero-len", t_zero_len);
SELFTEST("rng-hostile-loop", t_loop);
SELFTEST("rng-hostile-avail-jump", t_avail_jump);
