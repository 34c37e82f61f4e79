/* A real device interrupt, end to end, through GNU Mach's "irq" device.
 *
 * Finds QEMU's edu device (1234:11e8) by scanning PCI configuration space through ports
 * 0xCF8/0xCFC, maps its BAR0 through the "mem" device, registers for its INTx line (config
 * register 0x3C) with device_intr_register, then N times (default 100, first argument after
 * the ports): raises an interrupt (BAR0+0x60), receives the kernel's notification
 * (msgh_id DEVICE_INTR_NOTIFY, 100), checks and clears the device's status (BAR0+0x24, ack at
 * BAR0+0x64), then acks the kernel (device_intr_ack). Counts exactly N notifications (and none
 * more), reports the raise-to-receive latency (rdtsc; median, p90, min, max in cycles and ns
 * with the TSC calibrated against the kernel clock), and tells QEMU pass or fail.
 */
#include <mrt/mrt.h>
#include <mrt/test.h>
#include <device/device_types.h>

#define EDU_VENDOR 0x1234
#define EDU_DEVICE 0x11e8
#define EDU_ID 0x00		/* 0xRRrr00ed: major, minor, 0x00, 0xed */
#define EDU_LIVENESS 0x04	/* reads back the bitwise inverse of what was written */
#define EDU_INTR_STATUS 0x24
#define EDU_INTR_RAISE 0x60
#define EDU_INTR_ACK 0x64
#define WAIT_MS 2000		/* per notification: far beyond any TCG latency */


static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

static uint64_t to_ns(uint64_t cycles, uint64_t hz)
{
	return hz ? cycles * 1000000000ull / hz : 0;
}

