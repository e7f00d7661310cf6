/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The qmigrate test guest: a BIOS boot disk whose memory proves that live
 * migration lost no page.  The memory layout and the pattern it writes are
 * described in guest-layout.h; the checker is memcheck.c.
 *
 * Real mode (boot sector): load the rest of the image with int 13h.
 * Real mode (stage 2): read the E820 map, check for long mode, enable A20.
 * Protected mode: build identity page tables (2 MiB pages, 0-64 GiB).
 * Long mode: turn the E820 map into the page ranges to increment, publish
 * them in the layout page, read the dirty-rate cap from fw_cfg, print them
 * on COM1, then loop forever: one pass over every page, then one '.' on COM1.
 *
 * The dirty-rate cap (guest-layout.h, QMG_FWCFG_DIRTY_RATE) bounds how fast
 * passes after the first dirty memory, so that a migration test can know its
 * guest converges: after every QMG_PACE_PAGES pages incremented, the guest
 * spins on the PIT until 1/rate s has passed since the previous chunk was let
 * go.  Time it does not see (a vCPU descheduled or throttled for longer than
 * one PIT period) only makes it wait longer: the rate is an upper bound.
 *
 * The guest never enables interrupts after leaving real mode and has no IDT:
 * any exception triple-faults, and QEMU resets it, which prints the banner
 * again; the tests check that it appears once.
 */
#include "guest-layout.h"

#define COM1 0x3f8
#define UART_LSR 5
#define LSR_THRE 0x20
#define E820_SMAP 0x534d4150 /* "SMAP" */
#define E820_USABLE 1
#define PTE_PW 0x003 /* present, writable */
#define PTE_PS 0x080 /* 2 MiB page (in a page directory) */
#define CR0_PE 0x00000001
#define CR0_MP 0x00000002
#define CR0_EM 0x00000004
#define CR0_PG 0x80000000
#define CR4_PAE 0x20
#define CR4_OSFXSR 0x200
#define CR4_OSXMMEXCPT 0x400
#define MSR_EFER 0xc0000080
#define EFER_LME 0x100
#define CODE32 0x08
#define DATA 0x10
#define CODE64 0x18
#define FW_CFG_PORT_SEL 0x510	/* 16-bit selector */
#define FW_CFG_PORT_DATA 0x511	/* one byte at a time */
#define FW_CFG_FILE_DIR 0x19	/* big-endian count, then 64-byte entries */
#define FW_CFG_ENTRY_SIZE 64	/* u32 size, u16 select (both big-endian), u16, name[56] */
#define FW_CFG_ENTRY_NAME 8
#define PIT_CH0 0x40
#define PIT_CMD 0x43
#define PIT_CH0_MODE2 0x34	/* channel 0, low then high byte, rate generator */
#define PIT_HZ 1193182
#define PACE_OFF (1 << 62)	/* a page count the loop never runs down */
#define ATA_DATA 0x1f0		/* the primary IDE channel's legacy ports */
#define ATA_COUNT 0x1f2
#define ATA_LBA0 0x1f3		/* then 0x1f4, 0x1f5: LBA bits 8-15, 16-23 */
#define ATA_DEVICE 0x1f6
#define ATA_STATUS 0x1f7	/* read */
#define ATA_COMMAND 0x1f7	/* write */
#define ATA_CONTROL 0x3f6
#define ATA_SLAVE_LBA 0xf0	/* device 1, LBA addressing (bits 24-27 below) */
#define ATA_NIEN 0x02		/* no interrupts */
#define ATA_BSY 0x80
#define ATA_DF 0x20
#define ATA_DRQ 0x08
#define ATA_ERR 0x01
#define ATA_READ 0x20		/* READ SECTORS */
#define ATA_WRITE 0x30		/* WRITE SECTORS */
#define ATA_IDENTIFY 0xec
#define ATA_POLLS (1 << 28)	/* status reads before a busy disk is given up */

/* ---- boot sector: 510 bytes at 0x7c00 (the linker script adds 0xaa55) ---- */

	.code16
	.section .boot, "ax"
	.globl _start
_start:
	cli
	ljmp $0, $1f		/* some BIOSes enter at 07c0:0000: make CS 0 */
1:	xor %ax, %ax
	mov %ax, %ds
	mov %ax, %es
	mov %ax, %ss
	mov $QMG_STACK_TOP, %sp
	sti			/* the BIOS disk services may wait for interrupts */
	cld
	mov %dl, boot_drive
	call serial_init16

	mov $dap, %si
	mov boot_drive, %dl
	mov $0x42, %ah		/* extended read, LBA from the disk address packet */
	int $0x13
	jc 2f
	jmp stage2
2:	mov $msg_disk, %si
	/* fall through */

/* Prints the string at %si and stops for good. */
die16:
	call puts16
	cli
1:	hlt
	jmp 1b

/* Prints the NUL-terminated string at %si.  Clobbers %ax, %si. */
puts16:
	lodsb
	test %al, %al
	jz 1f
	call putc16
	jmp puts16
1:	ret

/* Writes %al to COM1.  Clobbers %ax. */
putc16:
	push %cx
	push %dx
	mov %al, %ah
	mov $(COM1 + UART_LSR), %dx
	mov $0xffff, %cx	/* bounded: a missing UART must not hang the guest */
1:	in %dx, %al
	test $LSR_THRE, %al
	loopz 1b
	mov %ah, %al
	mov $COM1, %dx
	out %al, %dx
	pop %dx
	pop %cx
	ret

/* 115200 8N1, FIFOs on; QEMU ignores the speed but a real UART would not. */
serial_init16:
	mov $uart_init, %si
1:	lodsw			/* %al: register, %ah: value */
	cmp $0xff, %al
	je 2f
	mov $COM1, %dx
	add %al, %dl		/* 0x3f8 + 0..7 never carries */
	mov %ah, %al
	out %al, %dx
	jmp 1b
2:	ret

