/* `net-bench`: UDP throughput on interface 0 against net_peer.py. testguest.bench_count=N (1000) datagrams
 * of testguest.bench_size=S (1472) payload bytes; testguest.bench_dir=tx|rx|both (both).
 *   tx: send them to the peer's sink (testguest.bench_sink_port, 7778), then ask "HNCTL count";
 *   testguest.bench_rounds=R (1): the tx phase R times, testguest.bench_gap_ms=G (0) apart, each followed by
 *   `net-bench: round=<k> done` (a test changes the device between rounds, e.g. PATCHes a rate limiter);
 *   with testguest.bench_wait_go=1 each later round first waits for an "HNGO" datagram to port 6002;
 *   rx: "HNCTL stream" makes the peer blast them at us; count what arrives until its "HNRES streamed".
 * Machine-readable lines for bench/net_bench.py:
 *   net-bench: dir=tx count=<n> size=<s> frame=<bytes> ticks=<t> us=<u> pps=<p> kbytes_s=<k> peer_count=<c>
 *   net-bench: dir=rx count=<got> size=<s> frame=<bytes> ticks=<t> us=<u> pps=<p> kbytes_s=<k> sent=<n>
 * (frame: the Ethernet frame of one unfragmented datagram; us: first to last datagram, from ticks and the TSC
 * rate, which testguest.bench_tsc_khz=<kHz> overrides: a PIT calibration under nested emulation can be off
 * by an order of magnitude.) */
#include "../src/cmdline.h"
#include "../src/io.h"
#include "../src/net/options.h"
#include "../src/noclear.h"
#include "../src/printf.h"
#include "../src/selftest.h"
#include "../src/str.h"
#include "../src/tsc.h"

#define BENCH_RX_PORT 6001
#define BENCH_CTL_PORT 6002

static struct netif nif;
static uint64_t bench_khz; /* the TSC rate the derived numbers use */
static NOCLEAR uint8_t buf[UDP_MAX_PAYLOAD];

#define fail(ctx, ...) format_reason((ctx)->fail_reason, sizeof (ctx)->fail_reason, __VA_ARGS__)

static void report(const char *dir, uint64_t count, uint64_t size, uint64_t ticks, const char *extra) {
  const uint64_t khz = bench_khz, us = ticks * 1000 / khz;
  const uint64_t pps = us ? count * 1000000 / us : 0, kbs = us ? count * size * 1000 / us : 0;
  printf("net-bench: dir=%s count=%llu size=%llu frame=%llu ticks=%llu us=%llu pps=%llu kbytes_s=%llu%s\n", dir,
         (unsigned long long)count, (unsigned long long)size,
         (unsigned long long)(size + UDP_HLEN + IP_HLEN + ETH_HLEN), (unsigned long long)ticks,
         (unsigned long long)us, (unsigned long long)pps, (unsigned long long)kbs, extra);
}

static const char *bench_tx(struct guest_ctx *ctx, const struct net_opts *o, uint32_t count, uint32_t size,
                            uint16_t sink) {
  net_pattern(buf, size, 0);
  const uint64_t t0 = rdtsc();
  for (uint32_t i = 0; i < count; i++)
    if (udp_send(&nif, o->peer[0], BENCH_CTL_PORT, sink, buf, size) < 0)
      return fail(ctx, "net-bench: tx datagram %u: %s", i, nif.err);
  if (vnet_flush(&nif.dev) < 0) return fail(ctx, "net-bench: tx flush: %s", nif.dev.err);
  const uint64_t ticks = rdtsc() - t0;
  /* Let the peer drain its socket, then ask what arrived. */
  delay_ms(200);
  static const char ctl[] = "HNCTL count";
  char reply[80] = "";
  for (int attempt = 0; attempt < 3 && !reply[0]; attempt++) {
    if (udp_send(&nif, o->peer[0], BENCH_CTL_PORT, o->peer_port[0], ctl, sizeof ctl - 1) < 0)
      return fail(ctx, "net-bench: %s", nif.err);
    int got = udp_recv(&nif, BENCH_CTL_PORT, reply, sizeof reply - 1, 0, 0, o->timeout_ms);
    if (got < 0) return fail(ctx, "net-bench: %s", nif.err);
    reply[got < (int)sizeof reply - 1 ? got : (int)sizeof reply - 1] = 0;
  }
  uint64_t peer_count = 0;
  const char *p = reply;
  if (strncmp(p, "HNRES count=", 12) != 0) return fail(ctx, "net-bench: peer answered '%s' to count", reply);
  for (p += 12; *p >= '0' && *p <= '9'; p++) peer_count = peer_count * 10 + (uint64_t)(*p - '0');
  char extra[48];
  snprintf(extra, sizeof extra, " peer_count=%llu", (unsigned long long)peer_count);
  report("tx", count, size, ticks, extra);
  return 0;
}

