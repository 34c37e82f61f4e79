/* Entry point and Mach system-call traps of a GNU Mach x86_64 task.
 *
 * GNU Mach enters a boot module at _start with %rsp pointing at argc (64-bit), followed by the
 * argv pointers, NULL, the envp pointers, NULL. mrt_start (boot.c) does the rest.
 *
 * A trap is `syscall` with %rax = the negative trap number and the arguments in %rdi, %rsi,
 * %rdx, %r10, %r8, %r9; the kernel reads a 7th argument from the user stack just above the
 * return address, so every trap is a real function entered by `call` (never inlined) and the
 * stack is left exactly as the caller built it. %rcx and %r11 are clobbered by `syscall`; both
 * are caller-saved in the SysV ABI. Trap numbers: <mach/syscall_sw.h>.
 */

	.text

	.globl	_start
	.type	_start, @function
_start:
	xorl	%ebp, %ebp		/* the outermost frame */
	movq	%rsp, %rdi		/* mrt_start(long *sp) */
	andq	$-16, %rsp		/* SysV: 16-byte aligned before the call */
	call	mrt_start
	ud2				/* mrt_start never returns */
	.size	_start, . - _start

#define TRAP(name, number)		\
	.globl	name;			\
	.type	name, @function;	\
name:					\
	movq	$(number), %rax;	\
	movq	%rcx, %r10;		\
	syscall;			\
	ret;				\
	.size	name, . - name

TRAP(mach_msg_trap, -25)
TRAP(mach_reply_port, -26)
TRAP(mrt_trap_thread_self, -27)
TRAP(mrt_trap_task_self, -28)
TRAP(mrt_trap_host_self, -29)
TRAP(swtch_pri, -59)
TRAP(swtch, -60)
TRAP(thread_switch, -61)
TRAP(syscall_vm_allocate, -65)
TRAP(syscall_vm_deallocate, -66)
TRAP(syscall_task_terminate, -69)
TRAP(syscall_mach_port_allocate, -72)
TRAP(syscall_mach_port_deallocate, -73)

	.section .note.GNU-stack, "", @progbits
