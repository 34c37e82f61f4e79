/* Console output through the "console" device. */
#include <mach/mach_types.h>
#include <device/device_types.h>
#include <device/device.h>
#include <mrt/boot.h>
#include <mrt/console.h>
#include <stdio.h>
#include <string.h>

static mach_port_t console = MACH_PORT_NULL;
static int console_failed;
static char buf[IO_INBAND_MAX];
static size_t used;

mach_port_t mrt_console_port(void)
{
	/* one attempt only: printf must not make an RPC per call when there is no console */
	if (console == MACH_PORT_NULL && !console_failed) {
		console = mrt_device_open("console", D_WRITE);
		console_failed = console == MACH_PORT_NULL;
	}
	return console;
}

void mrt_console_flush(void)
{
	size_t off = 0;
	mach_port_t port = mrt_console_port();

	while (port != MACH_PORT_NULL && off < used) {
		int written = 0;
		if (device_write_inband(port, 0, 0, buf + off, (mach_msg_type_number_t)(used - off),
					&written) != D_SUCCESS || written <= 0)
			break;
		off += (size_t)written;
	}
	used = 0;
}

void mrt_console_write(const char *s, size_t len)
{
	while (len > 0) {
		size_t n = sizeof(buf) - used;
		const char *nl;
		if (n > len)
			n = len;
		nl = memchr(s, '\n', n);
		if (nl != NULL)
			n = (size_t)(nl - s) + 1;
		memcpy(buf + used, s, n);
		used += n;
		s += n;
		len -= n;
		if (nl != NULL || used == sizeof(buf))
			mrt_console_flush();
	}
}
