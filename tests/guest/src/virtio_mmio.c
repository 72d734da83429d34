#include "virtio_mmio.h"

#include "io.h"
#include "paging.h"
#include "printf.h"
#include "str.h"
#include "tsc.h"

#define CMDLINE_KEY "virtio_mmio.device="
#define MIN_WINDOW 0x100 /* registers only; config space is checked access by access */
#define FOUR_GIB 0x100000000ull
#define RESET_TIMEOUT_MS 2000
#define STATUS_POLL_US 100 /* how often a wait also reads Status (an MMIO exit) for NEEDS_RESET */

/* Like Linux's memparse: decimal or 0x hex with an optional K/M/G suffix. Returns the end, or NULL. */
static const char *parse_num(const char *p, const char *end, uint64_t *out, int allow_suffix) {
  uint64_t v = 0;
  int base = 10, digits = 0;
  if (end - p > 2 && p[0] == '0' && (p[1] == 'x' || p[1] == 'X')) base = 16, p += 2;
  for (; p < end; p++, digits++) {
    int d;
    if (*p >= '0' && *p <= '9') d = *p - '0';
    else if (base == 16 && *p >= 'a' && *p <= 'f') d = *p - 'a' + 10;
    else if (base == 16 && *p >= 'A' && *p <= 'F') d = *p - 'A' + 10;
    else break;
    if (v > (UINT64_MAX - (uint64_t)d) / (uint64_t)base) return 0;
    v = v * (uint64_t)base + (uint64_t)d;
  }
  if (!digits) return 0;
  if (allow_suffix && p < end) {
    unsigned shift = 0;
    switch (*p) {
      case 'k': case 'K': shift = 10; break;
      case 'm': case 'M': shift = 20; break;
      case 'g': case 'G': shift = 30; break;
      default: break;
    }
    if (shift) {
      if (v > (UINT64_MAX >> shift)) return 0;
      v <<= shift;
      p++;
    }
  }
  *out = v;
  return p;
}

static int overlaps_ram(const struct boot_info *bi, uint64_t base, uint64_t size) {
  for (uint32_t i = 0; i < bi->e820_entries; i++) {
    const struct e820_entry *e = &bi->e820[i];
    uint64_t end = e->addr + e->size < e->addr ? UINT64_MAX : e->addr + e->size;
    if (e->type != E820_RESERVED && e->addr < base + size && base < end) return 1;
  }
  return 0;
}

static int parse_slot(const struct boot_info *bi, const char *p, const char *end, struct virtio_mmio_slot *s) {
  uint64_t size, base, irq, id;
  if (!(p = parse_num(p, end, &size, 1)) || p >= end || *p++ != '@') return 0;
  if (!(p = parse_num(p, end, &base, 1)) || p >= end || *p++ != ':') return 0;
  if (!(p = parse_num(p, end, &irq, 0))) return 0;
  if (p < end && (*p++ != ':' || !(p = parse_num(p, end, &id, 0)))) return 0;
  if (p != end) return 0;
  /* The window must be device memory we have mapped (uncached) below 4 GiB, never our RAM. */
  if (size < MIN_WINDOW || size > FOUR_GIB || base % 4 || irq > 255) return 0;
  if (base >= FOUR_GIB || size > FOUR_GIB - base || !paging_mapped(base, size) || overlaps_ram(bi, base, size))
    return 0;
  s->base = base, s->size = size, s->irq = (uint32_t)irq;
  return 1;
}

int virtio_mmio_discover(const struct boot_info *bi, struct virtio_mmio_slot *out, int max, const char **bad) {
  size_t klen = strlen(CMDLINE_KEY);
  int n = 0;
  for (const char *p = bi->cmdline; *p;) {
    while (*p == ' ') p++;
    const char *word = p;
    while (*p && *p != ' ') p++;
    if ((size_t)(p - word) <= klen || strncmp(word, CMDLINE_KEY, klen) != 0) continue;
    struct virtio_mmio_slot s;
    if (!parse_slot(bi, word + klen, p, &s)) {
      if (bad) *bad = word;
      return -1;
    }
    if (n < max) out[n++] = s;
  }
  return n;
}

