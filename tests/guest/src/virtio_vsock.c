#include "virtio_vsock.h"

#include "io.h"
#include "printf.h"
#include "str.h"
#include "tsc.h"

#define NRX 64
#define NTX 64
#define NEV 4
#define PKT_BUF (sizeof(struct vsock_hdr) + VSOCK_PKT_DATA)

/* One device at a time: rings and buffers are static, as the guest has no allocator. */
static struct virtq_mem rx_mem, tx_mem, ev_mem;
static uint8_t rx_bufs[NRX][PKT_BUF] __attribute__((aligned(64)));
static uint8_t tx_bufs[NTX][PKT_BUF] __attribute__((aligned(64)));
static uint32_t ev_bufs[NEV];

#define fail(v, ...) format_reason((v)->err, sizeof (v)->err, __VA_ARGS__)

static const char *setup_queue(struct vsock *v, uint32_t index, struct virtq *q, struct virtq_mem *mem, uint32_t want) {
  uint32_t max = virtio_mmio_queue_num_max(&v->mmio, index);
  uint32_t size = want;
  while (size > max) size >>= 1;
  if (size < want) return fail(v, "virtio-vsock: queue %u holds %u entries, need %u", index, max, want);
  virtq_init(q, mem, (uint16_t)size);
  const char *why = virtio_mmio_setup_queue(&v->mmio, index, size, (uint64_t)(uintptr_t)mem->desc,
                                            (uint64_t)(uintptr_t)&mem->avail, (uint64_t)(uintptr_t)&mem->used);
  return why ? fail(v, "virtio-vsock: queue %u: %s", index, why) : 0;
}

static void post_rx(struct vsock *v, uint16_t d) {
  const struct virtq_buf b = {(uint64_t)(uintptr_t)rx_bufs[d], PKT_BUF, 1};
  virtq_write_chain(&v->rxq, d, &b, 1);
  virtq_publish(&v->rxq, d);
}

static void post_ev(struct vsock *v, uint16_t d) {
  const struct virtq_buf b = {(uint64_t)(uintptr_t)&ev_bufs[d], sizeof ev_bufs[d], 1};
  virtq_write_chain(&v->evq, d, &b, 1);
  virtq_publish(&v->evq, d);
}

static const struct virtio_driver vsock_driver = {
    .name = "virtio-vsock", .device_id = VIRTIO_ID_VSOCK, .features = 0, .queue_name = "rx", .min_queue = NRX,
};

const char *vsock_open(struct vsock *v, const struct boot_info *bi, uint32_t timeout_ms) {
  memset(v, 0, sizeof *v);
  v->timeout_tsc = (uint64_t)timeout_ms * tsc_khz(0);
  v->next_port = 40000;
  v->tx_free_mask_lo = v->tx_free_mask_hi = 0xffffffffu;
  const char *why = virtio_mmio_open(&v->mmio, bi, &vsock_driver, v->err, sizeof v->err);
  if (why) return why;
  if ((why = virtio_mmio_negotiate(&v->mmio, 0))) return fail(v, "virtio-vsock: %s", why);
  if ((why = setup_queue(v, 0, &v->rxq, &rx_mem, NRX)) || (why = setup_queue(v, 1, &v->txq, &tx_mem, NTX)) ||
      (why = setup_queue(v, 2, &v->evq, &ev_mem, NEV)))
    return why;
  v->guest_cid = virtio_mmio_config64(&v->mmio, 0);
  if ((why = virtio_mmio_init_done(&v->mmio, &vsock_driver, v->err, sizeof v->err))) return why;
  for (uint16_t d = 0; d < NRX; d++) post_rx(v, d);
  for (uint16_t d = 0; d < NEV; d++) post_ev(v, d);
  virtio_mmio_notify(&v->mmio, 0);
  virtio_mmio_notify(&v->mmio, 2);
  printf("vsock: dev base=0x%llx irq=%u cid=%llu\n", (unsigned long long)v->mmio.slot.base, v->mmio.slot.irq,
         (unsigned long long)v->guest_cid);
  return 0;
}

uint32_t vsock_peer_credit(const struct vsock_conn *c) {
  const uint32_t in_flight = c->tx_cnt - c->peer_fwd_cnt;
  return in_flight >= c->peer_buf_alloc ? 0 : c->peer_buf_alloc - in_flight;
}

