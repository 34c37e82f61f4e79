/* util/vfio.c - see vfio.h */
#include <errno.h>
#include <fcntl.h>
#include <linux/vfio.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "util/pci_sysfs.h"
#include "util/vfio.h"

#define FAIL(err, ...) (snprintf(why, why_len, __VA_ARGS__), -(err))

void vfio_device_close(struct vfio_device *d)
{
	if (d->device >= 0)
		close(d->device);
	if (d->group >= 0)
		close(d->group);
	if (d->container >= 0)
		close(d->container);
	d->device = d->group = d->container = -1;
}

static int device_open(struct vfio_device *d, const char *bdf, char *why, size_t why_len)
{
	char group[32], driver[64], path[64];
	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s", bdf);
	if (access(path, F_OK) < 0)
		return FAIL(ENODEV, "no such PCI device");
	if (pci_sysfs_link(bdf, "iommu_group", group, sizeof(group)) < 0)
		return FAIL(ENODEV, "no IOMMU group: enable the IOMMU (intel_iommu=on or "
			    "amd_iommu=on), or use the device through uio_pci_generic");
	if (pci_sysfs_link(bdf, "driver", driver, sizeof(driver)) < 0 || strcmp(driver, "vfio-pci"))
		return FAIL(ENODEV, "not bound to vfio-pci (echo vfio-pci > "
			    "/sys/bus/pci/devices/%s/driver_override; echo %s > "
			    "/sys/bus/pci/drivers_probe)", bdf, bdf);
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
	if (ioctl(d->group, VFIO_GROUP_SET_CONTAINER, &d->container) < 0)
		return FAIL(errno, "IOMMU group %s: %s", group, strerror(errno));
	if (ioctl(d->container, VFIO_SET_IOMMU, VFIO_TYPE1_IOMMU) < 0) {
		/* vfio_iommu_type1 refuses an IOMMU that cannot isolate interrupts */
		if (errno == EPERM)
			return FAIL(EPERM, "the IOMMU has no interrupt remapping, so VFIO will not give "
				    "the device's interrupts to user space (if you trust the device: "
				    "vfio_iommu_type1 allow_unsafe_interrupts=1; or use "
				    "uio_pci_generic)");
		return FAIL(errno, "IOMMU group %s: %s", group, strerror(errno));
	}
	d->device = ioctl(d->group, VFIO_GROUP_GET_DEVICE_FD, bdf);
	if (d->device < 0)
		return FAIL(errno, "cannot open it through VFIO: %s", strerror(errno));
	return 0;
}

int vfio_device_open(struct vfio_device *d, const char *bdf, char *why, size_t why_len)
{
	d->container = d->group = d->device = -1;
	int r = device_open(d, bdf, why, why_len);
	if (r < 0)
		vfio_device_close(d);
	return r;
}

uint32_t vfio_irq_count(struct vfio_device *d, uint32_t index)
{
	struct vfio_irq_info info = { .argsz = sizeof(info), .index = index };
	if (ioctl(d->device, VFIO_DEVICE_GET_IRQ_INFO, &info) < 0 ||
	    !(info.flags & VFIO_IRQ_INFO_EVENTFD))
		return 0;
	return info.count;
}

/* VFIO_DEVICE_SET_IRQS of `action` for vectors [start, start + n): with eventfds (fds), or none
 * (fds NULL, n 0). */
static int irq_set(struct vfio_device *d, uint32_t action, uint32_t index, uint32_t start,
		   uint32_t n, const int *fds)
{
	size_t sz = sizeof(struct vfio_irq_set) + (fds ? n * sizeof(int) : 0);
	struct vfio_irq_set *s = calloc(1, sz);
	if (!s)
		return -ENOMEM;
	*s = (struct vfio_irq_set){ .argsz = (uint32_t)sz, .index = index, .start = start,
				    .count = fds ? n : 0,
				    .flags = action | (fds ? VFIO_IRQ_SET_DATA_EVENTFD
							   : VFIO_IRQ_SET_DATA_NONE) };
	if (fds)
		memcpy(s->data, fds, n * sizeof(int));
	int r = ioctl(d->device, VFIO_DEVICE_SET_IRQS, s) < 0 ? -errno : 0;
	free(s);
	return r;
}

int vfio_irq_triggers(struct vfio_device *d, uint32_t index, uint32_t start, uint32_t n,
		      const int *fds)
{
	return irq_set(d, VFIO_IRQ_SET_ACTION_TRIGGER, index, start, n, fds);
}

int vfio_intx_unmask(struct vfio_device *d)
{
	struct vfio_irq_set s = { .argsz = sizeof(s), .index = VFIO_PCI_INTX_IRQ_INDEX,
				  .start = 0, .count = 1,
				  .flags = VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_UNMASK };
	return ioctl(d->device, VFIO_DEVICE_SET_IRQS, &s) < 0 ? -errno : 0;
}

int vfio_intx_unmask_eventfd(struct vfio_device *d, int efd)
{
	return irq_set(d, VFIO_IRQ_SET_ACTION_UNMASK, VFIO_PCI_INTX_IRQ_INDEX, 0, 1, &efd);
}

static int config_offset(struct vfio_device *d, off_t *off)
{
	struct vfio_region_info cfg = { .argsz = sizeof(cfg),
					.index = VFIO_PCI_CONFIG_REGION_INDEX };
	if (ioctl(d->device, VFIO_DEVICE_GET_REGION_INFO, &cfg) < 0)
		return -errno;
	*off = (off_t)cfg.offset;
	return 0;
}

int vfio_config_read(struct vfio_device *d, uint32_t offset, void *buf, size_t len)
{
	off_t base = 0;
	int r = config_offset(d, &base);
	if (r < 0)
		return r;
	return pread(d->device, buf, len, base + offset) == (ssize_t)len ? 0 : -EIO;
}

int vfio_config_write(struct vfio_device *d, uint32_t offset, const void *buf, size_t len)
{
	off_t base = 0;
	int r = config_offset(d, &base);
	if (r < 0)
		return r;
	return pwrite(d->device, buf, len, base + offset) == (ssize_t)len ? 0 : -EIO;
}

int vfio_bus_master(struct vfio_device *d)
{
	uint16_t cmd;
	int r = vfio_config_read(d, 4, &cmd, sizeof(cmd));
	if (r < 0)
		return r;
	cmd |= 0x4;
	return vfio_config_write(d, 4, &cmd, sizeof(cmd));
}

int vfio_dma_map(struct vfio_device *d, void *vaddr, uint64_t iova, uint64_t size)
{
	struct vfio_iommu_type1_dma_map m = { .argsz = sizeof(m),
					      .flags = VFIO_DMA_MAP_FLAG_READ |
						       VFIO_DMA_MAP_FLAG_WRITE,
					      .vaddr = (uintptr_t)vaddr, .iova = iova, .size = size };
	return ioctl(d->container, VFIO_IOMMU_MAP_DMA, &m) < 0 ? -errno : 0;
}

int vfio_dma_unmap(struct vfio_device *d, uint64_t iova, uint64_t size)
{
	struct vfio_iommu_type1_dma_unmap m = { .argsz = sizeof(m), .iova = iova, .size = size };
	return ioctl(d->container, VFIO_IOMMU_UNMAP_DMA, &m) < 0 ? -errno : 0;
}