uint32_t virtio_mmio_read(const struct virtio_mmio_dev *d, uint32_t offset) {
  return mmio_read32(d->slot.base + offset);
}
void virtio_mmio_write(struct virtio_mmio_dev *d, uint32_t offset, uint32_t value) {
  mmio_write32(d->slot.base + offset, value);
}

uint32_t virtio_mmio_config32(const struct virtio_mmio_dev *d, uint32_t offset) {
  uint64_t at = (uint64_t)VIRTIO_MMIO_CONFIG + offset;
  return at + 4 <= d->slot.size ? mmio_read32(d->slot.base + at) : 0;
}

uint64_t virtio_mmio_config64(const struct virtio_mmio_dev *d, uint32_t offset) {
  /* 4.2.2.2: 64-bit fields are read as two 32-bit halves; retry if the generation moved in between. */
  for (int tries = 0; tries < 16; tries++) {
    uint32_t gen = virtio_mmio_read(d, VIRTIO_MMIO_CONFIG_GENERATION);
    uint64_t lo = virtio_mmio_config32(d, offset), hi = virtio_mmio_config32(d, offset + 4);
    if (gen == virtio_mmio_read(d, VIRTIO_MMIO_CONFIG_GENERATION)) return hi << 32 | lo;
  }
  return 0;
}

const char *virtio_mmio_probe(struct virtio_mmio_dev *d, const struct virtio_mmio_slot *slot) {
  memset(d, 0, sizeof *d);
  d->slot = *slot;
  if (virtio_mmio_read(d, VIRTIO_MMIO_MAGIC) != VIRTIO_MMIO_MAGIC_VALUE) return "bad MagicValue";
  if (virtio_mmio_read(d, VIRTIO_MMIO_VERSION) != 2) return "Version is not 2 (legacy virtio-mmio)";
  d->device_id = virtio_mmio_read(d, VIRTIO_MMIO_DEVICE_ID);
  return 0;
}

void virtio_mmio_reset(struct virtio_mmio_dev *d) {
  virtio_mmio_write(d, VIRTIO_MMIO_STATUS, 0);
  /* 4.2.3.1: reset is done when Status reads back 0; give up after RESET_TIMEOUT_MS (callers check). */
  const uint64_t start = rdtsc(), limit = RESET_TIMEOUT_MS * tsc_khz(0);
  while (virtio_mmio_read(d, VIRTIO_MMIO_STATUS) != 0 && rdtsc() - start < limit) cpu_relax();
  d->features = 0;
}

uint32_t virtio_mmio_status(const struct virtio_mmio_dev *d) { return virtio_mmio_read(d, VIRTIO_MMIO_STATUS); }
void virtio_mmio_set_status(struct virtio_mmio_dev *d, uint32_t status) {
  virtio_mmio_write(d, VIRTIO_MMIO_STATUS, status);
}
uint32_t virtio_mmio_interrupt_status(const struct virtio_mmio_dev *d) {
  return virtio_mmio_read(d, VIRTIO_MMIO_INTERRUPT_STATUS);
}
void virtio_mmio_interrupt_ack(struct virtio_mmio_dev *d, uint32_t bits) {
  virtio_mmio_write(d, VIRTIO_MMIO_INTERRUPT_ACK, bits);
}
void virtio_mmio_notify(struct virtio_mmio_dev *d, uint32_t queue) {
  virtio_mmio_write(d, VIRTIO_MMIO_QUEUE_NOTIFY, queue);
}