int main(int argc, char **argv)
{
	mrt_test.name = mrt_test.who = "intr_edu";
	unsigned n = 100;
	uint16_t bdf;
	uint64_t bar, size, hz;
	uint32_t flags, id;
	volatile void *mmio;
	struct mrt_irq irq;
	kern_return_t kr;
	char detail[160];

	if (argc > MRT_FIRST_ARG)
		n = (unsigned)strtoul(argv[MRT_FIRST_ARG], NULL, 0);
	if (n == 0 || n > 1000000) {
		mrt_check(0, "the count must be 1..1000000");
		mrt_verdict("(bad arguments)");
	}

	kr = mrt_pci_init();
	if (kr != KERN_SUCCESS) {
		printf("intr_edu: i386_io_perm for 0xcf8-0xcff: %d\n", kr);
		mrt_check(0, "I/O permission for PCI configuration space");
		mrt_verdict("(no PCI access)");
	}
	if (mrt_pci_find(EDU_VENDOR, EDU_DEVICE, 0, &bdf) != 0) {
		mrt_check(0, "no edu device (1234:11e8) on any bus: run with -device edu");
		mrt_verdict("(no device)");
	}
	uint16_t cmd = mrt_pci_read16(bdf, MRT_PCI_COMMAND);
	uint8_t line = mrt_pci_read8(bdf, MRT_PCI_INTERRUPT_LINE);
	uint8_t pin = mrt_pci_read8(bdf, MRT_PCI_INTERRUPT_PIN);
	printf("intr_edu: edu at %02x:%02x.%x, command 0x%04x, interrupt pin %u line %u\n",
	       MRT_PCI_BUS(bdf), MRT_PCI_DEV(bdf), MRT_PCI_FN(bdf), cmd, pin, line);
	if (mrt_pci_bar(bdf, 0, &bar, &size, &flags) != 0 || (flags & 1)) {
		mrt_check(0, "BAR0 is not a memory BAR");
		mrt_verdict("(no BAR0)");
	}
	printf("intr_edu: BAR0 at 0x%llx, %llu KiB\n", (unsigned long long)bar,
	       (unsigned long long)(size >> 10));
	if (pin == 0 || line == 0 || line >= 16) {
		mrt_check(0, "no usable INTx line in config register 0x3c");
		mrt_verdict("(no INTx)");
	}
	/* Memory decoding on, INTx not disabled (MSI stays off: the device uses INTx). */
	cmd = (uint16_t)((cmd | MRT_PCI_CMD_MEM) & ~MRT_PCI_CMD_INTX_DISABLE);
	mrt_pci_write16(bdf, MRT_PCI_COMMAND, cmd);

	kr = mrt_mmio_map(bar, (size_t)size, &mmio);
	if (kr != KERN_SUCCESS) {
		printf("intr_edu: mapping BAR0 through the mem device: %d\n", kr);
		mrt_check(0, "device_map + vm_map of BAR0");
		mrt_verdict("(no MMIO)");
	}
	id = mrt_mmio_read32(mmio, EDU_ID);
	mrt_mmio_write32(mmio, EDU_LIVENESS, 0x12345678u);
	uint32_t live = mrt_mmio_read32(mmio, EDU_LIVENESS);
	printf("intr_edu: BAR0 mapped at %p, id 0x%08x, liveness 0x%08x\n", (void *)mmio, id, live);
	mrt_check((id & 0xff) == 0xed, "edu id register");
	mrt_check(live == ~0x12345678u, "edu liveness register");
	/* Nothing may be pending before the registration. */
	uint32_t st = mrt_mmio_read32(mmio, EDU_INTR_STATUS);
	if (st != 0)
		mrt_mmio_write32(mmio, EDU_INTR_ACK, st);

	kr = mrt_irq_register(&irq, line);
	if (kr != KERN_SUCCESS) {
		printf("intr_edu: device_intr_register(irq, %u): %d\n", line, kr);
		mrt_check(0, "registration on the irq device");
		mrt_verdict("(no registration)");
	}
	printf("intr_edu: registered for IRQ %u on the irq device\n", line);

	hz = mrt_tsc_hz(50);
	printf("intr_edu: TSC %llu kHz (against the kernel clock)\n", (unsigned long long)(hz / 1000));

	uint64_t *lat = calloc(n, sizeof(*lat));
	if (lat == NULL) {
		mrt_check(0, "memory for the samples");
		mrt_verdict("(no memory)");
	}
	unsigned got = 0, bad_status = 0, bad_ack = 0;
	for (unsigned i = 0; i < n; i++) {
		uint32_t bit = 1u << (i & 31);
		uint64_t t0 = mrt_rdtsc();
		mrt_mmio_write32(mmio, EDU_INTR_RAISE, bit);
		mach_msg_return_t mr = mrt_irq_wait(&irq, WAIT_MS);
		uint64_t t1 = mrt_rdtsc();
		if (mr != MACH_MSG_SUCCESS) {
			printf("intr_edu: interrupt %u: no notification (mach_msg 0x%x)\n", i, mr);
			break;
		}
		lat[got++] = t1 - t0;
		st = mrt_mmio_read32(mmio, EDU_INTR_STATUS);
		if (st != bit && bad_status++ < 3)
			printf("intr_edu: interrupt %u: status 0x%x, raised 0x%x\n", i, st, bit);
		/* The device first (it drops INTx), then the kernel (it unmasks the line). */
		mrt_mmio_write32(mmio, EDU_INTR_ACK, st);
		kr = mrt_irq_ack(&irq);
		if (kr != KERN_SUCCESS && bad_ack++ < 3)
			printf("intr_edu: device_intr_ack: %d\n", kr);
	}
	/* Exactly N: no late or duplicate notification may follow. */
	unsigned extra = 0;
	while (mrt_irq_wait(&irq, 100) == MACH_MSG_SUCCESS) {
		extra++;
		mrt_irq_ack(&irq);
	}
	printf("intr_edu: raised %u, received %u, extra %u\n", n, got, extra);
	mrt_check(got == n, "one notification per raised interrupt");
	mrt_check(extra == 0, "no notification beyond the raised interrupts");
	mrt_check(bad_status == 0, "status register held exactly the raised bit");
	mrt_check(bad_ack == 0, "device_intr_ack succeeded");
	mrt_check(mrt_mmio_read32(mmio, EDU_INTR_STATUS) == 0, "status clear at the end");
	mrt_irq_release(&irq);

	if (got > 0) {
		qsort(lat, got, sizeof(*lat), cmp_u64);
		uint64_t med = lat[got / 2], p90 = lat[(got * 9) / 10], lo = lat[0], hi = lat[got - 1];
		printf("intr_edu: raise-to-receive latency over %u: median %llu cycles (%llu ns), "
		       "p90 %llu (%llu ns), min %llu, max %llu cycles\n",
		       got, (unsigned long long)med, (unsigned long long)to_ns(med, hz),
		       (unsigned long long)p90, (unsigned long long)to_ns(p90, hz),
		       (unsigned long long)lo, (unsigned long long)hi);
		snprintf(detail, sizeof(detail), "%u/%u interrupts, median %llu cycles (%llu us)", got,
			 n, (unsigned long long)med, (unsigned long long)(to_ns(med, hz) / 1000));
	} else {
		snprintf(detail, sizeof(detail), "0/%u interrupts", n);
	}
	mrt_verdict(detail);
}
