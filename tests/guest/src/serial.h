/* 16550 UART at COM1, polled. Register offsets are public for the serial self-test. */
#pragma once
#include <stdint.h>

#define COM1_PORT 0x3f8

enum {
  UART_RBR_THR = 0, /* DLL when LCR.DLAB */
  UART_IER = 1,     /* DLM when LCR.DLAB */
  UART_IIR_FCR = 2,
  UART_LCR = 3,
  UART_MCR = 4,
  UART_LSR = 5,
  UART_MSR = 6,
  UART_SCR = 7,
};

#define UART_LCR_8N1 0x03
#define UART_LCR_DLAB 0x80
#define UART_MCR_DTR_RTS 0x03
#define UART_MCR_LOOP 0x10
#define UART_LSR_DR 0x01
#define UART_LSR_THRE 0x20
#define UART_LSR_TEMT 0x40
#define UART_IER_THRI 0x02
#define UART_FCR_ENABLE_CLEAR 0x07

uint8_t uart_read(int reg);
void uart_write(int reg, uint8_t v);

/* 8N1, FIFO on, interrupts off. */
void serial_init(void);
void serial_putc(char c);
void serial_puts(const char *s);
/* Waits until the transmitter has shifted out everything (before loopback tests). */
void serial_drain(void);
