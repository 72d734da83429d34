/* A TCP client (RFC 793/9293) just good enough for HTTP/1.1: one connection per interface, in-order data
 * only (anything else is answered with a duplicate ACK), our SYN/data/FIN retransmitted every
 * TCP_RTO_MS until acknowledged, bounded by the interface timeout. */
#pragma once
#include <stdint.h>

#include "netif.h"

#define TCP_RTO_MS 1000
#define TCP_MSS 1460u

enum tcp_state { TCP_CLOSED, TCP_SYN_SENT, TCP_ESTABLISHED, TCP_FIN_WAIT, TCP_DONE };

struct tcp_conn {
  struct netif *n;
  enum tcp_state state;
  uint32_t rip;
  uint16_t lport, rport;
  uint32_t iss, snd_una, snd_nxt, rcv_nxt;
  uint32_t snd_wnd;
  int fin_rcvd, fin_acked, rst_rcvd;
  uint8_t *rx;      /* everything received in order, up to rx_cap */
  uint32_t rx_len, rx_cap;
  uint32_t retransmits, dup_acks_sent;
};

/* Connects (SYN, retransmitted) to rip:rport from a fresh local port; rx/rx_cap receive the byte stream.
 * 0 or -1 (n->err: timeout, RST). */
int tcp_connect(struct netif *n, struct tcp_conn *c, uint32_t rip, uint16_t rport, uint8_t *rx, uint32_t rx_cap);
/* Sends len bytes in MSS segments and waits until all are acknowledged (retransmitting). 0 or -1. */
int tcp_send(struct tcp_conn *c, const void *data, uint32_t len);
/* Polls until `done(c, arg)` says so, the peer's FIN or RST, or the timeout. 1 if done() said so, 0 on FIN,
 * -1 on RST/timeout/error (n->err). */
int tcp_wait(struct tcp_conn *c, int (*done)(const struct tcp_conn *c, void *arg), void *arg);
/* Sends FIN and waits (bounded) for its ACK; answers the peer's FIN. Always leaves the connection closed. */
int tcp_close(struct tcp_conn *c);

void tcp_input(struct netif *n, uint32_t src, const uint8_t *seg, uint32_t len, int csum_ok);
