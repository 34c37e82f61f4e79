/*
 * virtio-pci/virtio_pci.c - the virtio 1.x PCI transport over VFIO (see virtio_pci.h).
 * Section numbers are the virtio 1.2 specification's.
 */
#include "virtio_pci.h"

#include <errno.h>
#include <linux/vfio.h>
#include <pciaccess.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

#include "../virtio/virtio.h"
#include "util/vfio.h"

/* §4.1.4: vendor-specific capabilities (PCI capability id 0x09) say where the structures are */
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

#define VP_MAX_QUEUES 64
/* The arena's place in our address space, and so on the device's side of the IOMMU: low, where
 * every IOMMU reaches (QEMU's intel-iommu translates 39 bits). */
#define ARENA_HINT 0x40000000ul

struct vp_dev {
	struct virtio_dev dev;
	struct vfio_device vfio;
	struct pci_device *pci;
	void *bar[6];
	volatile uint8_t *common, *device_cfg;
	volatile uint8_t *notify_base, *isr;
	uint32_t notify_mult;
	volatile uint16_t *notify[VP_MAX_QUEUES];
	uint32_t vectors;       /* MSI-X table size: vector 0 unused, queue i on vector i + 1 */
	bool intx;              /* no MSI-X (or too few vectors): every queue on INTx */
	int unmask_fd;          /* INTx: VFIO unmasks when it is written (irqd does, after answers) */
	bool dma_mapped;
};

static struct vp_dev *vp(struct virtio_dev *d)
{
	return (struct vp_dev *)d;
}

static uint8_t rd8(struct vp_dev *v, unsigned off)
{
	return v->common[off];
}
static uint16_t rd16(struct vp_dev *v, unsigned off)
{
	return *(volatile uint16_t *)(v->common + off);
}
static uint32_t rd32(struct vp_dev *v, unsigned off)
{
	return *(volatile uint32_t *)(v->common + off);
}
static void wr8(struct vp_dev *v, unsigned off, uint8_t x)
{
	v->common[off] = x;
}
static void wr16(struct vp_dev *v, unsigned off, uint16_t x)
{
	*(volatile uint16_t *)(v->common + off) = x;
}
static void wr32(struct vp_dev *v, unsigned off, uint32_t x)
{
	*(volatile uint32_t *)(v->common + off) = x;
}
/* §4.1.3.1: 64-bit fields as two 32-bit writes, low part first */
static void wr64(struct vp_dev *v, unsigned off, uint64_t x)
{
	wr32(v, off, (uint32_t)x);
	wr32(v, off + 4, (uint32_t)(x >> 32));
}

/* §4.1.4.3.2: writing 0 resets; the reset is done when the status reads 0 again. */
static int vp_reset(struct vp_dev *v)
{
	wr8(v, COMMON_STATUS, 0);
	for (int i = 0; i < 100000; i++)
		if (rd8(v, COMMON_STATUS) == 0)
			return 0;
	return virtio_fail(&v->dev, -ETIMEDOUT, "%s: the device does not finish its reset",
			   v->dev.name);
}

/* §3.1.1 steps 1-6. The device must translate its DMA through the IOMMU
 * (VIRTIO_F_ACCESS_PLATFORM): without it, it would take our addresses as physical ones. */
