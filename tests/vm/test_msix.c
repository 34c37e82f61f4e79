/*
 * test_msix.c - MSI-X through irqd inside the QEMU guest (vm/): QEMU's e1000e (Intel 82574)
 * bound to vfio-pci, whose five MSI-X vectors are lines vfio:BDF/msix0..4.
 *
 * The device is played as its driver would (82574 datasheet, section 10.2.4): IVAR (0xE4) maps
 * the interrupt causes RxQ0, RxQ1, TxQ0 and TxQ1 to vectors 0..3, IMS (0xD0) enables them, a write to ICS (0xC8) sets a cause and so sends its vector's message, and writing the
 * cause to ICR (0xC0) clears it (until then the same cause sends nothing new). Interrupt
 * throttling (ITR 0xC4, EITR 0xE8 + 4v) is turned as low as QEMU allows (it keeps at least
 * 128 us), and before MSI-X is disabled the device is quiesced (nic_quiesce): QEMU 7.2 aborts
 * when a throttling timer outlives MSI-X.
 */
#include <fcntl.h>
#include <linux/vfio.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

#include "tests/integration/harness.h"
#include "util/vfio.h"

#define E1000_ICR 0xC0
#define E1000_ITR 0xC4
#define E1000_ICS 0xC8
#define E1000_IMS 0xD0
#define E1000_IMC 0xD8
#define E1000_IVAR 0xE4
#define E1000_EITR(v) (0xE8 + 4 * (v))
#define VECTORS 5 /* the device's */
#define RAISED 4  /* the vectors the test raises: the queue causes RxQ0, RxQ1, TxQ0, TxQ1 */

/* "Other" (vector 4) is left unmapped and disabled: the device raises it by itself when its
 * link comes up, which would be an event the test did not ask for. */
static const uint32_t cause[RAISED] = { 1u << 20, 1u << 21, 1u << 22, 1u << 23 };

static char bdf[16];
static volatile uint32_t *bar0;

/* BAR0 mapped (once), the causes mapped to their vectors and enabled (again after a reset: the
 * device is reset whenever its VFIO owner changes). */