uart_init:
	.byte 1, 0x00		/* IER: no interrupts */
	.byte 3, 0x80		/* LCR: divisor latch access */
	.byte 0, 0x01		/* DLL: 115200 baud */
	.byte 1, 0x00		/* DLM */
	.byte 3, 0x03		/* LCR: 8N1 */
	.byte 2, 0xc7		/* FCR: FIFOs on and cleared */
	.byte 4, 0x03		/* MCR: DTR, RTS */
	.byte 0xff

	.balign 4
dap:				/* int 13h AH=42h disk address packet */
	.byte 16, 0
	.word STAGE2_SECTORS	/* from the linker script */
	.word stage2, 0		/* buffer offset, segment */
	.quad 1			/* first LBA: the sector after this one */

boot_drive:
	.byte 0
msg_disk:
	.asciz "qm-guest: disk read failed\n"

/* ---- stage 2, real mode: E820 map, long mode check, A20 ---- */

	.text
	.code16
	.globl stage2		/* the linker script checks it comes first */
stage2:
	xor %ebx, %ebx		/* continuation: 0 for the first entry */
	xor %bp, %bp		/* entries kept */
	mov $QMG_E820_ADDR, %di
1:	movl $1, 20(%di)	/* ACPI 3 attributes: "valid" if the BIOS returns 20 bytes */
	mov $0xe820, %eax
	mov $24, %ecx
	mov $E820_SMAP, %edx
	int $0x15
	jc 3f			/* carry: past the last entry (or no E820 at all) */
	cmp $E820_SMAP, %eax
	jne 3f
	cmp $20, %cl
	jb 2f			/* a short entry is not an entry */
	add $24, %di
	inc %bp
	cmp $QMG_E820_MAX, %bp
	jae 3f
2:	test %ebx, %ebx
	jnz 1b
3:	mov %bp, e820_count
	mov $msg_e820, %si
	test %bp, %bp
	jz die16

	mov $0x80000000, %eax
	cpuid
	cmp $0x80000001, %eax
	jb 4f
	mov $0x80000001, %eax
	cpuid
	bt $29, %edx		/* LM */
	jc 5f
4:	mov $msg_lm, %si
	jmp die16

5:	in $0x92, %al		/* fast A20; bit 0 would reset the machine */
	or $0x02, %al
	and $0xfe, %al
	out %al, $0x92

	cli			/* for good: there is no IDT from here on */
	lgdtl gdt_desc
	mov %cr0, %eax
	or $CR0_PE, %eax
	mov %eax, %cr0
	ljmpl $CODE32, $pm32

/* ---- protected mode: identity page tables, then long mode ---- */

	.code32
pm32:
	mov $DATA, %ax
	mov %ax, %ds
	mov %ax, %es
	mov %ax, %fs
	mov %ax, %gs
	mov %ax, %ss
	mov $QMG_STACK_TOP, %esp

	xor %eax, %eax		/* clear PML4 and PDPT */
	mov $QMG_PML4_ADDR, %edi
	mov $(2 * 4096 / 4), %ecx
	rep stosl
	movl $(QMG_PDPT_ADDR | PTE_PW), QMG_PML4_ADDR

	mov $QMG_PDPT_ADDR, %edi /* PDPT[i] -> page directory i */
	mov $(QMG_PD_ADDR | PTE_PW), %eax
	mov $QMG_MAP_GIB, %ecx
1:	mov %eax, (%edi)
	add $4096, %eax
	add $8, %edi
	loop 1b

	mov $QMG_PD_ADDR, %edi	/* PD entry j maps j * 2 MiB: %edx:%eax */
	mov $(PTE_PW | PTE_PS), %eax
	xor %edx, %edx
	mov $(QMG_MAP_GIB * 512), %ecx
2:	mov %eax, (%edi)
	mov %edx, 4(%edi)
	add $0x200000, %eax
	adc $0, %edx
	add $8, %edi
	loop 2b

	mov %cr4, %eax
	or $CR4_PAE, %eax
	mov %eax, %cr4
	mov $QMG_PML4_ADDR, %eax
	mov %eax, %cr3
	mov $MSR_EFER, %ecx
	rdmsr
	or $EFER_LME, %eax
	wrmsr
	mov %cr0, %eax
	or $CR0_PG, %eax	/* with LME and PAE: long mode (compatibility) */
	mov %eax, %cr0
	ljmp $CODE64, $lm64

/* ---- long mode ---- */

	.code64
lm64:
	mov $DATA, %ax
	mov %ax, %ds
	mov %ax, %es
	mov %ax, %ss
	mov $QMG_STACK_TOP, %esp
	mov %cr0, %rax		/* SSE, as an OS enables it: no x87 emulation, */
	and $~CR0_EM, %rax	/* FXSAVE-aware, SIMD exceptions its own */
	or $CR0_MP, %rax
	mov %rax, %cr0
	mov %cr4, %rax
	or $(CR4_OSFXSR | CR4_OSXMMEXCPT), %rax
	mov %rax, %cr4
	mov $mode_file, %r11d
	mov $mode_file_len, %r9d
	call read_fwcfg_number
	mov %eax, mode
	test $~QMG_MODE_VALID, %eax
	jz 1f
	mov $msg_mode, %esi
	jmp die64
1:	testl $QMG_MODE_DISK, mode
	jz 1f
	call disk_init
1:	call build_layout
	mov $dirty_rate_file, %r11d
	mov $dirty_rate_file_len, %r9d
	call read_fwcfg_number
	mov %eax, QMG_LAYOUT_ADDR + QMG_OFF_DIRTY_RATE
	call print_banner
	cmpl $0, mode		/* the regions start at round 0: all zero */
	je 1f
	mov $QMG_MODE_AREA, %edi
	mov $((QMG_MODE_AREA_END - QMG_MODE_AREA) / 8), %ecx
	xor %eax, %eax
	rep stosq

	/*
	 * Pacing state, kept in registers the pass loop leaves alone:
	 * %r8 pages left in this chunk, %r9 PIT ticks a chunk must take,
	 * %r13 PIT ticks seen so far, %r14 the last counter read, %r15 when
	 * the next chunk may go.  %r10: pages left until the modes' next round.
	 */
