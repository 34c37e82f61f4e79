/* Task start-up (called by _start in start.S) and termination. */
#include <mach/mach_types.h>
#include <device/device_types.h>
#include <device/device.h>
#include <mrt/boot.h>
#include <mrt/traps.h>
#include <mrt/console.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

mach_port_t mrt_host_priv = MACH_PORT_NULL;
mach_port_t mrt_device_master = MACH_PORT_NULL;
static mach_port_t task_self, thread_self, host_self;

/* From the linker's default script. */
extern char __bss_start[], _end[];

mach_port_t mach_task_self(void) { return task_self; }
mach_port_t mach_thread_self(void) { return thread_self; }
mach_port_t mach_host_self(void) { return host_self; }

mach_port_t mrt_device_open(const char *name, int mode)
{
	mach_port_t dev = MACH_PORT_NULL;
	if (mrt_device_master == MACH_PORT_NULL ||
	    device_open(mrt_device_master, (dev_mode_t)mode, name, &dev) != D_SUCCESS)
		return MACH_PORT_NULL;
	return dev;
}

static mach_port_t parse_port(const char *s)
{
	unsigned long v = 0;
	if (s == NULL || *s == '\0')
		return MACH_PORT_NULL;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return MACH_PORT_NULL;
		v = v * 10 + (unsigned long)(*s - '0');
	}
	return (mach_port_t)v;
}

_Noreturn void mrt_start(long *sp);
_Noreturn void mrt_start(long *sp)
{
	int argc = (int)sp[0];
	char **argv = (char **)&sp[1];

	/* The kernel's loader zero-fills .bss pages; clear the tail of the last file page too. */
	memset(__bss_start, 0, (size_t)(_end - __bss_start));
	task_self = mrt_trap_task_self();
	thread_self = mrt_trap_thread_self();
	host_self = mrt_trap_host_self();
	if (argc > 2) {
		mrt_host_priv = parse_port(argv[1]);
		mrt_device_master = parse_port(argv[2]);
	}
	exit(main(argc, argv));
}

_Noreturn void mrt_task_exit(int status)
{
	if (status != 0)
		printf("mrt: task exits with status %d\n", status);
	mrt_console_flush();
	syscall_task_terminate(task_self);
	/* Not reached unless the trap is refused: stop running at all. */
	for (;;)
		thread_switch(MACH_PORT_NULL, 2, 1000000);
}

_Noreturn void exit(int status) { mrt_task_exit(status); }

_Noreturn void abort(void)
{
	printf("mrt: abort\n");
	mrt_task_exit(134);
}
