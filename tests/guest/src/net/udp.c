/* UDP (RFC 768) with software or offloaded checksums. */
#include "netif.h"

#include "../noclear.h"
#include "../printf.h"
#include "../str.h"
#include "../tsc.h"
#include "../io.h"

#define fail(n, ...) ((void)format_reason((n)->err, sizeof (n)->err, __VA_ARGS__), -1)

static NOCLEAR uint8_t udp_tx[UDP_HLEN + UDP_MAX_PAYLOAD];

int udp_send(struct netif *n, uint32_t dst, uint16_t sport, uint16_t dport, const void *data, uint32_t len) {
  if (len > UDP_MAX_PAYLOAD) return fail(n, "udp: %u-byte payload too big", len);
  const uint32_t ulen = UDP_HLEN + len;
  put16(udp_tx, sport), put16(udp_tx + 2, dport), put16(udp_tx + 4, (uint16_t)ulen), put16(udp_tx + 6, 0);
  memcpy(udp_tx + UDP_HLEN, data, len);
  const int csum = n->offload && vnet_has(&n->dev, VIRTIO_NET_F_CSUM);
  const int ufo = n->offload && vnet_has(&n->dev, VIRTIO_NET_F_HOST_UFO);
  const uint64_t pseudo = csum_pseudo(n->ip, dst, IP_PROTO_UDP, ulen);
  if (csum && (ulen <= NET_MTU - IP_HLEN || ufo)) {
    /* The device finishes it: the field holds the folded pseudo-header sum, not inverted. */
    put16(udp_tx + 6, (uint16_t)~csum_fold(pseudo));
    return ip_send(n, dst, IP_PROTO_UDP, udp_tx, ulen, 6,
                   ulen > NET_MTU - IP_HLEN ? VIRTIO_NET_HDR_GSO_UDP : VIRTIO_NET_HDR_GSO_NONE);
  }
  uint16_t c = csum_fold(csum_add(pseudo, udp_tx, ulen));
  put16(udp_tx + 6, c ? c : 0xffff);
  return ip_send(n, dst, IP_PROTO_UDP, udp_tx, ulen, -1, VIRTIO_NET_HDR_GSO_NONE);
}

void udp_input(struct netif *n, uint32_t src, uint32_t dst, const uint8_t *u, uint32_t len, int csum_ok) {
  if (len < UDP_HLEN || get16(u + 4) < UDP_HLEN || get16(u + 4) > len) return (void)n->st.ip_bad++;
  len = get16(u + 4);
  n->st.udp_in++;
  if (csum_ok) n->st.udp_csum_trusted++;
  else if (get16(u + 6) != 0) {
    if (csum_fold(csum_add(csum_pseudo(src, dst, IP_PROTO_UDP, len), u, len)) != 0) return (void)n->st.udp_bad_csum++;
    n->st.udp_csum_valid++;
  }
  if (n->udp.full) return (void)n->st.udp_dropped++;
  n->udp.full = 1;
  n->udp.src_ip = src, n->udp.src_port = get16(u), n->udp.dst_port = get16(u + 2);
  n->udp.len = len - UDP_HLEN;
  memcpy(n->udp.data, u + UDP_HLEN, n->udp.len);
}

int udp_recv(struct netif *n, uint16_t port, void *buf, uint32_t cap, uint32_t *src_ip, uint16_t *src_port,
             uint32_t timeout_ms) {
  const uint64_t start = rdtsc(), limit = (uint64_t)timeout_ms * tsc_khz(0);
  for (;;) {
    if (n->udp.full) {
      n->udp.full = 0;
      if (n->udp.dst_port == port) {
        uint32_t len = n->udp.len;
        memcpy(buf, n->udp.data, len < cap ? len : cap);
        if (src_ip) *src_ip = n->udp.src_ip;
        if (src_port) *src_port = n->udp.src_port;
        return (int)len;
      }
      n->st.udp_dropped++;
    }
    if (rdtsc() - start > limit) return 0;
    if (netif_poll(n) < 0) return -1;
  }
}
