/*
 * source_vfio.c - a PCI device bound to vfio-pci: its interrupts as lines (Linux VFIO,
 * include/uapi/linux/vfio.h).
 *
 * irqd opens the device through its IOMMU group (VFIO_GROUP_GET_DEVICE_FD), asks how many
 * vectors each interrupt type has (VFIO_DEVICE_GET_IRQ_INFO) and gives each vector of the type
 * in use an eventfd as its trigger (VFIO_DEVICE_SET_IRQS, ACTION_TRIGGER). MSI-X and MSI vectors
 * are edge lines; INTx is a level line: the kernel masks it when it fires (automask) and irqd
 * unmasks it (ACTION_UNMASK) once every sharer has answered; a device still asserting then fires
 * again at once. Only one interrupt type can be enabled at a time (VFIO's rule).
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <linux/vfio.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "irqd.h"

struct vfio_dev {
	unsigned refs;      /* lines using it */
	int container, group, device;
	uint32_t index;     /* VFIO_PCI_{INTX,MSI,MSIX}_IRQ_INDEX in use */
};

struct vfio_vector {
	struct vfio_dev *dev;
	uint32_t vector;
};

static const char *const index_names[] = {
	[VFIO_PCI_INTX_IRQ_INDEX] = "intx",
	[VFIO_PCI_MSI_IRQ_INDEX] = "msi",
	[VFIO_PCI_MSIX_IRQ_INDEX] = "msix",
};

/* Trigger eventfds for vectors [start, start + n) of the type in use; fds NULL: none (off). */
static int set_triggers(struct vfio_dev *d, uint32_t start, uint32_t n, const int *fds)
{
	size_t sz = sizeof(struct vfio_irq_set) + (fds ? n * sizeof(int) : 0);
	struct vfio_irq_set *s = calloc(1, sz);
	if (!s)
		return -ENOMEM;
	*s = (struct vfio_irq_set){ .argsz = (uint32_t)sz, .index = d->index, .start = start,
				    .count = fds ? n : 0,
				    .flags = VFIO_IRQ_SET_ACTION_TRIGGER |
					     (fds ? VFIO_IRQ_SET_DATA_EVENTFD : VFIO_IRQ_SET_DATA_NONE) };
	if (fds)
		memcpy(s->data, fds, n * sizeof(int));
	int r = ioctl(d->device, VFIO_DEVICE_SET_IRQS, s) < 0 ? -errno : 0;
	free(s);
	return r;
}

static void dev_close(struct vfio_dev *d)
{
	if (d->device >= 0)
		close(d->device);
	if (d->group >= 0)
		close(d->group);
	if (d->container >= 0)
		close(d->container);
	free(d);
}

static void dev_put(struct vfio_dev *d)
{
	if (--d->refs)
		return;
	set_triggers(d, 0, 0, NULL);
	dev_close(d);
}

/* INTx only: the signals of the occurrence just served are read first (the kernel masked the
 * line at the first, so none can be newer), then the line is unmasked; if the device still
 * asserts, the kernel fires again and the eventfd says so. */
static int vfio_unmask(struct line *l)
{
	struct vfio_vector *v = l->src;
	uint64_t n;
	if (read(l->fd, &n, sizeof(n)) < 0)
		(void)0; /* nothing counted */
	struct vfio_irq_set s = { .argsz = sizeof(s), .index = VFIO_PCI_INTX_IRQ_INDEX,
				  .start = 0, .count = 1,
				  .flags = VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_UNMASK };
	return ioctl(v->dev->device, VFIO_DEVICE_SET_IRQS, &s) < 0 ? -errno : 0;
}

/* INTx: the kernel signals once per assertion and masks; a signal is the assertion. */
static bool vfio_asserted(struct line *l)
{
	uint64_t n;
	return read(l->fd, &n, sizeof(n)) == sizeof(n) && n > 0;
}

static void vfio_destroy(struct line *l)
{
	struct vfio_vector *v = l->src;
	dev_put(v->dev);
	close(l->fd);
	free(v);
}

const struct source_ops source_vfio_ops = {
	.name = "vfio",
	.stamp = source_stamp_now,
	.asserted = vfio_asserted,
	.unmask = vfio_unmask,
	.destroy = vfio_destroy,
};

/* The number after the last '/' of a sysfs link (the IOMMU group), or the driver's name. */
static int sysfs_link(const char *bdf, const char *what, char *out, size_t len)
{
	char path[128], target[256];
	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/%s", bdf, what);
	ssize_t n = readlink(path, target, sizeof(target) - 1);
	if (n < 0)
		return -errno;
	target[n] = 0;
	snprintf(out, len, "%s", basename(target));
	return 0;
}

#define FAIL(err, ...) (snprintf(why, why_len, __VA_ARGS__), -(err))

/* MSI and MSI-X messages are memory writes by the device (PCI 3.0 section 6.8): they need Bus
 * Master Enable (command register bit 2), which VFIO leaves to the user. */
static int enable_bus_master(struct vfio_dev *d)
{
	struct vfio_region_info cfg = { .argsz = sizeof(cfg),
					.index = VFIO_PCI_CONFIG_REGION_INDEX };
	uint16_t cmd;
	if (ioctl(d->device, VFIO_DEVICE_GET_REGION_INFO, &cfg) < 0 ||
	    pread(d->device, &cmd, sizeof(cmd), (off_t)cfg.offset + 4) != sizeof(cmd))
		return -errno;
	cmd |= 0x4;
	return pwrite(d->device, &cmd, sizeof(cmd), (off_t)cfg.offset + 4) == sizeof(cmd) ? 0
											   : -errno;
}

