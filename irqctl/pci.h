/*
 * pci.h - `irqctl pci`: the machine's PCI functions and their interrupt capabilities,
 * read through libpciaccess (configuration space, capability list: PCI Local Bus 3.0 §6.7,
 * MSI §6.8.1, MSI-X §6.8.2).
 */
#ifndef IRQCTL_PCI_H
#define IRQCTL_PCI_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

struct pci_irq_info {
	uint16_t domain;
	uint8_t bus, dev, func;
	uint16_t vendor_id, device_id;
	uint32_t class_code;      /* 24-bit class/subclass/prog-if */
	uint8_t intx_pin;         /* 0 none, 1..4 = INTA..INTD (config 0x3D) */
	uint8_t intx_line;        /* config 0x3C, 0xff = not connected */
	bool has_msi;
	unsigned msi_vectors;     /* 1 << Multiple Message Capable */
	bool msi_64bit, msi_maskable;
	bool has_msix;
	unsigned msix_vectors;    /* Table Size + 1 */
	bool intx_disable_capable;/* PCI 2.3 Interrupt Disable bit is writable (status bit 3 support) */
	char driver[64];          /* kernel driver bound, from sysfs, "" if none */
};

/* Calls fn for each PCI function on the machine, in bus order. Returns the number of functions
 * visited, or a negative errno (with a message on stderr) if libpciaccess cannot start. */
int pci_irq_scan(void (*fn)(const struct pci_irq_info *, void *), void *arg);

/* Prints the table `irqctl pci` shows (or JSON when json is true) to out. Returns 0 or -errno. */
int pci_irq_print(FILE *out, bool json);

#endif
