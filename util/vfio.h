/*
 * util/vfio.h - a PCI device through Linux VFIO (include/uapi/linux/vfio.h), for irqd's vfio
 * source, the virtio-pci transport and the guest tests: open it through its IOMMU group, its
 * interrupts (VFIO_DEVICE_SET_IRQS), its configuration space.
 */
#ifndef UTIL_VFIO_H
#define UTIL_VFIO_H

#include <stddef.h>
#include <stdint.h>

struct vfio_device {
	int container, group, device;
};

/* Opens the device at bdf ("0000:00:03.0") in a container of its own with the type 1 IOMMU.
 * 0, or -errno with the reason (what to do about it) in why. */
int vfio_device_open(struct vfio_device *d, const char *bdf, char *why, size_t why_len);
void vfio_device_close(struct vfio_device *d);

/* Vectors of interrupt type index (VFIO_PCI_{INTX,MSI,MSIX}_IRQ_INDEX) that VFIO can signal
 * through an eventfd; 0 if none. */
uint32_t vfio_irq_count(struct vfio_device *d, uint32_t index);
/* Trigger eventfds for vectors [start, start + n) of type index (fd -1: that vector none);
 * fds NULL: the type off. 0 or -errno. */
int vfio_irq_triggers(struct vfio_device *d, uint32_t index, uint32_t start, uint32_t n,
		      const int *fds);
/* INTx, masked by the kernel when it fired: unmask; or have efd unmask it when written. */
int vfio_intx_unmask(struct vfio_device *d);
int vfio_intx_unmask_eventfd(struct vfio_device *d, int efd);
/* Configuration space access (bytes at offset). */
int vfio_config_read(struct vfio_device *d, uint32_t offset, void *buf, size_t len);
int vfio_config_write(struct vfio_device *d, uint32_t offset, const void *buf, size_t len);
/* DMA: the device sees [vaddr, vaddr + size) of this process at iova (page-aligned). */
int vfio_dma_map(struct vfio_device *d, void *vaddr, uint64_t iova, uint64_t size);
int vfio_dma_unmap(struct vfio_device *d, uint64_t iova, uint64_t size);
/* MSI and MSI-X messages are memory writes by the device (PCI 3.0 section 6.8): they need Bus
 * Master Enable (command register bit 2), which VFIO leaves to the user. */
int vfio_bus_master(struct vfio_device *d);

#endif
