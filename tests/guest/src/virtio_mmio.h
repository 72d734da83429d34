/* virtio-mmio version 2 transport (virtio 1.2, 4.2): discovery from the command line, device
 * initialisation and queue setup. Every register access goes through here. */
#pragma once
#include <stddef.h>
#include <stdint.h>

#include "bootinfo.h"
#include "virtq.h"

/* Register offsets (4.2.2). */
#define VIRTIO_MMIO_MAGIC 0x000
#define VIRTIO_MMIO_VERSION 0x004
#define VIRTIO_MMIO_DEVICE_ID 0x008
#define VIRTIO_MMIO_VENDOR_ID 0x00c
#define VIRTIO_MMIO_DEVICE_FEATURES 0x010
#define VIRTIO_MMIO_DEVICE_FEATURES_SEL 0x014
#define VIRTIO_MMIO_DRIVER_FEATURES 0x020
#define VIRTIO_MMIO_DRIVER_FEATURES_SEL 0x024
#define VIRTIO_MMIO_QUEUE_SEL 0x030
#define VIRTIO_MMIO_QUEUE_NUM_MAX 0x034
#define VIRTIO_MMIO_QUEUE_NUM 0x038
#define VIRTIO_MMIO_QUEUE_READY 0x044
#define VIRTIO_MMIO_QUEUE_NOTIFY 0x050
#define VIRTIO_MMIO_INTERRUPT_STATUS 0x060
#define VIRTIO_MMIO_INTERRUPT_ACK 0x064
#define VIRTIO_MMIO_STATUS 0x070
#define VIRTIO_MMIO_QUEUE_DESC_LOW 0x080
#define VIRTIO_MMIO_QUEUE_DESC_HIGH 0x084
#define VIRTIO_MMIO_QUEUE_DRIVER_LOW 0x090
#define VIRTIO_MMIO_QUEUE_DRIVER_HIGH 0x094
#define VIRTIO_MMIO_QUEUE_DEVICE_LOW 0x0a0
#define VIRTIO_MMIO_QUEUE_DEVICE_HIGH 0x0a4
#define VIRTIO_MMIO_CONFIG_GENERATION 0x0fc
#define VIRTIO_MMIO_CONFIG 0x100

#define VIRTIO_MMIO_MAGIC_VALUE 0x74726976u /* "virt" */

/* Device status bits (2.1). */
#define VIRTIO_STATUS_ACKNOWLEDGE 0x01
#define VIRTIO_STATUS_DRIVER 0x02
#define VIRTIO_STATUS_DRIVER_OK 0x04
#define VIRTIO_STATUS_FEATURES_OK 0x08
#define VIRTIO_STATUS_NEEDS_RESET 0x40
#define VIRTIO_STATUS_FAILED 0x80

/* InterruptStatus bits (4.2.2). */
#define VIRTIO_INT_USED_BUFFER 0x1
#define VIRTIO_INT_CONFIG_CHANGE 0x2

#define VIRTIO_F_VERSION_1 32

#define VIRTIO_MMIO_MAX_DEVICES 16

/* One `virtio_mmio.device=<size>@<base>:<irq>[:<id>]` from the command line. */
struct virtio_mmio_slot {
  uint64_t base;
  uint64_t size;
  uint32_t irq;
};

struct virtio_mmio_dev {
  struct virtio_mmio_slot slot;
  uint32_t device_id;
  uint64_t device_features; /* what the device offers */
  uint64_t features;        /* what was negotiated */
};

/* Fills up to `max` slots from every virtio_mmio.device= word of the command line, in order. Returns the
 * number found, or -1 with *bad pointing at a malformed word or one whose window is not mapped device
 * memory below 4 GiB (overlapping e820 RAM counts as bad: we would poke our own memory). */
int virtio_mmio_discover(const struct boot_info *bi, struct virtio_mmio_slot *out, int max, const char **bad);

/* Checks magic, version 2 and reads the device ID (0: no device behind this slot). NULL or why not. */
const char *virtio_mmio_probe(struct virtio_mmio_dev *d, const struct virtio_mmio_slot *slot);

/* Reset, ACKNOWLEDGE, DRIVER, then accept VERSION_1 plus those of `wanted` the device offers, set
 * FEATURES_OK and read it back. NULL or why the device refused. */
const char *virtio_mmio_negotiate(struct virtio_mmio_dev *d, uint64_t wanted);

