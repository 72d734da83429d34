/* Ethernet framing, the receive loop and ARP (RFC 826) for the guest's network stack. */
#include "netif.h"

#include "../io.h"
#include "../noclear.h"
#include "../printf.h"
#include "../str.h"
#include "../tsc.h"
#include "tcp.h"

#define ARP_RETRY_MS 500

static const uint8_t broadcast[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
/* Shared scratch: the stack runs one frame at a time. rx_frame is only used by netif_poll, tx_frame by
 * eth_send (it is never re-entered: nothing it calls polls). */
static NOCLEAR uint8_t rx_frame[VNET_MAX_FRAME];
static NOCLEAR uint8_t tx_frame[VNET_MAX_FRAME];
static NOCLEAR uint8_t mailbox_data[VNET_MAX_DEVS][UDP_MAX_PAYLOAD];

#define fail(n, ...) ((void)format_reason((n)->err, sizeof (n)->err, __VA_ARGS__), -1)

const char *netif_open(struct netif *n, const struct boot_info *bi, int nth, uint32_t ip, uint32_t mask, int offload,
                       uint32_t timeout_ms) {
  memset(n, 0, sizeof *n);
  n->index = nth, n->ip = ip, n->mask = mask, n->offload = offload;
  n->timeout_tsc = (uint64_t)timeout_ms * tsc_khz(0);
  n->udp.data = mailbox_data[nth];
  n->ip_id = (uint16_t)(rdtsc() ^ (uint64_t)nth << 12);
  /* A locally administered fallback MAC, for a device without VIRTIO_NET_F_MAC. */
  const uint8_t own[6] = {0x06, 0x00, (uint8_t)(ip >> 24), (uint8_t)(ip >> 16), (uint8_t)(ip >> 8), (uint8_t)ip};
  const char *why = vnet_open(&n->dev, bi, nth, offload, own, timeout_ms);
  if (why) return format_reason(n->err, sizeof n->err, "%s", why);
  return 0;
}

int eth_send(struct netif *n, const uint8_t dst[6], uint16_t type, const struct virtio_net_hdr *vh, const uint8_t *payload,
             uint32_t len) {
  if (len + ETH_HLEN > VNET_MAX_FRAME) return fail(n, "eth: %u-byte payload too big", len);
  memcpy(tx_frame, dst, 6);
  memcpy(tx_frame + 6, n->dev.mac, 6);
  put16(tx_frame + 12, type);
  memcpy(tx_frame + ETH_HLEN, payload, len);
  uint32_t total = len + ETH_HLEN;
  struct virtio_net_hdr none = {0};
  if (vnet_send(&n->dev, vh ? vh : &none, tx_frame, total) < 0) return fail(n, "%s", n->dev.err);
  return 0;
}

static void arp_learn(struct netif *n, uint32_t ip, const uint8_t mac[6]) {
  for (int i = 0; i < ARP_CACHE; i++)
    if (n->arp[i].ip == ip) {
      memcpy(n->arp[i].mac, mac, 6);
      return;
    }
  n->arp[n->arp_next].ip = ip;
  memcpy(n->arp[n->arp_next].mac, mac, 6);
  n->arp_next = (n->arp_next + 1) % ARP_CACHE;
}

static int arp_send(struct netif *n, uint16_t op, const uint8_t tha[6], uint32_t tpa, const uint8_t dst[6]) {
  uint8_t a[28];
  put16(a, 1), put16(a + 2, ETH_P_IP);
  a[4] = 6, a[5] = 4;
  put16(a + 6, op);
  memcpy(a + 8, n->dev.mac, 6);
  put32(a + 14, n->ip);
  memcpy(a + 18, tha, 6);
  put32(a + 24, tpa);
  return eth_send(n, dst, ETH_P_ARP, 0, a, sizeof a);
}

void arp_input(struct netif *n, const uint8_t *f, uint32_t len) {
  if (len < ETH_HLEN + 28) return;
  const uint8_t *a = f + ETH_HLEN;
  if (get16(a) != 1 || get16(a + 2) != ETH_P_IP || a[4] != 6 || a[5] != 4) return;
  const uint16_t op = get16(a + 6);
  const uint32_t spa = get32(a + 14), tpa = get32(a + 24);
  if (tpa != n->ip) return;
  arp_learn(n, spa, a + 8);
  if (op == 1 && arp_send(n, 2, a + 8, spa, a + 8) == 0) n->st.arp_replies_sent++;
}

int arp_resolve(struct netif *n, uint32_t ip, uint8_t mac[6]) {
  /* Off-link destinations would go through a gateway; the tests only use on-link peers. */
  const uint64_t start = rdtsc(), retry = ARP_RETRY_MS * tsc_khz(0);
  uint64_t next = start;
  for (;;) {
    for (int i = 0; i < ARP_CACHE; i++)
      if (n->arp[i].ip == ip) return memcpy(mac, n->arp[i].mac, 6), 0;
    uint64_t now = rdtsc();
    if (now - start > n->timeout_tsc) {
      char s[16];
      return fail(n, "arp: no reply for %s", ip_str(ip, s));
    }
    if (now >= next) {
      static const uint8_t zero[6];
      if (arp_send(n, 1, zero, ip, broadcast) < 0) return -1;
      next = now + retry;
    }
    if (netif_poll(n) < 0) return -1;
  }
}

int netif_poll(struct netif *n) {
  int handled = 0;
  /* Stops once a UDP datagram waits for its reader: the rest stay in the device's ring (no drop). */
  while (!n->udp.full) {
    struct virtio_net_hdr vh;
    int len = vnet_recv(&n->dev, &vh, rx_frame, sizeof rx_frame);
    if (len < 0) return fail(n, "%s", n->dev.err);
    if (len == 0) return handled;
    handled++;
    if (len < ETH_HLEN) continue;
    const uint8_t *f = rx_frame;
    if (memcmp(f, n->dev.mac, 6) != 0 && memcmp(f, broadcast, 6) != 0) continue;
    uint16_t type = get16(f + 12);
    if (type == ETH_P_ARP) arp_input(n, f, (uint32_t)len);
    else if (type == ETH_P_IP) ip_input(n, &vh, f + ETH_HLEN, (uint32_t)len - ETH_HLEN);
  }
  return handled;
}
