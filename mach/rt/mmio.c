/* Physical memory mappings through the "mem" device. */
#include <mach/mach_types.h>
#include <mach/mach_interface.h>
#include <mach/mach_port.h>
#include <device/device_types.h>
#include <device/device.h>
#include <mrt/boot.h>
#include <mrt/mmio.h>

#define PAGE 4096ull

static mach_port_t mem_device(void)
{
	static mach_port_t mem = MACH_PORT_NULL;

	if (mem == MACH_PORT_NULL)
		mem = mrt_device_open("mem", D_READ | D_WRITE);
	return mem;
}

kern_return_t mrt_mmio_map(uint64_t phys, size_t size, volatile void **va)
{
	mach_port_t mem = mem_device(), pager = MACH_PORT_NULL;
	uint64_t start = phys & ~(PAGE - 1);
	vm_size_t len = (vm_size_t)((phys + size + PAGE - 1) & ~(PAGE - 1)) - start;
	vm_address_t addr = 0;
	kern_return_t kr;

	if (mem == MACH_PORT_NULL)
		return D_NO_SUCH_DEVICE;
	kr = device_map(mem, VM_PROT_READ | VM_PROT_WRITE, start, len, &pager, 0);
	if (kr != KERN_SUCCESS)
		return kr;
	/* The pager covers [start, start+len): it is mapped from its offset 0. */
	kr = vm_map(mach_task_self(), &addr, len, 0, TRUE, pager, 0, FALSE,
		    VM_PROT_READ | VM_PROT_WRITE, VM_PROT_READ | VM_PROT_WRITE, VM_INHERIT_NONE);
	(void)mach_port_deallocate(mach_task_self(), pager);
	if (kr != KERN_SUCCESS)
		return kr;
	*va = (volatile void *)(addr + (vm_address_t)(phys - start));
	return KERN_SUCCESS;
}

kern_return_t mrt_mmio_unmap(volatile void *va, size_t size)
{
	vm_address_t a = (vm_address_t)va;
	vm_address_t start = a & ~(vm_address_t)(PAGE - 1);

	return vm_deallocate(mach_task_self(), start,
			     ((a + size + PAGE - 1) & ~(vm_address_t)(PAGE - 1)) - start);
}
