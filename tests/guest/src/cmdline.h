/* Looks up `key=value` words on the kernel command line. */
#pragma once
#include <stddef.h>
#include <stdint.h>

/* Copies the value of the last `key=` word into out (NUL-terminated); returns 1 if present. */
int cmdline_get(const char *cmdline, const char *key, char *out, size_t out_size);
/* Parses a decimal value; returns 0 and leaves *out unchanged if absent, -1 if malformed. */
int cmdline_get_u64(const char *cmdline, const char *key, uint64_t *out);
