/* virtio-vsock (socket device, virtio 1.2, 5.10) over virtio-mmio, polled: stream connections with
 * credit-based flow control, enough for the vsock-echo self-test. Three queues: rx (0), tx (1), event (2).
 * Small on purpose: 4 KiB of buffered data per connection, 4 KiB packets. */
#pragma once
#include <stdint.h>

#include "bootinfo.h"
#include "virtio_mmio.h"
#include "virtq.h"

#define VIRTIO_ID_VSOCK 19
#define VSOCK_HOST_CID 2

#define VSOCK_OP_REQUEST 1
#define VSOCK_OP_RESPONSE 2
#define VSOCK_OP_RST 3
#define VSOCK_OP_SHUTDOWN 4
#define VSOCK_OP_RW 5
#define VSOCK_OP_CREDIT_UPDATE 6
#define VSOCK_OP_CREDIT_REQUEST 7
#define VSOCK_SHUTDOWN_RCV 1
#define VSOCK_SHUTDOWN_SEND 2

#define VSOCK_MAX_CONNS 80
#define VSOCK_CONN_BUF 4096 /* our buf_alloc per connection */
#define VSOCK_PKT_DATA 4096 /* largest payload we send; rx buffers hold a header plus this */

struct vsock_hdr {
  uint64_t src_cid, dst_cid;
  uint32_t src_port, dst_port, len;
  uint16_t type, op;
  uint32_t flags, buf_alloc, fwd_cnt;
} __attribute__((packed));

enum vsock_conn_state { VSOCK_FREE, VSOCK_CONNECTING, VSOCK_OPEN, VSOCK_CLOSING };

struct vsock_conn {
  enum vsock_conn_state state;
  uint32_t local_port, peer_port;
  /* Echo ring: bytes received, not yet sent back. */
  uint8_t buf[VSOCK_CONN_BUF];
  uint32_t head, used;
  uint32_t fwd_cnt, last_fwd_sent; /* what we consumed; what the peer was last told */
  uint32_t rx_cnt;                 /* payload bytes received */
  uint32_t tx_cnt;                 /* payload bytes sent */
  uint32_t peer_buf_alloc, peer_fwd_cnt;
  uint32_t peer_shutdown;
  int echo;       /* an accepted connection: echo what arrives */
  int id;         /* connect-out: index for the pattern */
  uint32_t to_send, verified; /* connect-out: pattern bytes left to send, bytes checked back */
  int failed;
};

struct vsock {
  struct virtio_mmio_dev mmio;
  struct virtq rxq, txq, evq;
  uint64_t guest_cid;
  uint32_t tx_free_mask_lo, tx_free_mask_hi; /* tx slots not in flight */
  uint32_t next_port;
  uint32_t resets_seen;
  uint64_t timeout_tsc;
  struct vsock_conn conns[VSOCK_MAX_CONNS];
  char err[160];
};

/* Finds and initialises the first virtio-vsock device; posts rx and event buffers. NULL or why not. */
const char *vsock_open(struct vsock *v, const struct boot_info *bi, uint32_t timeout_ms);
/* Sends one packet on `c` (payload `data`/`len` <= VSOCK_PKT_DATA), waiting for a free tx slot. NULL or why. */
const char *vsock_send(struct vsock *v, struct vsock_conn *c, uint16_t op, uint32_t flags, const void *data,
                       uint32_t len);
/* Opens a connection to host port `port` (REQUEST; the RESPONSE arrives through vsock_poll). */
struct vsock_conn *vsock_connect(struct vsock *v, uint32_t port);
/* Bytes the peer can take now. */
uint32_t vsock_peer_credit(const struct vsock_conn *c);

/* Callbacks of vsock_poll for each arriving packet; `c` is NULL for an unknown connection. */
struct vsock_handlers {
  uint32_t listen_port;                                                   /* 0: refuse every REQUEST */
  void (*on_data)(struct vsock *v, struct vsock_conn *c, const uint8_t *data, uint32_t len);
  void (*on_event)(struct vsock *v, struct vsock_conn *c, uint16_t op);  /* RESPONSE, SHUTDOWN, RST, ... */
  void (*on_reset)(struct vsock *v);                                    /* VIRTIO_VSOCK_EVENT_TRANSPORT_RESET */
};
/* Handles every used rx/event buffer (re-posting it) and reclaims tx slots. Returns the number of packets
 * handled, or -1 with v->err set (a bad used element, DEVICE_NEEDS_RESET). */
int vsock_poll(struct vsock *v, const struct vsock_handlers *h);
/* Frees a connection slot. */
void vsock_release(struct vsock_conn *c);