static void reclaim_tx(struct vsock *v) {
  struct virtq_used_elem e;
  while (virtq_get_used(&v->txq, &e) > 0) {
    if (e.id < 32) v->tx_free_mask_lo |= 1u << e.id;
    else if (e.id < NTX) v->tx_free_mask_hi |= 1u << (e.id - 32);
  }
}

static int take_tx_slot(struct vsock *v) {
  const uint64_t start = rdtsc();
  for (;;) {
    if (v->tx_free_mask_lo) {
      int s = __builtin_ctz(v->tx_free_mask_lo);
      v->tx_free_mask_lo &= ~(1u << s);
      return s;
    }
    if (v->tx_free_mask_hi) {
      int s = __builtin_ctz(v->tx_free_mask_hi);
      v->tx_free_mask_hi &= ~(1u << s);
      return 32 + s;
    }
    reclaim_tx(v);
    if (rdtsc() - start > v->timeout_tsc) return -1;
  }
}

static const char *send_hdr(struct vsock *v, uint32_t local_port, uint32_t peer_port, uint16_t op, uint32_t flags,
                            uint32_t fwd_cnt, const void *data, uint32_t len) {
  if (len > VSOCK_PKT_DATA) return fail(v, "vsock_send of %u bytes", len);
  int slot = take_tx_slot(v);
  if (slot < 0) return fail(v, "virtio-vsock: no tx buffer came back within the timeout");
  struct vsock_hdr h = {
      .src_cid = v->guest_cid, .dst_cid = VSOCK_HOST_CID, .src_port = local_port, .dst_port = peer_port,
      .len = len, .type = 1, .op = op, .flags = flags, .buf_alloc = VSOCK_CONN_BUF, .fwd_cnt = fwd_cnt,
  };
  memcpy(tx_bufs[slot], &h, sizeof h);
  if (len) memcpy(tx_bufs[slot] + sizeof h, data, len);
  const struct virtq_buf b = {(uint64_t)(uintptr_t)tx_bufs[slot], (uint32_t)sizeof h + len, 0};
  virtq_write_chain(&v->txq, (uint16_t)slot, &b, 1);
  virtq_publish(&v->txq, (uint16_t)slot);
  virtio_mmio_notify(&v->mmio, 1);
  return 0;
}

const char *vsock_send(struct vsock *v, struct vsock_conn *c, uint16_t op, uint32_t flags, const void *data,
                       uint32_t len) {
  c->last_fwd_sent = c->fwd_cnt;
  if (op == VSOCK_OP_RW) c->tx_cnt += len;
  return send_hdr(v, c->local_port, c->peer_port, op, flags, c->fwd_cnt, data, len);
}

static struct vsock_conn *alloc_conn(struct vsock *v) {
  for (int i = 0; i < VSOCK_MAX_CONNS; i++) {
    if (v->conns[i].state == VSOCK_FREE) {
      struct vsock_conn *c = &v->conns[i];
      c->head = c->used = 0;
      c->fwd_cnt = c->last_fwd_sent = c->rx_cnt = c->tx_cnt = 0;
      c->peer_buf_alloc = c->peer_fwd_cnt = c->peer_shutdown = 0;
      c->echo = c->failed = c->id = 0;
      c->to_send = c->verified = 0;
      return c;
    }
  }
  return 0;
}

void vsock_release(struct vsock_conn *c) { c->state = VSOCK_FREE; }

struct vsock_conn *vsock_connect(struct vsock *v, uint32_t port) {
  struct vsock_conn *c = alloc_conn(v);
  if (!c) return 0;
  c->state = VSOCK_CONNECTING;
  c->local_port = v->next_port++;
  c->peer_port = port;
  if (vsock_send(v, c, VSOCK_OP_REQUEST, 0, 0, 0)) {
    vsock_release(c);
    return 0;
  }
  return c;
}

static struct vsock_conn *find_conn(struct vsock *v, uint32_t local_port, uint32_t peer_port) {
  for (int i = 0; i < VSOCK_MAX_CONNS; i++) {
    struct vsock_conn *c = &v->conns[i];
    if (c->state != VSOCK_FREE && c->local_port == local_port && c->peer_port == peer_port) return c;
  }
  return 0;
}

