#include "virtio_net.h"

#include "io.h"
#include "noclear.h"
#include "printf.h"
#include "str.h"
#include "tsc.h"

#define RXQ 0
#define TXQ 1
#define HDR sizeof(struct virtio_net_hdr)
#define VIRTQ_AVAIL_F_NO_INTERRUPT 1
#define VIRTQ_USED_F_NO_NOTIFY 1
#define CFG_MAC 0
#define CFG_STATUS 6

#define fail(v, ...) ((void)format_reason((v)->err, sizeof (v)->err, __VA_ARGS__), -1)
#define efail(v, ...) format_reason((v)->err, sizeof (v)->err, __VA_ARGS__)

/* Rings and buffers per device (NOCLEAR: always written before being read; virtq_init zeroes the rings). */
static NOCLEAR struct virtq_mem rx_mem[VNET_MAX_DEVS], tx_mem[VNET_MAX_DEVS];
static NOCLEAR uint8_t rx_buf[VNET_MAX_DEVS][VIRTQ_MAX_SIZE][VNET_RX_BUF] __attribute__((aligned(4096)));
static NOCLEAR uint8_t tx_small[VNET_MAX_DEVS][VNET_TX_SLOTS][VNET_TX_SMALL] __attribute__((aligned(4096)));
static NOCLEAR uint8_t tx_big[VNET_MAX_DEVS][VNET_TX_BIG_SLOTS][HDR + VNET_MAX_FRAME] __attribute__((aligned(4096)));

static const char *find_nth(struct vnet *v, const struct boot_info *bi, int nth) {
  struct virtio_mmio_slot slots[VIRTIO_MMIO_MAX_DEVICES];
  const char *bad = 0;
  int n = virtio_mmio_discover(bi, slots, VIRTIO_MMIO_MAX_DEVICES, &bad);
  if (n < 0) return efail(v, "bad or unusable virtio_mmio.device on the command line");
  int seen = 0;
  for (int i = 0; i < n; i++) {
    const char *why = virtio_mmio_probe(&v->mmio, &slots[i]);
    if (why) return efail(v, "virtio-mmio at 0x%llx: %s", (unsigned long long)slots[i].base, why);
    if (v->mmio.device_id == VIRTIO_ID_NET && seen++ == nth) return 0;
  }
  return efail(v, "virtio-net: no device %d among %d virtio_mmio.device entries (%d virtio-net)", nth, n, seen);
}

static const char *setup_queue(struct vnet *v, uint32_t index, struct virtq *q, struct virtq_mem *mem) {
  uint32_t max = virtio_mmio_queue_num_max(&v->mmio, index), size = VIRTQ_MAX_SIZE;
  while (size > max) size >>= 1;
  if (size < 4) return efail(v, "virtio-net: queue %u too small (QueueNumMax %u)", index, max);
  virtq_init(q, mem, (uint16_t)size);
  mem->avail.flags = VIRTQ_AVAIL_F_NO_INTERRUPT; /* polled: the device need not interrupt us */
  const char *why = virtio_mmio_setup_queue(&v->mmio, index, size, (uint64_t)(uintptr_t)mem->desc,
                                            (uint64_t)(uintptr_t)&mem->avail, (uint64_t)(uintptr_t)&mem->used);
  if (why) return efail(v, "virtio-net queue %u: %s", index, why);
  return 0;
}

static void kick(struct vnet *v, struct virtq *q, uint32_t index) {
  /* 2.7.10: the device may ask not to be notified; virtq_publish's fence orders this read after avail.idx. */
  if (!(*(volatile uint16_t *)&q->mem->used.flags & VIRTQ_USED_F_NO_NOTIFY)) virtio_mmio_notify(&v->mmio, index);
}

static void post_rx(struct vnet *v, uint16_t id) {
  const struct virtq_buf b = {(uint64_t)(uintptr_t)rx_buf[v->index][id], VNET_RX_BUF, 1};
  virtq_write_chain(&v->rxq, id, &b, 1);
  virtq_publish(&v->rxq, id);
}

