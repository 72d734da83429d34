/* virtio-balloon (virtio 1.2, 5.5) over virtio-mmio, polled. Queues: inflateq 0, deflateq 1, then statsq
 * (VIRTIO_BALLOON_F_STATS_VQ) and reporting_vq (F_REPORTING) in that order when negotiated. Config space:
 * num_pages (target, le32) at 0, actual (le32, ours to write) at 4. */
#pragma once
#include <stdint.h>

#include "bootinfo.h"
#include "virtio_mmio.h"
#include "virtq.h"

#define VIRTIO_ID_BALLOON 5
#define VIRTIO_BALLOON_F_STATS_VQ 1
#define VIRTIO_BALLOON_F_DEFLATE_ON_OOM 2
#define VIRTIO_BALLOON_F_REPORTING 5
#define VBALLOON_PFNS_MAX 256u
#define VBALLOON_MAX_QUEUES 4

struct vballoon_stat {
  uint16_t tag;
  uint64_t val;
} __attribute__((packed));

struct vballoon {
  struct virtio_mmio_dev mmio;
  struct virtq q[VBALLOON_MAX_QUEUES];
  int nq;
  int stats_q;  /* -1: not negotiated */
  int report_q; /* -1: not negotiated */
  uint64_t timeout_tsc;
  char err[128];
};

/* Finds the first virtio-balloon, negotiates those of `wanted` it offers, sets up its queues, DRIVER_OK.
 * Prints one `balloon: dev ...` line. NULL or why not. */
const char *vballoon_open(struct vballoon *b, const struct boot_info *bi, uint64_t wanted, uint32_t timeout_ms);
uint32_t vballoon_target(struct vballoon *b);
void vballoon_set_actual(struct vballoon *b, uint32_t pages);
/* Sends one page array on queue q (0 inflate, 1 deflate) and waits for it to be used. */
const char *vballoon_pages(struct vballoon *b, int q, const uint32_t *pfns, uint32_t n);
/* Posts the statistics buffer (stays the device's until it asks for new numbers); no wait. */
void vballoon_stats_post(struct vballoon *b, const struct vballoon_stat *s, uint32_t n);
/* 1 when the device gave the statistics buffer back (a request for fresh numbers), else 0. */
int vballoon_stats_requested(struct vballoon *b);
/* Reports n ranges of free memory (each `len` bytes from addrs[i]) in one chain and waits for it. */
const char *vballoon_report(struct vballoon *b, const uint64_t *addrs, uint32_t len, uint32_t n);
/* A raw chain of one readable buffer on queue q, for hostile tests; waits for it. */
const char *vballoon_raw(struct vballoon *b, int q, uint64_t addr, uint32_t len);
