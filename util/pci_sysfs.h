/*
 * util/pci_sysfs.h - a PCI function's links in Linux sysfs (/sys/bus/pci/devices/BDF/...):
 * which driver has it, which IOMMU group it is in. For irqd's VFIO and UIO sources, irqctl and
 * the tests that look for devices.
 */
#ifndef UTIL_PCI_SYSFS_H
#define UTIL_PCI_SYSFS_H

#include <stddef.h>

/* The last part of link `what` ("driver", "iommu_group") of the function at bdf
 * ("0000:00:03.0") into out: 0, or -errno (-ENOENT: no driver bound, no IOMMU group). out is
 * "" on failure. */
int pci_sysfs_link(const char *bdf, const char *what, char *out, size_t len);

#endif
