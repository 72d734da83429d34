/* IPv4 (RFC 791): sending with fragmentation or one GSO frame, receiving with reassembly. */
#include "netif.h"

#include "../noclear.h"
#include "../printf.h"
#include "../str.h"
#include "tcp.h"

#define IP_MF 0x2000
#define IP_OFFMASK 0x1fff
#define FRAG_PAYLOAD ((NET_MTU - IP_HLEN) & ~7u) /* 1480 */
#define REASM_MAX 65535u
#define BLOCKS (REASM_MAX / 8 + 1)

#define fail(n, ...) ((void)format_reason((n)->err, sizeof (n)->err, __VA_ARGS__), -1)

static NOCLEAR uint8_t pkt[IP_HLEN + FRAG_PAYLOAD + 8];
static NOCLEAR uint8_t gso_pkt[IP_HLEN + 65535];

/* One datagram being reassembled per interface: keyed by (src, id, proto); a new key restarts it. */
struct reasm {
  int active;
  uint32_t src;
  uint16_t id;
  uint8_t proto;
  uint32_t total;       /* payload length once the last fragment arrived, else 0 */
  uint32_t blocks_seen; /* distinct 8-byte blocks received */
  uint8_t seen[BLOCKS / 8 + 1];
};
static struct reasm reasm[VNET_MAX_DEVS];
static NOCLEAR uint8_t reasm_buf[VNET_MAX_DEVS][REASM_MAX + 8];

static void ip_header(struct netif *n, uint8_t *h, uint32_t dst, uint8_t proto, uint32_t len, uint16_t id,
                      uint16_t frag) {
  h[0] = 0x45, h[1] = 0;
  put16(h + 2, (uint16_t)(IP_HLEN + len));
  put16(h + 4, id);
  put16(h + 6, frag);
  h[8] = 64, h[9] = proto;
  put16(h + 10, 0);
  put32(h + 12, n->ip), put32(h + 16, dst);
  put16(h + 10, csum_fold(csum_add(0, h, IP_HLEN)));
}

int ip_send(struct netif *n, uint32_t dst, uint8_t proto, const uint8_t *l4, uint32_t len, int partial_csum_off,
            uint8_t gso) {
  uint8_t mac[6];
  if (len > 65535 - IP_HLEN) return fail(n, "ip: %u-byte datagram too big", len);
  if (arp_resolve(n, dst, mac) < 0) return -1;
  const uint16_t id = n->ip_id++;
  struct virtio_net_hdr vh = {0};
  if (partial_csum_off >= 0) {
    vh.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
    vh.csum_start = ETH_HLEN + IP_HLEN;
    vh.csum_offset = (uint16_t)partial_csum_off;
  }
  if (len <= NET_MTU - IP_HLEN || gso != VIRTIO_NET_HDR_GSO_NONE) {
    uint8_t *b = len <= FRAG_PAYLOAD + 8 ? pkt : gso_pkt;
    if (len > NET_MTU - IP_HLEN) {
      /* One frame the device (or the host kernel) segments: gso_size is the payload of each piece. */
      vh.gso_type = gso;
      vh.gso_size = (uint16_t)(gso == VIRTIO_NET_HDR_GSO_UDP ? FRAG_PAYLOAD : NET_MTU - IP_HLEN - 20);
      vh.hdr_len = (uint16_t)(ETH_HLEN + IP_HLEN + (proto == IP_PROTO_UDP ? UDP_HLEN : 20));
    }
    ip_header(n, b, dst, proto, len, id, 0);
    memcpy(b + IP_HLEN, l4, len);
    return eth_send(n, mac, ETH_P_IP, &vh, b, IP_HLEN + len);
  }
  if (partial_csum_off >= 0) return fail(n, "ip: a partial checksum cannot be fragmented");
  for (uint32_t off = 0; off < len; off += FRAG_PAYLOAD) {
    uint32_t piece = len - off > FRAG_PAYLOAD ? FRAG_PAYLOAD : len - off;
    uint16_t frag = (uint16_t)((off / 8) | (off + piece < len ? IP_MF : 0));
    ip_header(n, pkt, dst, proto, piece, id, frag);
    memcpy(pkt + IP_HLEN, l4 + off, piece);
    if (eth_send(n, mac, ETH_P_IP, &vh, pkt, IP_HLEN + piece) < 0) return -1;
    n->st.tx_frags++;
  }
  return 0;
}

/* Files fragment [off, off+len) of the datagram; returns its payload when complete, else NULL. */
static const uint8_t *reassemble(struct netif *n, uint32_t src, uint16_t id, uint8_t proto, uint32_t off,
                                 const uint8_t *data, uint32_t len, int more, uint32_t *total) {
  struct reasm *r = &reasm[n->index];
  n->st.ip_frags_in++;
  if (off + len > REASM_MAX || (more && len % 8)) return n->st.ip_bad++, (const uint8_t *)0;
  if (!r->active || r->src != src || r->id != id || r->proto != proto) {
    memset(r, 0, sizeof *r);
    r->active = 1, r->src = src, r->id = id, r->proto = proto;
  }
  uint8_t *buf = reasm_buf[n->index];
  memcpy(buf + off, data, len);
  for (uint32_t b = off / 8; b < (off + len + 7) / 8; b++)
    if (!(r->seen[b / 8] & (1u << (b % 8)))) r->seen[b / 8] |= (uint8_t)(1u << (b % 8)), r->blocks_seen++;
  if (!more) r->total = off + len;
  if (!r->total || r->blocks_seen != (r->total + 7) / 8) return 0;
  r->active = 0;
  n->st.ip_reassembled++;
  *total = r->total;
  return buf;
}

void ip_input(struct netif *n, const struct virtio_net_hdr *vh, const uint8_t *p, uint32_t len) {
  if (len < IP_HLEN || p[0] >> 4 != 4) return (void)n->st.ip_bad++;
  const uint32_t ihl = (uint32_t)(p[0] & 15) * 4, tot = get16(p + 2);
  if (ihl < IP_HLEN || tot < ihl || tot > len || csum_fold(csum_add(0, p, ihl)) != 0) return (void)n->st.ip_bad++;
  const uint32_t src = get32(p + 12), dst = get32(p + 16);
  if (dst != n->ip) return;
  if (vh->gso_type != VIRTIO_NET_HDR_GSO_NONE) n->st.rx_gso++;
  const uint16_t frag = get16(p + 6);
  const uint8_t proto = p[9];
  const uint8_t *l4 = p + ihl;
  uint32_t l4len = tot - ihl;
  /* 5.1.6.4.1: NEEDS_CSUM and DATA_VALID both mean the data is good (the checksum field may be partial). */
  int csum_ok = (vh->flags & (VIRTIO_NET_HDR_F_NEEDS_CSUM | VIRTIO_NET_HDR_F_DATA_VALID)) != 0;
  if (frag & (IP_MF | IP_OFFMASK)) {
    if (!(l4 = reassemble(n, src, get16(p + 4), proto, (uint32_t)(frag & IP_OFFMASK) * 8, l4, l4len,
                          (frag & IP_MF) != 0, &l4len)))
      return;
    csum_ok = 0; /* the device saw fragments, never the whole datagram */
  }
  if (proto == IP_PROTO_UDP) udp_input(n, src, dst, l4, l4len, csum_ok);
  else if (proto == IP_PROTO_TCP) tcp_input(n, src, l4, l4len, csum_ok);
}
