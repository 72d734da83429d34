#include "options.h"

#include "../cmdline.h"
#include "../printf.h"
#include "../str.h"

#define fail(ctx, ...) format_reason((ctx)->fail_reason, sizeof (ctx)->fail_reason, __VA_ARGS__)

const char *net_opts_parse(struct guest_ctx *ctx, struct net_opts *o, int need_peer) {
  const char *cl = ctx->boot->cmdline;
  memset(o, 0, sizeof *o);
  uint64_t v = 1;
  if (cmdline_get_u64(cl, "testguest.net_ifaces", &v) < 0 || v < 1 || v > VNET_MAX_DEVS)
    return "testguest.net_ifaces is not 1 or 2";
  o->ifaces = (int)v;
  v = 0;
  if (cmdline_get_u64(cl, "testguest.net_offload", &v) < 0 || v > 1) return "testguest.net_offload is not 0 or 1";
  o->offload = (int)v;
  v = 5000;
  if (cmdline_get_u64(cl, "testguest.net_timeout_ms", &v) < 0 || v == 0 || v > 600000)
    return "testguest.net_timeout_ms is not a number in 1..600000";
  o->timeout_ms = (uint32_t)v;
  for (int k = 0; k < o->ifaces; k++) {
    char key[32], val[48];
    snprintf(key, sizeof key, k ? "testguest.net_ip%d" : "testguest.net_ip", k);
    if (!cmdline_get(cl, key, val, sizeof val) || parse_ip_mask(val, &o->ip[k], &o->mask[k]))
      return fail(ctx, "%s=A.B.C.D/LEN missing or malformed", key);
    snprintf(key, sizeof key, k ? "testguest.net_peer%d" : "testguest.net_peer", k);
    if (cmdline_get(cl, key, val, sizeof val)) {
      if (parse_ip_port(val, &o->peer[k], &o->peer_port[k])) return fail(ctx, "%s=A.B.C.D:PORT malformed", key);
    } else if (need_peer) {
      return fail(ctx, "%s=A.B.C.D:PORT missing", key);
    }
  }
  return 0;
}

const char *net_opts_open(struct guest_ctx *ctx, const struct net_opts *o, int k, struct netif *n) {
  if (netif_open(n, ctx->boot, k, o->ip[k], o->mask[k], o->offload, o->timeout_ms))
    return fail(ctx, "net%d: %s", k, n->err);
  char a[16], b[16];
  printf("net: if=%d ip=%s peer=%s:%u offload=%d\n", k, ip_str(o->ip[k], a), ip_str(o->peer[k], b), o->peer_port[k],
         o->offload);
  return 0;
}

void net_pattern(uint8_t *buf, uint32_t len, int dir) {
  const uint32_t base = len * 7u + (dir ? 0x5au : 0u);
  for (uint32_t i = 0; i < len; i++) buf[i] = (uint8_t)(base + i + (i >> 8) * 13u);
}

void net_print_stats(const char *prefix, const struct netif *n) {
  const struct vnet_stats *d = &n->dev.st;
  const struct netif_stats *s = &n->st;
  printf("%s: if=%d rx_frames=%llu rx_merged=%llu rx_dropped=%llu rx_gso=%llu tx_frames=%llu tx_gso=%llu "
         "tx_frags=%llu frags_in=%llu reassembled=%llu udp_in=%llu csum_sw_ok=%llu csum_trusted=%llu "
         "bad_csum=%llu udp_dropped=%llu arp_replies=%llu\n",
         prefix, n->index, (unsigned long long)d->rx_frames, (unsigned long long)d->rx_merged,
         (unsigned long long)d->rx_dropped, (unsigned long long)s->rx_gso, (unsigned long long)d->tx_frames,
         (unsigned long long)d->tx_gso, (unsigned long long)s->tx_frags, (unsigned long long)s->ip_frags_in,
         (unsigned long long)s->ip_reassembled, (unsigned long long)s->udp_in, (unsigned long long)s->udp_csum_valid,
         (unsigned long long)s->udp_csum_trusted, (unsigned long long)(s->udp_bad_csum + s->tcp_bad_csum),
         (unsigned long long)s->udp_dropped, (unsigned long long)s->arp_replies_sent);
}
