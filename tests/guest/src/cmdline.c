#include "cmdline.h"

#include "str.h"

int cmdline_get(const char *cmdline, const char *key, char *out, size_t out_size) {
  size_t klen = strlen(key);
  int found = 0;
  const char *p = cmdline;
  while (*p) {
    while (*p == ' ') p++;
    const char *word = p;
    while (*p && *p != ' ') p++;
    size_t wlen = (size_t)(p - word);
    if (wlen > klen && strncmp(word, key, klen) == 0 && word[klen] == '=') {
      size_t vlen = wlen - klen - 1;
      if (vlen >= out_size) vlen = out_size - 1;
      memcpy(out, word + klen + 1, vlen);
      out[vlen] = '\0';
      found = 1; /* keep going: like Linux, the last occurrence wins */
    }
  }
  return found;
}

int cmdline_get_u64(const char *cmdline, const char *key, uint64_t *out) {
  char buf[24];
  if (!cmdline_get(cmdline, key, buf, sizeof buf)) return 0;
  uint64_t v = 0;
  if (!buf[0]) return -1;
  for (const char *c = buf; *c; c++) {
    if (*c < '0' || *c > '9' || v > (UINT64_MAX - 9) / 10) return -1;
    v = v * 10 + (uint64_t)(*c - '0');
  }
  *out = v;
  return 1;
}
