#include "virtq.h"

#include "str.h"

void virtq_init(struct virtq *q, struct virtq_mem *mem, uint16_t size) {
  memset(mem, 0, sizeof *mem);
  q->mem = mem;
  q->size = size;
  q->avail_idx = 0;
  q->last_used = 0;
}

void virtq_write_chain(struct virtq *q, uint16_t first, const struct virtq_buf *bufs, uint16_t n) {
  for (uint16_t i = 0; i < n; i++) {
    struct virtq_desc *d = &q->mem->desc[first + i];
    d->addr = bufs[i].addr;
    d->len = bufs[i].len;
    d->flags = (uint16_t)((bufs[i].device_writes ? VIRTQ_DESC_F_WRITE : 0) | (i + 1 < n ? VIRTQ_DESC_F_NEXT : 0));
    d->next = i + 1 < n ? (uint16_t)(first + i + 1) : 0;
  }
}

void virtq_publish(struct virtq *q, uint16_t head) {
  volatile uint16_t *ring = q->mem->avail.ring;
  ring[q->avail_idx & (q->size - 1)] = head;
  virtq_mb(); /* descriptors and ring entry before the index (2.7.13) */
  q->avail_idx++;
  *(volatile uint16_t *)&q->mem->avail.idx = q->avail_idx;
  virtq_mb(); /* index before the notify write that follows */
}

int virtq_get_used(struct virtq *q, struct virtq_used_elem *out) {
  uint16_t idx = *(volatile uint16_t *)&q->mem->used.idx;
  if (idx == q->last_used) return 0;
  if ((uint16_t)(idx - q->last_used) > q->size) return -1;
  virtq_mb(); /* the index before the element it covers */
  volatile struct virtq_used_elem *e = &q->mem->used.ring[q->last_used & (q->size - 1)];
  out->id = e->id;
  out->len = e->len;
  q->last_used++;
  return 1;
}
