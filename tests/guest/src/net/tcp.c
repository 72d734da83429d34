#include "tcp.h"

#include "../io.h"
#include "../printf.h"
#include "../str.h"
#include "../tsc.h"

#define F_FIN 0x01
#define F_SYN 0x02
#define F_RST 0x04
#define F_PSH 0x08
#define F_ACK 0x10
#define TCP_HLEN 20

#define fail(n, ...) ((void)format_reason((n)->err, sizeof (n)->err, __VA_ARGS__), -1)

static uint16_t next_port = 40000;
static uint8_t seg[TCP_HLEN + 4 + TCP_MSS];

static int seq_lt(uint32_t a, uint32_t b) { return (int32_t)(a - b) < 0; }
static int seq_le(uint32_t a, uint32_t b) { return (int32_t)(a - b) <= 0; }

static int send_seg(struct tcp_conn *c, uint32_t seq, uint8_t flags, const uint8_t *data, uint32_t len) {
  struct netif *n = c->n;
  const uint32_t hlen = flags & F_SYN ? TCP_HLEN + 4 : TCP_HLEN;
  put16(seg, c->lport), put16(seg + 2, c->rport);
  put32(seg + 4, seq);
  put32(seg + 8, flags & F_ACK ? c->rcv_nxt : 0);
  seg[12] = (uint8_t)(hlen / 4) << 4, seg[13] = flags;
  uint32_t wnd = c->rx_cap - c->rx_len;
  put16(seg + 14, (uint16_t)(wnd > 65535 ? 65535 : wnd));
  put16(seg + 16, 0), put16(seg + 18, 0);
  if (flags & F_SYN) seg[20] = 2, seg[21] = 4, put16(seg + 22, TCP_MSS); /* MSS option */
  memcpy(seg + hlen, data, len);
  put16(seg + 16, csum_fold(csum_add(csum_pseudo(n->ip, c->rip, IP_PROTO_TCP, hlen + len), seg, hlen + len)));
  return ip_send(n, c->rip, IP_PROTO_TCP, seg, hlen + len, -1, VIRTIO_NET_HDR_GSO_NONE);
}

static int send_ack(struct tcp_conn *c) { return send_seg(c, c->snd_nxt, F_ACK, 0, 0); }

void tcp_input(struct netif *n, uint32_t src, const uint8_t *t, uint32_t len, int csum_ok) {
  struct tcp_conn *c = n->tcp;
  n->st.tcp_in++;
  if (len < TCP_HLEN) return;
  const uint32_t hlen = (uint32_t)(t[12] >> 4) * 4;
  if (hlen < TCP_HLEN || hlen > len) return;
  if (!csum_ok && csum_fold(csum_add(csum_pseudo(src, n->ip, IP_PROTO_TCP, len), t, len)) != 0)
    return (void)n->st.tcp_bad_csum++;
  if (!c || c->state == TCP_CLOSED || c->state == TCP_DONE || src != c->rip || get16(t) != c->rport ||
      get16(t + 2) != c->lport)
    return;
  const uint8_t flags = t[13];
  const uint32_t seq = get32(t + 4), ack = get32(t + 8);
  const uint8_t *data = t + hlen;
  uint32_t dlen = len - hlen;
  if (flags & F_RST) {
    c->rst_rcvd = 1, c->state = TCP_DONE;
    return;
  }
  if (c->state == TCP_SYN_SENT) {
    if ((flags & (F_SYN | F_ACK)) != (F_SYN | F_ACK) || ack != c->iss + 1) return;
    c->snd_una = ack;
    c->rcv_nxt = seq + 1;
    c->snd_wnd = get16(t + 14);
    c->state = TCP_ESTABLISHED;
    send_ack(c);
    return;
  }
  if (flags & F_ACK) {
    if (seq_lt(c->snd_una, ack) && seq_le(ack, c->snd_nxt)) c->snd_una = ack;
    c->snd_wnd = get16(t + 14);
    if (c->state == TCP_FIN_WAIT && c->snd_una == c->snd_nxt) c->fin_acked = 1;
  }
  if (flags & F_SYN) return send_ack(c), (void)0; /* a retransmitted SYN-ACK: our ACK was lost */
  if (dlen == 0 && !(flags & F_FIN)) return;
  if (seq != c->rcv_nxt) {
    c->dup_acks_sent++;
    send_ack(c); /* out of order or a retransmission: tell the peer what we have */
    return;
  }
  if (dlen > c->rx_cap - c->rx_len) dlen = c->rx_cap - c->rx_len; /* beyond our window: the peer resends */
  memcpy(c->rx + c->rx_len, data, dlen);
  c->rx_len += dlen;
  c->rcv_nxt += dlen;
  if ((flags & F_FIN) && dlen == len - hlen) c->rcv_nxt++, c->fin_rcvd = 1;
  send_ack(c);
}

