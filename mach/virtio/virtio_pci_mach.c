/*
 * virtio_pci_mach.c - the virtio 1.x PCI transport on GNU Mach (see virtio_pci_mach.h).
 * Section numbers are the virtio 1.2 specification's. The registers are drivers/virtio-pci/
 * modern.c's, shared with the Linux VFIO transport; what is Mach's: configuration space through
 * the I/O ports, BARs through "mem", physical DMA addresses, INTx.
 */
#include "virtio_pci_mach.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <mrt/mrt.h>
#include <mach/gnumach.h>
#include <mach/mach_interface.h>

#include "virtio.h"
#include "modern.h"

#define PCI_STATUS_CAPS 0x10
#define PAGE 4096ul

struct vpm_dev {
	struct virtio_dev dev;
	uint16_t bdf;
	uint8_t line;
	uint64_t bar_base[6], bar_size[6];
	volatile uint8_t *bar[6];
	struct vpci regs;
	uint64_t arena_pa;
};

static struct vpm_dev *vp(struct virtio_dev *d)
{
	return (struct vpm_dev *)d;
}

uint64_t vpm_phys(const struct virtio_dev *d, const volatile void *p)
{
	uintptr_t a = (uintptr_t)p, base = (uintptr_t)d->arena;
	if (a < base || a - base >= d->arena_size)
		return 0;
	return ((const struct vpm_dev *)d)->arena_pa + (a - base);
}

uint16_t vpm_bdf(const struct virtio_dev *d) { return ((const struct vpm_dev *)d)->bdf; }
uint8_t vpm_intx_line(const struct virtio_dev *d) { return ((const struct vpm_dev *)d)->line; }
void vpm_intx(const struct virtio_dev *d, int on)
{
	uint16_t bdf = ((const struct vpm_dev *)d)->bdf;
	uint16_t cmd = mrt_pci_read16(bdf, MRT_PCI_COMMAND);
	cmd = on ? (uint16_t)(cmd & ~MRT_PCI_CMD_INTX_DISABLE) : (uint16_t)(cmd | MRT_PCI_CMD_INTX_DISABLE);
	mrt_pci_write16(bdf, MRT_PCI_COMMAND, cmd);
}

uint64_t vpm_arena_phys(const struct virtio_dev *d) { return ((const struct vpm_dev *)d)->arena_pa; }

/* §3.1.1. No IOMMU: VIRTIO_F_ACCESS_PLATFORM is never accepted (the device then takes our
 * addresses as physical ones, which is what the descriptors carry). */
static int vpm_negotiate(struct virtio_dev *d, uint64_t wanted, uint64_t required)
{
	uint64_t no = 1ull << VIRTIO_F_ACCESS_PLATFORM;
	if (required & no)
		return virtio_fail(d, -EINVAL, "%s: ACCESS_PLATFORM cannot be required on Mach "
				   "(no IOMMU)", d->name);
	return vpci_negotiate(d, &vp(d)->regs, wanted, required, no);
}

static int vpm_read_config(struct virtio_dev *d, void *buf, uint32_t len)
{
	return vpci_read_config(d, &vp(d)->regs, buf, len);
}

/* §4.1.5.1.3: size, the rings' PHYSICAL addresses (virtqueue.c reports virtual ones: translated
 * here), no MSI-X vector (INTx), enable. call_fd means nothing on Mach. */
static int vpm_queue_start(struct virtio_dev *d, struct virtq *vq, int call_fd)
{
	struct vpm_dev *v = vp(d);
	(void)call_fd;
	uint64_t desc = vpm_phys(d, (void *)(uintptr_t)virtq_desc_addr(vq));
	uint64_t avail = vpm_phys(d, (void *)(uintptr_t)virtq_avail_addr(vq));
	uint64_t used = vpm_phys(d, (void *)(uintptr_t)virtq_used_addr(vq));
	if (!desc || !avail || !used)
		return virtio_fail(d, -EINVAL, "%s: queue %u's rings are not in the DMA arena",
				   d->name, vq->index);
	return vpci_queue(d, &v->regs, vq, desc, avail, used, VPCI_NO_VECTOR);
}

static void vpm_notify(struct virtio_dev *d, struct virtq *vq)
{
	vpci_notify(&vp(d)->regs, vq->index);
}

static int vpm_driver_ok(struct virtio_dev *d)
{
	return vpci_driver_ok(d, &vp(d)->regs);
}

static int vpm_irq_ack(struct virtio_dev *d)
{
	return vpci_isr(&vp(d)->regs);
}

static int vpm_none_fd(struct virtio_dev *d)
{
	(void)d;
	return -1;
}

static int vpm_reconnect(struct virtio_dev *d, int timeout_ms)
{
	(void)timeout_ms;
	return virtio_fail(d, -EOPNOTSUPP, "%s: a PCI device has nothing to reconnect to", d->name);
}

/* §2.4: after a reset the device uses none of its queues. */
static void vpm_stop(struct virtio_dev *d)
{
	if (vp(d)->regs.common)
		vpci_reset(d, &vp(d)->regs);
}

static void vpm_close(struct virtio_dev *d)
{
	struct vpm_dev *v = vp(d);
	vpm_stop(d);
	if (d->arena)
		(void)vm_deallocate(mach_task_self(), (vm_address_t)d->arena, d->arena_size);
	for (int i = 0; i < 6; i++)
		if (v->bar[i])
			(void)mrt_mmio_unmap(v->bar[i], v->bar_size[i]);
	free(v);
}

