/* `net-echo`: on each interface, UDP datagrams of testguest.net_sizes (default 1,1472,1473,9000,65507) with
 * net_pattern go to the peer (net_peer.py), which checks them and echoes; each reply is compared byte for
 * byte. Then the host-initiated direction: "HNCTL send <port> <sizes>" asks the peer to send those sizes
 * to us (port NET_ECHO_LISTEN); we echo each back, and the peer checks them and reports "HNRES ok|fail".
 * One `net-echo: if=.. dir=.. size=.. ok` line per datagram. */
#include "../src/cmdline.h"
#include "../src/net/options.h"
#include "../src/noclear.h"
#include "../src/printf.h"
#include "../src/selftest.h"
#include "../src/str.h"
#include "../src/tsc.h"
#include "../src/io.h"

#define NET_ECHO_SPORT 5000
#define NET_ECHO_LISTEN 6000
#define MAX_SIZES 16
#define ATTEMPTS 3

static struct netif nif[VNET_MAX_DEVS];
static NOCLEAR uint8_t out[UDP_MAX_PAYLOAD], in[UDP_MAX_PAYLOAD];

#define fail(ctx, ...) format_reason((ctx)->fail_reason, sizeof (ctx)->fail_reason, __VA_ARGS__)

static int parse_sizes(const char *s, uint32_t *sizes) {
  int n = 0;
  while (*s) {
    uint32_t v = 0, digits = 0;
    for (; *s >= '0' && *s <= '9' && v <= UDP_MAX_PAYLOAD; s++, digits++) v = v * 10 + (uint32_t)(*s - '0');
    if (!digits || v == 0 || v > UDP_MAX_PAYLOAD || n == MAX_SIZES || (*s && *s != ',')) return -1;
    sizes[n++] = v;
    if (*s == ',') s++;
  }
  return n;
}

static const char *echo_out(struct guest_ctx *ctx, struct netif *n, const struct net_opts *o, uint32_t size) {
  const int k = n->index;
  net_pattern(out, size, 0);
  for (int attempt = 1; attempt <= ATTEMPTS; attempt++) {
    const uint64_t t0 = rdtsc();
    if (udp_send(n, o->peer[k], NET_ECHO_SPORT, o->peer_port[k], out, size) < 0)
      return fail(ctx, "net-echo: if=%d size=%u send: %s", k, size, n->err);
    uint32_t src;
    uint16_t sport;
    int got = udp_recv(n, NET_ECHO_SPORT, in, sizeof in, &src, &sport, o->timeout_ms);
    if (got < 0) return fail(ctx, "net-echo: if=%d size=%u receive: %s", k, size, n->err);
    if (got == 0) {
      printf("net-echo: if=%d dir=out size=%u attempt=%d timed out\n", k, size, attempt);
      continue;
    }
    if (src != o->peer[k] || sport != o->peer_port[k]) return fail(ctx, "net-echo: if=%d reply from elsewhere", k);
    if (got >= 5 && memcmp(in, "HNBAD", 5) == 0) {
      in[got < 100 ? got : 99] = 0;
      return fail(ctx, "net-echo: if=%d size=%u: peer says %s", k, size, (const char *)in);
    }
    if ((uint32_t)got != size) return fail(ctx, "net-echo: if=%d sent %u bytes, echo has %d", k, size, got);
    for (uint32_t i = 0; i < size; i++)
      if (in[i] != out[i])
        return fail(ctx, "net-echo: if=%d size=%u echo differs at byte %u (0x%02x, sent 0x%02x)", k, size, i, in[i],
                    out[i]);
    const uint64_t us = (rdtsc() - t0) * 1000 / tsc_khz(0);
    printf("net-echo: if=%d dir=out size=%u ok attempt=%d us=%llu\n", k, size, attempt, (unsigned long long)us);
    return 0;
  }
  return fail(ctx, "net-echo: if=%d no echo of a %u-byte datagram in %d attempts", k, size, ATTEMPTS);
}