1:	mov $QMG_LAYOUT_ADDR, %ebx
	mov $PACE_OFF, %r10
	cmpl $0, mode
	je 1f
	mov $QMG_MODE_PAGES, %r10d
1:	mov $PACE_OFF, %r8
	mov QMG_OFF_DIRTY_RATE(%rbx), %ecx
	test %ecx, %ecx
	jz 1f
	mov $(PIT_HZ * QMG_PACE_PAGES / 256), %eax /* a chunk is QMG_PACE_PAGES / 256 MiB */
	xor %edx, %edx
	div %ecx
	mov %rax, %r9
	mov $QMG_PACE_PAGES, %r8d
	call pit_start
	xor %r13d, %r13d
	xor %r15d, %r15d
1:	xor %r12d, %r12d	/* 0 during pass 1: store, do not increment */
pass:
	lea QMG_OFF_RANGES(%rbx), %rsi
	mov QMG_OFF_NRANGES(%rbx), %ecx
	test %ecx, %ecx
	jz 5f
1:	mov (%rsi), %rdi
	mov 8(%rsi), %rdx	/* ranges are never empty */
	/*
	 * Pass 1 stores, so pages that held BIOS leftovers join the pattern.
	 * Later passes increment: a page the migration lost keeps its wrong
	 * value forever, instead of being healed by the next pass.
	 */
2:	test %r12d, %r12d
	jnz 3f
	movb $1, QMG_BYTE_OFFSET(%rdi)
	jmp 7f
3:	incb QMG_BYTE_OFFSET(%rdi)
	dec %r8			/* pass 1 is never paced */
	jnz 7f
	call pace
7:	add $QMG_PAGE_SIZE, %rdi
	dec %r10
	jnz 6f
	call mode_rounds
6:	cmp %rdx, %rdi
	jb 2b
4:	add $16, %rsi
	dec %ecx
	jnz 1b
5:	incq QMG_OFF_PASSES(%rbx)
	testl $QMG_MODE_DISK, mode
	jz 1f
	call disk_round
1:	mov $1, %r12d
	mov $'.', %al
	call putc64
	jmp pass

/*
 * One round of each mode that runs (the hot set: QMG_HOT_ROUNDS), and
 * %r10 set for the next.  Preserves every register but %rax and %r10.
 */
mode_rounds:
	push %rcx
	push %rdx
	push %rsi
	push %rdi
	push %r11
	mov $QMG_MODE_PAGES, %r10d
	testl $QMG_MODE_HOT, mode
	jz 2f
	mov $QMG_HOT_ROUNDS, %esi
1:	call hot_round
	dec %esi
	jnz 1b
2:	testl $QMG_MODE_STRING, mode
	jz 3f
	call string_round
3:	testl $QMG_MODE_SSE, mode
	jz 4f
	call sse_round
4:	pop %r11
	pop %rdi
	pop %rsi
	pop %rdx
	pop %rcx
	ret

/*
 * The hot set: every page's counter incremented in place, so that a lost
 * increment stays lost.  The last page, incremented last, must hold the
 * rounds counted.  Preserves every register but %rax.
 */
hot_round:
	push %rcx
	push %rdx
	push %rdi
	push %r11
	mov QMG_LAYOUT_ADDR + QMG_OFF_HOT_ROUNDS, %rax
	mov $(QMG_HOT_ADDR + (QMG_HOT_PAGES - 1) * QMG_PAGE_SIZE), %edi
	cmp (%rdi), %rax
	jne 2f
	mov $QMG_HOT_ADDR, %edi
	mov $QMG_HOT_PAGES, %ecx
1:	incq (%rdi)
	add $QMG_PAGE_SIZE, %edi
	dec %ecx
	jnz 1b
	incq QMG_LAYOUT_ADDR + QMG_OFF_HOT_ROUNDS
	pop %r11
	pop %rdi
	pop %rdx
	pop %rcx
	ret
2:	mov (%rdi), %rdx
	mov $QMG_KIND_HOT, %r11d
	jmp lost

/*
 * rep stosq of (round + 1) * QMG_STRING_SPREAD, rep stosb of its low byte,
 * and rep movsq, rep movsb copies of the stosq region, each checked first.  Clobbers %rax, %rcx, %rdx, %rsi, %rdi, %r11.
 */
string_round:
	mov QMG_LAYOUT_ADDR + QMG_OFF_STRING_ROUNDS, %rax
	push %rax
	mov $QMG_STRING_SPREAD, %rdx
	imul %rdx, %rax
	mov $QMG_KIND_STOSQ, %r11d
	mov $QMG_STOSQ_ADDR, %edi
	mov $(QMG_STRING_BYTES / 8), %ecx
	call verify
	mov $QMG_KIND_MOVSQ, %r11d
	mov $QMG_MOVSQ_ADDR, %edi
	mov $(QMG_STRING_BYTES / 8), %ecx
	call verify
	mov $QMG_KIND_MOVSB, %r11d
	mov $QMG_MOVSB_ADDR, %edi
	mov $(QMG_STRING_BYTES / 8), %ecx
	call verify
	movzbl %al, %eax	/* the low byte, in every byte of a quadword */
	mov $QMG_STRING_SPREAD, %rdx
	imul %rdx, %rax
	mov $QMG_KIND_STOSB, %r11d
	mov $QMG_STOSB_ADDR, %edi
	mov $(QMG_STRING_BYTES / 8), %ecx
	call verify
	pop %rax
	inc %rax
	mov $QMG_STRING_SPREAD, %rdx
	imul %rdx, %rax
	mov $QMG_STOSQ_ADDR, %edi
	mov $(QMG_STRING_BYTES / 8), %ecx
	rep stosq
	mov $QMG_STOSB_ADDR, %edi
	mov $QMG_STRING_BYTES, %ecx
	rep stosb
	mov $QMG_STOSQ_ADDR, %esi
	mov $QMG_MOVSQ_ADDR, %edi
	mov $(QMG_STRING_BYTES / 8), %ecx
	rep movsq
	mov $QMG_STOSQ_ADDR, %esi
	mov $QMG_MOVSB_ADDR, %edi
	mov $QMG_STRING_BYTES, %ecx
	rep movsb
	incq QMG_LAYOUT_ADDR + QMG_OFF_STRING_ROUNDS
	ret