static const char *handle_packet(struct vsock *v, const struct vsock_hdr *h, const uint8_t *data,
                                 const struct vsock_handlers *hd) {
  if (h->dst_cid != v->guest_cid || h->src_cid != VSOCK_HOST_CID || h->type != 1) return 0;
  struct vsock_conn *c = find_conn(v, h->dst_port, h->src_port);
  if (c) {
    c->peer_buf_alloc = h->buf_alloc;
    c->peer_fwd_cnt = h->fwd_cnt;
  }
  switch (h->op) {
    case VSOCK_OP_REQUEST:
      if (c) return 0;
      if (hd->listen_port && h->dst_port == hd->listen_port && (c = alloc_conn(v))) {
        c->state = VSOCK_OPEN;
        c->echo = 1;
        c->local_port = h->dst_port;
        c->peer_port = h->src_port;
        c->peer_buf_alloc = h->buf_alloc;
        c->peer_fwd_cnt = h->fwd_cnt;
        return vsock_send(v, c, VSOCK_OP_RESPONSE, 0, 0, 0);
      }
      return send_hdr(v, h->dst_port, h->src_port, VSOCK_OP_RST, 0, 0, 0, 0);
    case VSOCK_OP_RW:
      if (!c) return send_hdr(v, h->dst_port, h->src_port, VSOCK_OP_RST, 0, 0, 0, 0);
      c->rx_cnt += h->len;
      if (hd->on_data) hd->on_data(v, c, data, h->len);
      return 0;
    case VSOCK_OP_CREDIT_REQUEST:
      if (c) return vsock_send(v, c, VSOCK_OP_CREDIT_UPDATE, 0, 0, 0);
      return 0;
    case VSOCK_OP_RESPONSE:
      if (c && c->state == VSOCK_CONNECTING) c->state = VSOCK_OPEN;
      break;
    case VSOCK_OP_SHUTDOWN:
      if (c) c->peer_shutdown |= h->flags & 3;
      break;
    default:
      break;
  }
  if (c && hd->on_event) hd->on_event(v, c, h->op);
  if (c && h->op == VSOCK_OP_RST) vsock_release(c);
  return 0;
}

int vsock_poll(struct vsock *v, const struct vsock_handlers *hd) {
  int handled = 0, reposted = 0;
  struct virtq_used_elem e;
  int got;
  while ((got = virtq_get_used(&v->rxq, &e)) > 0) {
    /* Trust nothing the device wrote. */
    if (e.id >= NRX) return fail(v, "virtio-vsock: rx used id %u out of range", e.id), -1;
    if (e.len < sizeof(struct vsock_hdr) || e.len > PKT_BUF)
      return fail(v, "virtio-vsock: rx used.len %u for a %u-byte buffer", e.len, (unsigned)PKT_BUF), -1;
    struct vsock_hdr h;
    memcpy(&h, rx_bufs[e.id], sizeof h);
    if (h.len > e.len - sizeof h)
      return fail(v, "virtio-vsock: rx packet len %u past used.len %u", h.len, e.len), -1;
    const char *why = handle_packet(v, &h, rx_bufs[e.id] + sizeof h, hd);
    post_rx(v, (uint16_t)e.id);
    reposted = 1;
    handled++;
    if (why) return -1;
  }
  if (got < 0) return fail(v, "virtio-vsock: rx used.idx moved past the queue size"), -1;
  if (reposted) virtio_mmio_notify(&v->mmio, 0);
  while (virtq_get_used(&v->evq, &e) > 0) {
    if (e.id < NEV) {
      if (e.len >= 4 && ev_bufs[e.id] == 0) {
        v->resets_seen++;
        /* 5.10.6.6: every connection is gone. */
        for (int i = 0; i < VSOCK_MAX_CONNS; i++) v->conns[i].state = VSOCK_FREE;
        if (hd->on_reset) hd->on_reset(v);
      }
      post_ev(v, (uint16_t)e.id);
      virtio_mmio_notify(&v->mmio, 2);
    }
    handled++;
  }
  reclaim_tx(v);
  return handled;
}