const char *vnet_open(struct vnet *v, const struct boot_info *bi, int nth, int offload, const uint8_t fallback_mac[6],
                      uint32_t timeout_ms) {
  memset(v, 0, sizeof *v);
  if (nth < 0 || nth >= VNET_MAX_DEVS) return efail(v, "virtio-net: device index %d out of range", nth);
  v->index = nth;
  v->timeout_tsc = (uint64_t)timeout_ms * tsc_khz(0);
  const char *why = find_nth(v, bi, nth);
  if (why) return why;
  uint64_t want = (1ull << VIRTIO_NET_F_MAC) | (1ull << VIRTIO_NET_F_STATUS) | (1ull << VIRTIO_NET_F_MRG_RXBUF);
  const uint64_t guest_gso = (1ull << VIRTIO_NET_F_GUEST_TSO4) | (1ull << VIRTIO_NET_F_GUEST_UFO);
  if (offload)
    want |= (1ull << VIRTIO_NET_F_CSUM) | (1ull << VIRTIO_NET_F_GUEST_CSUM) | (1ull << VIRTIO_NET_F_HOST_TSO4) |
            (1ull << VIRTIO_NET_F_HOST_UFO) | guest_gso;
  if ((why = virtio_mmio_negotiate(&v->mmio, want))) return efail(v, "virtio-net: %s", why);
  /* Without MRG_RXBUF a GSO frame would need 64 KiB buffers (5.1.6.3.1): then take no guest GSO. 5.1.3.1:
   * the GSO bits need their checksum bits, and HOST_TSO4/UFO need CSUM. */
  uint64_t f = v->mmio.features, fix = f;
  if (!(f & (1ull << VIRTIO_NET_F_MRG_RXBUF)) || !(f & (1ull << VIRTIO_NET_F_GUEST_CSUM))) fix &= ~guest_gso;
  if (!(f & (1ull << VIRTIO_NET_F_CSUM)))
    fix &= ~((1ull << VIRTIO_NET_F_HOST_TSO4) | (1ull << VIRTIO_NET_F_HOST_UFO));
  if (fix != f && (why = virtio_mmio_negotiate(&v->mmio, fix))) return efail(v, "virtio-net: %s", why);
  if ((why = setup_queue(v, RXQ, &v->rxq, &rx_mem[nth])) || (why = setup_queue(v, TXQ, &v->txq, &tx_mem[nth])))
    return why;
  v->mac_from_device = vnet_has(v, VIRTIO_NET_F_MAC);
  for (int i = 0; i < 6; i++)
    v->mac[i] = v->mac_from_device ? mmio_read8(v->mmio.slot.base + VIRTIO_MMIO_CONFIG + CFG_MAC + (uint32_t)i)
                                   : fallback_mac[i];
  if ((why = virtio_mmio_driver_ok(&v->mmio)))
    return efail(v, "virtio-net: %s (status 0x%x)", why, virtio_mmio_status(&v->mmio));
  v->rx_bufs = v->rxq.size;
  for (uint16_t i = 0; i < v->rx_bufs; i++) post_rx(v, i);
  kick(v, &v->rxq, RXQ);
  v->tx_slots = (uint16_t)(v->txq.size / 2 - VNET_TX_BIG_SLOTS);
  if (v->tx_slots > VNET_TX_SLOTS) v->tx_slots = VNET_TX_SLOTS;
  printf("net%d: dev base=0x%llx irq=%u features=0x%llx rxq=%u txq=%u mac=%02x:%02x:%02x:%02x:%02x:%02x%s "
         "link=%s\n",
         nth, (unsigned long long)v->mmio.slot.base, v->mmio.slot.irq, (unsigned long long)v->mmio.features,
         v->rxq.size, v->txq.size, v->mac[0], v->mac[1], v->mac[2], v->mac[3], v->mac[4], v->mac[5],
         v->mac_from_device ? "" : "(own)", vnet_link_up(v) ? "up" : "down");
  return 0;
}

int vnet_link_up(const struct vnet *v) {
  if (!vnet_has(v, VIRTIO_NET_F_STATUS)) return 1;
  return mmio_read16(v->mmio.slot.base + VIRTIO_MMIO_CONFIG + CFG_STATUS) & VIRTIO_NET_S_LINK_UP;
}

static uint32_t slot_count(const struct vnet *v) { return v->tx_slots + VNET_TX_BIG_SLOTS; }

/* Frees the slots the device has finished with. -1 on a broken used ring or a bogus id. */
static int reclaim(struct vnet *v) {
  struct virtq_used_elem e;
  int got;
  while ((got = virtq_get_used(&v->txq, &e)) > 0) {
    uint32_t slot = e.id / 2;
    if (e.id % 2 || slot >= slot_count(v) || !(v->tx_busy & (1ull << slot)))
      return fail(v, "virtio-net: tx used element names descriptor %u, not one in flight", e.id);
    v->tx_busy &= ~(1ull << slot);
  }
  return got < 0 ? fail(v, "virtio-net: device moved tx used.idx by more than the queue size") : 0;
}