static const char *echo_in(struct guest_ctx *ctx, struct netif *n, const struct net_opts *o, const char *sizes_str,
                           int nsizes) {
  const int k = n->index;
  char ctl[160];
  int len = snprintf(ctl, sizeof ctl, "HNCTL send %u %s", NET_ECHO_LISTEN, sizes_str);
  if (udp_send(n, o->peer[k], NET_ECHO_LISTEN, o->peer_port[k], ctl, (uint32_t)len) < 0)
    return fail(ctx, "net-echo: if=%d control send: %s", k, n->err);
  /* The peer retries each datagram itself: allow every size all its attempts, plus slack. */
  const uint64_t deadline = rdtsc() + (uint64_t)o->timeout_ms * (uint64_t)(nsizes * ATTEMPTS + 2) * tsc_khz(0);
  int echoed = 0;
  while (rdtsc() < deadline) {
    uint32_t src;
    uint16_t sport;
    int got = udp_recv(n, NET_ECHO_LISTEN, in, sizeof in, &src, &sport, o->timeout_ms);
    if (got < 0) return fail(ctx, "net-echo: if=%d receive: %s", k, n->err);
    if (got == 0) continue;
    if (src != o->peer[k]) continue;
    if (got >= 5 && memcmp(in, "HNRES", 5) == 0) {
      in[got < 120 ? got : 119] = 0;
      printf("net-echo: if=%d dir=in peer: %s echoed=%d\n", k, (const char *)in, echoed);
      if (strncmp((const char *)in, "HNRES ok", 8) != 0) return fail(ctx, "net-echo: if=%d peer: %s", k, (char *)in);
      return 0;
    }
    net_pattern(out, (uint32_t)got, 1);
    const int good = memcmp(in, out, (uint32_t)got) == 0;
    printf("net-echo: if=%d dir=in size=%d %s\n", k, got, good ? "ok" : "pattern-mismatch");
    if (!good) return fail(ctx, "net-echo: if=%d host sent a %d-byte datagram with the wrong pattern", k, got);
    if (udp_send(n, src, NET_ECHO_LISTEN, sport, in, (uint32_t)got) < 0)
      return fail(ctx, "net-echo: if=%d echo send: %s", k, n->err);
    echoed++;
  }
  return fail(ctx, "net-echo: if=%d no HNRES from the peer (echoed %d)", k, echoed);
}

static const char *run(struct guest_ctx *ctx) {
  struct net_opts o;
  const char *why = net_opts_parse(ctx, &o, 1);
  if (why) return why;
  char sizes_str[128] = "1,1472,1473,9000,65507";
  cmdline_get(ctx->boot->cmdline, "testguest.net_sizes", sizes_str, sizeof sizes_str);
  uint32_t sizes[MAX_SIZES];
  int nsizes = parse_sizes(sizes_str, sizes);
  if (nsizes <= 0) return "testguest.net_sizes is not a list of 1..16 sizes in 1..65507";
  uint64_t reverse = 1;
  if (cmdline_get_u64(ctx->boot->cmdline, "testguest.net_reverse", &reverse) < 0 || reverse > 1)
    return "testguest.net_reverse is not 0 or 1";
  for (int k = 0; k < o.ifaces; k++)
    if ((why = net_opts_open(ctx, &o, k, &nif[k]))) return why;
  for (int k = 0; k < o.ifaces; k++) {
    for (int i = 0; i < nsizes; i++)
      if ((why = echo_out(ctx, &nif[k], &o, sizes[i]))) return why;
    if (reverse && (why = echo_in(ctx, &nif[k], &o, sizes_str, nsizes))) return why;
    if (vnet_flush(&nif[k].dev) < 0) return fail(ctx, "net-echo: if=%d %s", k, nif[k].dev.err);
    net_print_stats("net-echo", &nif[k]);
    if (nif[k].st.udp_bad_csum) return fail(ctx, "net-echo: if=%d received datagrams with bad checksums", k);
  }
  printf("net-echo: ok ifaces=%d sizes=%d\n", o.ifaces, nsizes);
  return 0;
}

SELFTEST("net-echo", run);