/* @count stores of %xmm0 by @insn, ascending from @addr.  Clobbers %rcx, %rdi. */
.macro sse_stores insn, addr, count
	mov $(\addr), %edi
	mov $(\count), %ecx
1:	\insn %xmm0, (%rdi)
	add $16, %edi
	dec %ecx
	jnz 1b
.endm

/*
 * movdqa, movups (misaligned, some across a page boundary), movntdq then
 * sfence, each region checked first.  Clobbers %rax, %rcx, %rdx, %rdi,
 * %r11, %xmm0.
 */
sse_round:
	mov QMG_LAYOUT_ADDR + QMG_OFF_SSE_ROUNDS, %rax
	mov $QMG_KIND_MOVDQA, %r11d
	mov $QMG_MOVDQA_ADDR, %edi
	mov $(QMG_STRING_BYTES / 8), %ecx
	call verify
	mov $QMG_KIND_MOVUPS, %r11d
	mov $QMG_MOVUPS_ADDR, %edi
	mov $((QMG_STRING_BYTES - 16) / 8), %ecx
	call verify
	mov $QMG_KIND_MOVNTDQ, %r11d
	mov $QMG_MOVNTDQ_ADDR, %edi
	mov $(QMG_STRING_BYTES / 8), %ecx
	call verify
	inc %rax
	/*
	 * Loaded from memory: an emulator that a trap hands the next few
	 * instructions to (the PVM flavour of KVM does that) knows SSE moves,
	 * not movq from a general register or punpcklqdq.
	 */
	mov %rax, sse_value
	mov %rax, sse_value + 8
	movdqa sse_value, %xmm0
	sse_stores movdqa, QMG_MOVDQA_ADDR, QMG_STRING_BYTES/16
	sse_stores movups, QMG_MOVUPS_ADDR, QMG_STRING_BYTES/16-1
	sse_stores movntdq, QMG_MOVNTDQ_ADDR, QMG_STRING_BYTES/16
	sfence
	incq QMG_LAYOUT_ADDR + QMG_OFF_SSE_ROUNDS
	ret

/*
 * Checks that the %rcx quadwords from %rdi hold %rax; a lost write in
 * region kind %r11d if not.  Clobbers %rcx, %rdx, %rdi.  (A plain loop, not
 * repe scasq: string instructions are slow on the PVM flavour of KVM.)
 */
verify:
	mov (%rdi), %rdx
	cmp %rax, %rdx
	jne lost
	add $8, %rdi
	dec %ecx
	jnz verify
	ret

/*
 * The data disk, by ATA PIO on the primary IDE channel (guest-layout.h, the
 * disk mode).  Interrupts stay off: the guest polls the status register.
 */

/* Until the data disk is not busy, its status in %al.  Clobbers %rax, %rcx, %rdx. */
ata_wait:
	mov $ATA_STATUS, %dx
	mov $ATA_POLLS, %ecx
1:	in %dx, %al
	test $ATA_BSY, %al
	jz 2f
	dec %ecx
	jnz 1b
	mov $msg_ata_busy, %esi
	jmp die64
2:	ret

/* Until the command just done ended without an error.  Clobbers %rax, %rcx, %rdx. */
ata_done:
	call ata_wait
	test $(ATA_ERR | ATA_DF | ATA_DRQ), %al
	jnz ata_failed
	ret

/*
 * Command %al on sector %ebp of the data disk, one sector, then until it
 * asks for or offers the data.  Clobbers %rax, %rcx, %rdx.
 */
ata_command:
	push %rax
	mov %ebp, %eax
	shr $24, %eax
	and $0x0f, %al
	or $ATA_SLAVE_LBA, %al
	mov $ATA_DEVICE, %dx
	out %al, %dx
	call ata_wait
	mov $ATA_COUNT, %dx
	mov $1, %al
	out %al, %dx
	mov %ebp, %eax
	mov $ATA_LBA0, %dx
	out %al, %dx
	shr $8, %eax
	inc %dx
	out %al, %dx
	shr $8, %eax
	inc %dx
	out %al, %dx
	pop %rax
	mov $ATA_COMMAND, %dx
	out %al, %dx
	call ata_wait
	test $(ATA_ERR | ATA_DF), %al
	jnz ata_failed
	test $ATA_DRQ, %al
	jz ata_failed
	ret

ata_failed:
	mov $msg_ata_error, %esi
	jmp die64

/*
 * IDENTIFY DEVICE of the data disk: it must be an ATA disk that holds every
 * record.  Dies otherwise.  Clobbers %rax, %rcx, %rdx, %rdi, %rsi.
 */
disk_init:
	mov $ATA_CONTROL, %dx
	mov $ATA_NIEN, %al
	out %al, %dx
	mov $ATA_DEVICE, %dx
	mov $ATA_SLAVE_LBA, %al
	out %al, %dx
	mov $msg_no_disk, %esi
	mov $ATA_STATUS, %dx
	in %dx, %al
	test %al, %al		/* no device there */
	jz die64
	cmp $0xff, %al		/* no IDE controller at all (q35) */
	je die64
	call ata_wait
	mov $ATA_COMMAND, %dx
	mov $ATA_IDENTIFY, %al
	out %al, %dx
	call ata_wait
	mov $msg_no_disk, %esi
	test $(ATA_ERR | ATA_DF), %al /* a CD-ROM aborts IDENTIFY DEVICE */
	jnz die64
	test $ATA_DRQ, %al
	jz die64
	mov $disk_in, %edi
	mov $ATA_DATA, %dx
	mov $(QMG_SECTOR_SIZE / 2), %ecx
	rep insw
	call ata_done
	mov $msg_small_disk, %esi
	cmpl $(QMG_DISK_MIN_BYTES / QMG_SECTOR_SIZE), disk_in + 120 /* words 60-61: LBA28 sectors */
	jb die64
	ret

