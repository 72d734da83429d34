/* `net-mmds-flood`: a hostile guest against the metadata service on interface 0, then a normal request.
 *   testguest.mmds_addr=A.B.C.D (169.254.169.254)   testguest.flood_syns=N (300, at most 5000)
 * 1. N SYNs from distinct ports, never completed (half-open connections); SYN-ACKs are ignored.
 * 2. Malformed HTTP on a real connection ("BLAH\r\n\r\n"), then a 6000-byte request head: each should
 *    be answered 400 and closed.
 * 3. A normal GET / must still be answered 200.
 * Prints `mmds-flood: syns=<n>`, `mmds-flood: malformed status=<s>`, `mmds-flood: oversized status=<s>`,
 * `mmds-flood: get status=<s> len=<n>`. */
#include "../src/cmdline.h"
#include "../src/net/http.h"
#include "../src/net/options.h"
#include "../src/net/tcp.h"
#include "../src/printf.h"
#include "../src/selftest.h"
#include "../src/str.h"

#define fail(ctx, ...) format_reason((ctx)->fail_reason, sizeof (ctx)->fail_reason, __VA_ARGS__)

static struct netif nif;
static uint8_t rx[2048];
static char big[6000];

/* One SYN (with an MSS option) from `port`. */
static int send_syn(struct netif *n, uint32_t dst, uint16_t port, uint32_t seq) {
  uint8_t s[24] = {0};
  put16(s, port), put16(s + 2, 80);
  put32(s + 4, seq);
  s[12] = 6 << 4, s[13] = 0x02;
  put16(s + 14, 65535);
  s[20] = 2, s[21] = 4, put16(s + 22, 1460);
  put16(s + 16, csum_fold(csum_add(csum_pseudo(n->ip, dst, IP_PROTO_TCP, sizeof s), s, sizeof s)));
  return ip_send(n, dst, IP_PROTO_TCP, s, sizeof s, -1, VIRTIO_NET_HDR_GSO_NONE);
}

/* The status of the HTTP response in c's buffer ("HTTP/1.x NNN"), or 0. */
static int status_of(const struct tcp_conn *c) {
  if (c->rx_len < 12 || memcmp(c->rx, "HTTP/1.", 7) != 0) return 0;
  return (c->rx[9] - '0') * 100 + (c->rx[10] - '0') * 10 + (c->rx[11] - '0');
}

static int never(const struct tcp_conn *c, void *arg) {
  (void)c, (void)arg;
  return 0;
}

/* Connects, sends `len` bytes, reads until the server closes; the response's status or -1. */
static int send_and_read(struct netif *n, uint32_t addr, const char *data, uint32_t len) {
  static struct tcp_conn c;
  memset(&c, 0, sizeof c);
  if (tcp_connect(n, &c, addr, 80, rx, sizeof rx) < 0) return -1;
  if (tcp_send(&c, data, len) < 0) return -1;
  if (tcp_wait(&c, never, 0) < 0) return -1; /* 0: the server's FIN */
  int s = status_of(&c);
  tcp_close(&c);
  return s;
}

static const char *run(struct guest_ctx *ctx) {
  const char *cl = ctx->boot->cmdline;
  struct net_opts o;
  const char *why = net_opts_parse(ctx, &o, 0);
  if (why) return why;
  char addr_s[32] = "169.254.169.254";
  cmdline_get(cl, "testguest.mmds_addr", addr_s, sizeof addr_s);
  uint32_t addr;
  if (parse_ipv4(addr_s, &addr, 0)) return "testguest.mmds_addr is not an IPv4 address";
  uint64_t syns = 300;
  if (cmdline_get_u64(cl, "testguest.flood_syns", &syns) < 0 || syns > 5000) return "testguest.flood_syns is malformed";
  if ((why = net_opts_open(ctx, &o, 0, &nif))) return why;

  for (uint64_t i = 0; i < syns; i++) {
    if (send_syn(&nif, addr, (uint16_t)(20000 + i), (uint32_t)(i * 100000))) return fail(ctx, "mmds-flood: SYN: %s", nif.err);
    if (i % 8 == 7 && netif_poll(&nif) < 0) return fail(ctx, "mmds-flood: poll: %s", nif.err); /* drain SYN-ACKs */
  }
  printf("mmds-flood: syns=%llu\n", (unsigned long long)syns);

  int s = send_and_read(&nif, addr, "BLAH\r\n\r\n", 8);
  printf("mmds-flood: malformed status=%d\n", s);
  if (s != 400) return fail(ctx, "mmds-flood: malformed request answered %d (%s)", s, nif.err);
  memcpy(big, "GET /", 5);
  memset(big + 5, 'a', sizeof big - 5);
  s = send_and_read(&nif, addr, big, sizeof big);
  printf("mmds-flood: oversized status=%d\n", s);
  if (s != 400) return fail(ctx, "mmds-flood: oversized request answered %d (%s)", s, nif.err);

  struct http_response r;
  if (http_request(&nif, addr, 80, "GET", "/", "", &r) < 0) return fail(ctx, "mmds-flood: GET: %s", nif.err);
  printf("mmds-flood: get status=%d len=%u\n", r.status, r.body_len);
  if (r.status != 200) return fail(ctx, "mmds-flood: GET answered %d", r.status);
  return 0;
}

SELFTEST("net-mmds-flood", run);
