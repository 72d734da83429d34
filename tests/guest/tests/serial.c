/* `serial`: exercises the 16550 registers a Linux 8250 driver relies on. Prints nothing while the
 * UART is in loopback (output would loop back too); restores normal mode before returning. */
#include "printf.h"
#include "selftest.h"
#include "serial.h"

#define POLL_LIMIT 100000

static const char *fail(struct guest_ctx *ctx, const char *what, unsigned got) {
  snprintf(ctx->fail_reason, sizeof ctx->fail_reason, "serial: %s (read 0x%02x)", what, got);
  return ctx->fail_reason;
}

static void restore(void) {
  uart_write(UART_IER, 0);
  uart_write(UART_MCR, UART_MCR_DTR_RTS);
  serial_init();
  for (int i = 0; i < POLL_LIMIT && (uart_read(UART_LSR) & UART_LSR_DR); i++) uart_read(UART_RBR_THR);
}

static const char *scratch(struct guest_ctx *ctx) {
  static const uint8_t values[] = {0x5a, 0xa5, 0x00, 0xff};
  for (unsigned i = 0; i < sizeof values; i++) {
    uart_write(UART_SCR, values[i]);
    uint8_t v = uart_read(UART_SCR);
    if (v != values[i]) return fail(ctx, "scratch register did not keep its value", v);
  }
  return 0;
}

static const char *divisor(struct guest_ctx *ctx) {
  uart_write(UART_LCR, UART_LCR_DLAB | UART_LCR_8N1);
  uart_write(UART_RBR_THR, 0x0c); /* DLL: 9600 baud */
  uart_write(UART_IER, 0x01);     /* DLM */
  uint8_t dll = uart_read(UART_RBR_THR), dlm = uart_read(UART_IER), lcr = uart_read(UART_LCR);
  uart_write(UART_RBR_THR, 1);
  uart_write(UART_IER, 0);
  uart_write(UART_LCR, UART_LCR_8N1);
  if (lcr != (UART_LCR_DLAB | UART_LCR_8N1)) return fail(ctx, "LCR did not read back", lcr);
  if (dll != 0x0c) return fail(ctx, "divisor latch low byte did not read back", dll);
  if (dlm != 0x01) return fail(ctx, "divisor latch high byte did not read back", dlm);
  uint8_t ier = uart_read(UART_IER);
  if (ier != 0) return fail(ctx, "IER changed by a DLM write", ier);
  return 0;
}

static const char *fifo(struct guest_ctx *ctx) {
  uart_write(UART_IIR_FCR, UART_FCR_ENABLE_CLEAR);
  uint8_t iir = uart_read(UART_IIR_FCR);
  if ((iir & 0xc0) != 0xc0) return fail(ctx, "IIR bits 7:6 not 11 with the FIFO enabled", iir);
  return 0;
}

static const char *loopback(struct guest_ctx *ctx) {
  static const uint8_t bytes[] = {'h', 0x00, 0xff, 0x7e};
  serial_drain();
  uart_write(UART_MCR, UART_MCR_LOOP | UART_MCR_DTR_RTS);
  for (int i = 0; i < POLL_LIMIT && (uart_read(UART_LSR) & UART_LSR_DR); i++) uart_read(UART_RBR_THR);
  for (unsigned i = 0; i < sizeof bytes; i++) {
    int n = 0;
    while (!(uart_read(UART_LSR) & UART_LSR_THRE) && n < POLL_LIMIT) n++;
    uart_write(UART_RBR_THR, bytes[i]);
  }
  for (unsigned i = 0; i < sizeof bytes; i++) {
    uint8_t lsr = 0;
    for (int n = 0; n < POLL_LIMIT && !((lsr = uart_read(UART_LSR)) & UART_LSR_DR); n++) {
    }
    if (!(lsr & UART_LSR_DR)) return fail(ctx, "loopback: LSR.DR never set", lsr);
    uint8_t v = uart_read(UART_RBR_THR);
    if (v != bytes[i]) return fail(ctx, "loopback: wrong byte received", v);
  }
  uint8_t lsr = uart_read(UART_LSR);
  if (lsr & UART_LSR_DR) return fail(ctx, "loopback: LSR.DR still set after reading everything", lsr);
  return 0;
}

static const char *thre_interrupt(struct guest_ctx *ctx) {
  serial_drain();
  uart_write(UART_IER, UART_IER_THRI);
  uint8_t iir = uart_read(UART_IIR_FCR); /* this read also acknowledges the THRE interrupt */
  uart_write(UART_IER, 0);
  if ((iir & 0x0f) != 0x02) return fail(ctx, "IIR does not report a THRE interrupt", iir);
  return 0;
}

static const char *run(struct guest_ctx *ctx) {
  const char *(*const steps[])(struct guest_ctx *) = {scratch, divisor, fifo, loopback, thre_interrupt};
  const char *why = 0;
  for (unsigned i = 0; i < sizeof steps / sizeof steps[0] && !why; i++) why = steps[i](ctx);
  restore();
  if (!why) printf("serial: scratch divisor fifo loopback thre ok\n");
  return why;
}

SELFTEST("serial", run);
