/* `net-hostile`: transmit chains a virtio-net device must survive, published straight into the tx ring on
 * interface 0: oob (buffer outside guest RAM), short (shorter than the virtio_net_hdr), writable (a
 * device-writable buffer on the tx queue), loop (a descriptor whose next is itself), next-oob (next beyond the
 * queue size), huge (a chain over 64 KiB + header). After each the device must either use the chain (any
 * used.len) or set DEVICE_NEEDS_RESET; then (re-initialised if it asked for a reset) a UDP datagram must still
 * echo through the host peer (net_peer.py). One `net-hostile: <case> ...` line each. Every wait is bounded. */
#include "../src/io.h"
#include "../src/net/options.h"
#include "../src/noclear.h"
#include "../src/printf.h"
#include "../src/selftest.h"
#include "../src/str.h"
#include "../src/tsc.h"

#define HOSTILE_SPORT 5100
#define ECHO_BYTES 64u
#define ATTEMPTS 3
#define OOB_ADDR 0xFFFFFFFF0000ull
#define HUGE_PART 40000u /* two of them: past 65535 + the 12-byte header */

static struct netif nif;
static NOCLEAR uint8_t big[HUGE_PART];
static uint8_t small[ECHO_BYTES] __attribute__((aligned(64))), reply[ECHO_BYTES * 2];

#define fail(ctx, ...) format_reason((ctx)->fail_reason, sizeof (ctx)->fail_reason, __VA_ARGS__)

static const char *echo_once(struct guest_ctx *ctx, const struct net_opts *o, const char *when) {
  net_pattern(small, ECHO_BYTES, 0);
  for (int attempt = 1; attempt <= ATTEMPTS; attempt++) {
    if (udp_send(&nif, o->peer[0], HOSTILE_SPORT, o->peer_port[0], small, ECHO_BYTES) < 0)
      return fail(ctx, "net-hostile: %s: send: %s", when, nif.err);
    uint32_t src;
    uint16_t sport;
    const int got = udp_recv(&nif, HOSTILE_SPORT, reply, sizeof reply, &src, &sport, o->timeout_ms);
    if (got < 0) return fail(ctx, "net-hostile: %s: receive: %s", when, nif.err);
    if (got == 0) continue;
    if ((uint32_t)got != ECHO_BYTES || memcmp(reply, small, ECHO_BYTES) != 0)
      return fail(ctx, "net-hostile: %s: the echo differs (%d bytes)", when, got);
    printf("net-hostile: %s echo ok attempt=%d\n", when, attempt);
    return 0;
  }
  return fail(ctx, "net-hostile: %s: no echo in %d attempts", when, ATTEMPTS);
}

/* Descriptors at the top of the tx ring: the driver's slots are the first VNET_TX_SLOTS + VNET_TX_BIG_SLOTS. */
static uint16_t top(uint16_t k) { return (uint16_t)(nif.dev.txq.size - 1 - k); }

static void desc(uint16_t i, uint64_t addr, uint32_t len, uint16_t flags, uint16_t next) {
  nif.dev.txq.mem->desc[i] = (struct virtq_desc){addr, len, flags, next};
}

static void build(int c) {
  const uint64_t small_addr = (uint64_t)(uintptr_t)small, big_addr = (uint64_t)(uintptr_t)big;
  switch (c) {
    case 0: desc(top(0), OOB_ADDR, 64, 0, 0); break;
    case 1: desc(top(0), small_addr, 4, 0, 0); break;
    case 2: desc(top(0), small_addr, ECHO_BYTES, VIRTQ_DESC_F_WRITE, 0); break;
    case 3: desc(top(0), small_addr, ECHO_BYTES, VIRTQ_DESC_F_NEXT, top(0)); break;
    case 4: desc(top(0), small_addr, ECHO_BYTES, VIRTQ_DESC_F_NEXT, 999); break;
    default:
      desc(top(0), big_addr, HUGE_PART, VIRTQ_DESC_F_NEXT, top(1));
      desc(top(1), big_addr, HUGE_PART, 0, 0);
      break;
  }
}

static const char *const kCases[] = {"oob", "short", "writable", "loop", "next-oob", "huge"};

static const char *run(struct guest_ctx *ctx) {
  struct net_opts o;
  const char *why = net_opts_parse(ctx, &o, 1);
  if (why) return why;
  if ((why = net_opts_open(ctx, &o, 0, &nif))) return why;
  if ((why = echo_once(ctx, &o, "before"))) return why;
  memset(big, 0xa5, sizeof big);
  const uint64_t wait_tsc = (uint64_t)o.timeout_ms * tsc_khz(0);
  for (int c = 0; c < (int)(sizeof kCases / sizeof kCases[0]); c++) {
    if (vnet_flush(&nif.dev) < 0) return fail(ctx, "net-hostile: %s: flush: %s", kCases[c], nif.dev.err);
    build(c);
    virtq_publish(&nif.dev.txq, top(0));
    virtio_mmio_notify(&nif.dev.mmio, 1);
    struct virtq_used_elem e;
    switch (virtio_mmio_wait_used(&nif.dev.mmio, &nif.dev.txq, wait_tsc, &e)) {
      case VIRTIO_WAIT_USED:
        if (e.id != top(0)) return fail(ctx, "net-hostile: %s: used element names descriptor %u", kCases[c], e.id);
        printf("net-hostile: %s used len=%u\n", kCases[c], e.len);
        break;
      case VIRTIO_WAIT_NEEDS_RESET:
        printf("net-hostile: %s needs_reset status=0x%x\n", kCases[c], virtio_mmio_status(&nif.dev.mmio));
        virtio_mmio_reset(&nif.dev.mmio);
        if ((why = net_opts_open(ctx, &o, 0, &nif))) return why;
        break;
      case VIRTIO_WAIT_TIMEOUT:
        return fail(ctx, "net-hostile: %s: the device neither used the chain nor set DEVICE_NEEDS_RESET", kCases[c]);
      default: return fail(ctx, "net-hostile: %s: the device moved used.idx too far", kCases[c]);
    }
    if ((why = echo_once(ctx, &o, kCases[c]))) return why;
  }
  return 0;
}

SELFTEST("net-hostile", run);
