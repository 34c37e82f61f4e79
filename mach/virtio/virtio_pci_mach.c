/*
 * virtio_pci_mach.c - the virtio 1.x PCI transport on GNU Mach (see virtio_pci_mach.h).
 * Section numbers are the virtio 1.2 specification's; the register layout is the one of
 * drivers/virtio-pci/virtio_pci.c (the VFIO transport), the means are Mach's.
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

/* §4.1.4: vendor-specific capabilities (PCI capability id 0x09) say where the structures are */
#define PCI_STATUS_CAPS 0x10
#define PCI_CAP_LIST 0x34
#define PCI_CAP_ID_VNDR 0x09
#define VIRTIO_PCI_CAP_COMMON_CFG 1
#define VIRTIO_PCI_CAP_NOTIFY_CFG 2
#define VIRTIO_PCI_CAP_ISR_CFG 3
#define VIRTIO_PCI_CAP_DEVICE_CFG 4

/* §4.1.4.3: struct virtio_pci_common_cfg */
#define COMMON_DFSELECT 0x00
#define COMMON_DF 0x04
#define COMMON_GFSELECT 0x08
#define COMMON_GF 0x0c
#define COMMON_MSIX 0x10
#define COMMON_NUMQ 0x12
#define COMMON_STATUS 0x14
#define COMMON_CFGGENERATION 0x15
#define COMMON_Q_SELECT 0x16
#define COMMON_Q_SIZE 0x18
#define COMMON_Q_MSIX 0x1a
#define COMMON_Q_ENABLE 0x1c
#define COMMON_Q_NOFF 0x1e
#define COMMON_Q_DESCLO 0x20
#define COMMON_Q_AVAILLO 0x28
#define COMMON_Q_USEDLO 0x30
#define VIRTIO_MSI_NO_VECTOR 0xffff

#define VPM_MAX_QUEUES 16
#define PAGE 4096ul

struct vpm_dev {
	struct virtio_dev dev;
	uint16_t bdf;
	uint8_t line;
	uint64_t bar_base[6], bar_size[6];
	volatile uint8_t *bar[6];
	volatile uint8_t *common, *device_cfg, *notify_base, *isr;
	uint32_t notify_mult;
	volatile uint16_t *notify[VPM_MAX_QUEUES];
	uint64_t arena_pa;
};

static struct vpm_dev *vp(struct virtio_dev *d)
{
	return (struct vpm_dev *)d;
}

