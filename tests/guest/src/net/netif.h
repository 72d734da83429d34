/* A minimal client network stack over one virtio-net device: Ethernet, ARP, IPv4 (fragmentation and
 * reassembly), UDP, and a TCP client (tcp.h). Polled and single-threaded: every wait calls netif_poll, which
 * answers ARP and files UDP datagrams and TCP segments where their readers look. */
#pragma once
#include <stdint.h>

#include "../virtio_net.h"

#define ETH_HLEN 14
#define ETH_P_IP 0x0800
#define ETH_P_ARP 0x0806
#define IP_HLEN 20
#define UDP_HLEN 8
#define IP_PROTO_TCP 6
#define IP_PROTO_UDP 17
#define NET_MTU 1500u
#define UDP_MAX_PAYLOAD 65507u
#define ARP_CACHE 8

static inline uint16_t htons(uint16_t v) { return (uint16_t)(v << 8 | v >> 8); }
static inline uint16_t ntohs(uint16_t v) { return htons(v); }
static inline uint32_t htonl(uint32_t v) { return __builtin_bswap32(v); }
static inline uint32_t ntohl(uint32_t v) { return __builtin_bswap32(v); }
static inline uint16_t get16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }
static inline uint32_t get32(const uint8_t *p) { return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]; }
static inline void put16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)(v >> 8), p[1] = (uint8_t)v; }
static inline void put32(uint8_t *p, uint32_t v) { put16(p, (uint16_t)(v >> 16)), put16(p + 2, (uint16_t)v); }

struct tcp_conn;

struct netif_stats {
  uint64_t arp_replies_sent, ip_bad, ip_frags_in, ip_reassembled, udp_in, udp_bad_csum, udp_csum_trusted,
      udp_csum_valid, udp_dropped, tcp_in, tcp_bad_csum, rx_gso, tx_frags;
};

/* A received UDP datagram, waiting for udp_recv (one at a time per interface; more are dropped, counted). */
struct udp_mailbox {
  int full;
  uint32_t src_ip;
  uint16_t src_port, dst_port;
  uint32_t len;
  uint8_t *data; /* UDP_MAX_PAYLOAD bytes, static per interface */
};

struct netif {
  struct vnet dev;
  int index;
  uint32_t ip, mask; /* host order */
  int offload;       /* use the negotiated offloads on transmit */
  uint16_t ip_id;
  struct {
    uint32_t ip;
    uint8_t mac[6];
  } arp[ARP_CACHE];
  int arp_next;
  struct udp_mailbox udp;
  struct tcp_conn *tcp; /* the one open TCP connection, if any */
  struct netif_stats st;
  uint64_t timeout_tsc;
  char err[160];
};

/* Opens the nth virtio-net device (vnet_open) with `ip`/`mask` (host order). NULL or why not. */
const char *netif_open(struct netif *n, const struct boot_info *bi, int nth, uint32_t ip, uint32_t mask, int offload,
                       uint32_t timeout_ms);

/* Handles every frame waiting on the device. Returns the number handled, -1 on a device error (n->err). */
int netif_poll(struct netif *n);

/* The MAC for `ip` (ARP request, retried every 500 ms, bounded by the timeout). 0 or -1 (n->err). */
int arp_resolve(struct netif *n, uint32_t ip, uint8_t mac[6]);
void arp_input(struct netif *n, const uint8_t *frame, uint32_t len);

/* Sends one Ethernet frame: dst MAC, type, payload; `vh` the virtio header (NULL: none). 0 or -1. */
int eth_send(struct netif *n, const uint8_t dst[6], uint16_t type, const struct virtio_net_hdr *vh, const uint8_t *payload,
             uint32_t len);

/* Sends an IPv4 datagram of `proto` whose transport header+payload is `l4` (its checksum already final, or,
 * with `partial_csum_off` >= 0, a pseudo-header sum the device completes: NEEDS_CSUM). Fragments above
 * the MTU, or, with `gso` set and the offload negotiated, sends one GSO frame. 0 or -1. */
int ip_send(struct netif *n, uint32_t dst, uint8_t proto, const uint8_t *l4, uint32_t len, int partial_csum_off,
            uint8_t gso);
void ip_input(struct netif *n, const struct virtio_net_hdr *vh, const uint8_t *pkt, uint32_t len);

/* Internet checksum helpers (RFC 1071): a running 32-bit sum, folded by csum_fold. */
uint64_t csum_add(uint64_t sum, const void *data, uint32_t len);
uint16_t csum_fold(uint64_t sum);
uint64_t csum_pseudo(uint32_t src, uint32_t dst, uint8_t proto, uint32_t len);

/* UDP: sends `len` (<= UDP_MAX_PAYLOAD) bytes. 0 or -1. */
int udp_send(struct netif *n, uint32_t dst, uint16_t sport, uint16_t dport, const void *data, uint32_t len);
/* Waits up to timeout_ms for a datagram to `port` (others are dropped); copies at most cap bytes, returns the
 * datagram's length, 0 on timeout, -1 on error. */
int udp_recv(struct netif *n, uint16_t port, void *buf, uint32_t cap, uint32_t *src_ip, uint16_t *src_port,
             uint32_t timeout_ms);
void udp_input(struct netif *n, uint32_t src, uint32_t dst, const uint8_t *udp, uint32_t len, int csum_ok);

/* "a.b.c.d" into host order; 0 on success. "a.b.c.d/len" also gives a mask; "a.b.c.d:port" a port. */
int parse_ipv4(const char *s, uint32_t *ip, const char **end);
int parse_ip_mask(const char *s, uint32_t *ip, uint32_t *mask);
int parse_ip_port(const char *s, uint32_t *ip, uint16_t *port);
/* "%u.%u.%u.%u" into buf (16 bytes). */
const char *ip_str(uint32_t ip, char buf[16]);
