/* SHA-256 (FIPS 180-4), streaming, for hashing disk contents without holding them in memory. */
#pragma once
#include <stddef.h>
#include <stdint.h>

struct sha256 {
  uint32_t h[8];
  uint8_t block[64];
  uint32_t used;  /* bytes in block */
  uint64_t total; /* bytes hashed so far */
};

void sha256_init(struct sha256 *s);
void sha256_update(struct sha256 *s, const void *data, size_t len);
void sha256_final(struct sha256 *s, uint8_t digest[32]);
/* 64 lowercase hex digits and a NUL into out (at least 65 bytes); returns out. */
char *sha256_hex(const uint8_t digest[32], char *out);
/* Checks the implementation against FIPS 180-2 vectors; NULL if all match, else the failing vector. */
const char *sha256_self_check(void);
