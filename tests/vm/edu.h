/*
 * edu.h - QEMU's `edu` teaching device (QEMU docs/specs/edu.rst), played by the guest tests as
 * a driver would: BAR0 mapped from sysfs. Register 0x60 raises an interrupt (the value is ORed
 * into the status at 0x24), 0x64 acknowledges (clears those bits). With MSI enabled every raise
 * sends one message; otherwise INTx is asserted while the status is not 0.
 */
#ifndef TESTS_VM_EDU_H
#define TESTS_VM_EDU_H

#include <stdint.h>

struct edu {
	char bdf[16];
	volatile uint32_t *bar0;
};

/* The edu device at bdf (fails the test if it is not one, or BAR0 cannot be mapped). */
void edu_open(const char *bdf, struct edu *e);
/* The k-th edu device bound to `driver` ("vfio-pci", "uio_pci_generic"), in bus order. */
void edu_find(unsigned k, const char *driver, struct edu *e);
void edu_raise(struct edu *e, uint32_t bits);
/* Acknowledges whatever is pending and returns it. */
uint32_t edu_service(struct edu *e);

#endif
