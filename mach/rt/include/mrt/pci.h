/* PCI configuration space through the legacy ports 0xCF8 (address) / 0xCFC (data)
 * (configuration mechanism #1; rt/pci.c). mrt_pci_init asks for the port permission once.
 * A device is named by its bus/device/function packed as MRT_PCI_BDF(b, d, f). */
#ifndef MRT_PCI_H
#define MRT_PCI_H

#include <stdint.h>
#include <mach/kern_return.h>

#define MRT_PCI_BDF(b, d, f) ((uint16_t)(((b) << 8) | ((d) << 3) | (f)))
#define MRT_PCI_BUS(bdf) ((bdf) >> 8)
#define MRT_PCI_DEV(bdf) (((bdf) >> 3) & 0x1f)
#define MRT_PCI_FN(bdf) ((bdf) & 7)

/* Standard configuration registers used here. */
#define MRT_PCI_VENDOR 0x00
#define MRT_PCI_DEVICE 0x02
#define MRT_PCI_COMMAND 0x04
#define MRT_PCI_CMD_IO 0x0001
#define MRT_PCI_CMD_MEM 0x0002
#define MRT_PCI_CMD_MASTER 0x0004
#define MRT_PCI_CMD_INTX_DISABLE 0x0400
#define MRT_PCI_STATUS 0x06
#define MRT_PCI_STATUS_INTX 0x0008	/* INTx asserted */
#define MRT_PCI_HEADER_TYPE 0x0e
#define MRT_PCI_BAR0 0x10
#define MRT_PCI_INTERRUPT_LINE 0x3c
#define MRT_PCI_INTERRUPT_PIN 0x3d

/* I/O permission for 0xCF8-0xCFF. */
kern_return_t mrt_pci_init(void);

uint32_t mrt_pci_read32(uint16_t bdf, uint8_t off);
uint16_t mrt_pci_read16(uint16_t bdf, uint8_t off);
uint8_t mrt_pci_read8(uint16_t bdf, uint8_t off);
void mrt_pci_write32(uint16_t bdf, uint8_t off, uint32_t v);
void mrt_pci_write16(uint16_t bdf, uint8_t off, uint16_t v);

/* Scans every bus, device and function for the index-th (from 0) function with this vendor
 * and device id; 0 and *bdf set when found, -1 otherwise. */
int mrt_pci_find(uint16_t vendor, uint16_t device, int index, uint16_t *bdf);

/* BAR n of a function: physical base (64-bit BARs combined), flags (the low bits of the
 * BAR: bit 0 set for I/O) and size (probed by writing all ones, then restored; memory and I/O
 * decoding are turned off meanwhile). 0 on success, -1 for an empty or invalid BAR. */
int mrt_pci_bar(uint16_t bdf, int n, uint64_t *base, uint64_t *size, uint32_t *flags);

#endif
