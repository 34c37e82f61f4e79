/*
 * virtio-pci/virtio_pci.h - the virtio 1.x PCI transport (virtio 1.2 §4.1, "modern" devices
 * only) for a device bound to vfio-pci: libpciaccess finds the device, reads its capability
 * list and maps the BARs that hold the common, notify and device configuration structures;
 * VFIO maps the DMA arena through the IOMMU (device address = our virtual address) and turns
 * each queue's MSI-X vector into the call eventfd the driver hands to irqd as a line.
 */
#ifndef VIRTIO_PCI_H
#define VIRTIO_PCI_H

#include "../virtio/transport.h"

/* Opens the device at bdf ("0000:00:05.0", bound to vfio-pci, behind an IOMMU) with an arena of
 * arena_size bytes. The device is named "vfio:BDF" (its queue lines vfio:BDF/qN). On failure
 * *out is NULL and errbuf (if given) holds one line. */
int virtio_pci_open(const char *bdf, size_t arena_size, struct virtio_dev **out, char *errbuf,
		    size_t errlen);

#endif
