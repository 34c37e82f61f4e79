/* util/pci_sysfs.c - see pci_sysfs.h */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "util/pci_sysfs.h"

int pci_sysfs_link(const char *bdf, const char *what, char *out, size_t len)
{
	char path[128], target[256];
	if (len)
		out[0] = 0;
	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/%s", bdf, what);
	ssize_t n = readlink(path, target, sizeof(target) - 1);
	if (n < 0)
		return -errno;
	target[n] = 0;
	const char *base = strrchr(target, '/');
	snprintf(out, len, "%s", base ? base + 1 : target);
	return 0;
}