/* The record of round %rax for sector %ebp into disk_out.  Clobbers %rcx, %rdx, %rdi. */
disk_record:
	mov $disk_out, %edi
	mov disk_magic, %rdx
	mov %rdx, (%rdi)
	mov %ebp, %edx
	mov %rdx, 8(%rdi)
	add $16, %edi
	mov $(QMG_SECTOR_SIZE / 8 - 2), %ecx
	rep stosq
	ret

/*
 * One step of the disk round (guest-layout.h): the next record read back and
 * checked against the rounds counter (except in round 1: the disk held
 * anything before), then rewritten with one more; after the last record,
 * the round counted.  Preserves every register but %rax.
 */
disk_step:
	push %rcx
	push %rdx
	push %rsi
	push %rdi
	push %rbp
	imul $QMG_DISK_STRIDE, disk_next, %ebp
	add $QMG_DISK_LBA, %ebp
	cmpq $0, QMG_LAYOUT_ADDR + QMG_OFF_DISK_ROUNDS
	je 2f
	mov $ATA_READ, %al
	call ata_command
	mov $disk_in, %edi
	mov $ATA_DATA, %dx
	mov $(QMG_SECTOR_SIZE / 2), %ecx
	rep insw
	call ata_done
	mov QMG_LAYOUT_ADDR + QMG_OFF_DISK_ROUNDS, %rax
	call disk_record
	mov $disk_out, %esi
	mov $disk_in, %edi
	mov $(QMG_SECTOR_SIZE / 8), %ecx
1:	mov (%rdi), %rdx
	cmp (%rsi), %rdx
	jne 4f
	add $8, %esi
	add $8, %edi
	dec %ecx
	jnz 1b
2:	mov QMG_LAYOUT_ADDR + QMG_OFF_DISK_ROUNDS, %rax
	inc %rax
	call disk_record
	mov $ATA_WRITE, %al
	call ata_command
	mov $disk_out, %esi
	mov $ATA_DATA, %dx
	mov $(QMG_SECTOR_SIZE / 2), %ecx
	rep outsw
	call ata_done		/* the write completed */
	/*
	 * The bookkeeping's stores go through fresh TLB entries: QEMU before
	 * 9.0 under TCG drops stores through an entry cached across a dirty
	 * bitmap sync (README), which would leave the destination's memory a
	 * round behind its disk.  The hot set mode is what detects that bug;
	 * here the disk is under test.
	 */
	invlpg disk_next
	incl disk_next
	cmpl $QMG_DISK_SECTORS, disk_next
	jb 3f
	movl $0, disk_next
	invlpg QMG_LAYOUT_ADDR + QMG_OFF_DISK_ROUNDS
	incq QMG_LAYOUT_ADDR + QMG_OFF_DISK_ROUNDS
3:	pop %rbp
	pop %rdi
	pop %rsi
	pop %rdx
	pop %rcx
	ret
4:	mov (%rsi), %rax	/* a lost write: at its byte offset on the disk */
	sub $disk_in, %edi
	shl $9, %rbp
	add %rbp, %rdi
	mov $QMG_KIND_DISK, %r11d
	jmp lost

/* Disk steps until a round ends (after each pass).  Preserves every register but %rax. */
disk_round:
	call disk_step
	cmpl $0, disk_next
	jne disk_round
	ret

/* Prints the string @msg, then the u64 at @off in the layout page (%rbx) in hex. */
.macro put_field msg, off
	mov $\msg, %esi
	call puts64
	mov \off(%rbx), %rax
	call puthex64
.endm

/*
 * A lost write, of kind %r11d at %rdi: %rax expected, %rdx found.  Records
 * it in the layout page, says it on COM1 and halts for good.
 */
lost:
	mov $QMG_LAYOUT_ADDR, %ebx
	mov %r11d, QMG_OFF_LOST_KIND(%rbx)
	mov %rdi, QMG_OFF_LOST_ADDR(%rbx)
	mov %rax, QMG_OFF_LOST_EXPECTED(%rbx)
	mov %rdx, QMG_OFF_LOST_FOUND(%rbx)
	mov $msg_lost, %esi
	call puts64
	mov QMG_OFF_LOST_KIND(%rbx), %eax
	mov kind_names(, %rax, 8), %rsi
	call puts64
	put_field msg_lost_at, QMG_OFF_LOST_ADDR
	put_field msg_expected, QMG_OFF_LOST_EXPECTED
	put_field msg_found, QMG_OFF_LOST_FOUND
	mov $'\n', %al
	call putc64
	/* fall through */
halt64:
	cli
1:	hlt
	jmp 1b

/* Prints the string at %rsi and stops for good. */
die64:
	call puts64
	jmp halt64

/*
 * Waits until the chunk just done may be followed by the next one, running
 * hot rounds meanwhile when the hot set is on, disk steps (one record each) in
 * the disk mode.
 * Preserves every register but %rax, %r8 and the pacing registers.
 */
pace:
	mov $QMG_PACE_PAGES, %r8d
1:	testl $QMG_MODE_HOT, mode
	jz 2f
	call hot_round
2:	testl $QMG_MODE_DISK, mode
	jz 3f
	call disk_step
3:	call pit_read
	cmp %r15, %r13
	jb 1b
	lea (%r13, %r9), %r15	/* from now: no credit for time spent behind */
	ret

/* Sets PIT channel 0 counting down from 65536, and reads it once. */
pit_start:
	mov $PIT_CMD, %dx
	mov $PIT_CH0_MODE2, %al
	out %al, %dx
	mov $PIT_CH0, %dx
	xor %eax, %eax
	out %al, %dx
	out %al, %dx
	xor %r14d, %r14d
	/* fall through */

/*
 * Adds the PIT ticks since the last read to %r13.  The counter wraps every
 * 55 ms; a longer gap between reads is counted short.  Clobbers %rax.
 */
pit_read:
	push %rdx
	mov $PIT_CMD, %dx
	xor %eax, %eax		/* latch channel 0 */
	out %al, %dx
	mov $PIT_CH0, %dx
	in %dx, %al
	mov %al, %ah
	in %dx, %al
	xchg %al, %ah
	movzwl %ax, %eax
	mov %r14, %rdx
	sub %rax, %rdx		/* it counts down */
	and $0xffff, %edx
	add %rdx, %r13
	mov %rax, %r14
	pop %rdx
	ret

