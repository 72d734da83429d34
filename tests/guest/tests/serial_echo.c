/* `serial-echo`: reads one line from the serial port (polled) and prints it back as `ECHO <line>`,
 * so the host can prove its input path (stdin -> UART receive FIFO) end to end. */
#include "io.h"
#include "printf.h"
#include "selftest.h"
#include "serial.h"
#include "tsc.h"

#define ECHO_MAX 128
#define ECHO_TIMEOUT_MS 10000

static const char *run(struct guest_ctx *ctx) {
  (void)ctx;
  char line[ECHO_MAX + 1];
  int len = 0;
  const uint64_t deadline = rdtsc() + tsc_khz(0) * ECHO_TIMEOUT_MS;
  printf("ECHO READY\n");
  while (len < ECHO_MAX) {
    if (!(uart_read(UART_LSR) & UART_LSR_DR)) {
      if (rdtsc() > deadline) return "no serial input within 10 s";
      cpu_relax();
      continue;
    }
    char c = (char)uart_read(UART_RBR_THR);
    if (c == '\r' || c == '\n') break;
    line[len++] = c;
  }
  line[len] = 0;
  printf("ECHO %s\n", line);
  return 0;
}

SELFTEST("serial-echo", run);
