/* IDT for CPU exceptions: each one reports itself on the console and resets the VM. */
#pragma once
#include <stdint.h>

void idt_init(void);
void exception_handler(uint64_t vector, uint64_t error_code, uint64_t rip) __attribute__((noreturn));
