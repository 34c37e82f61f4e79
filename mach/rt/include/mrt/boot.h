/* Task start-up and exit (rt/boot.c).
 *
 * A task is a GNU Mach boot module started as
 *     PATH ${host-port} ${device-port} [ARG...] $(task-create) $(task-resume)
 * (mach/run builds that line): argv[0] is PATH, argv[1] and argv[2] are the numbers of the
 * privileged host port and the device master port, as decimal strings. Before main runs, the
 * runtime zeroes .bss, caches the self ports and parses argv[1..2] into mrt_host_priv and
 * mrt_device_master (MACH_PORT_NULL when absent). main gets argv unchanged; its return value
 * goes to exit().
 */
#ifndef MRT_BOOT_H
#define MRT_BOOT_H

#include <mach/port.h>

extern mach_port_t mrt_host_priv;	/* privileged host port (argv[1]) */
extern mach_port_t mrt_device_master;	/* device master port (argv[2]) */

/* The kernel device called name ("console", "irq", "mem") opened with mode (D_READ, D_WRITE
 * of <device/device_types.h>) through mrt_device_master; MACH_PORT_NULL if there is no master
 * port or the kernel refuses. */
mach_port_t mrt_device_open(const char *name, int mode);

/* The first argument after the two ports (argv index), for argument loops in main. */
#define MRT_FIRST_ARG 3

/* Cached self ports: no user reference is added per call. */
mach_port_t mach_task_self(void);
mach_port_t mach_thread_self(void);
mach_port_t mach_host_self(void);

/* Terminates the task (flushes the console first). The status is only printed when nonzero:
 * a Mach task has no exit status; a test reports through mrt_exit_qemu (<mrt/io.h>). */
_Noreturn void mrt_task_exit(int status);

int main(int argc, char **argv);

#endif