const char *virtio_mmio_negotiate(struct virtio_mmio_dev *d, uint64_t wanted) {
  virtio_mmio_reset(d);
  if (virtio_mmio_status(d) != 0) return "device did not reset (Status not 0)";
  uint32_t status = VIRTIO_STATUS_ACKNOWLEDGE;
  virtio_mmio_set_status(d, status);
  status |= VIRTIO_STATUS_DRIVER;
  virtio_mmio_set_status(d, status);

  uint64_t offered = 0;
  for (uint32_t sel = 0; sel < 2; sel++) {
    virtio_mmio_write(d, VIRTIO_MMIO_DEVICE_FEATURES_SEL, sel);
    offered |= (uint64_t)virtio_mmio_read(d, VIRTIO_MMIO_DEVICE_FEATURES) << (32 * sel);
  }
  d->device_features = offered;
  if (!(offered & (1ull << VIRTIO_F_VERSION_1))) return "device does not offer VIRTIO_F_VERSION_1";
  uint64_t accept = (offered & wanted) | (1ull << VIRTIO_F_VERSION_1);
  for (uint32_t sel = 0; sel < 2; sel++) {
    virtio_mmio_write(d, VIRTIO_MMIO_DRIVER_FEATURES_SEL, sel);
    virtio_mmio_write(d, VIRTIO_MMIO_DRIVER_FEATURES, (uint32_t)(accept >> (32 * sel)));
  }
  status |= VIRTIO_STATUS_FEATURES_OK;
  virtio_mmio_set_status(d, status);
  if (!(virtio_mmio_status(d) & VIRTIO_STATUS_FEATURES_OK)) {
    virtio_mmio_set_status(d, status | VIRTIO_STATUS_FAILED);
    return "device refused FEATURES_OK";
  }
  d->features = accept;
  return 0;
}

uint32_t virtio_mmio_queue_num_max(struct virtio_mmio_dev *d, uint32_t index) {
  virtio_mmio_write(d, VIRTIO_MMIO_QUEUE_SEL, index);
  return virtio_mmio_read(d, VIRTIO_MMIO_QUEUE_NUM_MAX);
}

void virtio_mmio_program_queue(struct virtio_mmio_dev *d, uint32_t index, uint32_t num, uint64_t desc, uint64_t avail,
                               uint64_t used) {
  virtio_mmio_write(d, VIRTIO_MMIO_QUEUE_SEL, index);
  virtio_mmio_write(d, VIRTIO_MMIO_QUEUE_NUM, num);
  virtio_mmio_write(d, VIRTIO_MMIO_QUEUE_DESC_LOW, (uint32_t)desc);
  virtio_mmio_write(d, VIRTIO_MMIO_QUEUE_DESC_HIGH, (uint32_t)(desc >> 32));
  virtio_mmio_write(d, VIRTIO_MMIO_QUEUE_DRIVER_LOW, (uint32_t)avail);
  virtio_mmio_write(d, VIRTIO_MMIO_QUEUE_DRIVER_HIGH, (uint32_t)(avail >> 32));
  virtio_mmio_write(d, VIRTIO_MMIO_QUEUE_DEVICE_LOW, (uint32_t)used);
  virtio_mmio_write(d, VIRTIO_MMIO_QUEUE_DEVICE_HIGH, (uint32_t)(used >> 32));
  virtio_mmio_write(d, VIRTIO_MMIO_QUEUE_READY, 1);
}

const char *virtio_mmio_setup_queue(struct virtio_mmio_dev *d, uint32_t index, uint32_t num, uint64_t desc,
                                    uint64_t avail, uint64_t used) {
  virtio_mmio_write(d, VIRTIO_MMIO_QUEUE_SEL, index);
  if (virtio_mmio_read(d, VIRTIO_MMIO_QUEUE_READY) != 0) return "queue already ready after reset";
  uint32_t max = virtio_mmio_read(d, VIRTIO_MMIO_QUEUE_NUM_MAX);
  if (max == 0) return "queue does not exist (QueueNumMax 0)";
  if (num == 0 || num > max || (num & (num - 1))) return "queue size not a power of two <= QueueNumMax";
  virtio_mmio_program_queue(d, index, num, desc, avail, used);
  if (virtio_mmio_read(d, VIRTIO_MMIO_QUEUE_READY) != 1) return "QueueReady did not read back 1";
  return 0;
}

const char *virtio_mmio_driver_ok(struct virtio_mmio_dev *d) {
  uint32_t status = virtio_mmio_status(d);
  virtio_mmio_set_status(d, status | VIRTIO_STATUS_DRIVER_OK);
  status = virtio_mmio_status(d);
  if (status & VIRTIO_STATUS_NEEDS_RESET) return "device set DEVICE_NEEDS_RESET on DRIVER_OK";
  if (!(status & VIRTIO_STATUS_DRIVER_OK)) return "DRIVER_OK did not read back";
  return 0;
}

