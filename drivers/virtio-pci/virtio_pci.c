/*
 * virtio-pci/virtio_pci.c - the virtio 1.x PCI transport over VFIO (see virtio_pci.h).
 * Section numbers are the virtio 1.2 specification's.
 */
#include "virtio_pci.h"
#include "modern.h"

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

/* The arena's place in our address space, and so on the device's side of the IOMMU: low, where
 * every IOMMU reaches (QEMU's intel-iommu translates 39 bits). */
#define ARENA_HINT 0x40000000ul

struct vp_dev {
	struct virtio_dev dev;
	struct vfio_device vfio;
	struct pci_device *pci;
	void *bar[6];
	struct vpci regs;
	uint32_t vectors;       /* MSI-X table size: vector 0 unused, queue i on vector i + 1 */
	bool intx;              /* no MSI-X (or too few vectors): every queue on INTx */
	int unmask_fd;          /* INTx: VFIO unmasks when it is written (irqd does, after answers) */
	bool dma_mapped;
};

static struct vp_dev *vp(struct virtio_dev *d)
{
	return (struct vp_dev *)d;
}

/* §3.1.1: the device must translate its DMA through the IOMMU (VIRTIO_F_ACCESS_PLATFORM):
 * without it, it would take our addresses as physical ones. */
static int vp_negotiate(struct virtio_dev *d, uint64_t wanted, uint64_t required)
{
	return vpci_negotiate(d, &vp(d)->regs, wanted,
			      required | (1ull << VIRTIO_F_ACCESS_PLATFORM), 0);
}

static int vp_read_config(struct virtio_dev *d, void *buf, uint32_t len)
{
	return vpci_read_config(d, &vp(d)->regs, buf, len);
}

/* §4.1.5.1.3: size, ring addresses, MSI-X vector (whose trigger is the call eventfd), enable.
 * On INTx the first queue's call eventfd is the trigger of the device's one interrupt. */
static int vp_queue_start(struct virtio_dev *d, struct virtq *vq, int call_fd)
{
	struct vp_dev *v = vp(d);
	uint16_t q = vq->index, vector = v->intx ? VPCI_NO_VECTOR : (uint16_t)(q + 1);
	int r = 0;
	if (v->intx && q == 0)
		r = vfio_irq_triggers(&v->vfio, VFIO_PCI_INTX_IRQ_INDEX, 0, 1, &call_fd);
	if (v->intx && q == 0 && r == 0)
		r = vfio_intx_unmask_eventfd(&v->vfio, v->unmask_fd);
	/* the vector's trigger before the device is told to use it */
	if (!v->intx && vector < v->vectors)
		r = vfio_irq_triggers(&v->vfio, VFIO_PCI_MSIX_IRQ_INDEX, vector, 1, &call_fd);
	if (r < 0)
		return virtio_fail(d, r, "%s: queue %u's interrupt: %s", d->name, q, strerror(-r));
	return vpci_queue(d, &v->regs, vq, virtq_desc_addr(vq), virtq_avail_addr(vq),
			  virtq_used_addr(vq), vector);
}

static void vp_notify(struct virtio_dev *d, struct virtq *vq)
{
	vpci_notify(&vp(d)->regs, vq->index);
}

static int vp_driver_ok(struct virtio_dev *d)
{
	return vpci_driver_ok(d, &vp(d)->regs);
}

static int vp_irq_unmask_fd(struct virtio_dev *d)
{
	return vp(d)->intx ? vp(d)->unmask_fd : -1;
}

/* §4.1.4.5: reading the ISR status clears it and deasserts INTx; bit 0 a queue, bit 1 the
 * configuration. */
static int vp_irq_ack(struct virtio_dev *d)
{
	return vpci_isr(&vp(d)->regs);
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

/* §2.4: after a reset the device uses none of its queues. */
static void vp_stop(struct virtio_dev *d)
{
	if (vp(d)->regs.common)
		vpci_reset(d, &vp(d)->regs);
}

static void vp_close(struct virtio_dev *d)
{
	struct vp_dev *v = vp(d);
	vp_stop(d);
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
	.stop = vp_stop,
	.close = vp_close,
	.irq_unmask_fd = vp_irq_unmask_fd,
	.irq_ack = vp_irq_ack,
};

/* The function as vpci_find reaches it: configuration space and BARs through libpciaccess. */
static uint32_t cfg_read(void *ctx, unsigned offset, unsigned size)
{
	struct vp_dev *v = ctx;
	uint8_t b = 0;
	uint16_t w = 0;
	uint32_t l = 0;
	if (size == 1)
		return pci_device_cfg_read_u8(v->pci, &b, offset) == 0 ? b : 0;
	if (size == 2)
		return pci_device_cfg_read_u16(v->pci, &w, offset) == 0 ? w : 0;
	return pci_device_cfg_read_u32(v->pci, &l, offset) == 0 ? l : 0;
}

static volatile uint8_t *bar_map(void *ctx, unsigned bar, uint32_t offset, uint32_t length)
{
	struct vp_dev *v = ctx;
	if (bar > 5 || !v->pci->regions[bar].size ||
	    (uint64_t)offset + length > v->pci->regions[bar].size)
		return NULL;
	if (!v->bar[bar] &&
	    pci_device_map_range(v->pci, v->pci->regions[bar].base_addr, v->pci->regions[bar].size,
				 PCI_DEV_MAP_FLAG_WRITABLE, &v->bar[bar]) != 0)
		return NULL;
	return (volatile uint8_t *)v->bar[bar] + offset;
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
	struct vpci_bus pci = { .cfg_read = cfg_read, .bar = bar_map, .ctx = v };
	if ((r = vpci_find(&v->dev, &v->regs, &pci)) < 0 || (r = map_arena(v, arena_size)) < 0)
		return r;
	/* MSI-X on, every vector without a trigger yet (queue_start gives each its eventfd):
	 * the device accepts a queue's vector only while MSI-X is enabled. Without MSI-X (or
	 * with too few vectors for a queue each), INTx. */
	v->vectors = vfio_irq_count(&v->vfio, VFIO_PCI_MSIX_IRQ_INDEX);
	uint16_t queues = vpci_num_queues(&v->regs);
	/* the device's DMA (and MSI-X messages) need bus mastering */
	if ((r = vfio_bus_master(&v->vfio)) < 0)
		return virtio_fail(&v->dev, r, "%s: bus mastering: %s", v->dev.name, strerror(-r));
	if (v->vectors < (uint32_t)queues + 1u) {
		if (!vfio_irq_count(&v->vfio, VFIO_PCI_INTX_IRQ_INDEX))
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