static void nic_open(void)
{
	/* 82574L: 8086:10d3, placed at 08.0 by make check-vm */
	snprintf(bdf, sizeof(bdf), "0000:00:08.0");
	if (!bar0) {
		char path[128];
		snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/resource0", bdf);
		int fd = open(path, O_RDWR | O_SYNC);
		if (fd < 0)
			fail_msg("%s: %m (make check-vm adds an e1000e at 08.0)", path);
		void *p = mmap(NULL, 128 * 1024, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
		close(fd);
		if (p == MAP_FAILED)
			fail_msg("mmap %s: %m", path);
		bar0 = p;
	}
	uint32_t ivar = 0;
	for (unsigned v = 0; v < RAISED; v++)
		ivar |= (0x8u | v) << (4 * v); /* valid | vector, one nibble per cause */
	bar0[E1000_ITR / 4] = 0;
	for (unsigned v = 0; v < VECTORS; v++)
		bar0[E1000_EITR(v) / 4] = 0;
	bar0[E1000_IVAR / 4] = ivar;
	bar0[E1000_IMS / 4] = cause[0] | cause[1] | cause[2] | cause[3];
}

/* No more causes, and a moment for QEMU's throttling timers (at most 128 us) to run out before
 * the device's owner disables MSI-X: a workaround for the emulator, not a wait for a result. */
static void nic_quiesce(void)
{
	bar0[E1000_IMC / 4] = ~0u;
	usleep(20000);
}

static void nic_raise(unsigned v)
{
	bar0[E1000_ICS / 4] = cause[v];
}

static void nic_clear(unsigned v)
{
	bar0[E1000_ICR / 4] = cause[v];
}

static char config[64];

static void start(struct irqd_proc *p)
{
	nic_open();
	snprintf(config, sizeof(config), "device vfio %s\n", bdf);
	irqd_start(p, 0, config);
}

/* The kernel's count of a VFIO MSI-X vector of the device (/proc/interrupts, "vfio-msix[v](BDF)"). */
static uint64_t kernel_count(unsigned v)
{
	char want[64], buf[1024];
	snprintf(want, sizeof(want), "vfio-msix[%u](%s)", v, bdf);
	FILE *f = fopen("/proc/interrupts", "r");
	assert_non_null(f);
	uint64_t total = 0;
	while (fgets(buf, sizeof(buf), f)) {
		if (!strstr(buf, want))
			continue;
		char *p = strchr(buf, ':');
		for (char *end; p && *++p;) { /* the per-CPU columns, up to the chip's name */
			unsigned long long x = strtoull(p, &end, 10);
			if (end == p || (*end != ' ' && *end != '\t'))
				break;
			total += x;
			p = end - 1;
		}
	}
	fclose(f);
	return total;
}

/*
 * Each vector its own line: a raise of one cause arrives on its vector's line; the vector
 * nothing raises gets nothing. Emulated e1000e now and then sends a message again (a vector's
 * count can exceed the raises), so exactness is measured where it belongs: every line's total
 * equals the kernel's count of its vector.
 */
static void test_msix_per_vector(void **state)
{
	(void)state;
	enum { ROUNDS = 100 };
	struct irqd_proc p;
	start(&p);
	struct irqd_client *c = client(&p);
	uint32_t h[VECTORS];
	char line[VECTORS][64];
	for (unsigned v = 0; v < VECTORS; v++) {
		snprintf(line[v], sizeof(line[v]), "vfio:%s/msix%u", bdf, v);
		struct irqd_line_desc d;
		assert_int_equal(irqd_line_lookup(c, line[v], &d), 0);
		assert_int_equal(d.trigger, IRQD_EDGE);
		assert_int_equal(irqd_attach(c, line[v], IRQD_ATTACH_SHARED, NULL, &h[v]), 0);
	}
	uint64_t before[VECTORS], got[VECTORS] = { 0 };
	for (unsigned v = 0; v < VECTORS; v++)
		before[v] = kernel_count(v);
	for (int r = 0; r < ROUNDS; r++) {
		for (unsigned v = 0; v < RAISED; v++) {
			uint64_t want = got[v] + 1;
			nic_raise(v);
			while (got[v] < want) {
				struct irqd_event ev[8];
				int n = irqd_wait(c, ev, 8, 10000);
				if (n <= 0)
					fail_msg("round %d: vector %u did not arrive (%s)", r, v,
						 irqd_last_error());
				for (int k = 0; k < n; k++)
					for (unsigned u = 0; u < VECTORS; u++)
						if (ev[k].handle == h[u])
							got[u] += ev[k].count;
			}
			nic_clear(v);
		}
	}
	for (unsigned v = 0; v < VECTORS; v++) {
		uint64_t kernel;
		struct irqd_line_stats st;
		/* the messages the kernel counted, all through irqd (a late one counts again) */
		while (got[v] < (kernel = kernel_count(v) - before[v]) ||
		       kernel_count(v) - before[v] != kernel) {
			struct irqd_event ev[8];
			int n = irqd_wait(c, ev, 8, 10000);
			assert_true(n >= 0);
			for (int k = 0; k < n; k++)
				for (unsigned u = 0; u < VECTORS; u++)
					if (ev[k].handle == h[u])
						got[u] += ev[k].count;
		}
		assert_int_equal(irqd_line_stats(c, line[v], &st), 0);
		printf("  %s: %d raised by the test, the kernel counted %llu, irqd read %llu and "
		       "delivered %llu\n", line[v], v < RAISED ? ROUNDS : 0,
		       (unsigned long long)kernel, (unsigned long long)st.raised,
		       (unsigned long long)got[v]);
		assert_int_equal(got[v], kernel);
		assert_int_equal(st.raised, kernel);
		assert_true(got[v] >= (v < RAISED ? ROUNDS : 0));
		if (v >= RAISED)
			assert_int_equal(got[v], 0);
	}
	nic_quiesce();
	irqd_disconnect(c);
	irqd_stop(&p);
}

static int cmp_ns(const void *a, const void *b)
{
	return cmp_u64(a, b);
}

/* irqctl profile LINE over `seconds`, run beside the raising loop. */
struct profile_job {
	char line[64];
	_Atomic int done;
};

static int profile_run(const struct irqd_proc *p, void *arg)
{
	struct profile_job *j = arg;
	static char out[16384];
	char bin[4096];
	snprintf(bin, sizeof(bin), "%s", build_bin("irqctl"));
	char *argv[] = { bin, "--socket", (char *)p->sock, "profile", j->line, "--seconds", "3",
			 NULL };
	int st = run_capture(out, sizeof(out), argv);
	printf("%s", out);
	fflush(stdout);
	j->done = 1;
	return st;
}

/*
 * Raise-to-handler on one MSI-X vector, the raw VFIO eventfd (this process owns the device and
 * reads the trigger eventfd) against irqd (irqd owns it, this process waits in irqd_wait), in
 * the same boot; irqctl profile runs on the line meanwhile. Under emulation the times mean
 * little; the ratio is the figure.
 */
static void test_msix_latency(void **state)
{
	(void)state;
	enum { N = 2000 };
	static uint64_t raw[N], via[N];
	nic_open();
	struct vfio_device d;
	char why[256];
	if (vfio_device_open(&d, bdf, why, sizeof(why)) < 0)
		fail_msg("%s: %s", bdf, why);
	nic_open();
	int efd = eventfd(0, EFD_CLOEXEC);
	assert_int_equal(vfio_bus_master(&d), 0);
	assert_int_equal(vfio_irq_triggers(&d, VFIO_PCI_MSIX_IRQ_INDEX, 0, 1, &efd), 0);
	for (int i = 0; i < N; i++) {
		uint64_t t0 = mono_ns(), v;
		nic_raise(0);
		assert_int_equal(read(efd, &v, sizeof(v)), sizeof(v));
		raw[i] = mono_ns() - t0;
		nic_clear(0);
	}
	nic_quiesce();
	vfio_irq_triggers(&d, VFIO_PCI_MSIX_IRQ_INDEX, 0, 0, NULL);
	vfio_device_close(&d);
	close(efd);

	struct irqd_proc p;
	snprintf(config, sizeof(config), "device vfio %s\n", bdf);
	irqd_start(&p, 0, config);
	struct irqd_client *c = client(&p);
	struct profile_job *job = shared_page(sizeof(*job));
	snprintf(job->line, sizeof(job->line), "vfio:%s/msix0", bdf);
	uint32_t h;
	assert_int_equal(irqd_attach(c, job->line, IRQD_ATTACH_SHARED, NULL, &h), 0);
	nic_open(); /* a new owner, a reset device: program the causes again */
	pid_t prof = spawn(profile_run, &p, job);
	int n = 0;
	for (int i = 0; i < N || !job->done; i++) {
		uint64_t t0 = mono_ns();
		nic_raise(0);
		struct irqd_event ev[4];
		assert_int_equal(irqd_wait(c, ev, 4, 10000), 1);
		if (n < N)
			via[n++] = mono_ns() - t0;
		nic_clear(0);
	}
	assert_int_equal(reap_within(prof, 30000), 0);
	qsort(raw, N, sizeof(raw[0]), cmp_ns);
	qsort(via, (size_t)n, sizeof(via[0]), cmp_ns);
	double rp50 = (double)raw[N / 2] / 1e3, ip50 = (double)via[n / 2] / 1e3;
	double rp99 = (double)raw[N * 99 / 100] / 1e3, ip99 = (double)via[n * 99 / 100] / 1e3;
	printf("  raise-to-handler on %s (QEMU TCG, %d each): raw VFIO eventfd p50 %.1f us p99 "
	       "%.1f us; through irqd p50 %.1f us p99 %.1f us; ratio p50 %.2fx, p99 %.2fx\n",
	       job->line, N, rp50, rp99, ip50, ip99, ip50 / rp50, ip99 / rp99);
	nic_quiesce();
	irqd_disconnect(c);
	irqd_stop(&p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_msix_per_vector, harness_teardown),
		cmocka_unit_test_teardown(test_msix_latency, harness_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