static const char *bench_rx(struct guest_ctx *ctx, const struct net_opts *o, uint32_t count, uint32_t size) {
  char ctl[64];
  int len = snprintf(ctl, sizeof ctl, "HNCTL stream %u %u %u", BENCH_RX_PORT, count, size);
  if (udp_send(&nif, o->peer[0], BENCH_RX_PORT, o->peer_port[0], ctl, (uint32_t)len) < 0)
    return fail(ctx, "net-bench: %s", nif.err);
  uint64_t got = 0, first = 0, last = 0, sent = 0;
  for (;;) {
    int n = udp_recv(&nif, BENCH_RX_PORT, buf, sizeof buf, 0, 0, o->timeout_ms);
    if (n < 0) return fail(ctx, "net-bench: rx: %s", nif.err);
    if (n == 0) return fail(ctx, "net-bench: rx: nothing for %u ms (%llu datagrams so far)", o->timeout_ms,
                            (unsigned long long)got);
    if (n > 14 && memcmp(buf, "HNRES streamed", 14) == 0) {
      buf[n < 60 ? n : 59] = 0;
      for (const char *p = (const char *)buf + 17; *p >= '0' && *p <= '9'; p++) sent = sent * 10 + (uint64_t)(*p - '0');
      break;
    }
    if ((uint32_t)n != size) continue;
    last = rdtsc();
    if (!got++) first = last;
  }
  char extra[32];
  snprintf(extra, sizeof extra, " sent=%llu", (unsigned long long)sent);
  report("rx", got, size, got > 1 ? last - first : 0, extra);
  if (got == 0) return "net-bench: rx: no datagram of the stream arrived";
  return 0;
}

/* Waits for an "HNGO" datagram to BENCH_CTL_PORT (the test sends it once it changed the device); bounded
 * by 100 waits of the interface timeout. */
static const char *wait_go(struct guest_ctx *ctx, const struct net_opts *o) {
  printf("net-bench: waiting for go\n");
  for (int i = 0; i < 100; i++) {
    int n = udp_recv(&nif, BENCH_CTL_PORT, buf, sizeof buf, 0, 0, o->timeout_ms);
    if (n < 0) return fail(ctx, "net-bench: %s", nif.err);
    if (n >= 4 && memcmp(buf, "HNGO", 4) == 0) return 0;
  }
  return "net-bench: no HNGO datagram";
}

static const char *run(struct guest_ctx *ctx) {
  const char *cl = ctx->boot->cmdline;
  struct net_opts o;
  const char *why = net_opts_parse(ctx, &o, 1);
  if (why) return why;
  uint64_t count = 1000, size = 1472, sink = 7778, rounds = 1, gap = 0, go = 0;
  char dir[8] = "both";
  cmdline_get(cl, "testguest.bench_dir", dir, sizeof dir);
  if (cmdline_get_u64(cl, "testguest.bench_count", &count) < 0 || count == 0 || count > 10000000 ||
      cmdline_get_u64(cl, "testguest.bench_size", &size) < 0 || size == 0 || size > UDP_MAX_PAYLOAD ||
      cmdline_get_u64(cl, "testguest.bench_sink_port", &sink) < 0 || sink == 0 || sink > 65535 ||
      cmdline_get_u64(cl, "testguest.bench_rounds", &rounds) < 0 || rounds == 0 || rounds > 100 ||
      cmdline_get_u64(cl, "testguest.bench_gap_ms", &gap) < 0 || gap > 600000 ||
      cmdline_get_u64(cl, "testguest.bench_wait_go", &go) < 0 || go > 1)
    return "a testguest.bench_* option (count 1..10000000, size 1..65507, sink_port, rounds 1..100, gap_ms) is malformed";
  const int tx = streq(dir, "tx") || streq(dir, "both"), rx = streq(dir, "rx") || streq(dir, "both");
  if (!tx && !rx) return "testguest.bench_dir is not tx, rx or both";
  if ((why = net_opts_open(ctx, &o, 0, &nif))) return why;
  /* source: where the TSC rate came from. pit-* is a calibration that nested emulation can skew by tens of
   * percent, so us/pps/kbytes_s are estimates; `ticks` are exact. */
  const char *source;
  uint64_t khz = tsc_khz(&source);
  /* testguest.bench_tsc_khz: the host knows the TSC rate better than a PIT calibration under emulation. */
  if (cmdline_get_u64(cl, "testguest.bench_tsc_khz", &khz) < 0 || khz == 0) return "testguest.bench_tsc_khz is malformed";
  if (khz != tsc_khz(0)) source = "cmdline";
  bench_khz = khz;
  printf("net-bench: start count=%llu size=%llu dir=%s tsc_khz=%llu source=%s\n", (unsigned long long)count,
         (unsigned long long)size, dir, (unsigned long long)khz, source);
  for (uint64_t r = 1; tx && r <= rounds; r++) {
    if (r > 1 && gap) delay_ms(gap);
    if (r > 1 && go && (why = wait_go(ctx, &o))) return why;
    if ((why = bench_tx(ctx, &o, (uint32_t)count, (uint32_t)size, (uint16_t)sink))) return why;
    if (rounds > 1) printf("net-bench: round=%llu done\n", (unsigned long long)r);
  }
  if (rx && (why = bench_rx(ctx, &o, (uint32_t)count, (uint32_t)size))) return why;
  net_print_stats("net-bench", &nif);
  return 0;
}

SELFTEST("net-bench", run);
