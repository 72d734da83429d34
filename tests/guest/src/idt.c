#include "idt.h"

#include "boot_defs.h"
#include "printf.h"
#include "reset.h"

#define IDT_VECTORS 32
#define GATE_INTERRUPT_PRESENT 0x8E

struct idt_gate {
  uint16_t offset_lo;
  uint16_t selector;
  uint8_t ist;
  uint8_t type_attr;
  uint16_t offset_mid;
  uint32_t offset_hi;
  uint32_t reserved;
} __attribute__((packed));

struct idt_ptr {
  uint16_t limit;
  uint64_t base;
} __attribute__((packed));

extern const uint64_t isr_table[IDT_VECTORS];
static struct idt_gate idt[IDT_VECTORS] __attribute__((aligned(16)));

void idt_init(void) {
  for (int v = 0; v < IDT_VECTORS; v++) {
    uint64_t h = isr_table[v];
    idt[v] = (struct idt_gate){
        .offset_lo = (uint16_t)h,
        .selector = GDT_CODE64,
        .ist = 0,
        .type_attr = GATE_INTERRUPT_PRESENT,
        .offset_mid = (uint16_t)(h >> 16),
        .offset_hi = (uint32_t)(h >> 32),
        .reserved = 0,
    };
  }
  struct idt_ptr p = {sizeof idt - 1, (uint64_t)(uintptr_t)idt};
  __asm__ volatile("lidt %0" : : "m"(p));
}

void exception_handler(uint64_t vector, uint64_t error_code, uint64_t rip) {
  static int active;
  if (active) machine_reset(); /* faulted while reporting a fault: just end the VM */
  active = 1;
  uint64_t cr2;
  __asm__ volatile("mov %%cr2, %0" : "=r"(cr2));
  /* Details first: the FAIL line must stay the last one. */
  printf("exception: vector=%llu error=0x%llx cr2=0x%llx\n", (unsigned long long)vector,
         (unsigned long long)error_code, (unsigned long long)cr2);
  printf("TESTGUEST FAIL exception %llu rip=0x%llx\n", (unsigned long long)vector, (unsigned long long)rip);
  machine_reset();
}
