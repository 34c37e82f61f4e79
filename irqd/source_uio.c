/*
 * source_uio.c - a PCI device bound to uio_pci_generic: its INTx as a level line (Linux UIO,
 * Documentation/driver-api/uio-howto.rst; drivers/uio/uio_pci_generic.c).
 *
 * uio_pci_generic's handler masks INTx at the device (PCI command register bit 10, Interrupt
 * Disable, PCI 3.0 section 6.2.2) and counts the interrupt: /dev/uioN becomes readable and a
 * read gives the running count. The driver has no write() to unmask, so irqd clears bit 10
 * itself through the device's configuration space in sysfs once every sharer has answered; a
 * device still asserting then interrupts again at once. No IOMMU is needed (nor is DMA safe).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "irqd.h"
#include "util/pci_sysfs.h"

#define PCI_COMMAND 0x04
#define PCI_COMMAND_INTX_DISABLE 0x400

struct uio_dev {
	int config;   /* /sys/bus/pci/devices/BDF/config */
};

/* UIO reads are 32-bit counts; non-blocking, EAGAIN when nothing new. */
static bool uio_fired(struct line *l)
{
	uint32_t count;
	return read(l->fd, &count, sizeof(count)) == sizeof(count);
}

static bool uio_asserted(struct line *l)
{
	return uio_fired(l);
}

/* The interrupt just served is read first (the device is masked, nothing newer can come),
 * then INTx is enabled again. */
static int uio_unmask(struct line *l)
{
	struct uio_dev *u = l->src;
	uio_fired(l);
	uint16_t cmd;
	if (pread(u->config, &cmd, sizeof(cmd), PCI_COMMAND) != sizeof(cmd))
		return -errno;
	cmd &= (uint16_t)~PCI_COMMAND_INTX_DISABLE;
	return pwrite(u->config, &cmd, sizeof(cmd), PCI_COMMAND) == sizeof(cmd) ? 0 : -errno;
}

static void uio_destroy(struct line *l)
{
	struct uio_dev *u = l->src;
	close(u->config);
	close(l->fd);
	free(u);
}

const struct source_ops source_uio_ops = {
	.name = "uio",
	.stamp = source_stamp_now,
	.asserted = uio_asserted,
	.unmask = uio_unmask,
	.destroy = uio_destroy,
};

#define FAIL(err, ...) (snprintf(why, why_len, __VA_ARGS__), -(err))

int source_uio_open(const char *bdf, source_line_fn add, void *arg, char *why, size_t why_len)
{
	char path[128], driver[256];
	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s", bdf);
	if (access(path, F_OK) < 0)
		return FAIL(ENODEV, "no such PCI device");
	if (pci_sysfs_link(bdf, "driver", driver, sizeof(driver)) < 0 ||
	    strcmp(driver, "uio_pci_generic"))
		return FAIL(ENODEV, "not bound to uio_pci_generic (echo uio_pci_generic > "
			    "/sys/bus/pci/devices/%s/driver_override; echo %s > "
			    "/sys/bus/pci/drivers_probe)", bdf, bdf);
	/* /sys/bus/pci/devices/BDF/uio/uioN names the device node */
	int minor = -1;
	for (int i = 0; i < 256 && minor < 0; i++) {
		snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/uio/uio%d", bdf, i);
		if (access(path, F_OK) == 0)
			minor = i;
	}
	if (minor < 0)
		return FAIL(ENODEV, "no UIO device node in sysfs");
	struct uio_dev *u = malloc(sizeof(*u));
	snprintf(path, sizeof(path), "/dev/uio%d", minor);
	int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	int err = errno;
	char cpath[128];
	snprintf(cpath, sizeof(cpath), "/sys/bus/pci/devices/%s/config", bdf);
	if (u)
		u->config = open(cpath, O_RDWR | O_CLOEXEC);
	if (!u || fd < 0 || u->config < 0) {
		int r = FAIL(!u ? ENOMEM : fd < 0 ? err : errno, "%s: %s",
			     fd < 0 ? path : cpath, strerror(!u ? ENOMEM : fd < 0 ? err : errno));
		if (fd >= 0)
			close(fd);
		if (u && u->config >= 0)
			close(u->config);
		free(u);
		return r;
	}
	char name[IRQD_NAME_MAX];
	snprintf(name, sizeof(name), "uio:%s/intx", bdf);
	int r = add(arg, name, IRQD_LEVEL, fd, &source_uio_ops, u);
	if (r < 0) {
		close(fd);
		close(u->config);
		free(u);
		return FAIL(-r, "cannot add line %s", name);
	}
	return 0;
}
