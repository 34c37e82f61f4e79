/*
 * A driver task for QEMU's edu device that gets its interrupts through the irqd server task
 * (mach/irqd/server.c) over the MIG protocol (mach/irqd.defs, mach/irqd_notify.defs).
 *
 * Started suspended by the boot script ($(var=task-create), no task-resume); irqd registers
 * [0] its server port and [1] the attach right of line "edu" in this task
 * (mach_ports_register) and resumes it. Usage: edu_drv ROLE [N]
 *   basic N      the test mach_irqd_basic: refused attaches, N interrupts answered HANDLED,
 *                stats raised = delivered = handled = kernel acks = N, then mask/unmask
 *   shared-a N   mach_irqd_shared, the owner: services the device, answers HANDLED, verdict
 *   shared-b N   mach_irqd_shared, the other sharer: sleeps 20 ms, answers NOT_MINE
 *   dead-a       mach_irqd_dead, the survivor: services, answers HANDLED, verdict
 *   dead-d       mach_irqd_dead, the victim: takes one occurrence and exits without answering
 * Verdicts: MACHTEST lines and the QEMU exit port (mrt_exit_qemu).
 */
#include <mrt/mrt.h>
#include <mach/mach_port.h>
#include <mach/mach_interface.h>
#include <mach/mig_errors.h>
#include <irqd/irqd_types.h>
#include "irqd.h"
#include "irqd_notify_S.h"

/* The MIG demultiplexer (irqd_notifyServer.c; MIG declares no prototype for it). */
boolean_t irqd_notify_server(mach_msg_header_t *in, mach_msg_header_t *out);

#define EDU_VENDOR 0x1234
#define EDU_DEVICE 0x11e8
#define EDU_INTR_STATUS 0x24
#define EDU_INTR_RAISE 0x60
#define EDU_INTR_ACK 0x64
#define WAIT_MS 2000
#define B_SLEEP_MS 20	/* the NOT_MINE sharer's delay: a sleep, so that the owner runs meanwhile */
#define B_MIN_DELAY_NS 5000000ull /* a 20 ms sleep lasts at least one 10 ms tick: 5 ms is safe */

static const char *test = "mach_irqd";
static const char *role;
static int failures;
static mach_port_t server, attach_right, notify, handle;
static volatile void *mmio;
static uint64_t hz;

/* The last irqd_occurrence received (do_irqd_occurrence, called by the MIG demux). */
static uint32_t got_cookie, got_count;
static uint64_t got_occ;

struct stats {
	uint64_t raised, delivered, handled, not_mine, unhandled, stalls, knotes, kacks, early,
		dead;
	uint32_t sharers;
};

static void check(int ok, const char *what)
{
	if (!ok) {
		printf("edu_drv %s: FAILED: %s\n", role, what);
		failures++;
	}
}

static _Noreturn void verdict(const char *detail)
{
	int pass = failures == 0;

	printf("MACHTEST %s %s %s\n", test, pass ? "PASS" : "FAIL", detail);
	mrt_exit_qemu(pass ? MRT_QEMU_PASS : MRT_QEMU_FAIL);
}

static _Noreturn void die(const char *what)
{
	check(0, what);
	verdict("(aborted)");
}

static void sleep_ms(unsigned ms)
{
	(void)thread_switch(MACH_PORT_NULL, 2 /* SWITCH_OPTION_WAIT */, ms);
}

kern_return_t do_irqd_occurrence(mach_port_t port, uint32_t cookie, uint64_t occurrence,
				 uint32_t count)
{
	(void)port;
	got_cookie = cookie;
	got_occ = occurrence;
	got_count = count;
	return KERN_SUCCESS;
}

/* Waits for one irqd_occurrence on the notify port. */
static mach_msg_return_t wait_occ(unsigned timeout_ms)
{
	union {
		mach_msg_header_t head;
		char space[256];
	} in, out;
	mach_msg_return_t mr;

	mr = mach_msg(&in.head, MACH_RCV_MSG | MACH_RCV_TIMEOUT, 0, sizeof(in), notify, timeout_ms,
		      MACH_PORT_NULL);
	if (mr != MACH_MSG_SUCCESS)
		return mr;
	got_occ = 0;
	if (!irqd_notify_server(&in.head, &out.head) || got_occ == 0)
		return MRT_IRQ_UNEXPECTED;
	return MACH_MSG_SUCCESS;
}

