/* PVH entry (QEMU microvm, Hearth PVH mode): 32-bit protected mode, paging off, EBX = hvm_start_info.
 * Builds a 0..4 GiB identity map with 2 MiB pages, enters long mode and joins the 64-bit path. */
#include "boot_defs.h"

/* The PVH note tells the loader where the 32-bit entry is (XEN_ELFNOTE_PHYS32_ENTRY). */
	.section .note.Xen, "a", @note
	.p2align 2
	.long 2f - 1f            /* namesz */
	.long 4f - 3f            /* descsz */
	.long 18                 /* XEN_ELFNOTE_PHYS32_ENTRY */
1:	.asciz "Xen"
2:	.p2align 2
3:	.long pvh_entry
4:	.p2align 2

	.section .text, "ax", @progbits
	.code32
	.globl pvh_entry
pvh_entry:
	cli
	cld
	/* There is no stack yet; clear .bss (it holds our stack and page tables) with registers only. */
	movl $__bss_start, %edi
	movl $__bss_end, %ecx
	subl %edi, %ecx
	shrl $2, %ecx
	xorl %eax, %eax
	rep stosl

	/* PML4[0] -> PDPT, PDPT[0..3] -> PD pages, PD entries map 2 MiB each. */
	movl $pt_pdpt, %eax
	orl $PTE_P_RW, %eax
	movl %eax, pt_pml4

	movl $pt_pd, %eax
	orl $PTE_P_RW, %eax
	xorl %ecx, %ecx
1:	movl %eax, pt_pdpt(, %ecx, 8)
	addl $4096, %eax
	incl %ecx
	cmpl $4, %ecx
	jne 1b

	movl $(PTE_P_RW | PTE_PS), %eax
	xorl %ecx, %ecx
2:	movl %eax, pt_pd(, %ecx, 8)   /* high halves stay zero: all below 4 GiB */
	addl $0x200000, %eax
	incl %ecx
	cmpl $2048, %ecx
	jne 2b

	movl %cr4, %eax
	orl $CR4_PAE, %eax
	movl %eax, %cr4
	movl $pt_pml4, %eax
	movl %eax, %cr3
	movl $MSR_EFER, %ecx
	rdmsr
	orl $EFER_LME, %eax
	wrmsr
	movl %cr0, %eax
	orl $(CR0_PG | CR0_PE), %eax
	movl %eax, %cr0

	lgdt gdt_desc
	ljmp $GDT_CODE64, $pvh_entry64

	.code64
pvh_entry64:
	movl %ebx, %esi          /* start_info (zero-extended) */
	movl $BOOT_KIND_PVH, %edi
	jmp start64_common

	.section .note.GNU-stack, "", @progbits
