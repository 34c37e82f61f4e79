/* Device memory (rt/mmio.c): physical ranges mapped into the task through the kernel's "mem"
 * device (device_map on it gives a pager for [phys, phys+size), vm_map maps that pager at
 * offset 0), and volatile accessors. */
#ifndef MRT_MMIO_H
#define MRT_MMIO_H

#include <stdint.h>
#include <stddef.h>
#include <mach/kern_return.h>

/* Maps size bytes of physical memory at phys (need not be page-aligned) read/write,
 * uncached as the kernel's mem device decides; *va gets the address of phys. */
kern_return_t mrt_mmio_map(uint64_t phys, size_t size, volatile void **va);
/* Unmaps what mrt_mmio_map returned (same size). */
kern_return_t mrt_mmio_unmap(volatile void *va, size_t size);

static inline uint32_t mrt_mmio_read32(volatile void *base, size_t off)
{
	return *(volatile uint32_t *)(void *)((volatile char *)base + off);
}
static inline void mrt_mmio_write32(volatile void *base, size_t off, uint32_t v)
{
	*(volatile uint32_t *)(void *)((volatile char *)base + off) = v;
}
static inline uint64_t mrt_mmio_read64(volatile void *base, size_t off)
{
	return *(volatile uint64_t *)(void *)((volatile char *)base + off);
}
static inline void mrt_mmio_write64(volatile void *base, size_t off, uint64_t v)
{
	*(volatile uint64_t *)(void *)((volatile char *)base + off) = v;
}

#endif