/* Programs queue `index` (must not be ready yet) with `num` entries and the three ring addresses, then sets
 * QueueReady. `num` must be a power of two <= QueueNumMax. */
const char *virtio_mmio_setup_queue(struct virtio_mmio_dev *d, uint32_t index, uint32_t num, uint64_t desc,
                                    uint64_t avail, uint64_t used);
/* The same register writes without any checks, for tests that feed the device bad values on purpose. */
void virtio_mmio_program_queue(struct virtio_mmio_dev *d, uint32_t index, uint32_t num, uint64_t desc, uint64_t avail,
                               uint64_t used);
uint32_t virtio_mmio_queue_num_max(struct virtio_mmio_dev *d, uint32_t index);

/* Sets DRIVER_OK; NULL, or why the device did not take it (status read back). */
const char *virtio_mmio_driver_ok(struct virtio_mmio_dev *d);

void virtio_mmio_reset(struct virtio_mmio_dev *d);
uint32_t virtio_mmio_status(const struct virtio_mmio_dev *d);
void virtio_mmio_set_status(struct virtio_mmio_dev *d, uint32_t status);
uint32_t virtio_mmio_interrupt_status(const struct virtio_mmio_dev *d);
void virtio_mmio_interrupt_ack(struct virtio_mmio_dev *d, uint32_t bits);
void virtio_mmio_notify(struct virtio_mmio_dev *d, uint32_t queue);
uint32_t virtio_mmio_read(const struct virtio_mmio_dev *d, uint32_t offset);
void virtio_mmio_write(struct virtio_mmio_dev *d, uint32_t offset, uint32_t value);

/* A driver of one device type: what the shared discovery and initialisation below need to know. */
struct virtio_driver {
  const char *name;       /* "virtio-blk": the prefix of its messages */
  uint32_t device_id;     /* the DeviceID it drives */
  uint64_t features;      /* accepted if offered, besides VIRTIO_F_VERSION_1 */
  const char *queue_name; /* queue 0 in messages: "queue 0", "requestq" */
  uint32_t min_queue;     /* smallest usable size of queue 0 (a power of two) */
};

/* Discovery: probes the virtio_mmio.device= slots in command-line order and leaves the first one with
 * drv->device_id in *d. NULL, or why not (a bad word, a bad device, none there), formatted into err. */
const char *virtio_mmio_open(struct virtio_mmio_dev *d, const struct boot_info *bi, const struct virtio_driver *drv,
                             char *err, size_t err_size);

/* Initialisation up to the queue (3.1.1): reset, negotiate drv->features, then queue 0 with the largest power
 * of two <= min(QueueNumMax, VIRTQ_MAX_SIZE) entries in `mem` (virtq_init on q) and QueueReady. The driver then
 * reads its config and calls virtio_mmio_init_done. NULL, or why not formatted into err. */
const char *virtio_mmio_init_device(struct virtio_mmio_dev *d, const struct virtio_driver *drv, struct virtq *q,
                                    struct virtq_mem *mem, char *err, size_t err_size);
/* The last step: DRIVER_OK. NULL, or "<name>: <why> (status 0x<status>)" in err. */
const char *virtio_mmio_init_done(struct virtio_mmio_dev *d, const struct virtio_driver *drv, char *err,
                                  size_t err_size);

enum virtio_wait { VIRTIO_WAIT_USED, VIRTIO_WAIT_NEEDS_RESET, VIRTIO_WAIT_TIMEOUT, VIRTIO_WAIT_BROKEN };
/* Polls q for a used element (into *e), reading Status every 100 us for DEVICE_NEEDS_RESET, up to timeout_tsc
 * TSC ticks. BROKEN: the device moved used.idx by more than the queue size. */
enum virtio_wait virtio_mmio_wait_used(struct virtio_mmio_dev *d, struct virtq *q, uint64_t timeout_tsc,
                                       struct virtq_used_elem *e);
/* Waits (up to timeout_tsc) for `bits` in InterruptStatus; acks all that was seen and returns what was seen of
 * `bits` (0 on timeout). */
uint32_t virtio_mmio_wait_isr(struct virtio_mmio_dev *d, uint32_t bits, uint64_t timeout_tsc);

/* Device-specific config space, bounds-checked against the window: 0 if it lies outside. */
uint32_t virtio_mmio_config32(const struct virtio_mmio_dev *d, uint32_t offset);
uint64_t virtio_mmio_config64(const struct virtio_mmio_dev *d, uint32_t offset);
