/* `ctrl-alt-del`: waits (polling the i8042) for the host's Ctrl+Alt+Del scancodes, prints
 * `CAD received`, then passes; the usual reset ends the VM. Proves the SendCtrlAltDel path. */
#include "io.h"
#include "printf.h"
#include "selftest.h"
#include "tsc.h"

#define I8042_DATA 0x60
#define I8042_STATUS 0x64
#define I8042_OBF 0x01
#define CAD_TIMEOUT_MS 30000

static const char *run(struct guest_ctx *ctx) {
  (void)ctx;
  /* Delete's make code: E0 71 in scan set 2, E0 53 in set 1 (translated). */
  int saw_e0 = 0, ctrl = 0, alt = 0;
  const uint64_t deadline = rdtsc() + tsc_khz(0) * CAD_TIMEOUT_MS;
  printf("CAD READY\n");
  while (rdtsc() < deadline) {
    if (!(inb(I8042_STATUS) & I8042_OBF)) {
      cpu_relax();
      continue;
    }
    uint8_t code = inb(I8042_DATA);
    if (code == 0xE0) {
      saw_e0 = 1;
      continue;
    }
    if (code == 0x14 || code == 0x1D) ctrl = 1;        /* left Ctrl, set 2 / set 1 */
    if (code == 0x11 || code == 0x38) alt = 1;         /* left Alt */
    if (saw_e0 && (code == 0x71 || code == 0x53) && ctrl && alt) {
      printf("CAD received\n");
      return 0;
    }
    saw_e0 = 0;
  }
  return "no Ctrl+Alt+Del within 30 s";
}

SELFTEST("ctrl-alt-del", run);
