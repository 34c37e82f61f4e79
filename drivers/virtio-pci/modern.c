/*
 * virtio-pci/modern.c - the modern virtio-pci register interface (see modern.h). Section
 * numbers are the virtio 1.2 specification's.
 */
#include "modern.h"

#include <errno.h>

#include "../virtio/virtio.h"

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

static uint8_t rd8(struct vpci *p, unsigned off)
{
	return p->common[off];
}
static uint16_t rd16(struct vpci *p, unsigned off)
{
	return *(volatile uint16_t *)(p->common + off);
}
static uint32_t rd32(struct vpci *p, unsigned off)
{
	return *(volatile uint32_t *)(p->common + off);
}
static void wr8(struct vpci *p, unsigned off, uint8_t x)
{
	p->common[off] = x;
}
static void wr16(struct vpci *p, unsigned off, uint16_t x)
{
	*(volatile uint16_t *)(p->common + off) = x;
}
static void wr32(struct vpci *p, unsigned off, uint32_t x)
{
	*(volatile uint32_t *)(p->common + off) = x;
}
/* §4.1.3.1: 64-bit fields as two 32-bit writes, low part first */
static void wr64(struct vpci *p, unsigned off, uint64_t x)
{
	wr32(p, off, (uint32_t)x);
	wr32(p, off + 4, (uint32_t)(x >> 32));
}

int vpci_find(struct virtio_dev *d, struct vpci *p, const struct vpci_bus *bus)
{
	unsigned at = bus->cfg_read(bus->ctx, PCI_CAP_LIST, 1) & 0xfc;
	for (int guard = 0; at >= 0x40 && guard < 48; guard++) {
		unsigned id = bus->cfg_read(bus->ctx, at, 1), next = bus->cfg_read(bus->ctx, at + 1, 1);
		if (id == PCI_CAP_ID_VNDR) {
			unsigned type = bus->cfg_read(bus->ctx, at + 3, 1);
			unsigned bar = bus->cfg_read(bus->ctx, at + 4, 1);
			uint32_t offset = bus->cfg_read(bus->ctx, at + 8, 4);
			uint32_t length = bus->cfg_read(bus->ctx, at + 12, 4);
			volatile uint8_t **slot = type == VIRTIO_PCI_CAP_COMMON_CFG ? &p->common
						  : type == VIRTIO_PCI_CAP_DEVICE_CFG ? &p->device_cfg
						  : type == VIRTIO_PCI_CAP_ISR_CFG    ? &p->isr
						  : type == VIRTIO_PCI_CAP_NOTIFY_CFG ? &p->notify_base
										      : NULL;
			if (slot && !*slot) {
				*slot = bus->bar(bus->ctx, bar, offset, length);
				if (type == VIRTIO_PCI_CAP_NOTIFY_CFG)
					p->notify_mult = bus->cfg_read(bus->ctx, at + 16, 4);
			}
		}
		at = next & 0xfc;
	}
	if (!p->common || !p->notify_base || !p->isr)
		return virtio_fail(d, -ENODEV, "%s: not a modern virtio-pci device (no common, notify "
				   "or ISR capability it can map)", d->name);
	return 0;
}

int vpci_reset(struct virtio_dev *d, struct vpci *p)
{
	wr8(p, COMMON_STATUS, 0);
	for (int i = 0; i < 100000; i++)
		if (rd8(p, COMMON_STATUS) == 0)
			return 0;
	return virtio_fail(d, -ETIMEDOUT, "%s: the device does not finish its reset", d->name);
}