static int wait_slot(struct vnet *v, uint32_t first, uint32_t end) {
  const uint64_t start = rdtsc();
  for (;;) {
    if (reclaim(v) < 0) return -1;
    for (uint32_t s = first; s < end; s++)
      if (!(v->tx_busy & (1ull << s))) return (int)s;
    if (virtio_mmio_status(&v->mmio) & VIRTIO_STATUS_NEEDS_RESET) return fail(v, "virtio-net: DEVICE_NEEDS_RESET");
    if (rdtsc() - start > v->timeout_tsc) return fail(v, "virtio-net: no tx slot freed within the timeout");
    cpu_relax();
  }
}

int vnet_send(struct vnet *v, const struct virtio_net_hdr *hdr, const void *frame, uint32_t len) {
  if (len == 0 || len > VNET_MAX_FRAME) return fail(v, "virtio-net: frame of %u bytes", len);
  const int big = len > VNET_TX_SMALL - HDR;
  int slot = big ? wait_slot(v, v->tx_slots, slot_count(v)) : wait_slot(v, 0, v->tx_slots);
  if (slot < 0) return -1;
  uint8_t *buf = big ? tx_big[v->index][slot - v->tx_slots] : tx_small[v->index][slot];
  struct virtio_net_hdr h = *hdr;
  h.num_buffers = 0; /* 5.1.6.2: the driver sets it to 0 on transmit */
  memcpy(buf, &h, HDR);
  memcpy(buf + HDR, frame, len);
  /* Two descriptors (header, frame), as a driver without ANY_LAYOUT-style assumptions would. */
  const struct virtq_buf b[2] = {{(uint64_t)(uintptr_t)buf, HDR, 0}, {(uint64_t)(uintptr_t)(buf + HDR), len, 0}};
  const uint16_t head = (uint16_t)(slot * 2);
  virtq_write_chain(&v->txq, head, b, 2);
  v->tx_busy |= 1ull << slot;
  virtq_publish(&v->txq, head);
  kick(v, &v->txq, TXQ);
  v->st.tx_frames++;
  v->st.tx_bytes += len;
  if (h.gso_type != VIRTIO_NET_HDR_GSO_NONE) v->st.tx_gso++;
  return 0;
}

int vnet_flush(struct vnet *v) {
  const uint64_t start = rdtsc();
  while (v->tx_busy) {
    if (reclaim(v) < 0) return -1;
    if (rdtsc() - start > v->timeout_tsc) return fail(v, "virtio-net: tx frames not used within the timeout");
    cpu_relax();
  }
  return 0;
}

/* The next used rx element, waiting (bounded) when `wait`; 1, 0 (none), -1. */
static int next_rx(struct vnet *v, struct virtq_used_elem *e, int wait) {
  const uint64_t start = rdtsc();
  for (;;) {
    int got = virtq_get_used(&v->rxq, e);
    if (got < 0) return fail(v, "virtio-net: device moved rx used.idx by more than the queue size");
    if (got > 0) {
      if (e->id >= v->rx_bufs) return fail(v, "virtio-net: rx used element names descriptor %u", e->id);
      if (e->len > VNET_RX_BUF) return fail(v, "virtio-net: rx used.len %u exceeds the buffer", e->len);
      return 1;
    }
    if (!wait) return 0;
    if (rdtsc() - start > v->timeout_tsc) return fail(v, "virtio-net: merged rx buffers never arrived");
    cpu_relax();
  }
}

int vnet_recv(struct vnet *v, struct virtio_net_hdr *hdr, uint8_t *out, uint32_t cap) {
  struct virtq_used_elem e;
  int got = next_rx(v, &e, 0);
  if (got <= 0) return got;
  const uint8_t *b = rx_buf[v->index][e.id];
  int ok = e.len >= HDR;
  uint32_t nbuf = 1, len = 0;
  if (ok) {
    memcpy(hdr, b, HDR);
    if (vnet_has(v, VIRTIO_NET_F_MRG_RXBUF)) nbuf = hdr->num_buffers;
    if (nbuf == 0 || nbuf > v->rx_bufs) ok = 0, nbuf = 1;
  }
  if (ok && e.len - HDR <= cap) memcpy(out, b + HDR, e.len - HDR), len = e.len - HDR;
  else ok = 0;
  post_rx(v, (uint16_t)e.id);
  for (uint32_t i = 1; i < nbuf; i++) {
    if (next_rx(v, &e, 1) < 0) return -1;
    if (ok && e.len <= cap - len) memcpy(out + len, rx_buf[v->index][e.id], e.len), len += e.len;
    else ok = 0;
    post_rx(v, (uint16_t)e.id);
  }
  kick(v, &v->rxq, RXQ);
  if (!ok || len == 0) {
    v->st.rx_dropped++;
    return 0;
  }
  v->st.rx_frames++;
  v->st.rx_bytes += len;
  if (nbuf > 1) v->st.rx_merged++;
  return (int)len;
}