/*
 * The decimal number in the fw_cfg file named at %r11 (%r9d bytes, its NUL
 * included), in %eax: 0 when there is no such file or it does not start
 * with a digit.
 */
read_fwcfg_number:
	mov $FW_CFG_PORT_SEL, %dx
	mov $FW_CFG_FILE_DIR, %ax
	out %ax, %dx
	mov $FW_CFG_PORT_DATA, %dx
	xor %eax, %eax
	mov $4, %ecx
1:	shl $8, %eax
	in %dx, %al
	loop 1b
	mov %eax, %r10d		/* entries left (shifted in most significant first) */
2:	test %r10d, %r10d
	jz 5f
	dec %r10d
	mov $fwcfg_entry, %edi
	mov $FW_CFG_ENTRY_SIZE, %ecx
	rep insb
	mov $fwcfg_entry + FW_CFG_ENTRY_NAME, %esi
	mov %r11d, %edi
	mov %r9d, %ecx
	repe cmpsb
	jne 2b
	movzwl fwcfg_entry + 4, %eax
	xchg %al, %ah
	mov $FW_CFG_PORT_SEL, %dx
	out %ax, %dx
	mov fwcfg_entry, %ecx
	bswap %ecx		/* the file's size */
	mov $FW_CFG_PORT_DATA, %dx
	xor %esi, %esi
3:	test %ecx, %ecx
	jz 4f
	dec %ecx
	xor %eax, %eax
	in %dx, %al
	sub $'0', %al
	cmp $9, %al
	ja 4f
	imul $10, %esi, %esi
	add %eax, %esi
	jmp 3b
4:	mov %esi, %eax
	ret
5:	xor %eax, %eax
	ret

/*
 * Fills the layout page from the E820 map: usable regions clipped to
 * [1 MiB, 64 GiB), to whole pages, sorted, made disjoint, minus the last
 * 1 MiB of the highest; then the checksum.
 */
build_layout:
	mov $QMG_LAYOUT_ADDR, %ebx
	mov %rbx, %rdi
	xor %eax, %eax
	mov $(QMG_PAGE_SIZE / 8), %ecx
	rep stosq
	mov $QMG_LAYOUT_ADDR + QMG_OFF_MAGIC, %edi
	mov $magic, %esi
	mov $8, %ecx
	rep movsb
	movl $QMG_VERSION, QMG_OFF_VERSION(%rbx)
	movl $QMG_BYTE_OFFSET, QMG_OFF_BYTE(%rbx)

	mov $QMG_E820_ADDR, %esi
	movzwl e820_count, %ecx
	xor %r8d, %r8d		/* ranges so far */
	xor %r11d, %r11d	/* ram top */
1:	cmpl $E820_USABLE, 16(%rsi)
	jne 6f
	testl $1, 20(%rsi)	/* ACPI 3: bit 0 clear means "ignore this entry" */
	jz 6f
	mov (%rsi), %rax	/* start */
	mov 8(%rsi), %rdx
	add %rax, %rdx		/* end */
	jc 6f
	cmp %r11, %rdx
	cmova %rdx, %r11
	mov $QMG_SKIP_LOW, %r9d
	cmp %r9, %rax
	cmovb %r9, %rax
	mov $(QMG_MAP_GIB << 30), %r9
	cmp %r9, %rdx
	cmova %r9, %rdx
	add $(QMG_PAGE_SIZE - 1), %rax
	and $-QMG_PAGE_SIZE, %rax
	and $-QMG_PAGE_SIZE, %rdx
	cmp %rdx, %rax
	jae 6f
	cmp $QMG_MAX_RANGES, %r8d
	jae 6f
	/* insertion sort by start: shift larger ranges up one slot */
	mov %r8, %r10
	shl $4, %r10
	lea QMG_OFF_RANGES(%rbx, %r10), %r10
2:	cmp $QMG_LAYOUT_ADDR + QMG_OFF_RANGES, %r10
	je 3f
	cmp -16(%r10), %rax
	jae 3f
	mov -16(%r10), %r9
	mov %r9, (%r10)
	mov -8(%r10), %r9
	mov %r9, 8(%r10)
	sub $16, %r10
	jmp 2b
3:	mov %rax, (%r10)
	mov %rdx, 8(%r10)
	inc %r8d
6:	add $24, %rsi
	dec %ecx
	jnz 1b
	mov %r11, QMG_OFF_RAM_TOP(%rbx)

	/* disjoint: start = max(start, previous end); drop what becomes empty */
	lea QMG_OFF_RANGES(%rbx), %rsi /* read */
	mov %rsi, %rdi			/* write */
	xor %r9d, %r9d			/* previous end */
	mov %r8d, %ecx
	test %ecx, %ecx
	jz 9f
7:	mov (%rsi), %rax
	mov 8(%rsi), %rdx
	cmp %r9, %rax
	cmovb %r9, %rax
	cmp %rdx, %rax
	jae 8f
	mov %rax, (%rdi)
	mov %rdx, 8(%rdi)
	mov %rdx, %r9
	add $16, %rdi
8:	add $16, %rsi
	dec %ecx
	jnz 7b
9:	lea QMG_OFF_RANGES(%rbx), %rax
	mov %rdi, %r8
	sub %rax, %r8
	shr $4, %r8		/* ranges kept */
	mov %rsi, %rcx		/* clear the slots compaction freed */
	sub %rdi, %rcx
	xor %eax, %eax
	rep stosb

	test %r8d, %r8d		/* spare the last 1 MiB of the highest region */
	jz 10f
	mov %r8, %r10
	shl $4, %r10
	lea QMG_OFF_RANGES - 16(%rbx, %r10), %r10
	mov 8(%r10), %rdx
	sub $QMG_SKIP_HIGH, %rdx
	cmp (%r10), %rdx
	jbe 11f			/* too small (or borrowed): drop it */
	mov %rdx, 8(%r10)
	jmp 10f
