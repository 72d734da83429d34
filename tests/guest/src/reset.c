#include "reset.h"

#include <stdint.h>

#include "io.h"
#include "serial.h"

#define I8042_COMMAND_PORT 0x64
#define I8042_CMD_RESET 0xFE

void machine_reset(void) {
  serial_drain(); /* let the last line leave the UART before the VM goes away */
  outb(I8042_COMMAND_PORT, I8042_CMD_RESET);
  /* Still here: an empty IDT turns the next exception into a triple fault. */
  struct __attribute__((packed)) {
    uint16_t limit;
    uint64_t base;
  } empty = {0, 0};
  __asm__ volatile("lidt %0\n\tud2" : : "m"(empty));
  for (;;) __asm__ volatile("cli; hlt");
}
