/* Split virtqueue (virtio 1.2, 2.7), driver side, polled. The rings live in caller-provided static
 * memory; the driver picks descriptor indices itself (requests use fixed slots). */
#pragma once
#include <stdint.h>

#define VIRTQ_MAX_SIZE 256

#define VIRTQ_DESC_F_NEXT 1
#define VIRTQ_DESC_F_WRITE 2

struct virtq_desc {
  uint64_t addr;
  uint32_t len;
  uint16_t flags;
  uint16_t next;
};

struct virtq_used_elem {
  uint32_t id;
  uint32_t len;
};

/* Storage for one queue of up to VIRTQ_MAX_SIZE entries, with the alignments of 2.7 (desc 16, avail 2,
 * used 4); page alignment keeps each ring on as few pages as possible. */
struct virtq_mem {
  struct virtq_desc desc[VIRTQ_MAX_SIZE] __attribute__((aligned(4096)));
  struct {
    uint16_t flags, idx, ring[VIRTQ_MAX_SIZE], used_event;
  } avail __attribute__((aligned(4096)));
  struct {
    uint16_t flags, idx;
    struct virtq_used_elem ring[VIRTQ_MAX_SIZE];
    uint16_t avail_event;
  } used __attribute__((aligned(4096)));
};

struct virtq {
  struct virtq_mem *mem;
  uint16_t size;
  uint16_t avail_idx; /* next free avail slot (our copy of avail.idx) */
  uint16_t last_used; /* next used element we have not consumed */
};

struct virtq_buf {
  uint64_t addr;
  uint32_t len;
  int device_writes; /* VIRTQ_DESC_F_WRITE */
};

static inline void virtq_mb(void) { __asm__ volatile("mfence" ::: "memory"); }

/* Zeroes the rings; size must be a power of two <= VIRTQ_MAX_SIZE. */
void virtq_init(struct virtq *q, struct virtq_mem *mem, uint16_t size);

/* Writes bufs[0..n) into descriptors first..first+n-1 as one chain (n >= 1, first + n <= size). */
void virtq_write_chain(struct virtq *q, uint16_t first, const struct virtq_buf *bufs, uint16_t n);

/* Makes descriptor `head` available (with the barriers the spec asks for); does not notify. */
void virtq_publish(struct virtq *q, uint16_t head);

/* Non-blocking: 1 and the element if the device has used one we have not consumed, 0 if not, -1 if the
 * device moved used.idx further than the queue size (a broken device; the element is not read). */
int virtq_get_used(struct virtq *q, struct virtq_used_elem *out);
