/* Command-line options shared by the net-* self-tests (tests/guest/README.md lists them):
 *   testguest.net_ip=A.B.C.D/LEN   interface 0's address (testguest.net_ip1= for interface 1)
 *   testguest.net_peer=A.B.C.D:P   the host peer (tests/guest/net_peer.py) (testguest.net_peer1=)
 *   testguest.net_offload=0|1      negotiate the checksum/GSO offloads (default 0)
 *   testguest.net_ifaces=1|2       how many interfaces to use (default 1)
 *   testguest.net_timeout_ms=N     bound of any single wait (default 5000) */
#pragma once
#include <stdint.h>

#include "../selftest.h"
#include "netif.h"

struct net_opts {
  int ifaces, offload;
  uint32_t timeout_ms;
  uint32_t ip[VNET_MAX_DEVS], mask[VNET_MAX_DEVS], peer[VNET_MAX_DEVS];
  uint16_t peer_port[VNET_MAX_DEVS];
};

/* Parses the options (need_peer: net_peer is required). NULL or why not (in ctx->fail_reason). */
const char *net_opts_parse(struct guest_ctx *ctx, struct net_opts *o, int need_peer);
/* netif_open for interface k with the options; prints `net: if=<k> ip=.. peer=..`. NULL or why not. */
const char *net_opts_open(struct guest_ctx *ctx, const struct net_opts *o, int k, struct netif *n);
/* The test payload: byte i of a datagram of `len` bytes going in direction `dir` (0: guest to host, 1:
 * host to guest); net_peer.py computes the same. */
void net_pattern(uint8_t *buf, uint32_t len, int dir);
/* Prints `<prefix>: if=<k> ...` with the device and stack counters. */
void net_print_stats(const char *prefix, const struct netif *n);
