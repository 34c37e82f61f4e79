/* The kernel console (rt/console.c): device "console" through the device master port,
 * written with device_write_inband in chunks of at most IO_INBAND_MAX (128) bytes.
 * Output is buffered and flushed at each newline, when the buffer is full, by
 * mrt_console_flush, and at exit. Without a device master port (argv[2]) output is dropped.
 * printf and friends are in <stdio.h>. */
#ifndef MRT_CONSOLE_H
#define MRT_CONSOLE_H

#include <stddef.h>
#include <mach/port.h>

/* Appends len bytes to the console buffer. */
void mrt_console_write(const char *s, size_t len);
/* Writes out what is buffered. */
void mrt_console_flush(void);
/* The console device port (opened on first use), MACH_PORT_NULL if it cannot be opened. */
mach_port_t mrt_console_port(void);

#endif
