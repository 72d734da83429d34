/* virtio-net (virtio 1.2, 5.1) over virtio-mmio, polled. receiveq1 (0) and transmitq1 (1); every buffer
 * starts with the 12-byte virtio_net_hdr (VERSION_1: num_buffers always present). MRG_RXBUF is always
 * asked for, so receive buffers are small; the offloads only with `offload` set. Up to VNET_MAX_DEVS
 * devices, each with its own static rings and buffers. */
#pragma once
#include <stdint.h>

#include "bootinfo.h"
#include "virtio_mmio.h"
#include "virtq.h"

#define VIRTIO_ID_NET 1

/* Feature bits (5.1.3). */
#define VIRTIO_NET_F_CSUM 0
#define VIRTIO_NET_F_GUEST_CSUM 1
#define VIRTIO_NET_F_MAC 5
#define VIRTIO_NET_F_GUEST_TSO4 7
#define VIRTIO_NET_F_GUEST_UFO 10
#define VIRTIO_NET_F_HOST_TSO4 11
#define VIRTIO_NET_F_HOST_UFO 14
#define VIRTIO_NET_F_MRG_RXBUF 15
#define VIRTIO_NET_F_STATUS 16

#define VIRTIO_NET_HDR_F_NEEDS_CSUM 1
#define VIRTIO_NET_HDR_F_DATA_VALID 2
#define VIRTIO_NET_HDR_GSO_NONE 0
#define VIRTIO_NET_HDR_GSO_TCPV4 1
#define VIRTIO_NET_HDR_GSO_UDP 3

#define VIRTIO_NET_S_LINK_UP 1

struct virtio_net_hdr {
  uint8_t flags;
  uint8_t gso_type;
  uint16_t hdr_len;
  uint16_t gso_size;
  uint16_t csum_start;
  uint16_t csum_offset;
  uint16_t num_buffers;
} __attribute__((packed));

#define VNET_MAX_DEVS 2
#define VNET_RX_BUF 2048u               /* one receive buffer, header included */
#define VNET_TX_SMALL 2048u             /* a transmit slot: header + a frame up to the MTU */
#define VNET_MAX_FRAME (65535u + 14u)   /* the largest frame we send or accept (a GSO frame) */
#define VNET_TX_SLOTS 32u               /* small slots in flight per device */
#define VNET_TX_BIG_SLOTS 2u            /* slots for frames above VNET_TX_SMALL (GSO) */

struct vnet_stats {
  uint64_t rx_frames, rx_bytes, rx_merged, rx_dropped, tx_frames, tx_bytes, tx_gso;
};

struct vnet {
  struct virtio_mmio_dev mmio;
  struct virtq rxq, txq;
  int index;            /* which of the static buffer sets */
  uint8_t mac[6];
  int mac_from_device;  /* VIRTIO_NET_F_MAC negotiated */
  uint16_t rx_bufs;     /* receive buffers posted (descriptors 0..rx_bufs-1) */
  uint16_t tx_slots;    /* small slots; the big ones follow */
  uint64_t tx_busy;     /* bit per slot (small, then big) in flight */
  uint64_t timeout_tsc;
  struct vnet_stats st;
  char err[128];
};

/* Offloads asked for with offload=1 (each only if offered): CSUM, GUEST_CSUM, HOST_TSO4, HOST_UFO and, when
 * MRG_RXBUF was accepted too, GUEST_TSO4 and GUEST_UFO. */
/* Finds the nth (0-based) virtio-net device in command-line order and brings it up: negotiate, both queues,
 * the MAC (from config space if offered, else `fallback_mac`), DRIVER_OK, all receive buffers posted.
 * Prints one `net<n>: dev ...` line. NULL, or why not (also in v->err). */
const char *vnet_open(struct vnet *v, const struct boot_info *bi, int nth, int offload, const uint8_t fallback_mac[6],
                      uint32_t timeout_ms);

static inline int vnet_has(const struct vnet *v, int bit) { return (v->mmio.features >> bit) & 1; }
/* Link status from config space (1 when VIRTIO_NET_F_STATUS was not negotiated). */
int vnet_link_up(const struct vnet *v);

/* Queues one frame (copied) behind `hdr` (num_buffers cleared), reclaiming finished slots first and waiting
 * (bounded) for one if all are in flight. 0, or -1 with v->err. */
int vnet_send(struct vnet *v, const struct virtio_net_hdr *hdr, const void *frame, uint32_t len);
/* Waits (bounded) until every queued frame was used by the device. 0 or -1. */
int vnet_flush(struct vnet *v);

/* Non-blocking: copies the next received frame (merged buffers joined, header stripped into *hdr) into out,
 * returns its length, 0 if none is waiting, -1 on a device error (v->err). A frame longer than `cap` or
 * with a bad num_buffers is dropped (counted) and 0 returned. Buffers are reposted. */
int vnet_recv(struct vnet *v, struct virtio_net_hdr *hdr, uint8_t *out, uint32_t cap);
