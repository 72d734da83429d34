/* Constants shared by the assembly entry code and C. */
#pragma once

#define GDT_CODE32 0x08
#define GDT_CODE64 0x10
#define GDT_DATA 0x18

#define BOOT_KIND_LINUX64 1
#define BOOT_KIND_PVH 2

#define BOOT_STACK_SIZE 0x8000

#define PTE_P_RW 0x3
#define PTE_PS 0x80
#define PTE_PWT 0x8
#define PTE_PCD 0x10

#define CR0_PE 0x1
#define CR0_PG 0x80000000
#define CR4_PAE 0x20
#define MSR_EFER 0xC0000080
#define EFER_LME 0x100
