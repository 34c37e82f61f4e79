/*
 * The virtio 1.x PCI transport on GNU Mach (virtio_pci_mach.c): the modern virtio-pci
 * capabilities (virtio 1.2 §4.1.4) found through PCI configuration space on ports 0xCF8/0xCFC,
 * their BARs mapped through the kernel's "mem" device, and the DMA arena from
 * vm_allocate_contiguous (physically contiguous, below 4 GiB).
 *
 * It fills drivers/virtio/transport.h's struct virtio_dev and ops (the eventfd-shaped members
 * are unused here: queue_start's call_fd is ignored, irq_unmask_fd/watch_fd give -1), so a
 * driver talks to it as to the Linux transports, and drivers/virtio/virtqueue.c is used unchanged.
 *
 * Addresses. There is no IOMMU and VIRTIO_F_ACCESS_PLATFORM is never negotiated: the device
 * takes every address as a PHYSICAL one. virtqueue.c never dereferences a buffer address (the
 * caller puts device addresses into struct virtq_buf) and only reports the rings' addresses
 * through virtq_{desc,avail,used}_addr, which return the driver's virtual addresses; this
 * transport translates those in queue_start (vpm_phys), and drivers translate their buffers
 * with vpm_phys too. The arena is one physically contiguous piece, so the translation is
 * pa_base + (va - va_base).
 */
#ifndef MACH_VIRTIO_PCI_MACH_H
#define MACH_VIRTIO_PCI_MACH_H

#include <stddef.h>
#include <stdint.h>

#include "transport.h"

/* Opens the index-th (from 0) PCI function vendor:device (a modern virtio device,
 * 0x1040 + type), maps its structures, turns on memory decoding and bus mastering and
 * allocates an arena of arena_size bytes. 0 or a negative errno value (d->error says why; on
 * failure *out is NULL and the message is copied to errbuf). */
int vpm_open(uint16_t vendor, uint16_t device, int index, size_t arena_size,
	     struct virtio_dev **out, char *errbuf, size_t errlen);
/* The physical (device) address of a pointer into the arena; 0 if it is outside. */
uint64_t vpm_phys(const struct virtio_dev *d, const volatile void *p);
/* The PCI function and its INTx line (configuration register 0x3C). */
uint16_t vpm_bdf(const struct virtio_dev *d);
uint8_t vpm_intx_line(const struct virtio_dev *d);
/* INTx on or off (PCI command register bit 10, Interrupt Disable). A polling driver turns it
 * off: QEMU interrupts at the first used buffer even when the driver suppresses interrupts
 * (EVENT_IDX), and a level line nobody takes and nobody deasserts (ISR status unread) keeps the
 * CPU in the kernel's interrupt path. */
void vpm_intx(const struct virtio_dev *d, int on);
/* Arena placement, for messages. */
uint64_t vpm_arena_phys(const struct virtio_dev *d);

#endif