11:	movq $0, (%r10)
	movq $0, 8(%r10)
	dec %r8d
10:	mov %r8d, QMG_OFF_NRANGES(%rbx)

	/*
	 * With a mode on, the pattern gives up [1 MiB, 4 MiB) to the modes'
	 * regions, which the lowest range must hold (and more).
	 */
	mov mode, %eax
	mov %eax, QMG_OFF_MODE(%rbx)
	test %eax, %eax
	jz 17f
	mov $msg_no_room, %esi
	test %r8d, %r8d
	jz die64
	cmpq $QMG_MODE_AREA, QMG_OFF_RANGES(%rbx)
	ja die64
	cmpq $QMG_MODE_AREA_END, QMG_OFF_RANGES + 8(%rbx)
	jbe die64
	movq $QMG_MODE_AREA_END, QMG_OFF_RANGES(%rbx)
	mov $regions, %esi	/* the regions of the modes that run */
	lea QMG_OFF_REGIONS(%rbx), %rdi
	xor %edx, %edx
15:	mov 16(%rsi), %ecx	/* the mode it belongs to; 0 ends the table */
	test %ecx, %ecx
	jz 16f
	test %eax, %ecx
	jz 18f
	mov (%rsi), %rcx
	mov %rcx, (%rdi)
	mov 8(%rsi), %rcx
	mov %rcx, 8(%rdi)
	add $QMG_REGION_SIZE, %rdi
	inc %edx
18:	add $24, %rsi
	jmp 15b
16:	mov %edx, QMG_OFF_NREGIONS(%rbx)
	testl $QMG_MODE_DISK, mode
	jz 17f
	movq $QMG_DISK_LBA, QMG_OFF_DISK_LBA(%rbx)
	movl $QMG_DISK_SECTORS, QMG_OFF_DISK_SECTORS(%rbx)
	movl $QMG_DISK_STRIDE, QMG_OFF_DISK_STRIDE(%rbx)

17:	xor %eax, %eax		/* checksum: [0, 0x20), the ranges, the mode and disk blocks */
	mov %rbx, %rsi
	mov $(QMG_OFF_PASSES / 4), %ecx
12:	add (%rsi), %eax
	add $4, %rsi
	loop 12b
	lea QMG_OFF_RANGES(%rbx), %rsi
	mov %r8d, %ecx
	shl $2, %ecx		/* 4 words a range */
	jz 14f
13:	add (%rsi), %eax
	add $4, %rsi
	loop 13b
14:	lea QMG_OFF_MODE(%rbx), %rsi
	mov QMG_OFF_NREGIONS(%rbx), %ecx
	shl $2, %ecx		/* 4 words a region */
	add $((QMG_OFF_REGIONS - QMG_OFF_MODE) / 4), %ecx
19:	add (%rsi), %eax
	add $4, %rsi
	loop 19b
	lea QMG_OFF_DISK_LBA(%rbx), %rsi
	mov $((QMG_OFF_DISK_END - QMG_OFF_DISK_LBA) / 4), %ecx
20:	add (%rsi), %eax
	add $4, %rsi
	loop 20b
	neg %eax
	mov %eax, QMG_OFF_CHECKSUM(%rbx)
	ret

/* "qm-guest: pages=N ram_top=0x... ranges=0x...-0x... ... [dirty-rate=NMiB/s] [mode=hot+string+sse]\n" */
print_banner:
	mov $QMG_LAYOUT_ADDR, %ebx
	xor %eax, %eax		/* count the pages */
	lea QMG_OFF_RANGES(%rbx), %rsi
	mov QMG_OFF_NRANGES(%rbx), %ecx
	test %ecx, %ecx
	jz 2f
1:	add 8(%rsi), %rax
	sub (%rsi), %rax
	add $16, %rsi
	loop 1b
	shr $12, %rax
2:	mov %rax, %r13
	mov $msg_banner, %esi
	call puts64
	mov %r13, %rax
	call putdec64
	put_field msg_ram_top, QMG_OFF_RAM_TOP
	mov $msg_ranges, %esi
	call puts64
	lea QMG_OFF_RANGES(%rbx), %r13
	mov QMG_OFF_NRANGES(%rbx), %r14d
	test %r14d, %r14d
	jz 4f
3:	mov $' ', %al
	call putc64
	mov (%r13), %rax
	call puthex64
	mov $'-', %al
	call putc64
	mov 8(%r13), %rax
	call puthex64
	add $16, %r13
	dec %r14d
	jnz 3b
4:	mov QMG_OFF_DIRTY_RATE(%rbx), %eax
	test %eax, %eax
	jz 5f
	mov $msg_dirty_rate, %esi
	call puts64
	mov QMG_OFF_DIRTY_RATE(%rbx), %eax
	call putdec64
	mov $msg_mibps, %esi
	call puts64
5:	mov QMG_OFF_MODE(%rbx), %r13d
	test %r13d, %r13d
	jz 8f
	mov $msg_mode_is, %esi
	call puts64
	mov $mode_names, %r14d
6:	test (%r14), %r13d
	jz 7f
	mov 8(%r14), %rsi
	call puts64
	mov (%r14), %eax
	not %eax
	and %eax, %r13d
	jz 8f
	mov $'+', %al
	call putc64
7:	add $16, %r14
	jmp 6b
8:	mov $'\n', %al
	jmp putc64

/* Writes %al to COM1.  Preserves every register but %rax. */
putc64:
	push %rcx
	push %rdx
	mov %al, %ah
	mov $(COM1 + UART_LSR), %dx
	mov $0x10000, %ecx
1:	in %dx, %al
	test $LSR_THRE, %al
	jnz 2f
	dec %ecx
	jnz 1b
2:	mov %ah, %al
	mov $COM1, %dx
	out %al, %dx
	pop %rdx
	pop %rcx
	ret

/* Prints the string at %rsi.  Clobbers %rax, %rsi. */
puts64:
	lodsb
	test %al, %al
	jz 1f
	call putc64
	jmp puts64
1:	ret