static int dev_open(const char *bdf, struct vfio_dev *d, char *why, size_t why_len)
{
	char group[32], driver[64], path[64];
	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s", bdf);
	if (access(path, F_OK) < 0)
		return FAIL(ENODEV, "no such PCI device");
	if (sysfs_link(bdf, "driver", driver, sizeof(driver)) < 0 || strcmp(driver, "vfio-pci"))
		return FAIL(ENODEV, "not bound to vfio-pci (echo vfio-pci > "
			    "/sys/bus/pci/devices/%s/driver_override; echo %s > "
			    "/sys/bus/pci/drivers_probe)", bdf, bdf);
	if (sysfs_link(bdf, "iommu_group", group, sizeof(group)) < 0)
		return FAIL(ENODEV, "no IOMMU group: enable the IOMMU (intel_iommu=on or "
			    "amd_iommu=on), or use the device through uio_pci_generic");
	d->container = open("/dev/vfio/vfio", O_RDWR | O_CLOEXEC);
	if (d->container < 0)
		return FAIL(errno, "/dev/vfio/vfio: %s", strerror(errno));
	if (ioctl(d->container, VFIO_GET_API_VERSION) != VFIO_API_VERSION ||
	    ioctl(d->container, VFIO_CHECK_EXTENSION, VFIO_TYPE1_IOMMU) <= 0)
		return FAIL(ENOTSUP, "this kernel's VFIO has no type 1 IOMMU");
	snprintf(path, sizeof(path), "/dev/vfio/%s", group);
	d->group = open(path, O_RDWR | O_CLOEXEC);
	if (d->group < 0)
		return FAIL(errno, "%s (its IOMMU group): %s", path, strerror(errno));
	struct vfio_group_status st = { .argsz = sizeof(st) };
	if (ioctl(d->group, VFIO_GROUP_GET_STATUS, &st) < 0 || !(st.flags & VFIO_GROUP_FLAGS_VIABLE))
		return FAIL(EBUSY, "IOMMU group %s is not viable: bind every device in "
			    "/sys/kernel/iommu_groups/%s/devices to vfio-pci", group, group);
	if (ioctl(d->group, VFIO_GROUP_SET_CONTAINER, &d->container) < 0 ||
	    ioctl(d->container, VFIO_SET_IOMMU, VFIO_TYPE1_IOMMU) < 0)
		return FAIL(errno, "IOMMU group %s: %s", group, strerror(errno));
	d->device = ioctl(d->group, VFIO_GROUP_GET_DEVICE_FD, bdf);
	if (d->device < 0)
		return FAIL(errno, "cannot open it through VFIO: %s", strerror(errno));
	return 0;
}

int source_vfio_open(const char *bdf, const char *want, source_line_fn add, void *arg,
		     char *why, size_t why_len)
{
	struct vfio_dev *d = calloc(1, sizeof(*d));
	if (!d)
		return FAIL(ENOMEM, "out of memory");
	d->container = d->group = d->device = -1;
	int r = dev_open(bdf, d, why, why_len);
	uint32_t count = 0;
	/* the type asked for, or the best the device has: MSI-X, MSI, INTx */
	for (int i = VFIO_PCI_MSIX_IRQ_INDEX; r == 0 && i >= VFIO_PCI_INTX_IRQ_INDEX && !count; i--) {
		if (want && strcmp(want, index_names[i]))
			continue;
		struct vfio_irq_info info = { .argsz = sizeof(info), .index = (uint32_t)i };
		if (ioctl(d->device, VFIO_DEVICE_GET_IRQ_INFO, &info) == 0 && info.count &&
		    (info.flags & VFIO_IRQ_INFO_EVENTFD)) {
			d->index = (uint32_t)i;
			count = info.count;
		}
	}
	if (r == 0 && !count)
		r = FAIL(ENOTSUP, "no %s interrupt VFIO can signal", want ? want : "");
	int *fds = r == 0 ? malloc(count * sizeof(int)) : NULL;
	if (r == 0 && !fds)
		r = FAIL(ENOMEM, "out of memory");
	uint32_t made = 0;
	for (; r == 0 && made < count; made++)
		if ((fds[made] = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) < 0)
			r = FAIL(errno, "eventfd: %s", strerror(errno));
	if (r == 0 && d->index != VFIO_PCI_INTX_IRQ_INDEX && (r = enable_bus_master(d)) < 0)
		snprintf(why, why_len, "cannot enable bus mastering: %s", strerror(-r));
	if (r == 0 && (r = set_triggers(d, 0, count, fds)) < 0)
		snprintf(why, why_len, "cannot enable %s: %s", index_names[d->index], strerror(-r));
	if (r < 0) {
		for (uint32_t i = 0; i < made; i++)
			close(fds[i]);
		free(fds);
		dev_close(d);
		return r;
	}
	/* each vector a line (its eventfd goes with it); the device lives while any does */
	d->refs = 1;
	for (uint32_t i = 0; i < count; i++) {
		char name[IRQD_NAME_MAX];
		bool intx = d->index == VFIO_PCI_INTX_IRQ_INDEX;
		if (intx)
			snprintf(name, sizeof(name), "vfio:%s/intx", bdf);
		else
			snprintf(name, sizeof(name), "vfio:%s/%s%u", bdf, index_names[d->index], i);
		struct vfio_vector *v = malloc(sizeof(*v));
		if (v)
			*v = (struct vfio_vector){ .dev = d, .vector = i };
		if (v && (r = add(arg, name, intx ? IRQD_LEVEL : IRQD_EDGE, fds[i],
				  &source_vfio_ops, v)) == 0) {
			d->refs++;
			continue;
		}
		free(v);
		for (uint32_t j = i; j < count; j++)
			close(fds[j]);
		r = FAIL(ENOSPC, "cannot add line %s", name);
		break;
	}
	free(fds);
	dev_put(d);
	return r;
}
