/* Linux 64-bit entry (Hearth's default): long mode, identity-mapped 0..4 GiB, RSI = struct boot_params.
 * Also the common 64-bit start for both boot paths, the GDT and the boot stack. */
#include "boot_defs.h"

	.section .text.entry, "ax", @progbits
	.code64
	.globl linux64_entry
linux64_entry:
	cli
	cld
	/* The VMM's stack may sit anywhere; .bss (our stack, page tables) is cleared before first use. */
	movq %rsi, %r12
	movq $__bss_start, %rdi
	movq $__bss_end, %rcx
	subq %rdi, %rcx
	shrq $3, %rcx
	xorl %eax, %eax
	rep stosq
	movq %r12, %rsi
	movl $BOOT_KIND_LINUX64, %edi
	/* fall through */

	.globl start64_common
start64_common:
	/* EDI = boot kind, RSI = boot info pointer. Own GDT and stack before touching C. */
	movq $boot_stack_top, %rsp
	lgdt gdt_desc64
	pushq $GDT_CODE64
	leaq 1f(%rip), %rax
	pushq %rax
	lretq
1:	movl $GDT_DATA, %eax
	movl %eax, %ds
	movl %eax, %es
	movl %eax, %ss
	movl %eax, %fs
	movl %eax, %gs
	xorl %ebp, %ebp
	call guest_main          /* never returns */
2:	hlt
	jmp 2b

	.section .data, "aw", @progbits
	.p2align 3
	/* Accessed bits preset so the CPU never writes the descriptors. */
gdt:
	.quad 0                          /* null */
	.quad 0x00cf9b000000ffff         /* 0x08: 32-bit code */
	.quad 0x00af9b000000ffff         /* 0x10: 64-bit code */
	.quad 0x00cf93000000ffff         /* 0x18: data */
gdt_end:
	.globl gdt_desc
gdt_desc:                                /* 32-bit lgdt operand (PVH path) */
	.word gdt_end - gdt - 1
	.long gdt
	.p2align 3
	.word 0, 0, 0
gdt_desc64:                              /* 64-bit lgdt operand: limit at an address = 6 mod 8 */
	.word gdt_end - gdt - 1
	.quad gdt

	/* Not cleared at entry (src/noclear.h): a stack is written before it is read. */
	.section .bss.noclear, "aw", @nobits
	.p2align 12
	.globl boot_stack_bottom
boot_stack_bottom:
	.skip BOOT_STACK_SIZE
	.globl boot_stack_top
boot_stack_top:

	.section .note.GNU-stack, "", @progbits
