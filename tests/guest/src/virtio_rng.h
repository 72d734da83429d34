/* virtio-rng (entropy device, virtio 1.2, 5.4) over virtio-mmio, polled. No device-specific features or
 * config space; one queue (requestq, index 0). A request is a single device-writable descriptor; the device
 * fills one or more bytes of it and reports how many in used.len. */
#pragma once
#include <stdint.h>

#include "bootinfo.h"
#include "virtio_mmio.h"
#include "virtq.h"

#define VIRTIO_ID_RNG 4
#define VRNG_DEFAULT_TIMEOUT_MS 2000u

struct vrng {
  struct virtio_mmio_dev mmio;
  struct virtq q;
  uint16_t next_desc;   /* descriptor the next request uses (requests rotate through the table) */
  int check_isr;        /* after each completion, expect and ack the used-buffer interrupt bit */
  uint32_t timeout_ms;  /* how long any single wait may take */
  uint64_t timeout_tsc;
  char err[128];        /* why the last call failed */
};

/* Finds the first virtio-rng device announced on the command line and initialises it (vrng_init), with
 * `timeout_ms` per wait. Prints one `rng: dev ...` line. NULL or why not (also in r->err). */
const char *vrng_open(struct vrng *r, const struct boot_info *bi, uint32_t timeout_ms);
/* Full (re)initialisation: reset, negotiate VERSION_1 only, queue 0, DRIVER_OK. */
const char *vrng_init(struct vrng *r);

/* One synchronous request for `len` (>= 1) bytes into buf: the number of bytes the device wrote (used.len,
 * 1..len), or -1 (r->err says why: timeout, DEVICE_NEEDS_RESET, a bad used element, used.len 0 or > len). */
int vrng_read(struct vrng *r, void *buf, uint32_t len);

/* Polls for a used element or DEVICE_NEEDS_RESET, up to r->timeout_tsc. */
enum virtio_wait vrng_wait(struct vrng *r, struct virtq_used_elem *e);
/* Waits (bounded) for `bits` in InterruptStatus; returns what was seen of them (0 on timeout), acks all. */
uint32_t vrng_wait_isr(struct vrng *r, uint32_t bits);
