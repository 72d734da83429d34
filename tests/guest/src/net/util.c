/* Checksums and address parsing for the guest's network stack. */
#include "netif.h"

#include "../printf.h"

/* One's-complement sums do not depend on byte order (RFC 1071 2(B)): add native 32-bit words into 64 bits
 * (4x fewer emulated instructions than a 16-bit loop) and swap once in csum_fold. Every piece but the last
 * of a chain must have an even length. */
uint64_t csum_add(uint64_t sum, const void *data, uint32_t len) {
  const uint8_t *p = data;
  for (; len >= 4; p += 4, len -= 4) {
    uint32_t w;
    __builtin_memcpy(&w, p, 4);
    sum += w;
  }
  if (len >= 2) {
    uint16_t w;
    __builtin_memcpy(&w, p, 2);
    sum += w;
    p += 2, len -= 2;
  }
  if (len) sum += *p; /* the odd last byte, zero-padded: low byte in little-endian order */
  return sum;
}

uint16_t csum_fold(uint64_t sum) {
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  uint16_t le = (uint16_t)~sum;
  return (uint16_t)(le << 8 | le >> 8); /* host-order value of the big-endian field */
}

uint64_t csum_pseudo(uint32_t src, uint32_t dst, uint8_t proto, uint32_t len) {
  uint8_t ph[12];
  put32(ph, src), put32(ph + 4, dst);
  ph[8] = 0, ph[9] = proto;
  put16(ph + 10, (uint16_t)len);
  return csum_add(0, ph, sizeof ph);
}

int parse_ipv4(const char *s, uint32_t *ip, const char **end) {
  uint32_t v = 0;
  for (int part = 0; part < 4; part++) {
    if (part && *s++ != '.') return -1;
    uint32_t octet = 0, digits = 0;
    for (; *s >= '0' && *s <= '9'; s++, digits++) octet = octet * 10 + (uint32_t)(*s - '0');
    if (!digits || digits > 3 || octet > 255) return -1;
    v = v << 8 | octet;
  }
  *ip = v;
  if (end) *end = s;
  return 0;
}

static int parse_dec(const char *s, uint32_t max, uint32_t *out) {
  uint32_t v = 0;
  if (!*s) return -1;
  for (; *s; s++) {
    if (*s < '0' || *s > '9') return -1;
    v = v * 10 + (uint32_t)(*s - '0');
    if (v > max) return -1;
  }
  *out = v;
  return 0;
}

int parse_ip_mask(const char *s, uint32_t *ip, uint32_t *mask) {
  const char *e;
  uint32_t bits;
  if (parse_ipv4(s, ip, &e) || *e++ != '/' || parse_dec(e, 32, &bits) || bits == 0) return -1;
  *mask = bits == 32 ? 0xffffffffu : ~(0xffffffffu >> bits);
  return 0;
}

int parse_ip_port(const char *s, uint32_t *ip, uint16_t *port) {
  const char *e;
  uint32_t p;
  if (parse_ipv4(s, ip, &e) || *e++ != ':' || parse_dec(e, 65535, &p) || p == 0) return -1;
  *port = (uint16_t)p;
  return 0;
}

const char *ip_str(uint32_t ip, char buf[16]) {
  snprintf(buf, 16, "%u.%u.%u.%u", ip >> 24, (ip >> 16) & 255, (ip >> 8) & 255, ip & 255);
  return buf;
}
