/* The whole runtime for a GNU Mach x86_64 task: start-up and exit, traps, console and
 * printf, memory, I/O ports and the QEMU exit, TSC, PCI config space, MMIO, interrupts, serving
 * MIG requests.
 * The MIG interfaces are <mach/mach_interface.h>, <mach/mach_port.h>, <mach/mach_host.h>,
 * <mach/gnumach.h>, <mach/mach_i386.h> and <device/device.h> (generated at build time). */
#ifndef MRT_MRT_H
#define MRT_MRT_H

#include <mach/mach_types.h>
#include <mrt/boot.h>
#include <mrt/traps.h>
#include <mrt/console.h>
#include <mrt/io.h>
#include <mrt/cpu.h>
#include <mrt/pci.h>
#include <mrt/mmio.h>
#include <mrt/irq.h>
#include <mrt/mig.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#endif
