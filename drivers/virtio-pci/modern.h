/*
 * virtio-pci/modern.h - the register interface of a modern virtio-pci device (virtio 1.2 §4.1),
 * apart from how a platform reaches the device: the capability walk (§4.1.4), reset, feature
 * negotiation, the device configuration, a queue's setup, its doorbell, the ISR status. The
 * VFIO transport on Linux (virtio_pci.c) and the GNU Mach transport (mach/virtio) give it their
 * configuration-space reads and BAR mappings and keep only what is theirs: DMA and interrupts.
 */
#ifndef VIRTIO_PCI_MODERN_H
#define VIRTIO_PCI_MODERN_H

#include <stdint.h>

#include "../virtio/transport.h"

#define VPCI_MAX_QUEUES 64
#define VPCI_NO_VECTOR 0xffffu

/* The device's structures, once found. */
struct vpci {
	volatile uint8_t *common, *device_cfg, *notify_base, *isr;
	uint32_t notify_mult;
	volatile uint16_t *notify[VPCI_MAX_QUEUES];
};

/* How the platform reaches the function: configuration space reads (size 1, 2 or 4 bytes), and
 * bytes [offset, offset + length) of a memory BAR mapped (NULL if it cannot be). */
struct vpci_bus {
	uint32_t (*cfg_read)(void *ctx, unsigned offset, unsigned size);
	volatile uint8_t *(*bar)(void *ctx, unsigned bar, uint32_t offset, uint32_t length);
	void *ctx;
};

/* §4.1.4: the first common, notify, ISR and device configuration capabilities. -ENODEV (with
 * d->error) unless the common, notify and ISR structures could be mapped. */
int vpci_find(struct virtio_dev *d, struct vpci *p, const struct vpci_bus *bus);
/* §4.1.4.3.2: reset, and wait until the device says it is done. */
int vpci_reset(struct virtio_dev *d, struct vpci *p);
/* §3.1.1 steps 1-6: features offered & (wanted | required), minus `refused` (features this
 * platform cannot honour); -ENOTSUP if a required one is missing (VIRTIO_F_ACCESS_PLATFORM
 * explained). The configuration-change interrupt is left off. Sets d->features. */
int vpci_negotiate(struct virtio_dev *d, struct vpci *p, uint64_t wanted, uint64_t required,
		   uint64_t refused);
/* §4.1.4.3.1: bytes 0..len of the device configuration, consistent across a change. */
int vpci_read_config(struct virtio_dev *d, struct vpci *p, void *buf, uint32_t len);
uint16_t vpci_num_queues(struct vpci *p);
/* §4.1.5.1.3: queue vq's size and ring addresses as the device sees them, its MSI-X vector
 * (VPCI_NO_VECTOR: none) checked, its doorbell, then the queue enabled. */
int vpci_queue(struct virtio_dev *d, struct vpci *p, const struct virtq *vq, uint64_t desc,
	       uint64_t avail, uint64_t used, uint16_t vector);
/* §4.1.5.2: the doorbell (virtq_publish fenced the ring updates before deciding to notify). */
void vpci_notify(struct vpci *p, uint16_t q);
int vpci_driver_ok(struct virtio_dev *d, struct vpci *p);
/* §4.1.4.5: the ISR status, read and so cleared (INTx deasserted): bit 0 a queue, bit 1 the
 * configuration. */
int vpci_isr(struct vpci *p);

#endif