static const struct virtio_transport_ops vpm_ops = {
	.name = "virtio-pci-mach",
	.negotiate = vpm_negotiate,
	.read_config = vpm_read_config,
	.queue_start = vpm_queue_start,
	.notify = vpm_notify,
	.driver_ok = vpm_driver_ok,
	.watch_fd = vpm_none_fd,
	.reconnect = vpm_reconnect,
	.stop = vpm_stop,
	.close = vpm_close,
	.irq_unmask_fd = vpm_none_fd,
	.irq_ack = vpm_irq_ack,
};

/* The function as vpci_find reaches it: configuration space through the I/O ports, a BAR
 * mapped (once) through "mem". */
static uint32_t cfg_read(void *ctx, unsigned offset, unsigned size)
{
	struct vpm_dev *v = ctx;
	return size == 1 ? mrt_pci_read8(v->bdf, offset)
	       : size == 2 ? mrt_pci_read16(v->bdf, offset)
			   : mrt_pci_read32(v->bdf, offset);
}

static volatile uint8_t *bar_map(void *ctx, unsigned bar, uint32_t offset, uint32_t length)
{
	struct vpm_dev *v = ctx;
	if (bar > 5 || !v->bar_size[bar] || (uint64_t)offset + length > v->bar_size[bar])
		return NULL;
	if (!v->bar[bar]) {
		volatile void *va;
		if (mrt_mmio_map(v->bar_base[bar], v->bar_size[bar], &va) != KERN_SUCCESS)
			return NULL;
		v->bar[bar] = va;
	}
	return v->bar[bar] + offset;
}

/* Physically contiguous, page-aligned, below 4 GiB (the platform note: with pmax under the
 * machine's memory the kernel can panic; 4 GiB is above any -m used here). */
static int map_arena(struct vpm_dev *v, size_t size)
{
	vm_address_t va = 0;
	rpc_phys_addr_t pa = 0;
	size = (size + PAGE - 1) & ~(PAGE - 1);
	kern_return_t kr = vm_allocate_contiguous(mrt_host_priv, mach_task_self(), &va, &pa, size,
						  0, 0x100000000ull, PAGE);
	if (kr != KERN_SUCCESS)
		return virtio_fail(&v->dev, -ENOMEM, "%s: vm_allocate_contiguous(%lu bytes): 0x%x",
				   v->dev.name, (unsigned long)size, kr);
	v->dev.arena = (char *)va;
	v->dev.arena_size = size;
	v->arena_pa = pa;
	return 0;
}

static int vpm_setup(struct vpm_dev *v, uint16_t vendor, uint16_t device, int index,
		     size_t arena_size)
{
	if (mrt_pci_init() != KERN_SUCCESS)
		return virtio_fail(&v->dev, -EACCES, "no I/O permission for 0xcf8-0xcff");
	if (mrt_pci_find(vendor, device, index, &v->bdf) != 0)
		return virtio_fail(&v->dev, -ENOENT, "no PCI function %04x:%04x (#%d)", vendor,
				   device, index);
	snprintf(v->dev.name, sizeof v->dev.name, "pci:%02x:%02x.%x", MRT_PCI_BUS(v->bdf),
		 MRT_PCI_DEV(v->bdf), MRT_PCI_FN(v->bdf));
	if (vendor != 0x1af4 || device < 0x1040)
		return virtio_fail(&v->dev, -ENOENT, "%s: %04x:%04x is not a modern virtio device",
				   v->dev.name, vendor, device);
	for (int i = 0; i < 6; i++) {
		uint32_t flags;
		if (mrt_pci_bar(v->bdf, i, &v->bar_base[i], &v->bar_size[i], &flags) != 0 ||
		    (flags & 1)) {
			v->bar_base[i] = v->bar_size[i] = 0; /* empty, or I/O: not used */
			continue;
		}
		if ((flags & 6) == 4)
			i++; /* the upper half of a 64-bit BAR */
	}
	v->line = mrt_pci_read8(v->bdf, MRT_PCI_INTERRUPT_LINE);
	/* memory decoding, bus mastering (the device's DMA), INTx enabled */
	uint16_t cmd = mrt_pci_read16(v->bdf, MRT_PCI_COMMAND);
	cmd = (uint16_t)((cmd | MRT_PCI_CMD_MEM | MRT_PCI_CMD_MASTER) & ~MRT_PCI_CMD_INTX_DISABLE);
	mrt_pci_write16(v->bdf, MRT_PCI_COMMAND, cmd);
	if (!(mrt_pci_read16(v->bdf, MRT_PCI_STATUS) & PCI_STATUS_CAPS))
		return virtio_fail(&v->dev, -ENOENT, "%s: no capability list", v->dev.name);
	struct vpci_bus pci = { .cfg_read = cfg_read, .bar = bar_map, .ctx = v };
	int r = vpci_find(&v->dev, &v->regs, &pci);
	if (r < 0 || (r = map_arena(v, arena_size)) < 0)
		return r;
	return 0;
}

int vpm_open(uint16_t vendor, uint16_t device, int index, size_t arena_size,
	     struct virtio_dev **out, char *errbuf, size_t errlen)
{
	*out = NULL;
	struct vpm_dev *v = calloc(1, sizeof *v);
	if (!v) {
		snprintf(errbuf, errlen, "out of memory");
		return -ENOMEM;
	}
	v->dev.ops = &vpm_ops;
	snprintf(v->dev.name, sizeof v->dev.name, "pci:%04x:%04x", vendor, device);
	int r = vpm_setup(v, vendor, device, index, arena_size);
	if (r < 0) {
		if (errbuf)
			snprintf(errbuf, errlen, "%s", v->dev.error);
		vpm_close(&v->dev);
		return r;
	}
	*out = &v->dev;
	return 0;
}
