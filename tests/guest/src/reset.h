/* Ends the VM: i8042 reset, then a triple fault (QEMU microvm has no i8042; -no-reboot exits). */
#pragma once

void machine_reset(void) __attribute__((noreturn));
