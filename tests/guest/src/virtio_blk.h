/* virtio-blk driver (virtio 1.2, 5.2) over virtio-mmio, polled. One request per slot; a slot's chain is
 * header, up to seg_max data descriptors of seg_bytes each, status byte. */
#pragma once
#include <stdint.h>

#include "bootinfo.h"
#include "virtio_mmio.h"
#include "virtq.h"

#define VIRTIO_ID_BLOCK 2

#define VBLK_T_IN 0
#define VBLK_T_OUT 1
#define VBLK_T_FLUSH 4
#define VBLK_T_GET_ID 8

#define VBLK_S_OK 0
#define VBLK_S_IOERR 1
#define VBLK_S_UNSUPP 2

#define VBLK_F_SIZE_MAX 1
#define VBLK_F_SEG_MAX 2
#define VBLK_F_RO 5
#define VBLK_F_BLK_SIZE 6
#define VBLK_F_FLUSH 9

#define VBLK_SECTOR 512u
#define VBLK_ID_BYTES 20u
#define VBLK_MAX_SEG_BYTES (64u << 10)
#define VBLK_MAX_SEGS 16u /* so a request carries at most 1 MiB */
#define VBLK_SLOT_DESCS (VBLK_MAX_SEGS + 2)
#define VBLK_MAX_SLOTS 16u

struct vblk_req_hdr {
  uint32_t type;
  uint32_t reserved;
  uint64_t sector;
};

/* Header and status byte of one in-flight request (device-visible memory). */
struct vblk_slot {
  struct vblk_req_hdr hdr;
  uint8_t status;
};

struct vblk {
  struct virtio_mmio_dev mmio;
  struct virtq q;
  uint64_t capacity;     /* 512-byte sectors */
  uint32_t blk_size;     /* BLK_SIZE if offered, else 512 */
  uint32_t seg_bytes;    /* bytes per data descriptor */
  uint32_t seg_max;      /* data descriptors per request */
  uint32_t slots;        /* requests that can be in flight at once */
  uint32_t max_req_bytes;
  int read_only, has_flush;
  int check_isr;         /* after each completion, expect and ack the used-buffer interrupt bit */
  uint64_t timeout_tsc;  /* how long any single wait may take */
  char err[128];         /* why the last call failed */
};

/* Finds the first virtio-blk device announced on the command line and initialises it (vblk_init).
 * Prints one `BLK DEV ...` line. NULL or why not (also in b->err). */
const char *vblk_open(struct vblk *b, const struct boot_info *bi);
/* Full (re)initialisation: reset, negotiate, queue 0, DRIVER_OK, read the config. */
const char *vblk_init(struct vblk *b);

/* Synchronous request in slot 0: returns the status byte the device wrote, or -1 (b->err says why:
 * timeout, DEVICE_NEEDS_RESET, a bad used element). For IN/GET_ID, buf receives the data. */
int vblk_request(struct vblk *b, uint32_t type, uint64_t sector, void *buf, uint32_t len);
/* Same, but NULL on success and a reason (b->err) for a non-OK status too. */
const char *vblk_rw(struct vblk *b, uint32_t type, uint64_t sector, void *buf, uint32_t len);

/* Asynchronous pair for queue depth > 1: submit into a free slot, then reap completions in any order. */
int vblk_submit(struct vblk *b, uint32_t slot, uint32_t type, uint64_t sector, void *buf, uint32_t len);
/* Waits for the next completion: 0 with the slot and its status byte, or -1 (b->err). */
int vblk_reap(struct vblk *b, uint32_t *slot, uint8_t *status);

/* Polls for a used element or DEVICE_NEEDS_RESET, up to b->timeout_tsc. */
enum virtio_wait vblk_wait(struct vblk *b, struct virtq_used_elem *e);
/* Waits (bounded) for `bits` in InterruptStatus; returns what was seen (0 on timeout) and acks it. */
uint32_t vblk_wait_isr(struct vblk *b, uint32_t bits);

/* The slot's device-visible header/status, for tests that build chains by hand. */
struct vblk_slot *vblk_slot(uint32_t slot);
