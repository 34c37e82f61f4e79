/* Mach system-call traps (rt/start.S): the calls that are not messages.
 *
 * mach_msg_trap and mach_msg are declared by <mach/message.h>. The task, thread and host
 * self ports are cached by the runtime: use mach_task_self(), mach_thread_self() and
 * mach_host_self() (<mrt/boot.h>) rather than the raw traps, which add a user reference to the
 * port on every call.
 */
#ifndef MRT_TRAPS_H
#define MRT_TRAPS_H

#include <mach/port.h>
#include <mach/kern_return.h>
#include <mach/message.h>
#include <mach/vm_prot.h>

/* A new receive right for replies (MIG stubs get theirs through mig_get_reply_port). */
mach_port_t mach_reply_port(void);

/* The raw self-port traps. */
mach_port_t mrt_trap_task_self(void);
mach_port_t mrt_trap_thread_self(void);
mach_port_t mrt_trap_host_self(void);

/* Scheduling: give up the processor (swtch), with a depressed priority (swtch_pri), or to a
 * given thread (thread_switch; option SWITCH_OPTION_NONE 0, DEPRESS 1, WAIT 2, time in ms). */
boolean_t swtch(void);
boolean_t swtch_pri(int pri);
kern_return_t thread_switch(mach_port_t thread, int option, mach_msg_timeout_t time);

/* Fast local-task versions of the task/VM/port RPCs (only for the calling task's own port). */
kern_return_t syscall_vm_allocate(mach_port_t task, vm_address_t *addr, vm_size_t size,
				  boolean_t anywhere);
kern_return_t syscall_vm_deallocate(mach_port_t task, vm_address_t addr, vm_size_t size);
kern_return_t syscall_task_terminate(mach_port_t task);
kern_return_t syscall_mach_port_allocate(mach_port_t task, mach_port_right_t right,
					 mach_port_t *name);
kern_return_t syscall_mach_port_deallocate(mach_port_t task, mach_port_t name);

#endif