static void get_stats(struct stats *s)
{
	kern_return_t kr = irqd_line_stats(server, "edu", &s->raised, &s->delivered, &s->handled,
					   &s->not_mine, &s->unhandled, &s->stalls, &s->knotes,
					   &s->kacks, &s->early, &s->dead, &s->sharers);
	if (kr != KERN_SUCCESS) {
		printf("edu_drv %s: irqd_line_stats: 0x%x\n", role, kr);
		die("irqd_line_stats");
	}
}

static void print_stats(const struct stats *s)
{
	printf("edu_drv %s: stats raised %llu delivered %llu handled %llu not_mine %llu "
	       "unhandled %llu stalls %llu kernel notifications %llu kernel acks %llu early acks "
	       "%llu dead clients %llu sharers %u\n",
	       role, (unsigned long long)s->raised, (unsigned long long)s->delivered,
	       (unsigned long long)s->handled, (unsigned long long)s->not_mine,
	       (unsigned long long)s->unhandled, (unsigned long long)s->stalls,
	       (unsigned long long)s->knotes, (unsigned long long)s->kacks,
	       (unsigned long long)s->early, (unsigned long long)s->dead, s->sharers);
}

/* Polls the stats until cond holds or ms pass; returns whether it held. */
static int wait_stats(struct stats *s, int (*cond)(const struct stats *, uint64_t), uint64_t arg,
		      unsigned ms)
{
	for (unsigned t = 0;; t += 5) {
		get_stats(s);
		if (cond(s, arg))
			return 1;
		if (t >= ms)
			return 0;
		sleep_ms(5);
	}
}

static int sharers_are(const struct stats *s, uint64_t n) { return s->sharers == n; }
static int kacks_are(const struct stats *s, uint64_t n) { return s->kacks >= n; }

static void get_ports(void)
{
	mach_port_t *ports = NULL;
	mach_msg_type_number_t n = 0;
	kern_return_t kr = mach_ports_lookup(mach_task_self(), &ports, &n);

	if (kr != KERN_SUCCESS || n < 2 || !MACH_PORT_VALID(ports[0])) {
		printf("edu_drv %s: mach_ports_lookup: %d, %u ports\n", role, kr, n);
		die("the irqd ports registered by the server");
	}
	server = ports[0];
	attach_right = ports[1];
	(void)syscall_vm_deallocate(mach_task_self(), (vm_address_t)ports, n * sizeof(*ports));
	kr = mach_port_allocate(mach_task_self(), MACH_PORT_RIGHT_RECEIVE, &notify);
	if (kr != KERN_SUCCESS)
		die("a notify port");
}

static void attach(uint32_t cookie)
{
	kern_return_t kr = irqd_attach(server, "edu", attach_right, notify, cookie, 0, &handle);
	if (kr != KERN_SUCCESS) {
		printf("edu_drv %s: irqd_attach: 0x%x\n", role, kr);
		die("irqd_attach with the attach right");
	}
	printf("edu_drv %s: attached to edu, handle %u\n", role, (unsigned)handle);
}

static void edu_setup(void)
{
	uint16_t bdf;
	uint64_t bar, size;
	uint32_t flags;

	if (mrt_pci_init() != KERN_SUCCESS || mrt_pci_find(EDU_VENDOR, EDU_DEVICE, 0, &bdf) != 0)
		die("no edu device");
	uint16_t cmd = mrt_pci_read16(bdf, MRT_PCI_COMMAND);
	mrt_pci_write16(bdf, MRT_PCI_COMMAND,
			(uint16_t)((cmd | MRT_PCI_CMD_MEM) & ~MRT_PCI_CMD_INTX_DISABLE));
	if (mrt_pci_bar(bdf, 0, &bar, &size, &flags) != 0 || (flags & 1))
		die("edu BAR0");
	if (mrt_mmio_map(bar, (size_t)size, &mmio) != KERN_SUCCESS)
		die("mapping edu BAR0");
	uint32_t st = mrt_mmio_read32(mmio, EDU_INTR_STATUS);
	if (st)
		mrt_mmio_write32(mmio, EDU_INTR_ACK, st);
}