/* Prints %rax as 0x and 16 hex digits.  Clobbers %rax. */
puthex64:
	push %rcx
	push %rdx
	mov %rax, %rdx
	mov $'0', %al
	call putc64
	mov $'x', %al
	call putc64
	mov $16, %ecx
1:	rol $4, %rdx
	mov %dl, %al
	and $0xf, %al
	add $'0', %al
	cmp $'9', %al
	jbe 2f
	add $('a' - '0' - 10), %al
2:	call putc64
	loop 1b
	pop %rdx
	pop %rcx
	ret

/* Prints %rax in decimal.  Clobbers %rax. */
putdec64:
	push %rcx
	push %rdx
	push %rsi
	mov $10, %esi
	xor %ecx, %ecx
1:	xor %edx, %edx
	div %rsi
	push %rdx
	inc %ecx
	test %rax, %rax
	jnz 1b
2:	pop %rax
	add $'0', %al
	call putc64
	loop 2b
	pop %rsi
	pop %rdx
	pop %rcx
	ret

	.section .rodata
	.balign 8
gdt:
	.quad 0
	.quad 0x00cf9a000000ffff /* CODE32: base 0, 4 GiB, 32-bit */
	.quad 0x00cf92000000ffff /* DATA: base 0, 4 GiB, writable */
	.quad 0x00af9a000000ffff /* CODE64: L set, D clear */
gdt_end:
gdt_desc:
	.word gdt_end - gdt - 1
	.long gdt
magic:
	.ascii QMG_MAGIC
msg_e820:
	.asciz "qm-guest: no E820 memory map\n"
msg_lm:
	.asciz "qm-guest: the CPU has no long mode\n"
msg_banner:
	.asciz "qm-guest: pages="
msg_ram_top:
	.asciz " ram_top="
msg_ranges:
	.asciz " ranges="
msg_dirty_rate:
	.asciz " dirty-rate="
msg_mibps:
	.asciz "MiB/s"
dirty_rate_file:
	.asciz QMG_FWCFG_DIRTY_RATE
dirty_rate_file_len = . - dirty_rate_file
mode_file:
	.asciz QMG_FWCFG_MODE
mode_file_len = . - mode_file
msg_mode:
	.ascii "qm-guest: unknown mode bits in "
	.ascii QMG_FWCFG_MODE
	.asciz "\n"
msg_no_room:
	.asciz "qm-guest: no RAM at 2-4 MiB for the modes' regions\n"
msg_no_disk:
	.asciz "qm-guest: the disk mode needs an ATA disk at the primary IDE slave (pc, hdb)\n"
msg_small_disk:
	.asciz "qm-guest: the data disk is too small for the disk mode's records\n"
msg_ata_busy:
	.asciz "qm-guest: the data disk stays busy\n"
msg_ata_error:
	.asciz "qm-guest: the data disk reported an error\n"
disk_magic:
	.ascii QMG_DISK_MAGIC
msg_mode_is:
	.asciz " mode="
msg_lost:
	.asciz "\nqm-guest: lost write: "
msg_lost_at:
	.asciz " at "
msg_expected:
	.asciz " expected "
msg_found:
	.asciz " found "
name_hot:
	.asciz "hot"
name_string:
	.asciz "string"
name_sse:
	.asciz "sse"
name_disk:
	.asciz "disk"
name_stosq:
	.asciz "stosq"
name_stosb:
	.asciz "stosb"
name_movsq:
	.asciz "movsq"
name_movsb:
	.asciz "movsb"
name_movdqa:
	.asciz "movdqa"
name_movups:
	.asciz "movups"
name_movntdq:
	.asciz "movntdq"
	.balign 8
mode_names:			/* u64 flag, name */
	.quad QMG_MODE_HOT, name_hot
	.quad QMG_MODE_STRING, name_string
	.quad QMG_MODE_SSE, name_sse
	.quad QMG_MODE_DISK, name_disk
kind_names:			/* by QMG_KIND_* */
	.quad 0, name_hot, name_stosq, name_stosb, name_movsq, name_movsb
	.quad name_movdqa, name_movups, name_movntdq, name_disk
regions:			/* u64 start, u32 bytes, u32 kind: as in the layout page; u64 mode */
	.quad QMG_HOT_ADDR
	.long QMG_HOT_PAGES * QMG_PAGE_SIZE, QMG_KIND_HOT
	.quad QMG_MODE_HOT
	.quad QMG_STOSQ_ADDR
	.long QMG_STRING_BYTES, QMG_KIND_STOSQ
	.quad QMG_MODE_STRING
	.quad QMG_STOSB_ADDR
	.long QMG_STRING_BYTES, QMG_KIND_STOSB
	.quad QMG_MODE_STRING
	.quad QMG_MOVSQ_ADDR
	.long QMG_STRING_BYTES, QMG_KIND_MOVSQ
	.quad QMG_MODE_STRING
	.quad QMG_MOVSB_ADDR
	.long QMG_STRING_BYTES, QMG_KIND_MOVSB
	.quad QMG_MODE_STRING
	.quad QMG_MOVDQA_ADDR
	.long QMG_STRING_BYTES, QMG_KIND_MOVDQA
	.quad QMG_MODE_SSE
	.quad QMG_MOVUPS_ADDR
	.long QMG_STRING_BYTES - 16, QMG_KIND_MOVUPS
	.quad QMG_MODE_SSE
	.quad QMG_MOVNTDQ_ADDR
	.long QMG_STRING_BYTES, QMG_KIND_MOVNTDQ
	.quad QMG_MODE_SSE
	.quad 0, 0, 0

	.data
e820_count:
	.word 0
	.balign 4
mode:				/* QMG_MODE_* */
	.long 0
disk_next:			/* the record the disk round writes next */
	.long 0
	.balign 16
sse_value:			/* what the SSE round stores, twice */
	.quad 0, 0
fwcfg_entry:
	.skip FW_CFG_ENTRY_SIZE
	.balign 16
disk_in:			/* a sector read from the data disk */
	.skip QMG_SECTOR_SIZE
disk_out:			/* a sector to write to it */
	.skip QMG_SECTOR_SIZE
