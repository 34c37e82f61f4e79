/* x86 I/O ports (rt/io.c) and the QEMU exit port.
 * A task may use in/out only on ports the kernel granted it: mrt_io_perm asks the kernel
 * (i386_io_perm_create on the device master port, then i386_io_perm_modify on this task);
 * without it an in/out instruction faults. */
#ifndef MRT_IO_H
#define MRT_IO_H

#include <stdint.h>
#include <mach/kern_return.h>

/* Grants this task ports first..last (inclusive). */
kern_return_t mrt_io_perm(uint16_t first, uint16_t last);

static inline uint8_t inb(uint16_t port)
{
	uint8_t v;
	__asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"(port));
	return v;
}
static inline uint16_t inw(uint16_t port)
{
	uint16_t v;
	__asm__ volatile("inw %1, %0" : "=a"(v) : "Nd"(port));
	return v;
}
static inline uint32_t inl(uint16_t port)
{
	uint32_t v;
	__asm__ volatile("inl %1, %0" : "=a"(v) : "Nd"(port));
	return v;
}
/* Linux argument order: value first, then port. */
static inline void outb(uint8_t v, uint16_t port)
{
	__asm__ volatile("outb %0, %1" : : "a"(v), "Nd"(port));
}
static inline void outw(uint16_t v, uint16_t port)
{
	__asm__ volatile("outw %0, %1" : : "a"(v), "Nd"(port));
}
static inline void outl(uint32_t v, uint16_t port)
{
	__asm__ volatile("outl %0, %1" : : "a"(v), "Nd"(port));
}

/* QEMU's isa-debug-exit device (-device isa-debug-exit,iobase=0xf4,iosize=0x04): writing V
 * makes QEMU exit with status 2V+1. mach/run maps 1 to pass and 3 to fail. */
#define MRT_QEMU_EXIT_PORT 0xf4
#define MRT_QEMU_PASS 0		/* QEMU exits 1 */
#define MRT_QEMU_FAIL 1		/* QEMU exits 3 */

/* Flushes the console, gets permission for the exit port and writes code to it. Without the
 * device (or the permission) QEMU does not exit: the task then terminates itself. */
_Noreturn void mrt_exit_qemu(int code);
/* The same, by the name of the brief that specified it. */
#define mach_exit_qemu(code) mrt_exit_qemu(code)

#endif