static void raise_intr(unsigned i)
{
	mrt_mmio_write32(mmio, EDU_INTR_RAISE, 1u << (i & 31));
}

/* Clears the device (INTx drops): must be before the HANDLED answer. */
static int service(unsigned i)
{
	uint32_t st = mrt_mmio_read32(mmio, EDU_INTR_STATUS);
	mrt_mmio_write32(mmio, EDU_INTR_ACK, st);
	return st == (1u << (i & 31));
}

static void answer(uint64_t occ, uint32_t a)
{
	kern_return_t kr = irqd_answer(handle, occ, a);
	if (kr != KERN_SUCCESS) {
		printf("edu_drv %s: irqd_answer(%llu, %u): 0x%x\n", role, (unsigned long long)occ, a,
		       kr);
		check(0, "irqd_answer accepted");
	}
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

static uint64_t to_ns(uint64_t cycles) { return hz ? cycles * 1000000000ull / hz : 0; }

/* The owner's loop: raise, receive through irqd, service, answer HANDLED. Latencies in lat. */
static unsigned owner_loop(unsigned n, uint64_t *lat, int test_bad_answers)
{
	unsigned got = 0, bad_status = 0, bad_occ = 0;

	for (unsigned i = 0; i < n; i++) {
		uint64_t t0 = mrt_rdtsc();
		raise_intr(i);
		mach_msg_return_t mr = wait_occ(WAIT_MS);
		uint64_t t1 = mrt_rdtsc();
		if (mr != MACH_MSG_SUCCESS) {
			printf("edu_drv %s: interrupt %u: no occurrence (0x%x)\n", role, i, mr);
			break;
		}
		lat[got++] = t1 - t0;
		if ((got_occ != i + 1 || got_count != 1 || got_cookie != 1) && bad_occ++ < 3)
			printf("edu_drv %s: interrupt %u: occurrence %llu count %u cookie %u\n", role, i,
			       (unsigned long long)got_occ, got_count, got_cookie);
		if (!service(i))
			bad_status++;
		if (test_bad_answers && i == 0) {
			check(irqd_answer(handle, got_occ, 9) == KERN_INVALID_ARGUMENT,
			      "an unknown answer code is refused");
			check(irqd_answer(handle, got_occ + 5, IRQD_HANDLED) == KERN_INVALID_ARGUMENT,
			      "an answer for an occurrence never notified is refused");
		}
		answer(got_occ, IRQD_HANDLED);
		if (test_bad_answers && i == 0)
			check(irqd_answer(handle, got_occ, IRQD_HANDLED) == KERN_INVALID_ARGUMENT,
			      "a second answer for the same occurrence is refused");
	}
	check(got == n, "one occurrence per raised interrupt");
	check(bad_occ == 0, "occurrences numbered 1..N, count 1, our cookie");
	check(bad_status == 0, "the device's status held the raised bit");
	return got;
}

static void latency(const char *what, uint64_t *lat, unsigned got, char *detail, size_t len)
{
	if (got == 0) {
		snprintf(detail, len, "0 interrupts");
		return;
	}
	qsort(lat, got, sizeof(*lat), cmp_u64);
	uint64_t med = lat[got / 2], p90 = lat[(got * 9) / 10];
	printf("edu_drv %s: %s raise-to-occurrence latency over %u: median %llu cycles (%llu ns), "
	       "p90 %llu (%llu ns), min %llu, max %llu cycles\n",
	       role, what, got, (unsigned long long)med, (unsigned long long)to_ns(med),
	       (unsigned long long)p90, (unsigned long long)to_ns(p90), (unsigned long long)lat[0],
	       (unsigned long long)lat[got - 1]);
	snprintf(detail, len, "%u interrupts, median %llu us through irqd", got,
		 (unsigned long long)(to_ns(med) / 1000));
}

static void role_basic(unsigned n)
{
	struct stats s;
	kern_return_t kr;
	mach_port_t h;
	char detail[160];

	test = "mach_irqd_basic";
	edu_setup();
	/* Refused attaches: no right, a wrong right (the server port), an unknown line. */
	kr = irqd_attach(server, "edu", MACH_PORT_NULL, notify, 1, 0, &h);
	check(kr == KERN_NO_ACCESS, "attach without the attach right is refused (KERN_NO_ACCESS)");
	kr = irqd_attach(server, "edu", server, notify, 1, 0, &h);
	check(kr == KERN_NO_ACCESS, "attach with another port as the right is refused");
	kr = irqd_attach(server, "nosuch", attach_right, notify, 1, 0, &h);
	check(kr == KERN_INVALID_ARGUMENT, "attach to an unknown line is refused");
	kr = irqd_attach(server, "edu", attach_right, notify, 1, 0x80, &h);
	check(kr == KERN_INVALID_ARGUMENT, "attach with unknown flags is refused");
	get_stats(&s);
	check(s.sharers == 0, "refused attaches left no attachment");
	attach(1);

	uint64_t *lat = calloc(n, sizeof(*lat));
	if (lat == NULL)
		die("memory");
	unsigned got = owner_loop(n, lat, 1);
	check(wait_occ(100) == MACH_RCV_TIMED_OUT, "no occurrence beyond the raised interrupts");
	get_stats(&s);
	print_stats(&s);
	check(s.raised == n && s.delivered == n && s.handled == n,
	      "raised = delivered = handled = N");
	check(s.kacks == n && s.knotes == n, "exactly N kernel notifications and device_intr_ack");
	check(s.early == 0 && s.not_mine == 0 && s.unhandled == 0 && s.stalls == 0,
	      "no early ack, NOT_MINE, unhandled occurrence or stall");
	latency("through irqd", lat, got, detail, sizeof(detail));

	/* Mask: the next interrupt is held by irqd (the kernel line stays masked) until unmask. */
	check(irqd_unmask(handle) == KERN_INVALID_ARGUMENT, "unmask without a mask is refused");
	check(irqd_mask(handle) == KERN_SUCCESS, "irqd_mask");
	raise_intr(n);
	check(wait_occ(100) == MACH_RCV_TIMED_OUT, "no occurrence while masked");
	get_stats(&s);
	check(s.knotes == n + 1 && s.raised == n, "the kernel notification was held, not fired");
	check(irqd_unmask(handle) == KERN_SUCCESS, "irqd_unmask");
	if (wait_occ(WAIT_MS) == MACH_MSG_SUCCESS) {
		check(got_occ == n + 1, "the held interrupt arrives as the next occurrence");
		check(service(n), "status after unmask");
		answer(got_occ, IRQD_HANDLED);
	} else {
		check(0, "the still-asserted line fires again after unmask");
	}
	get_stats(&s);
	print_stats(&s);
	check(s.raised == n + 1 && s.handled == n + 1 && s.kacks == n + 2 && s.knotes == n + 2,
	      "after unmask: one more occurrence; the held notification acked once");
	check(irqd_detach(handle) == KERN_SUCCESS, "irqd_detach");
	get_stats(&s);
	check(s.sharers == 0, "detached");
	verdict(detail);
}

static void role_shared_a(unsigned n)
{
	struct stats s;
	char detail[200];

	test = "mach_irqd_shared";
	edu_setup();
	attach(1);
	if (!wait_stats(&s, sharers_are, 2, 5000))
		die("the second sharer attached");
	uint64_t *lat = calloc(n, sizeof(*lat));
	if (lat == NULL)
		die("memory");
	unsigned got = owner_loop(n, lat, 0);
	/* Interrupt i+1 is raised right after our HANDLED for i: the kernel line stays masked until
	 * the other sharer's NOT_MINE, which it sends after sleeping B_SLEEP_MS: so every interrupt
	 * but the first takes at least that long to arrive. */
	unsigned too_fast = 0;
	for (unsigned i = 1; i < got; i++)
		if (to_ns(lat[i]) < B_MIN_DELAY_NS)
			too_fast++;
	if (!wait_stats(&s, kacks_are, n, 3000))
		check(0, "the last occurrence acked after the other sharer's answer");
	print_stats(&s);
	check(too_fast == 0, "no interrupt came before the other sharer's delayed answer");
	check(s.raised == n && s.delivered == 2ull * n, "each occurrence delivered to both sharers");
	check(s.handled == n && s.not_mine == n, "N HANDLED and N NOT_MINE answers");
	check(s.kacks == n && s.knotes == n, "the kernel acked exactly once per occurrence");
	check(s.early == 0 && s.unhandled == 0 && s.stalls == 0,
	      "no ack before both answers, no unhandled occurrence, no stall");
	latency("shared (the other sharer answers after a 20 ms sleep)", lat, got, detail,
		sizeof(detail));
	printf("edu_drv %s: %u of %u interrupts arrived sooner than the other sharer's delay\n", role,
	       too_fast, got ? got - 1 : 0);
	snprintf(detail, sizeof(detail), "%u occurrences to 2 sharers, %llu kernel acks, each after "
		 "both answers", got, (unsigned long long)s.kacks);
	verdict(detail);
}

static void role_shared_b(unsigned n)
{
	test = "mach_irqd_shared";
	attach(2);
	for (unsigned i = 0; i < n; i++) {
		mach_msg_return_t mr = wait_occ(10000);
		if (mr != MACH_MSG_SUCCESS) {
			printf("edu_drv %s: occurrence %u: 0x%x\n", role, i + 1, mr);
			die("the other sharer receives every occurrence");
		}
		if (got_occ != i + 1 || got_cookie != 2)
			check(0, "the other sharer sees occurrences 1..N with its cookie");
		sleep_ms(B_SLEEP_MS);
		answer(got_occ, IRQD_NOT_MINE);
	}
	printf("edu_drv %s: answered NOT_MINE to %u occurrences\n", role, n);
	if (failures)
		verdict("(the NOT_MINE sharer failed)");
	mrt_task_exit(0);
}

static void role_dead_a(void)
{
	struct stats s;

	test = "mach_irqd_dead";
	edu_setup();
	attach(1);
	if (!wait_stats(&s, sharers_are, 2, 5000))
		die("the victim attached");
	raise_intr(0);
	if (wait_occ(WAIT_MS) != MACH_MSG_SUCCESS)
		die("occurrence 1");
	check(got_occ == 1, "occurrence 1");
	check(service(0), "status of interrupt 1");
	answer(got_occ, IRQD_HANDLED);
	/* The victim never answers: only its death (dead-name notification) completes it. */
	int back = wait_stats(&s, kacks_are, 1, 3000);
	print_stats(&s);
	check(back, "the line is acked after the victim died without answering");
	check(s.dead == 1 && s.sharers == 1, "irqd saw one dead client; one sharer is left");
	check(s.stalls == 0, "by the death, not by the ack deadline");
	raise_intr(1);
	if (wait_occ(WAIT_MS) == MACH_MSG_SUCCESS) {
		check(got_occ == 2, "the survivor gets the next occurrence");
		check(service(1), "status of interrupt 2");
		answer(got_occ, IRQD_HANDLED);
	} else {
		check(0, "the line came back: the survivor gets the next occurrence");
	}
	get_stats(&s);
	print_stats(&s);
	check(s.raised == 2 && s.kacks == 2 && s.handled == 2 && s.early == 0,
	      "two occurrences, two kernel acks, both handled, no early ack");
	verdict(failures ? "(see above)" : "the victim's pending answer counted at its death");
}

static void role_dead_d(void)
{
	test = "mach_irqd_dead";
	attach(2);
	if (wait_occ(10000) != MACH_MSG_SUCCESS)
		die("the victim gets occurrence 1");
	printf("edu_drv %s: got occurrence %llu, exiting without answering\n", role,
	       (unsigned long long)got_occ);
	mrt_task_exit(0);
}

int main(int argc, char **argv)
{
	unsigned n = 100;

	role = argc > MRT_FIRST_ARG ? argv[MRT_FIRST_ARG] : "";
	if (argc > MRT_FIRST_ARG + 1)
		n = (unsigned)strtoul(argv[MRT_FIRST_ARG + 1], NULL, 0);
	if (n == 0 || n > 100000)
		die("N must be 1..100000");
	printf("edu_drv %s: started\n", role);
	get_ports();
	hz = mrt_tsc_hz(50);
	if (strcmp(role, "basic") == 0)
		role_basic(n);
	else if (strcmp(role, "shared-a") == 0)
		role_shared_a(n);
	else if (strcmp(role, "shared-b") == 0)
		role_shared_b(n);
	else if (strcmp(role, "dead-a") == 0)
		role_dead_a();
	else if (strcmp(role, "dead-d") == 0)
		role_dead_d();
	die("unknown role");
}
