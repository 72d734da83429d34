/* `spam`: prints `testguest.spam_kib` KiB (default 256) of console lines, more than a pipe holds, so
 * the host can check that a console reader that stops reading cannot wedge the VMM. */
#include "cmdline.h"
#include "printf.h"
#include "selftest.h"

static const char *run(struct guest_ctx *ctx) {
  uint64_t kib = 256;
  if (cmdline_get_u64(ctx->boot->cmdline, "testguest.spam_kib", &kib) < 0) return "testguest.spam_kib is not a number";
  /* 64 bytes per line. */
  for (uint64_t line = 0; line < kib * 16; line++) printf("SPAM %010llu ................................................\n", (unsigned long long)line);
  return 0;
}

SELFTEST("spam", run);