static int vp_negotiate(struct virtio_dev *d, uint64_t wanted, uint64_t required)
{
	struct vp_dev *v = vp(d);
	int r = vp_reset(v);
	if (r < 0)
		return r;
	wr8(v, COMMON_STATUS, VIRTIO_STATUS_ACKNOWLEDGE);
	wr8(v, COMMON_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
	wr32(v, COMMON_DFSELECT, 0);
	uint64_t offered = rd32(v, COMMON_DF);
	wr32(v, COMMON_DFSELECT, 1);
	offered |= (uint64_t)rd32(v, COMMON_DF) << 32;
	required |= 1ull << VIRTIO_F_ACCESS_PLATFORM;
	uint64_t f = offered & (wanted | required);
	if ((f & required) != required) {
		wr8(v, COMMON_STATUS, VIRTIO_STATUS_FAILED);
		if (!(offered & (1ull << VIRTIO_F_ACCESS_PLATFORM)))
			return virtio_fail(d, -ENOTSUP, "%s: the device does not translate its DMA "
					   "through the IOMMU (no VIRTIO_F_ACCESS_PLATFORM; QEMU: "
					   "iommu_platform=on)", d->name);
		return virtio_fail(d, -ENOTSUP, "%s: the device lacks features 0x%llx", d->name,
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
		return virtio_fail(d, -ENOTSUP, "%s: the device refused features 0x%llx", d->name,
				   (unsigned long long)f);
	}
	wr16(v, COMMON_MSIX, VIRTIO_MSI_NO_VECTOR); /* no configuration-change interrupts */
	d->features = f;
	return 0;
}

/* §4.1.4.3.1: read until the configuration generation is the same before and after. */
static int vp_read_config(struct virtio_dev *d, void *buf, uint32_t len)
{
	struct vp_dev *v = vp(d);
	if (!v->device_cfg)
		return virtio_fail(d, -ENOTSUP, "%s: no device configuration structure", d->name);
	uint8_t gen;
	do {
		gen = rd8(v, COMMON_CFGGENERATION);
		for (uint32_t i = 0; i < len; i++)
			((uint8_t *)buf)[i] = v->device_cfg[i];
	} while (gen != rd8(v, COMMON_CFGGENERATION));
	return 0;
}

/* §4.1.5.1.3: size, ring addresses, MSI-X vector (whose trigger is the call eventfd), enable.
 * On INTx the first queue's call eventfd is the trigger of the device's one interrupt. */
static int vp_queue_start(struct virtio_dev *d, struct virtq *vq, int call_fd)
{
	struct vp_dev *v = vp(d);
	uint16_t q = vq->index, vector = (uint16_t)(q + 1);
	if (q >= rd16(v, COMMON_NUMQ) || q >= VP_MAX_QUEUES)
		return virtio_fail(d, -EINVAL, "%s: no queue %u (the device has %u)", d->name, q,
				   rd16(v, COMMON_NUMQ));

	wr16(v, COMMON_Q_SELECT, q);
	uint16_t max = rd16(v, COMMON_Q_SIZE);
	if (vq->num > max)
		return virtio_fail(d, -EINVAL, "%s: queue %u holds at most %u entries, not %u",
				   d->name, q, max, vq->num);
	wr16(v, COMMON_Q_SIZE, vq->num);
	wr64(v, COMMON_Q_DESCLO, virtq_desc_addr(vq));
	wr64(v, COMMON_Q_AVAILLO, virtq_avail_addr(vq));
	wr64(v, COMMON_Q_USEDLO, virtq_used_addr(vq));
	int r = 0;
	if (v->intx && q == 0)
		r = vfio_irq_triggers(&v->vfio, VFIO_PCI_INTX_IRQ_INDEX, 0, 1, &call_fd);
	if (v->intx && q == 0 && r == 0)
		r = vfio_intx_unmask_eventfd(&v->vfio, v->unmask_fd);
	if (r < 0)
		return virtio_fail(d, r, "%s: INTx: %s", d->name, strerror(-r));
	if (!v->intx) {
		r = vfio_irq_triggers(&v->vfio, VFIO_PCI_MSIX_IRQ_INDEX, vector, 1, &call_fd);
		if (r < 0)
			return virtio_fail(d, r, "%s: MSI-X vector %u: %s", d->name, vector,
					   strerror(-r));
		wr16(v, COMMON_Q_MSIX, vector);
		if (rd16(v, COMMON_Q_MSIX) != vector)
			return virtio_fail(d, -EIO, "%s: queue %u refused MSI-X vector %u", d->name,
					   q, vector);
	}
	/* §4.1.4.4: the queue's doorbell */
	v->notify[q] = (volatile uint16_t *)(v->notify_base +
					     (uint32_t)rd16(v, COMMON_Q_NOFF) * v->notify_mult);
	wr16(v, COMMON_Q_ENABLE, 1);
	return 0;
}

/* §4.1.5.2: the queue's index written to its doorbell (virtq_publish has already fenced the
 * ring updates before deciding to notify). */
static void vp_notify(struct virtio_dev *d, struct virtq *vq)
{
	*vp(d)->notify[vq->index] = vq->index;
}

static int vp_driver_ok(struct virtio_dev *d)
{
	struct vp_dev *v = vp(d);
	wr8(v, COMMON_STATUS, rd8(v, COMMON_STATUS) | VIRTIO_STATUS_DRIVER_OK);
	if (rd8(v, COMMON_STATUS) & VIRTIO_STATUS_NEEDS_RESET)
		return virtio_fail(d, -EIO, "%s: the device needs a reset", d->name);
	return 0;
}

static int vp_irq_unmask_fd(struct virtio_dev *d)
{
	return vp(d)->intx ? vp(d)->unmask_fd : -1;
}

/* §4.1.4.5: reading the ISR status clears it and deasserts INTx; bit 0 a queue, bit 1 the
 * configuration. */
static int vp_irq_ack(struct virtio_dev *d)
{
	struct vp_dev *v = vp(d);
	return v->isr ? (*v->isr & 3) : 0;
}

static int vp_watch_fd(struct virtio_dev *d)
{
	(void)d;
	return -1; /* a PCI device does not go away under its driver */
}

static int vp_reconnect(struct virtio_dev *d, int timeout_ms)
{
	(void)timeout_ms;
	return virtio_fail(d, -ENOTSUP, "%s: a PCI device has nothing to reconnect to", d->name);
}

static void vp_close(struct virtio_dev *d)
{
	struct vp_dev *v = vp(d);
	if (v->common)
		vp_reset(v);
	if (v->vfio.device >= 0)
		vfio_irq_triggers(&v->vfio, v->intx ? VFIO_PCI_INTX_IRQ_INDEX : VFIO_PCI_MSIX_IRQ_INDEX,
				  0, 0, NULL);
	if (v->unmask_fd >= 0)
		close(v->unmask_fd);
	if (v->dma_mapped)
		vfio_dma_unmap(&v->vfio, (uintptr_t)d->arena, d->arena_size);
	vfio_device_close(&v->vfio);
	if (d->arena)
		munmap(d->arena, d->arena_size);
	for (int i = 0; i < 6; i++)
		if (v->bar[i])
			pci_device_unmap_range(v->pci, v->bar[i], v->pci->regions[i].size);
	free(v);
}

static const struct virtio_transport_ops virtio_pci_ops = {
	.name = "virtio-pci",
	.negotiate = vp_negotiate,
	.read_config = vp_read_config,
	.queue_start = vp_queue_start,
	.notify = vp_notify,
	.driver_ok = vp_driver_ok,
	.watch_fd = vp_watch_fd,
	.reconnect = vp_reconnect,
	.close = vp_close,
	.irq_unmask_fd = vp_irq_unmask_fd,
	.irq_ack = vp_irq_ack,
};

/* Where a capability's structure is, with its BAR mapped (once). */
static volatile uint8_t *cap_struct(struct vp_dev *v, uint8_t bar, uint32_t offset,
				    uint32_t length)
{
	if (bar > 5 || !v->pci->regions[bar].size ||
	    (uint64_t)offset + length > v->pci->regions[bar].size)
		return NULL;
	if (!v->bar[bar] &&
	    pci_device_map_range(v->pci, v->pci->regions[bar].base_addr, v->pci->regions[bar].size,
				 PCI_DEV_MAP_FLAG_WRITABLE, &v->bar[bar]) != 0)
		return NULL;
	return (volatile uint8_t *)v->bar[bar] + offset;
}

/* §4.1.4: the first common, notify and device configuration capabilities. */
static int find_structures(struct vp_dev *v)
{
	uint8_t at = 0;
	pci_device_cfg_read_u8(v->pci, &at, PCI_CAP_LIST);
	for (int guard = 0; at >= 0x40 && guard < 48; guard++) {
		uint8_t id, next, type, bar;
		uint32_t offset, length;
		pci_device_cfg_read_u8(v->pci, &id, at);
		pci_device_cfg_read_u8(v->pci, &next, at + 1);
		if (id == PCI_CAP_ID_VNDR) {
			pci_device_cfg_read_u8(v->pci, &type, at + 3);
			pci_device_cfg_read_u8(v->pci, &bar, at + 4);
			pci_device_cfg_read_u32(v->pci, &offset, at + 8);
			pci_device_cfg_read_u32(v->pci, &length, at + 12);
			if (type == VIRTIO_PCI_CAP_COMMON_CFG && !v->common)
				v->common = cap_struct(v, bar, offset, length);
			else if (type == VIRTIO_PCI_CAP_DEVICE_CFG && !v->device_cfg)
				v->device_cfg = cap_struct(v, bar, offset, length);
			else if (type == VIRTIO_PCI_CAP_ISR_CFG && !v->isr)
				v->isr = cap_struct(v, bar, offset, length);
			else if (type == VIRTIO_PCI_CAP_NOTIFY_CFG && !v->notify_base) {
				v->notify_base = cap_struct(v, bar, offset, length);
				pci_device_cfg_read_u32(v->pci, &v->notify_mult, at + 16);
			}
		}
		at = next;
	}
	if (!v->common || !v->notify_base)
		return virtio_fail(&v->dev, -ENODEV, "%s: not a modern virtio-pci device (no common "
				   "or notify capability it can map)", v->dev.name);
	return 0;
}

/* The arena low in our address space (ARENA_HINT onwards), given to the device at the same
 * address through the IOMMU. */
static int map_arena(struct vp_dev *v, size_t size)
{
	size = (size + 0x1fffff) & ~(size_t)0x1fffff;
	void *p = MAP_FAILED;
	for (uintptr_t at = ARENA_HINT; p == MAP_FAILED && at < (1ul << 38); at += 0x40000000ul)
		p = mmap((void *)at, size, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE | MAP_POPULATE, -1, 0);
	if (p == MAP_FAILED)
		return virtio_fail(&v->dev, -errno, "%s: DMA arena of %zu bytes: %s", v->dev.name,
				   size, strerror(errno));
	v->dev.arena = p;
	v->dev.arena_size = size;
	int r = vfio_dma_map(&v->vfio, p, (uintptr_t)p, size);
	if (r < 0)
		return virtio_fail(&v->dev, r, "%s: IOMMU mapping of the arena: %s", v->dev.name,
				   strerror(-r));
	v->dma_mapped = true;
	return 0;
}

static int vp_open(struct vp_dev *v, const char *bdf, size_t arena_size)
{
	static bool pci_ready;
	unsigned dom, bus, dev, fn;
	if (sscanf(bdf, "%x:%x:%x.%x", &dom, &bus, &dev, &fn) != 4)
		return virtio_fail(&v->dev, -EINVAL, "'%s' is not a PCI address like 0000:00:05.0",
				   bdf);
	if (!pci_ready && pci_system_init() != 0)
		return virtio_fail(&v->dev, -ENODEV, "%s: libpciaccess cannot start", v->dev.name);
	pci_ready = true;
	v->pci = pci_device_find_by_slot(dom, bus, dev, fn);
	if (!v->pci || pci_device_probe(v->pci) != 0)
		return virtio_fail(&v->dev, -ENODEV, "%s: no such PCI device", v->dev.name);
	if (v->pci->vendor_id != 0x1af4 || v->pci->device_id < 0x1040)
		return virtio_fail(&v->dev, -ENODEV, "%s: %04x:%04x is not a modern virtio device",
				   v->dev.name, v->pci->vendor_id, v->pci->device_id);
	char why[256];
	int r = vfio_device_open(&v->vfio, bdf, why, sizeof(why));
	if (r < 0)
		return virtio_fail(&v->dev, r, "%s: %s", v->dev.name, why);
	if ((r = find_structures(v)) < 0 || (r = map_arena(v, arena_size)) < 0)
		return r;
	/* MSI-X on, every vector without a trigger yet (queue_start gives each its eventfd):
	 * the device accepts a queue's vector only while MSI-X is enabled. Without MSI-X (or
	 * with too few vectors for a queue each), INTx. */
	v->vectors = vfio_irq_count(&v->vfio, VFIO_PCI_MSIX_IRQ_INDEX);
	uint16_t queues = rd16(v, COMMON_NUMQ);
	/* the device's DMA (and MSI-X messages) need bus mastering */
	if ((r = vfio_bus_master(&v->vfio)) < 0)
		return virtio_fail(&v->dev, r, "%s: bus mastering: %s", v->dev.name, strerror(-r));
	if (v->vectors < (uint32_t)queues + 1u) {
		if (!v->isr || !vfio_irq_count(&v->vfio, VFIO_PCI_INTX_IRQ_INDEX))
			return virtio_fail(&v->dev, -ENOTSUP, "%s: %u MSI-X vectors for %u queues, "
					   "and no INTx", v->dev.name, v->vectors, queues);
		v->intx = true;
		v->unmask_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		return v->unmask_fd < 0 ? virtio_fail(&v->dev, -errno, "%s: eventfd: %s",
						      v->dev.name, strerror(errno))
					: 0;
	}
	int *none = calloc(v->vectors ? v->vectors : 1, sizeof(int));
	for (uint32_t i = 0; none && i < v->vectors; i++)
		none[i] = -1;
	if (!none)
		return virtio_fail(&v->dev, -ENOMEM, "%s: out of memory", v->dev.name);
	r = vfio_irq_triggers(&v->vfio, VFIO_PCI_MSIX_IRQ_INDEX, 0, v->vectors, none);
	free(none);
	if (r < 0)
		return virtio_fail(&v->dev, r, "%s: MSI-X (%u vectors): %s", v->dev.name,
				   v->vectors, strerror(-r));
	return 0;
}

int virtio_pci_open(const char *bdf, size_t arena_size, struct virtio_dev **out, char *errbuf,
		    size_t errlen)
{
	*out = NULL;
	struct vp_dev *v = calloc(1, sizeof(*v));
	if (!v) {
		snprintf(errbuf, errlen, "out of memory");
		return -ENOMEM;
	}
	v->dev.ops = &virtio_pci_ops;
	v->vfio = (struct vfio_device){ .container = -1, .group = -1, .device = -1 };
	v->unmask_fd = -1;
	snprintf(v->dev.name, sizeof(v->dev.name), "vfio:%.40s", bdf);
	int r = vp_open(v, bdf, arena_size);
	if (r < 0) {
		if (errbuf)
			snprintf(errbuf, errlen, "%s", v->dev.error);
		vp_close(&v->dev);
		return r;
	}
	*out = &v->dev;
	return 0;
}