int vpci_negotiate(struct virtio_dev *d, struct vpci *p, uint64_t wanted, uint64_t required,
		   uint64_t refused)
{
	int r = vpci_reset(d, p);
	if (r < 0)
		return r;
	wr8(p, COMMON_STATUS, VIRTIO_STATUS_ACKNOWLEDGE);
	wr8(p, COMMON_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
	wr32(p, COMMON_DFSELECT, 0);
	uint64_t offered = rd32(p, COMMON_DF);
	wr32(p, COMMON_DFSELECT, 1);
	offered |= (uint64_t)rd32(p, COMMON_DF) << 32;
	uint64_t f = offered & (wanted | required) & ~refused;
	if ((f & required) != required) {
		wr8(p, COMMON_STATUS, VIRTIO_STATUS_FAILED);
		if ((required & ~offered) & (1ull << VIRTIO_F_ACCESS_PLATFORM))
			return virtio_fail(d, -ENOTSUP, "%s: the device does not translate its DMA "
					   "through the IOMMU (no VIRTIO_F_ACCESS_PLATFORM; QEMU: "
					   "iommu_platform=on)", d->name);
		return virtio_fail(d, -ENOTSUP, "%s: the device lacks features 0x%llx", d->name,
				   (unsigned long long)(required & ~f));
	}
	wr32(p, COMMON_GFSELECT, 0);
	wr32(p, COMMON_GF, (uint32_t)f);
	wr32(p, COMMON_GFSELECT, 1);
	wr32(p, COMMON_GF, (uint32_t)(f >> 32));
	wr8(p, COMMON_STATUS,
	    VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK);
	if (!(rd8(p, COMMON_STATUS) & VIRTIO_STATUS_FEATURES_OK)) {
		wr8(p, COMMON_STATUS, VIRTIO_STATUS_FAILED);
		return virtio_fail(d, -ENOTSUP, "%s: the device refused features 0x%llx", d->name,
				   (unsigned long long)f);
	}
	wr16(p, COMMON_MSIX, VPCI_NO_VECTOR); /* no configuration-change interrupts */
	d->features = f;
	return 0;
}

int vpci_read_config(struct virtio_dev *d, struct vpci *p, void *buf, uint32_t len)
{
	if (!p->device_cfg)
		return virtio_fail(d, -ENOTSUP, "%s: no device configuration structure", d->name);
	uint8_t gen;
	do {
		gen = rd8(p, COMMON_CFGGENERATION);
		for (uint32_t i = 0; i < len; i++)
			((uint8_t *)buf)[i] = p->device_cfg[i];
	} while (gen != rd8(p, COMMON_CFGGENERATION));
	return 0;
}

uint16_t vpci_num_queues(struct vpci *p)
{
	return rd16(p, COMMON_NUMQ);
}

int vpci_queue(struct virtio_dev *d, struct vpci *p, const struct virtq *vq, uint64_t desc,
	       uint64_t avail, uint64_t used, uint16_t vector)
{
	uint16_t q = vq->index;
	if (q >= vpci_num_queues(p) || q >= VPCI_MAX_QUEUES)
		return virtio_fail(d, -EINVAL, "%s: no queue %u (the device has %u)", d->name, q,
				   vpci_num_queues(p));
	wr16(p, COMMON_Q_SELECT, q);
	uint16_t max = rd16(p, COMMON_Q_SIZE);
	if (vq->num > max)
		return virtio_fail(d, -EINVAL, "%s: queue %u holds at most %u entries, not %u",
				   d->name, q, max, vq->num);
	wr16(p, COMMON_Q_SIZE, vq->num);
	wr64(p, COMMON_Q_DESCLO, desc);
	wr64(p, COMMON_Q_AVAILLO, avail);
	wr64(p, COMMON_Q_USEDLO, used);
	wr16(p, COMMON_Q_MSIX, (uint16_t)vector);
	if (rd16(p, COMMON_Q_MSIX) != vector)
		return virtio_fail(d, -EIO, "%s: queue %u refused MSI-X vector %u", d->name, q,
				   vector);
	/* §4.1.4.4: the queue's doorbell */
	p->notify[q] = (volatile uint16_t *)(p->notify_base +
					     (uint32_t)rd16(p, COMMON_Q_NOFF) * p->notify_mult);
	wr16(p, COMMON_Q_ENABLE, 1);
	return 0;
}

void vpci_notify(struct vpci *p, uint16_t q)
{
	*p->notify[q] = q;
}

int vpci_driver_ok(struct virtio_dev *d, struct vpci *p)
{
	wr8(p, COMMON_STATUS, rd8(p, COMMON_STATUS) | VIRTIO_STATUS_DRIVER_OK);
	if (rd8(p, COMMON_STATUS) & VIRTIO_STATUS_NEEDS_RESET)
		return virtio_fail(d, -EIO, "%s: the device needs a reset", d->name);
	return 0;
}

int vpci_isr(struct vpci *p)
{
	return *p->isr & 3;
}
