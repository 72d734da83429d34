/* Exception entry stubs for vectors 0..31: push a uniform frame and call exception_handler(). */
	.section .text, "ax", @progbits
	.code64

isr_common:
	/* Stack: vector, error code, then the CPU's frame (RIP first). */
	movq (%rsp), %rdi
	movq 8(%rsp), %rsi
	movq 16(%rsp), %rdx
	andq $-16, %rsp
	call exception_handler   /* never returns */
1:	hlt
	jmp 1b

/* Vectors where the CPU pushes an error code itself. */
.macro isr n
	.p2align 4
isr_\n:
	.if (\n == 8) || (\n >= 10 && \n <= 14) || (\n == 17) || (\n == 21) || (\n == 29) || (\n == 30)
	.else
	pushq $0
	.endif
	pushq $\n
	jmp isr_common
.endm

.irp n, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
	isr \n
.endr

	.section .rodata, "a", @progbits
	.p2align 3
	.globl isr_table
isr_table:
.irp n, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
	.quad isr_\n
.endr

	.section .note.GNU-stack, "", @progbits
