/* I/O port permissions and the QEMU exit port. */
#include <mach/mach_types.h>
#include <mach/mach_i386.h>
#include <mach/mach_port.h>
#include <mrt/boot.h>
#include <mrt/console.h>
#include <mrt/io.h>
#include <stdio.h>

kern_return_t mrt_io_perm(uint16_t first, uint16_t last)
{
	mach_port_t perm = MACH_PORT_NULL;
	kern_return_t kr;

	if (mrt_device_master == MACH_PORT_NULL)
		return KERN_INVALID_CAPABILITY;
	kr = i386_io_perm_create(mrt_device_master, first, last, &perm);
	if (kr != KERN_SUCCESS)
		return kr;
	kr = i386_io_perm_modify(mach_task_self(), perm, TRUE);
	/* The task keeps the access; the permission port itself is not needed any more. */
	(void)mach_port_deallocate(mach_task_self(), perm);
	return kr;
}

_Noreturn void mrt_exit_qemu(int code)
{
	kern_return_t kr;

	mrt_console_flush();
	kr = mrt_io_perm(MRT_QEMU_EXIT_PORT, MRT_QEMU_EXIT_PORT + 3);
	if (kr == KERN_SUCCESS)
		outb((uint8_t)code, MRT_QEMU_EXIT_PORT);
	printf("mrt: no QEMU exit port (io perm %d); terminating the task\n", kr);
	mrt_task_exit(code);
}