static uint8_t rd8(struct vpm_dev *v, unsigned off) { return v->common[off]; }
static uint16_t rd16(struct vpm_dev *v, unsigned off)
{
	return *(volatile uint16_t *)(v->common + off);
}
static uint32_t rd32(struct vpm_dev *v, unsigned off)
{
	return *(volatile uint32_t *)(v->common + off);
}
static void wr8(struct vpm_dev *v, unsigned off, uint8_t x) { v->common[off] = x; }
static void wr16(struct vpm_dev *v, unsigned off, uint16_t x)
{
	*(volatile uint16_t *)(v->common + off) = x;
}
static void wr32(struct vpm_dev *v, unsigned off, uint32_t x)
{
	*(volatile uint32_t *)(v->common + off) = x;
}
/* §4.1.3.1: 64-bit fields as two 32-bit writes, low part first */
static void wr64(struct vpm_dev *v, unsigned off, uint64_t x)
{
	wr32(v, off, (uint32_t)x);
	wr32(v, off + 4, (uint32_t)(x >> 32));
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

/* §4.1.4.3.2: writing 0 resets; the reset is done when the status reads 0 again. */
static int vpm_reset(struct vpm_dev *v)
{
	wr8(v, COMMON_STATUS, 0);
	for (int i = 0; i < 100000; i++)
		if (rd8(v, COMMON_STATUS) == 0)
			return 0;
	return virtio_fail(&v->dev, -ETIMEDOUT, "%s: the device does not finish its reset",
			   v->dev.name);
}

/* §3.1.1 steps 1-6. No IOMMU: VIRTIO_F_ACCESS_PLATFORM is never accepted (the device then
 * takes our addresses as physical ones, which is what the descriptors carry). */
static int vpm_negotiate(struct virtio_dev *d, uint64_t wanted, uint64_t required)
{
	struct vpm_dev *v = vp(d);
	int r = vpm_reset(v);
	if (r < 0)
		return r;
	wr8(v, COMMON_STATUS, VIRTIO_STATUS_ACKNOWLEDGE);
	wr8(v, COMMON_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
	wr32(v, COMMON_DFSELECT, 0);
	uint64_t offered = rd32(v, COMMON_DF);
	wr32(v, COMMON_DFSELECT, 1);
	offered |= (uint64_t)rd32(v, COMMON_DF) << 32;
	uint64_t no = 1ull << VIRTIO_F_ACCESS_PLATFORM;
	if (required & no)
		return virtio_fail(d, -EINVAL, "%s: ACCESS_PLATFORM cannot be required on Mach "
				   "(no IOMMU)", d->name);
	uint64_t f = offered & (wanted | required) & ~no;
	if ((f & required) != required) {
		wr8(v, COMMON_STATUS, VIRTIO_STATUS_FAILED);
		return virtio_fail(d, -EOPNOTSUPP, "%s: the device lacks features 0x%llx", d->name,
				   (unsigned long long)(required & ~offered));
	}
	wr32(v, COMMON_GFSELECT, 0);
	wr32(v, COMMON_GF, (uint32_t)f);
	wr32(v, COMMON_GFSELECT, 1);
	wr32(v, COMMON_GF, (uint32_t)(f >> 32));
	uint8_t st = VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK;
	wr8(v, COMMON_STATUS, st);
	if (!(rd8(v, COMMON_STATUS) & VIRTIO_STATUS_FEATURES_OK)) {
		wr8(v, COMMON_STATUS, VIRTIO_STATUS_FAILED);
		return virtio_fail(d, -EOPNOTSUPP, "%s: the device refused features 0x%llx",
				   d->name, (unsigned long long)f);
	}
	wr16(v, COMMON_MSIX, VIRTIO_MSI_NO_VECTOR); /* MSI-X stays off: INTx */
	d->features = f;
	return 0;
}

/* §4.1.4.3.1: read until the configuration generation is the same before and after. */
static int vpm_read_config(struct virtio_dev *d, void *buf, uint32_t len)
{
	struct vpm_dev *v = vp(d);
	if (!v->device_cfg)
		return virtio_fail(d, -EOPNOTSUPP, "%s: no device configuration structure", d->name);
	uint8_t gen;
	do {
		gen = rd8(v, COMMON_CFGGENERATION);
		for (uint32_t i = 0; i < len; i++)
			((uint8_t *)buf)[i] = v->device_cfg[i];
	} while (gen != rd8(v, COMMON_CFGGENERATION));
	return 0;
}

/* §4.1.5.1.3: size, the rings' PHYSICAL addresses (virtqueue.c reports virtual ones: translated
 * here), no MSI-X vector (INTx), enable. call_fd means nothing on Mach. */
static int vpm_queue_start(struct virtio_dev *d, struct virtq *vq, int call_fd)
{
	struct vpm_dev *v = vp(d);
	uint16_t q = vq->index;
	(void)call_fd;
	if (q >= rd16(v, COMMON_NUMQ) || q >= VPM_MAX_QUEUES)
		return virtio_fail(d, -EINVAL, "%s: no queue %u (the device has %u)", d->name, q,
				   rd16(v, COMMON_NUMQ));
	uint64_t desc = vpm_phys(d, (void *)(uintptr_t)virtq_desc_addr(vq));
	uint64_t avail = vpm_phys(d, (void *)(uintptr_t)virtq_avail_addr(vq));
	uint64_t used = vpm_phys(d, (void *)(uintptr_t)virtq_used_addr(vq));
	if (!desc || !avail || !used)
		return virtio_fail(d, -EINVAL, "%s: queue %u's rings are not in the DMA arena",
				   d->name, q);
	wr16(v, COMMON_Q_SELECT, q);
	uint16_t max = rd16(v, COMMON_Q_SIZE);
	if (vq->num > max)
		return virtio_fail(d, -EINVAL, "%s: queue %u holds at most %u entries, not %u",
				   d->name, q, max, vq->num);
	wr16(v, COMMON_Q_SIZE, vq->num);
	wr64(v, COMMON_Q_DESCLO, desc);
	wr64(v, COMMON_Q_AVAILLO, avail);
	wr64(v, COMMON_Q_USEDLO, used);
	wr16(v, COMMON_Q_MSIX, VIRTIO_MSI_NO_VECTOR);
	/* §4.1.4.4: the queue's doorbell */
	v->notify[q] = (volatile uint16_t *)(v->notify_base +
					     (uint32_t)rd16(v, COMMON_Q_NOFF) * v->notify_mult);
	wr16(v, COMMON_Q_ENABLE, 1);
	return 0;
}

/* §4.1.5.2 (virtq_publish has fenced the ring updates before deciding to notify). */
static void vpm_notify(struct virtio_dev *d, struct virtq *vq)
{
	*vp(d)->notify[vq->index] = vq->index;
}

static int vpm_driver_ok(struct virtio_dev *d)
{
	struct vpm_dev *v = vp(d);
	wr8(v, COMMON_STATUS, rd8(v, COMMON_STATUS) | VIRTIO_STATUS_DRIVER_OK);
	if (rd8(v, COMMON_STATUS) & VIRTIO_STATUS_NEEDS_RESET)
		return virtio_fail(d, -EIO, "%s: the device needs a reset", d->name);
	return 0;
}

/* §4.1.4.5: reading the ISR status clears it and deasserts INTx; bit 0 a queue, bit 1 the
 * configuration. */
static int vpm_irq_ack(struct virtio_dev *d)
{
	struct vpm_dev *v = vp(d);
	return v->isr ? (*v->isr & 3) : 0;
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

static void vpm_close(struct virtio_dev *d)
{
	struct vpm_dev *v = vp(d);
	if (v->common)
		vpm_reset(v);
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
	.close = vpm_close,
	.irq_unmask_fd = vpm_none_fd,
	.irq_ack = vpm_irq_ack,
};

/* Where a capability's structure is, with its BAR mapped (once) through "mem". */
static volatile uint8_t *cap_struct(struct vpm_dev *v, uint8_t bar, uint32_t offset,
				    uint32_t length)
{
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

/* §4.1.4: the first common, notify, ISR and device configuration capabilities. */
static int find_structures(struct vpm_dev *v)
{
	if (!(mrt_pci_read16(v->bdf, MRT_PCI_STATUS) & PCI_STATUS_CAPS))
		return virtio_fail(&v->dev, -ENOENT, "%s: no capability list", v->dev.name);
	uint8_t at = mrt_pci_read8(v->bdf, PCI_CAP_LIST) & 0xfc;
	for (int guard = 0; at >= 0x40 && guard < 48; guard++) {
		uint8_t id = mrt_pci_read8(v->bdf, at), next = mrt_pci_read8(v->bdf, at + 1) & 0xfc;
		if (id == PCI_CAP_ID_VNDR) {
			uint8_t type = mrt_pci_read8(v->bdf, at + 3), bar = mrt_pci_read8(v->bdf, at + 4);
			uint32_t offset = mrt_pci_read32(v->bdf, at + 8);
			uint32_t length = mrt_pci_read32(v->bdf, at + 12);
			if (type == VIRTIO_PCI_CAP_COMMON_CFG && !v->common)
				v->common = cap_struct(v, bar, offset, length);
			else if (type == VIRTIO_PCI_CAP_DEVICE_CFG && !v->device_cfg)
				v->device_cfg = cap_struct(v, bar, offset, length);
			else if (type == VIRTIO_PCI_CAP_ISR_CFG && !v->isr)
				v->isr = cap_struct(v, bar, offset, length);
			else if (type == VIRTIO_PCI_CAP_NOTIFY_CFG && !v->notify_base) {
				v->notify_base = cap_struct(v, bar, offset, length);
				v->notify_mult = mrt_pci_read32(v->bdf, at + 16);
			}
		}
		at = next;
	}
	if (!v->common || !v->notify_base || !v->isr)
		return virtio_fail(&v->dev, -ENOENT, "%s: not a modern virtio-pci device (no common, "
				   "notify or ISR capability it can map)", v->dev.name);
	return 0;
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
	int r = find_structures(v);
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