const char *virtio_mmio_open(struct virtio_mmio_dev *d, const struct boot_info *bi, const struct virtio_driver *drv,
                             char *err, size_t err_size) {
  struct virtio_mmio_slot slots[VIRTIO_MMIO_MAX_DEVICES];
  const char *bad = 0;
  int n = virtio_mmio_discover(bi, slots, VIRTIO_MMIO_MAX_DEVICES, &bad);
  if (n < 0) {
    char word[48];
    size_t len = 0;
    while (bad[len] && bad[len] != ' ' && len + 1 < sizeof word) word[len] = bad[len], len++;
    word[len] = '\0';
    return format_reason(err, err_size, "bad or unusable virtio_mmio.device on the command line: %s", word);
  }
  for (int i = 0; i < n; i++) {
    const char *why = virtio_mmio_probe(d, &slots[i]);
    if (why) return format_reason(err, err_size, "virtio-mmio at 0x%llx: %s", (unsigned long long)slots[i].base, why);
    if (d->device_id == drv->device_id) return 0;
  }
  return format_reason(err, err_size, "no %s device among %d virtio_mmio.device entries", drv->name, n);
}

const char *virtio_mmio_init_device(struct virtio_mmio_dev *d, const struct virtio_driver *drv, struct virtq *q,
                                    struct virtq_mem *mem, char *err, size_t err_size) {
  const char *why = virtio_mmio_negotiate(d, drv->features);
  if (why) return format_reason(err, err_size, "%s: %s", drv->name, why);
  uint32_t max = virtio_mmio_queue_num_max(d, 0);
  uint32_t size = VIRTQ_MAX_SIZE;
  while (size > max) size >>= 1; /* the largest power of two both sides can hold */
  if (size < drv->min_queue) {
    /* With min_queue 1, only a queue that is not there is too small. */
    if (drv->min_queue > 1) return format_reason(err, err_size, "%s: QueueNumMax %u is too small", drv->name, max);
    return format_reason(err, err_size, "%s: %s does not exist (QueueNumMax %u)", drv->name, drv->queue_name, max);
  }
  virtq_init(q, mem, (uint16_t)size);
  why = virtio_mmio_setup_queue(d, 0, size, (uint64_t)(uintptr_t)mem->desc, (uint64_t)(uintptr_t)&mem->avail,
                                (uint64_t)(uintptr_t)&mem->used);
  if (why) return format_reason(err, err_size, "%s %s: %s", drv->name, drv->queue_name, why);
  return 0;
}

const char *virtio_mmio_init_done(struct virtio_mmio_dev *d, const struct virtio_driver *drv, char *err,
                                  size_t err_size) {
  const char *why = virtio_mmio_driver_ok(d);
  if (why) return format_reason(err, err_size, "%s: %s (status 0x%x)", drv->name, why, virtio_mmio_status(d));
  return 0;
}

enum virtio_wait virtio_mmio_wait_used(struct virtio_mmio_dev *d, struct virtq *q, uint64_t timeout_tsc,
                                       struct virtq_used_elem *e) {
  const uint64_t start = rdtsc(), status_every = STATUS_POLL_US * tsc_khz(0) / 1000;
  uint64_t next_status = start + status_every;
  for (;;) {
    int got = virtq_get_used(q, e);
    if (got > 0) return VIRTIO_WAIT_USED;
    if (got < 0) return VIRTIO_WAIT_BROKEN;
    uint64_t now = rdtsc();
    if (now >= next_status) {
      if (virtio_mmio_status(d) & VIRTIO_STATUS_NEEDS_RESET) return VIRTIO_WAIT_NEEDS_RESET;
      next_status = now + status_every;
    }
    if (now - start > timeout_tsc) return VIRTIO_WAIT_TIMEOUT;
    cpu_relax();
  }
}

uint32_t virtio_mmio_wait_isr(struct virtio_mmio_dev *d, uint32_t bits, uint64_t timeout_tsc) {
  const uint64_t start = rdtsc();
  uint32_t seen;
  /* The device may publish used.idx a moment before it raises the interrupt: poll, bounded. */
  while (!((seen = virtio_mmio_interrupt_status(d)) & bits) && rdtsc() - start < timeout_tsc) cpu_relax();
  if (seen) virtio_mmio_interrupt_ack(d, seen);
  return seen & bits;
}
