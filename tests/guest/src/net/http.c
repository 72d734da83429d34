#include "http.h"

#include "../printf.h"
#include "../str.h"
#include "tcp.h"

#define fail(n, ...) ((void)format_reason((n)->err, sizeof (n)->err, __VA_ARGS__), -1)

static uint8_t rx[HTTP_RESPONSE_MAX + 1];
static char req[1024];

/* Offset of the blank line ending the headers (just past it), or 0. */
static uint32_t headers_end(const uint8_t *b, uint32_t len) {
  for (uint32_t i = 3; i < len; i++)
    if (b[i - 3] == '\r' && b[i - 2] == '\n' && b[i - 1] == '\r' && b[i] == '\n') return i + 1;
  return 0;
}

static int lower(int c) { return c >= 'A' && c <= 'Z' ? c + 32 : c; }

/* Content-Length from the headers in b[0..end), or -1 if absent. */
static long content_length(const uint8_t *b, uint32_t end) {
  static const char key[] = "\r\ncontent-length:";
  const uint32_t klen = sizeof key - 1;
  for (uint32_t i = 0; i + klen < end; i++) {
    uint32_t j = 0;
    while (j < klen && lower(b[i + j]) == key[j]) j++;
    if (j < klen) continue;
    uint32_t p = i + klen;
    while (p < end && b[p] == ' ') p++;
    long v = 0;
    int digits = 0;
    for (; p < end && b[p] >= '0' && b[p] <= '9' && v < 100000000; p++, digits++) v = v * 10 + (b[p] - '0');
    return digits ? v : -1;
  }
  return -1;
}

static int complete(const struct tcp_conn *c, void *arg) {
  (void)arg;
  uint32_t end = headers_end(c->rx, c->rx_len);
  if (!end) return c->rx_len == c->rx_cap;
  long cl = content_length(c->rx, end);
  return cl >= 0 && c->rx_len >= end + (uint32_t)cl;
}

int http_request(struct netif *n, uint32_t ip, uint16_t port, const char *method, const char *path,
                 const char *extra_headers, struct http_response *r) {
  memset(r, 0, sizeof *r);
  char host[16];
  int len = snprintf(req, sizeof req, "%s %s HTTP/1.1\r\nHost: %s\r\n%s%s\r\n", method, path, ip_str(ip, host),
                     extra_headers, strncmp(method, "PUT", 3) == 0 ? "Content-Length: 0\r\n" : "");
  if (len <= 0 || (uint32_t)len >= sizeof req) return fail(n, "http: request too long");
  struct tcp_conn c;
  if (tcp_connect(n, &c, ip, port, rx, HTTP_RESPONSE_MAX) < 0) return -1;
  if (tcp_send(&c, req, (uint32_t)len) < 0 || tcp_wait(&c, complete, 0) < 0) {
    tcp_close(&c);
    return -1;
  }
  tcp_close(&c); /* a FIN not acknowledged in time does not spoil the response we already have */
  r->retransmits = c.retransmits;
  rx[c.rx_len] = 0;
  const char *s = (const char *)rx;
  if (c.rx_len >= 12 && strncmp(s, "HTTP/1.", 7) == 0 && s[8] == ' ')
    r->status = (s[9] - '0') * 100 + (s[10] - '0') * 10 + (s[11] - '0');
  uint32_t end = headers_end(rx, c.rx_len);
  if (!r->status || !end) return fail(n, "http: no status line and headers in %u bytes", c.rx_len);
  long cl = content_length(rx, end);
  r->body = s + end;
  r->body_len = c.rx_len - end;
  if (cl >= 0 && (uint32_t)cl < r->body_len) r->body_len = (uint32_t)cl, rx[end + (uint32_t)cl] = 0;
  return 0;
}