int tcp_connect(struct netif *n, struct tcp_conn *c, uint32_t rip, uint16_t rport, uint8_t *rx, uint32_t rx_cap) {
  memset(c, 0, sizeof *c);
  c->n = n, c->rip = rip, c->rport = rport, c->rx = rx, c->rx_cap = rx_cap;
  c->lport = next_port++;
  if (next_port > 60000) next_port = 40000;
  c->iss = (uint32_t)rdtsc();
  c->snd_una = c->iss, c->snd_nxt = c->iss + 1;
  c->state = TCP_SYN_SENT;
  n->tcp = c;
  const uint64_t start = rdtsc(), rto = TCP_RTO_MS * tsc_khz(0);
  uint64_t next = start;
  while (c->state == TCP_SYN_SENT) {
    uint64_t now = rdtsc();
    if (now - start > n->timeout_tsc) return c->state = TCP_DONE, fail(n, "tcp: connect timed out");
    if (now >= next) {
      if (next != start) c->retransmits++;
      if (send_seg(c, c->iss, F_SYN, 0, 0) < 0) return -1;
      next = now + rto;
    }
    if (netif_poll(n) < 0) return -1;
  }
  if (c->rst_rcvd) return fail(n, "tcp: connection refused (RST)");
  return 0;
}

int tcp_send(struct tcp_conn *c, const void *data, uint32_t len) {
  struct netif *n = c->n;
  const uint8_t *p = data;
  const uint32_t base = c->snd_nxt;
  const uint64_t start = rdtsc(), rto = TCP_RTO_MS * tsc_khz(0);
  if (c->state != TCP_ESTABLISHED) return fail(n, "tcp: send on a connection that is not established");
  /* Stop-and-wait per window of what the peer offers: simple, and requests are small. */
  uint64_t sent_at = 0;
  while (seq_lt(c->snd_una, base + len)) {
    uint64_t now = rdtsc();
    if (c->rst_rcvd) return fail(n, "tcp: reset by peer while sending");
    if (now - start > n->timeout_tsc) return fail(n, "tcp: data not acknowledged in time");
    if (!sent_at || now - sent_at > rto) {
      if (sent_at) c->retransmits++;
      uint32_t wnd = c->snd_wnd ? c->snd_wnd : 1;
      for (uint32_t off = c->snd_una - base; off < len && off < (c->snd_una - base) + wnd;) {
        uint32_t piece = len - off > TCP_MSS ? TCP_MSS : len - off;
        if (send_seg(c, base + off, F_ACK | F_PSH, p + off, piece) < 0) return -1;
        off += piece;
        if (seq_lt(c->snd_nxt, base + off)) c->snd_nxt = base + off;
      }
      sent_at = now;
    }
    if (netif_poll(n) < 0) return -1;
  }
  return 0;
}

int tcp_wait(struct tcp_conn *c, int (*done)(const struct tcp_conn *, void *), void *arg) {
  struct netif *n = c->n;
  const uint64_t start = rdtsc();
  for (;;) {
    if (done && done(c, arg)) return 1;
    if (c->rst_rcvd) return fail(n, "tcp: reset by peer");
    if (c->fin_rcvd) return 0;
    if (rdtsc() - start > n->timeout_tsc) return fail(n, "tcp: nothing more within the timeout (%u bytes)", c->rx_len);
    if (netif_poll(n) < 0) return -1;
  }
}

int tcp_close(struct tcp_conn *c) {
  struct netif *n = c->n;
  int rc = 0;
  if (c->state == TCP_ESTABLISHED) {
    c->state = TCP_FIN_WAIT;
    const uint32_t fin_seq = c->snd_nxt;
    c->snd_nxt++;
    const uint64_t start = rdtsc(), rto = TCP_RTO_MS * tsc_khz(0);
    uint64_t sent_at = 0;
    while (!c->fin_acked && !c->rst_rcvd) {
      uint64_t now = rdtsc();
      if (now - start > n->timeout_tsc) {
        rc = fail(n, "tcp: FIN not acknowledged in time");
        break;
      }
      if (!sent_at || now - sent_at > rto) {
        if (sent_at) c->retransmits++;
        if (send_seg(c, fin_seq, F_FIN | F_ACK, 0, 0) < 0) return c->state = TCP_DONE, -1;
        sent_at = now;
      }
      if (netif_poll(n) < 0) return c->state = TCP_DONE, -1;
    }
  }
  c->state = TCP_DONE;
  if (n->tcp == c) n->tcp = 0;
  return rc;
}
