/* `net-mmds`: HTTP/1.1 to the metadata service (MMDS) from interface 0. Options:
 *   testguest.mmds_addr=A.B.C.D (169.254.169.254)   testguest.mmds_path=/... (/latest/meta-data/)
 *   testguest.mmds_v2=0|1: first PUT /latest/api/token with X-metadata-token-ttl-seconds: testguest.mmds_ttl (60)
 *   testguest.mmds_token=good|wrong|none (good): which X-metadata-token the GETs send (V2)
 *   testguest.mmds_json=0|1: Accept: application/json     testguest.mmds_expect=<status> (200; 0: any)
 *   testguest.mmds_repeat=N (1) GETs, testguest.mmds_gap_ms=M (1000) apart
 * Prints `mmds: token status=<s> len=<n>`, then per GET `mmds: status=<s>`, `mmds-body-begin`, the body,
 * `mmds-body-end`. */
#include "../src/cmdline.h"
#include "../src/net/http.h"
#include "../src/net/options.h"
#include "../src/printf.h"
#include "../src/selftest.h"
#include "../src/str.h"
#include "../src/tsc.h"

#define fail(ctx, ...) format_reason((ctx)->fail_reason, sizeof (ctx)->fail_reason, __VA_ARGS__)

static struct netif nif;
static char token[128];

static const char *run(struct guest_ctx *ctx) {
  const char *cl = ctx->boot->cmdline;
  struct net_opts o;
  const char *why = net_opts_parse(ctx, &o, 0);
  if (why) return why;
  char addr_s[32] = "169.254.169.254", path[200] = "/latest/meta-data/", mode[16] = "good";
  cmdline_get(cl, "testguest.mmds_addr", addr_s, sizeof addr_s);
  cmdline_get(cl, "testguest.mmds_path", path, sizeof path);
  cmdline_get(cl, "testguest.mmds_token", mode, sizeof mode);
  uint32_t addr;
  if (parse_ipv4(addr_s, &addr, 0)) return "testguest.mmds_addr is not an IPv4 address";
  uint64_t v2 = 0, ttl = 60, json = 0, expect = 200, repeat = 1, gap = 1000;
  if (cmdline_get_u64(cl, "testguest.mmds_v2", &v2) < 0 || cmdline_get_u64(cl, "testguest.mmds_ttl", &ttl) < 0 ||
      cmdline_get_u64(cl, "testguest.mmds_json", &json) < 0 ||
      cmdline_get_u64(cl, "testguest.mmds_expect", &expect) < 0 ||
      cmdline_get_u64(cl, "testguest.mmds_repeat", &repeat) < 0 ||
      cmdline_get_u64(cl, "testguest.mmds_gap_ms", &gap) < 0 || repeat == 0 || repeat > 100 || gap > 600000)
    return "a testguest.mmds_* number option is malformed";
  if (!streq(mode, "good") && !streq(mode, "wrong") && !streq(mode, "none"))
    return "testguest.mmds_token is not good, wrong or none";
  if ((why = net_opts_open(ctx, &o, 0, &nif))) return why;

  struct http_response r;
  if (v2) {
    char hdr[64];
    snprintf(hdr, sizeof hdr, "X-metadata-token-ttl-seconds: %llu\r\n", (unsigned long long)ttl);
    if (http_request(&nif, addr, 80, "PUT", "/latest/api/token", hdr, &r) < 0)
      return fail(ctx, "mmds: token PUT: %s", nif.err);
    printf("mmds: token status=%d len=%u\n", r.status, r.body_len);
    if (r.status != 200) return fail(ctx, "mmds: token PUT answered %d", r.status);
    if (r.body_len == 0 || r.body_len >= sizeof token) return fail(ctx, "mmds: token of %u bytes", r.body_len);
    memcpy(token, r.body, r.body_len);
    token[r.body_len] = 0;
  }
  if (streq(mode, "wrong")) memcpy(token, "not-the-token", 14);
  char headers[256];
  int hl = 0;
  if (!streq(mode, "none") && (v2 || streq(mode, "wrong")))
    hl += snprintf(headers + hl, sizeof headers - (size_t)hl, "X-metadata-token: %s\r\n", token);
  if (json) hl += snprintf(headers + hl, sizeof headers - (size_t)hl, "Accept: application/json\r\n");
  headers[hl] = 0;
  for (uint64_t i = 0; i < repeat; i++) {
    if (i) delay_ms(gap);
    if (http_request(&nif, addr, 80, "GET", path, headers, &r) < 0) return fail(ctx, "mmds: GET %s: %s", path, nif.err);
    printf("mmds: status=%d len=%u retransmits=%u\n", r.status, r.body_len, r.retransmits);
    printf("mmds-body-begin\n%s\nmmds-body-end\n", r.body);
    if (expect && (uint64_t)r.status != expect) return fail(ctx, "mmds: GET %s answered %d, expected %llu", path, r.status,
                                                            (unsigned long long)expect);
  }
  return 0;
}

SELFTEST("net-mmds", run);
