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
 *   latency N    mach_irqd_latency: N interrupts straight from the kernel, then N through
 *                irqd (kernel=lazy), in one boot; medians, p90s and their ratio
 *   two-a N      mach_irqd_two_devices, the driver of edu 00:04.0 (and the verdict)
 *   two-b N      mach_irqd_two_devices, the driver of edu 00:08.0; both on the same line
 *   storm        mach_irqd_storm: one raise never serviced, every occurrence answered NOT_MINE
 *                until the storm rule disables the line; then service, irqd_line_enable, one
 *                more interrupt answered HANDLED
 * Verdicts: MACHTEST lines and the QEMU exit port (mrt_exit_qemu).
 *
 * Interrupts come through the irqd client API (<irqd/client.h>, implemented for Mach in
 * mach/client): irqd_connect, irqd_attach, irqd_wait, irqd_answer, irqd_mask/unmask,
 * irqd_detach, as a Linux driver uses them. The checks of the protocol itself (refused attaches,
 * answers irqd must refuse, the kernel-side counters) also call the MIG stubs directly.
 */
#include <irqd/client.h>		/* the Linux client API, unchanged (omega0-api/include) */
#include <irqd/client_mach.h>		/* its Mach ports, for the protocol checks */
#include <mrt/mrt.h>
#include <mrt/test.h>
#include <mach/mach_port.h>
#include <mach/mach_interface.h>
#include <mach/mig_errors.h>
#include <mach/gnumach.h>			/* vm_allocate_contiguous */
#include <errno.h>
#include <stdbool.h>
#include <irqd/irqd_types.h>
#include "irqd.h"			/* the MIG stubs (rpc_irqd_*), for the protocol checks */
#include "core/line.h"			/* irqd/core: the storm rule's constants (storm test) */

#define EDU_VENDOR 0x1234
#define EDU_DEVICE 0x11e8
#define EDU_INTR_STATUS 0x24
#define EDU_INTR_RAISE 0x60
#define EDU_INTR_ACK 0x64
#define WAIT_MS 2000
#define B_SLEEP_MS 20	/* the NOT_MINE sharer's delay: a sleep, so that the owner runs meanwhile */
#define B_MIN_DELAY_NS 5000000ull /* a 20 ms sleep lasts at least one 10 ms tick: 5 ms is safe */

static const char *role;
static struct irqd_client *cl;	/* the client API's connection */
static uint32_t h_att;			/* its handle of our attachment */
/* The Mach ports behind them, for the protocol checks. */
static mach_port_t server, attach_right, notify, handle;
static volatile void *mmio;
static uint64_t hz;

/* The last event received (wait_occ). */
static uint32_t got_handle, got_count;
static uint64_t got_occ;

struct stats {
	uint64_t raised, delivered, handled, not_mine, unhandled, stalls, knotes, kacks, early,
		dead, disables;
	uint32_t sharers, flags;
};

static void sleep_ms(unsigned ms)
{
	(void)thread_switch(MACH_PORT_NULL, 2 /* SWITCH_OPTION_WAIT */, ms);
}

/* Waits for one event (irqd_wait with room for one). */
static mach_msg_return_t wait_occ(unsigned timeout_ms)
{
	struct irqd_event ev;
	int n = irqd_wait(cl, &ev, 1, (int)timeout_ms);

	if (n == 0)
		return MACH_RCV_TIMED_OUT;
	if (n < 0) {
		printf("edu_drv %s: irqd_wait: %d: %s\n", role, n, irqd_last_error());
		return MRT_IRQ_UNEXPECTED;
	}
	got_handle = ev.handle;
	got_occ = ev.occurrence;
	got_count = (uint32_t)ev.count;
	return got_occ ? MACH_MSG_SUCCESS : MRT_IRQ_UNEXPECTED;
}

static void get_stats(struct stats *s)
{
	kern_return_t kr = rpc_irqd_line_stats(server, "edu", &s->raised, &s->delivered, &s->handled,
					   &s->not_mine, &s->unhandled, &s->stalls, &s->knotes,
					   &s->kacks, &s->early, &s->dead, &s->sharers, &s->disables,
					   &s->flags);
	if (kr != KERN_SUCCESS) {
		printf("edu_drv %s: irqd_line_stats: 0x%x\n", role, kr);
		mrt_die("irqd_line_stats");
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

/* irqd_connect: the ports irqd registered in this task (server port, attach right of "edu"). */
static void get_ports(void)
{
	int r = irqd_connect(NULL, &cl);

	if (r < 0) {
		printf("edu_drv %s: irqd_connect: %d: %s\n", role, r, irqd_last_error());
		mrt_die("irqd_connect: the irqd ports registered by the server");
	}
	server = irqd_mach_server(cl);
	attach_right = irqd_mach_attach_right(cl);
	notify = irqd_mach_notify(cl);
	if (!MACH_PORT_VALID(attach_right))
		mrt_die("irqd registered an attach right in this task");
}

static void attach(void)
{
	int r = irqd_attach(cl, "edu", IRQD_ATTACH_SHARED, NULL, &h_att);
	if (r < 0) {
		printf("edu_drv %s: irqd_attach: %d: %s\n", role, r, irqd_last_error());
		mrt_die("irqd_attach with the attach right");
	}
	handle = irqd_mach_handle(cl, h_att);
	printf("edu_drv %s: attached to edu, handle %u (port %u)\n", role, h_att, (unsigned)handle);
}

/* Maps BAR0 of the index-th edu device (bus scan order: 00:04.0 is 0, 00:08.0 is 1). */
static void edu_setup_index(int index)
{
	uint16_t bdf;
	uint64_t bar, size;
	uint32_t flags;

	if (mrt_pci_init() != KERN_SUCCESS ||
	    mrt_pci_find(EDU_VENDOR, EDU_DEVICE, index, &bdf) != 0)
		mrt_die("no edu device");
	uint16_t cmd = mrt_pci_read16(bdf, MRT_PCI_COMMAND);
	mrt_pci_write16(bdf, MRT_PCI_COMMAND,
			(uint16_t)((cmd | MRT_PCI_CMD_MEM) & ~MRT_PCI_CMD_INTX_DISABLE));
	if (mrt_pci_bar(bdf, 0, &bar, &size, &flags) != 0 || (flags & 1))
		mrt_die("edu BAR0");
	if (mrt_mmio_map(bar, (size_t)size, &mmio) != KERN_SUCCESS)
		mrt_die("mapping edu BAR0");
	uint32_t st = mrt_mmio_read32(mmio, EDU_INTR_STATUS);
	if (st)
		mrt_mmio_write32(mmio, EDU_INTR_ACK, st);
}

static void edu_setup(void) { edu_setup_index(0); }

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

static void answer(uint64_t occ, enum irqd_answer a)
{
	int r = irqd_answer(cl, h_att, occ, a);
	if (r < 0) {
		printf("edu_drv %s: irqd_answer(%llu, %u): %d: %s\n", role, (unsigned long long)occ,
		       a, r, irqd_last_error());
		mrt_check(0, "irqd_answer accepted");
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
		if ((got_occ != i + 1 || got_count != 1 || got_handle != h_att) && bad_occ++ < 3)
			printf("edu_drv %s: interrupt %u: occurrence %llu count %u handle %u\n", role, i,
			       (unsigned long long)got_occ, got_count, got_handle);
		if (!service(i))
			bad_status++;
		if (test_bad_answers && i == 0) {
			mrt_check(rpc_irqd_answer(handle, got_occ, 9) == KERN_INVALID_ARGUMENT,
			      "irqd refuses an unknown answer code");
			mrt_check(irqd_answer(cl, h_att, got_occ, (enum irqd_answer)9) == -EINVAL,
			      "irqd_answer: an unknown answer code gives -EINVAL");
			mrt_check(irqd_answer(cl, h_att, got_occ + 5, IRQD_HANDLED) == -EINVAL,
			      "irqd_answer: an occurrence never notified gives -EINVAL (irqd refused)");
			mrt_check(irqd_answer(cl, h_att + 1, got_occ, IRQD_HANDLED) == -EBADF,
			      "irqd_answer: an unknown handle gives -EBADF");
		}
		answer(got_occ, IRQD_HANDLED);
		if (test_bad_answers && i == 0) {
			mrt_check(rpc_irqd_answer(handle, got_occ, IRQD_HANDLED) == KERN_INVALID_ARGUMENT,
			      "irqd refuses a second answer for the same occurrence");
			mrt_check(irqd_answer(cl, h_att, got_occ, IRQD_HANDLED) == -EALREADY,
			      "irqd_answer: a second answer gives -EALREADY");
		}
	}
	mrt_check(got == n, "one occurrence per raised interrupt");
	mrt_check(bad_occ == 0, "occurrences numbered 1..N, count 1, our handle");
	mrt_check(bad_status == 0, "the device's status held the raised bit");
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

	mrt_test.name = "mach_irqd_basic";
	edu_setup();
	/* Refused attaches: no right, a wrong right (the server port), an unknown line; first
	 * through the protocol, then as the client API reports them. */
	kr = rpc_irqd_attach(server, "edu", MACH_PORT_NULL, notify, 1, 0, 0, 0, 0, &h);
	mrt_check(kr == KERN_NO_ACCESS, "attach without the attach right is refused (KERN_NO_ACCESS)");
	kr = rpc_irqd_attach(server, "edu", server, notify, 1, 0, 0, 0, 0, &h);
	mrt_check(kr == KERN_NO_ACCESS, "attach with another port as the right is refused");
	kr = rpc_irqd_attach(server, "nosuch", attach_right, notify, 1, 0, 0, 0, 0, &h);
	mrt_check(kr == KERN_INVALID_ARGUMENT, "attach to an unknown line is refused");
	kr = rpc_irqd_attach(server, "edu", attach_right, notify, 1, 0x80, 0, 0, 0, &h);
	mrt_check(kr == KERN_INVALID_ARGUMENT, "attach with unknown flags is refused");
	uint32_t hx;
	mrt_check(irqd_attach(cl, "nosuch", IRQD_ATTACH_SHARED, NULL, &hx) == -ENOENT &&
	      irqd_last_error()[0] != '\0', "irqd_attach to an unknown line: -ENOENT and a reason");
	mrt_check(irqd_attach(cl, "edu", IRQD_ATTACH_EXCLUSIVE, NULL, &hx) == -EOPNOTSUPP,
	      "irqd_attach EXCLUSIVE: -EOPNOTSUPP (shared only on Mach)");
	get_stats(&s);
	mrt_check(s.sharers == 0, "refused attaches left no attachment");
	attach();

	uint64_t *lat = calloc(n, sizeof(*lat));
	if (lat == NULL)
		mrt_die("memory");
	unsigned got = owner_loop(n, lat, 1);
	mrt_check(wait_occ(100) == MACH_RCV_TIMED_OUT, "no occurrence beyond the raised interrupts");
	get_stats(&s);
	print_stats(&s);
	mrt_check(s.raised == n && s.delivered == n && s.handled == n,
	      "raised = delivered = handled = N");
	mrt_check(s.kacks == n && s.knotes == n, "exactly N kernel notifications and device_intr_ack");
	mrt_check(s.early == 0 && s.not_mine == 0 && s.unhandled == 0 && s.stalls == 0,
	      "no early ack, NOT_MINE, unhandled occurrence or stall");
	latency("through irqd", lat, got, detail, sizeof(detail));

	/* Mask: the next interrupt is held by irqd (the kernel line stays masked) until unmask. */
	mrt_check(rpc_irqd_unmask(handle) == KERN_INVALID_ARGUMENT, "irqd refuses unmask without a mask");
	mrt_check(irqd_unmask(cl, h_att) == -EPERM, "irqd_unmask without a mask: -EPERM");
	mrt_check(irqd_mask(cl, h_att) == 0, "irqd_mask");
	raise_intr(n);
	mrt_check(wait_occ(100) == MACH_RCV_TIMED_OUT, "no occurrence while masked");
	get_stats(&s);
	mrt_check(s.knotes == n + 1 && s.raised == n, "the kernel notification was held, not fired");
	mrt_check(irqd_unmask(cl, h_att) == 0, "irqd_unmask");
	if (wait_occ(WAIT_MS) == MACH_MSG_SUCCESS) {
		mrt_check(got_occ == n + 1, "the held interrupt arrives as the next occurrence");
		mrt_check(service(n), "status after unmask");
		answer(got_occ, IRQD_HANDLED);
	} else {
		mrt_check(0, "the still-asserted line fires again after unmask");
	}
	get_stats(&s);
	print_stats(&s);
	mrt_check(s.raised == n + 1 && s.handled == n + 1 && s.kacks == n + 2 && s.knotes == n + 2,
	      "after unmask: one more occurrence; the held notification acked once");
	struct irqd_line_stats ls;
	mrt_check(irqd_line_stats(cl, "edu", &ls) == 0 && ls.raised == s.raised &&
	      ls.handled == s.handled && ls.delivered == s.delivered && ls.attachments == 1 &&
	      ls.trigger == IRQD_LEVEL, "irqd_line_stats (client API) agrees with irqd's counters");
	mrt_check(irqd_detach(cl, h_att) == 0, "irqd_detach");
	mrt_check(irqd_answer(cl, h_att, got_occ + 1, IRQD_HANDLED) == -EBADF,
	      "a detached handle gives -EBADF");
	get_stats(&s);
	mrt_check(s.sharers == 0, "detached");
	mrt_verdict(detail);
}

static void role_shared_a(unsigned n)
{
	struct stats s;
	char detail[200];

	mrt_test.name = "mach_irqd_shared";
	edu_setup();
	attach();
	if (!wait_stats(&s, sharers_are, 2, 5000))
		mrt_die("the second sharer attached");
	uint64_t *lat = calloc(n, sizeof(*lat));
	if (lat == NULL)
		mrt_die("memory");
	unsigned got = owner_loop(n, lat, 0);
	/* Interrupt i+1 is raised right after our HANDLED for i: the kernel line stays masked until
	 * the other sharer's NOT_MINE, which it sends after sleeping B_SLEEP_MS: so every interrupt
	 * but the first takes at least that long to arrive. */
	unsigned too_fast = 0;
	for (unsigned i = 1; i < got; i++)
		if (to_ns(lat[i]) < B_MIN_DELAY_NS)
			too_fast++;
	if (!wait_stats(&s, kacks_are, n, 3000))
		mrt_check(0, "the last occurrence acked after the other sharer's answer");
	print_stats(&s);
	mrt_check(too_fast == 0, "no interrupt came before the other sharer's delayed answer");
	mrt_check(s.raised == n && s.delivered == 2ull * n, "each occurrence delivered to both sharers");
	mrt_check(s.handled == n && s.not_mine == n, "N HANDLED and N NOT_MINE answers");
	mrt_check(s.kacks == n && s.knotes == n, "the kernel acked exactly once per occurrence");
	mrt_check(s.early == 0 && s.unhandled == 0 && s.stalls == 0,
	      "no ack before both answers, no unhandled occurrence, no stall");
	latency("shared (the other sharer answers after a 20 ms sleep)", lat, got, detail,
		sizeof(detail));
	printf("edu_drv %s: %u of %u interrupts arrived sooner than the other sharer's delay\n", role,
	       too_fast, got ? got - 1 : 0);
	snprintf(detail, sizeof(detail), "%u occurrences to 2 sharers, %llu kernel acks, each after "
		 "both answers", got, (unsigned long long)s.kacks);
	mrt_verdict(detail);
}

static void role_shared_b(unsigned n)
{
	mrt_test.name = "mach_irqd_shared";
	attach();
	for (unsigned i = 0; i < n; i++) {
		mach_msg_return_t mr = wait_occ(10000);
		if (mr != MACH_MSG_SUCCESS) {
			printf("edu_drv %s: occurrence %u: 0x%x\n", role, i + 1, mr);
			mrt_die("the other sharer receives every occurrence");
		}
		if (got_occ != i + 1 || got_handle != h_att)
			mrt_check(0, "the other sharer sees occurrences 1..N on its handle");
		sleep_ms(B_SLEEP_MS);
		answer(got_occ, IRQD_NOT_MINE);
	}
	printf("edu_drv %s: answered NOT_MINE to %u occurrences\n", role, n);
	if (mrt_test.failures)
		mrt_verdict("(the NOT_MINE sharer failed)");
	mrt_task_exit(0);
}

static void role_dead_a(void)
{
	struct stats s;

	mrt_test.name = "mach_irqd_dead";
	edu_setup();
	attach();
	if (!wait_stats(&s, sharers_are, 2, 5000))
		mrt_die("the victim attached");
	raise_intr(0);
	if (wait_occ(WAIT_MS) != MACH_MSG_SUCCESS)
		mrt_die("occurrence 1");
	mrt_check(got_occ == 1, "occurrence 1");
	mrt_check(service(0), "status of interrupt 1");
	answer(got_occ, IRQD_HANDLED);
	/* The victim never answers: only its death (dead-name notification) completes it. */
	int back = wait_stats(&s, kacks_are, 1, 3000);
	print_stats(&s);
	mrt_check(back, "the line is acked after the victim died without answering");
	mrt_check(s.dead == 1 && s.sharers == 1, "irqd saw one dead client; one sharer is left");
	mrt_check(s.stalls == 0, "by the death, not by the ack deadline");
	raise_intr(1);
	if (wait_occ(WAIT_MS) == MACH_MSG_SUCCESS) {
		mrt_check(got_occ == 2, "the survivor gets the next occurrence");
		mrt_check(service(1), "status of interrupt 2");
		answer(got_occ, IRQD_HANDLED);
	} else {
		mrt_check(0, "the line came back: the survivor gets the next occurrence");
	}
	get_stats(&s);
	print_stats(&s);
	mrt_check(s.raised == 2 && s.kacks == 2 && s.handled == 2 && s.early == 0,
	      "two occurrences, two kernel acks, both handled, no early ack");
	mrt_verdict(mrt_test.failures ? "(see above)" : "the victim's pending answer counted at its death");
}

static void role_dead_d(void)
{
	mrt_test.name = "mach_irqd_dead";
	attach();
	if (wait_occ(10000) != MACH_MSG_SUCCESS)
		mrt_die("the victim gets occurrence 1");
	printf("edu_drv %s: got occurrence %llu, exiting without answering\n", role,
	       (unsigned long long)got_occ);
	mrt_task_exit(0);
}

/* mach_irqd_two_devices: two edu devices (00:04.0 and 00:08.0, both INTA#: on i440fx both
 * route to PIRQD, which SeaBIOS sets to IRQ 11), each owned by one driver task, both attached
 * to line "edu". Round r (occurrence r) has a fixed pattern: device A only, B only, or both.
 * The owner of a device raises it for round r+1 while servicing round r, before its answer:
 * the kernel line is masked until irqd's ack, which comes after both answers, so every raise
 * of round r+1 is pending when the line is unmasked and occurrence r+1 covers exactly them. */
#define TWO_A 1u
#define TWO_B 2u

static unsigned two_pattern(unsigned r)
{
	return r == 1 ? TWO_A : 1u + (r * 5u + r / 7u) % 3u; /* 1 A, 2 B, 3 both */
}

static const char *two_name(unsigned p)
{
	return p == TWO_A ? "A" : p == TWO_B ? "B" : "A+B";
}

static void two_config(uint8_t line[2], uint8_t pin[2], uint16_t bdf[2])
{
	for (int i = 0; i < 2; i++) {
		if (mrt_pci_find(EDU_VENDOR, EDU_DEVICE, i, &bdf[i]) != 0)
			mrt_die("two edu devices (mach/run -- -device edu,addr=08.0)");
		line[i] = mrt_pci_read8(bdf[i], MRT_PCI_INTERRUPT_LINE);
		pin[i] = mrt_pci_read8(bdf[i], MRT_PCI_INTERRUPT_PIN);
		printf("edu_drv %s: edu %d at 00:%02x.%x: interrupt pin %u (INT%c#), line (0x3C) %u\n",
		       role, i, MRT_PCI_DEV(bdf[i]), MRT_PCI_FN(bdf[i]), pin[i],
		       pin[i] ? 'A' + pin[i] - 1 : '-', line[i]);
	}
}

static void role_two(unsigned me, unsigned n)
{
	struct stats s;
	uint8_t line[2], pin[2];
	uint16_t bdf[2];
	unsigned mine_expected = 0, handled = 0, not_mine = 0, by_pattern[4] = { 0 };
	char detail[240];

	mrt_test.name = "mach_irqd_two_devices";
	edu_setup_index(me == TWO_A ? 0 : 1);
	two_config(line, pin, bdf);
	mrt_check(line[0] == line[1] && line[0] != 0 && line[0] < 16,
	      "both edu devices have the same interrupt line in config register 0x3C");
	attach();
	if (me == TWO_A) {
		if (!wait_stats(&s, sharers_are, 2, 5000))
			mrt_die("the other driver attached");
		raise_intr(1);
	}
	/* The interrupt loop, as on Linux (omega0-api/include/irqd/client.h). */
	unsigned r = 1;
	while (r <= n) {
		struct irqd_event ev[4];
		int k = irqd_wait(cl, ev, 4, WAIT_MS);
		if (k <= 0) {
			printf("edu_drv %s: round %u (%s): irqd_wait: %d %s\n", role, r,
			       two_name(two_pattern(r)), k, irqd_last_error());
			mrt_die("one occurrence per round");
		}
		for (int i = 0; i < k; i++, r++) {
			unsigned p = two_pattern(r);
			if (ev[i].occurrence != r || ev[i].handle != h_att || ev[i].count != 1) {
				printf("edu_drv %s: round %u: occurrence %llu handle %u count %llu\n",
				       role, r, (unsigned long long)ev[i].occurrence, ev[i].handle,
				       (unsigned long long)ev[i].count);
				mrt_check(0, "occurrence r in round r, our handle, count 1");
			}
			by_pattern[p]++;
			/* The driver's question: did MY device interrupt? Its status register says. */
			uint32_t st = mrt_mmio_read32(mmio, EDU_INTR_STATUS);
			bool mine = st != 0;
			if (mine)
				mrt_mmio_write32(mmio, EDU_INTR_ACK, st);
			if (p & me) {
				mine_expected++;
				if (st != (1u << (r & 31))) {
					printf("edu_drv %s: round %u (%s): status 0x%x\n", role, r,
					       two_name(p), st);
					mrt_check(0, "our device's status holds this round's bit");
				}
			} else if (mine) {
				printf("edu_drv %s: round %u (%s): status 0x%x on a round not ours\n",
				       role, r, two_name(p), st);
				mrt_check(0, "our device is quiet on the other device's rounds");
			}
			unsigned next = r < n ? two_pattern(r + 1) : 0;
			if (next == (TWO_A | TWO_B))
				raise_intr(r + 1); /* both at once: pending until irqd acks r */
			int a = irqd_answer(cl, ev[i].handle, ev[i].occurrence,
					    mine ? IRQD_HANDLED : IRQD_NOT_MINE);
			if (a < 0) {
				printf("edu_drv %s: irqd_answer: %d %s\n", role, a, irqd_last_error());
				mrt_check(0, "irqd_answer accepted");
			}
			if (next == me)
				raise_intr(r + 1); /* alone: whenever, the line idle or still masked */
			if (mine)
				handled++;
			else
				not_mine++;
		}
	}
	mrt_check(handled == mine_expected, "every raise of our device serviced exactly once, by us");
	mrt_check(wait_occ(100) == MACH_RCV_TIMED_OUT, "no occurrence beyond the rounds");
	printf("edu_drv %s: %u rounds: handled %u (raised %u), not mine %u; rounds A %u, B %u, "
	       "A+B %u\n", role, n, handled, mine_expected, not_mine, by_pattern[TWO_A],
	       by_pattern[TWO_B], by_pattern[TWO_A | TWO_B]);
	if (me == TWO_B) {
		if (mrt_test.failures)
			mrt_verdict("(driver B failed)");
		mrt_check(irqd_detach(cl, h_att) == 0, "B: irqd_detach");
		if (mrt_test.failures)
			mrt_verdict("(driver B failed)");
		mrt_task_exit(0);
	}
	/* A: the line's counters, once B is done (it detaches only when its own checks held). */
	if (!wait_stats(&s, kacks_are, n, 3000))
		mrt_check(0, "the last occurrence acked");
	if (!wait_stats(&s, sharers_are, 1, 5000))
		mrt_check(0, "driver B finished its checks and detached");
	print_stats(&s);
	unsigned raises = by_pattern[TWO_A] + by_pattern[TWO_B] + 2 * by_pattern[TWO_A | TWO_B];
	mrt_check(s.raised == n && s.knotes == n && s.kacks == n,
	      "one kernel notification and one device_intr_ack per occurrence");
	mrt_check(s.delivered == 2ull * n, "each occurrence delivered to both drivers");
	mrt_check(s.handled == raises, "handled = raises of both devices (B's exact: total - A's)");
	mrt_check(s.handled + s.not_mine == 2ull * n, "handled + not_mine = 2 per occurrence");
	mrt_check(s.unhandled == 0 && s.stalls == 0 && s.early == 0,
	      "no unhandled occurrence, no stall, no ack before both answers");
	snprintf(detail, sizeof(detail),
		 "irq %u on both (0x3C), %u occurrences (A %u, B %u, both %u): handled %llu = "
		 "%u raises, not_mine %llu, kernel acks %llu", line[0], n, by_pattern[TWO_A],
		 by_pattern[TWO_B], by_pattern[TWO_A | TWO_B], (unsigned long long)s.handled, raises,
		 (unsigned long long)s.not_mine, (unsigned long long)s.kacks);
	mrt_verdict(detail);
}

/* mach_irqd_latency: in one boot, the same driver first takes the edu line straight from the
 * kernel (device_intr_register on the irq device, device_intr_ack: as libirqhelp does) for
 * N interrupts, gives it up (destroys the port: the kernel drops the registration), then
 * attaches through irqd (started with kernel=lazy: it registers the line at this first
 * attachment) for N more. Raise (write of BAR0+0x60) to receipt (return of mach_msg) both ways. */
struct pct {
	uint64_t med, p90;
};

static struct pct percentiles(uint64_t *lat, unsigned got)
{
	struct pct p = { 0, 0 };

	if (got) {
		qsort(lat, got, sizeof(*lat), cmp_u64);
		p.med = lat[got / 2];
		p.p90 = lat[(got * 9) / 10];
	}
	return p;
}

static void role_latency(unsigned n)
{
	struct mrt_irq irq;
	struct stats s;
	unsigned got_d = 0, bad = 0;
	char detail[300];

	mrt_test.name = "mach_irqd_latency";
	edu_setup();
	uint16_t bdf;
	(void)mrt_pci_find(EDU_VENDOR, EDU_DEVICE, 0, &bdf);
	int line = mrt_pci_read8(bdf, MRT_PCI_INTERRUPT_LINE);
	uint64_t *lat_d = calloc(n, sizeof(*lat_d)), *lat_i = calloc(n, sizeof(*lat_i));
	if (lat_d == NULL || lat_i == NULL)
		mrt_die("memory");

	/* 1. Direct. */
	kern_return_t kr = mrt_irq_register(&irq, line);
	if (kr != KERN_SUCCESS) {
		printf("edu_drv %s: device_intr_register(irq %d): 0x%x\n", role, line, kr);
		mrt_die("direct registration (is irqd registered already? it must run kernel=lazy)");
	}
	for (unsigned i = 0; i < n; i++) {
		uint64_t t0 = mrt_rdtsc();
		raise_intr(i);
		mach_msg_return_t mr = mrt_irq_wait(&irq, WAIT_MS);
		uint64_t t1 = mrt_rdtsc();
		if (mr != MACH_MSG_SUCCESS) {
			printf("edu_drv %s: direct interrupt %u: 0x%x\n", role, i, mr);
			break;
		}
		lat_d[got_d++] = t1 - t0;
		if (!service(i))
			bad++;
		if (mrt_irq_ack(&irq) != KERN_SUCCESS)
			bad++;
	}
	mrt_check(got_d == n && bad == 0, "direct: every interrupt received, serviced and acked");
	mrt_check(mrt_irq_wait(&irq, 100) == MACH_RCV_TIMED_OUT, "direct: no extra notification");
	mrt_irq_release(&irq);

	/* 2. Through irqd. */
	get_stats(&s);
	mrt_check(s.sharers == 0 && s.knotes == 0, "irqd has not seen the line before our attach");
	attach();
	unsigned got_i = owner_loop(n, lat_i, 0);
	mrt_check(wait_occ(100) == MACH_RCV_TIMED_OUT, "irqd: no occurrence beyond the raised ones");
	get_stats(&s);
	print_stats(&s);
	mrt_check(s.raised == n && s.handled == n && s.knotes == n && s.kacks == n && s.early == 0,
	      "irqd: raised = handled = kernel notifications = kernel acks = N");
	mrt_check(irqd_detach(cl, h_att) == 0, "irqd_detach");

	struct pct d = percentiles(lat_d, got_d), q = percentiles(lat_i, got_i);
	uint64_t ratio = d.med ? (q.med * 100 + d.med / 2) / d.med : 0;
	printf("edu_drv %s: direct: median %llu cycles (%llu ns), p90 %llu cycles (%llu ns) over %u\n",
	       role, (unsigned long long)d.med, (unsigned long long)to_ns(d.med),
	       (unsigned long long)d.p90, (unsigned long long)to_ns(d.p90), got_d);
	printf("edu_drv %s: irqd:   median %llu cycles (%llu ns), p90 %llu cycles (%llu ns) over %u\n",
	       role, (unsigned long long)q.med, (unsigned long long)to_ns(q.med),
	       (unsigned long long)q.p90, (unsigned long long)to_ns(q.p90), got_i);
	snprintf(detail, sizeof(detail),
		 "N=%u each, one boot: direct median %llu us p90 %llu us; irqd median %llu us p90 "
		 "%llu us; ratio irqd/direct %llu.%02llu (median)", n,
		 (unsigned long long)(to_ns(d.med) / 1000), (unsigned long long)(to_ns(d.p90) / 1000),
		 (unsigned long long)(to_ns(q.med) / 1000), (unsigned long long)(to_ns(q.p90) / 1000),
		 (unsigned long long)(ratio / 100), (unsigned long long)(ratio % 100));
	mrt_verdict(detail);
}

/* mach_irqd_coalesce: line "edu" declared edge (line=edu:pci:1234:11e8:edge): irqd counts each
 * kernel notification as an event and acks it at once, so the source must drop by itself, as an
 * MSI would. The edu INTx is level: for each event the driver raises, waits until the kernel
 * took the interrupt (it masks the line: slave 8259 IMR bit 3, port 0xa1), clears the device and
 * then waits until irqd acked (its kernel_acks counter): the line is down when irqd unmasks it. */
static int kacks_eq(const struct stats *s, uint64_t n) { return s->kacks == n; }
static unsigned imr_seen;

static void edge_event(unsigned i)
{
	struct stats s;
	uint64_t t0;

	raise_intr(0);
	t0 = mrt_rdtsc();
	while (mrt_rdtsc() - t0 < hz / 500) /* up to 2 ms */
		if (inb(0xa1) & 0x08) {
			imr_seen++;
			break;
		}
	mrt_mmio_write32(mmio, EDU_INTR_ACK, mrt_mmio_read32(mmio, EDU_INTR_STATUS));
	if (!wait_stats(&s, kacks_eq, i + 1, 2000)) {
		print_stats(&s);
		mrt_die("irqd acked each edge event once");
	}
}

static void role_coalesce(unsigned n)
{
	struct irqd_coalesce_params cp = { .usecs = 1000000, .frames = 8 };
	struct irqd_event ev[16];
	struct irqd_line_desc d;
	struct stats s;
	unsigned batches = 0, bad = 0, total = 0, k = 0;
	char detail[200];

	mrt_test.name = "mach_irqd_coalesce";
	if (n % 8)
		mrt_die("N must be a multiple of 8");
	if (mrt_io_perm(0xa0, 0xa1) != KERN_SUCCESS)
		mrt_die("I/O permission for the slave 8259");
	edu_setup();
	mrt_check(irqd_line_next(cl, NULL, &d) == 0 && d.trigger == IRQD_EDGE, "line edu is edge");
	struct irqd_coalesce_params badp = { .usecs = 5000000 };
	mrt_check(irqd_attach(cl, "edu", IRQD_ATTACH_SHARED, &badp, &h_att) == -EINVAL,
	      "usecs above COALESCE_MAX_USECS refused");
	if (irqd_attach(cl, "edu", IRQD_ATTACH_SHARED, &cp, &h_att) < 0)
		mrt_die("irqd_attach with frames=8 usecs=1000000");
	/* 1: frames = 8 (usecs 1 s): n events come as n/8 batches of 8. */
	for (unsigned i = 0; i < n; i++) {
		edge_event(k++);
		int r = irqd_poll(cl, ev, 16);
		for (int j = 0; j < r; j++) {
			batches++;
			total += (unsigned)ev[j].count;
			if ((ev[j].count != 8 || ev[j].occurrence != 0) && bad++ < 3)
				printf("edu_drv coalesce: batch %u: count %llu occurrence %llu\n",
				       batches, (unsigned long long)ev[j].count,
				       (unsigned long long)ev[j].occurrence);
		}
	}
	while (total < n) {
		int r = irqd_wait(cl, ev, 16, WAIT_MS);
		if (r <= 0)
			break;
		for (int j = 0; j < r; j++) {
			batches++;
			total += (unsigned)ev[j].count;
			if (ev[j].count != 8)
				bad++;
		}
	}
	mrt_check(irqd_wait(cl, ev, 16, 100) == 0, "no batch beyond the events");
	printf("edu_drv coalesce: frames=8: %u events in %u batches (8259 mask seen %u/%u)\n", total,
	       batches, imr_seen, n);
	mrt_check(total == n && batches == n / 8 && bad == 0, "frames=8: N/8 batches of 8, total N");
	/* 2: usecs only (20 ms): each round of 3 events comes as one batch of 3, no sooner than
	 * 20 ms after the first raise. */
	struct irqd_coalesce_params up = { .usecs = 20000 };
	if (irqd_set_coalesce(cl, h_att, &up) < 0)
		mrt_die("irqd_set_coalesce usecs=20000");
	uint64_t min_ns = UINT64_MAX, max_ns = 0, min_held = UINT64_MAX;
	unsigned bad_held = 0;
	unsigned rounds = 5, rtotal = 0, rbatches = 0;
	for (unsigned r = 0; r < rounds; r++) {
		uint64_t t0 = mrt_rdtsc(), first_rx = 0;
		unsigned got = 0;
		for (unsigned i = 0; i < 3; i++)
			edge_event(k++);
		while (got < 3) {
			int m = irqd_wait(cl, ev, 16, WAIT_MS);
			if (m <= 0)
				break;
			if (!first_rx)
				first_rx = mrt_rdtsc();
			for (int j = 0; j < m; j++) {
				got += (unsigned)ev[j].count;
				rbatches++;
				/* irqd's own clock: sent no sooner than usecs after the first event */
				uint64_t held = ev[j].delivered_ns - ev[j].first_ns;
				if (held < 20000000ull && bad_held++ < 3)
					printf("edu_drv coalesce: batch held %llu ns only\n",
					       (unsigned long long)held);
				if (held < min_held)
					min_held = held;
			}
		}
		rtotal += got;
		uint64_t dt = first_rx ? to_ns(first_rx - t0) : 0;
		if (dt < min_ns)
			min_ns = dt;
		if (dt > max_ns)
			max_ns = dt;
		mrt_check(got == 3, "usecs=20000: the 3 events of the round");
	}
	printf("edu_drv coalesce: usecs=20000: %u events in %u batches, first raise to batch "
	       "%llu..%llu us\n", rtotal, rbatches, (unsigned long long)(min_ns / 1000),
	       (unsigned long long)(max_ns / 1000));
	mrt_check(rbatches == rounds, "usecs=20000: one batch per round");
	/* irqd's delivered_ns - first_ns, one clock (this task's TSC calibration differs from
	 * irqd's by a few per cent: the raise-to-receipt figure above is only indicative). */
	mrt_check(bad_held == 0, "usecs=20000: no batch sent sooner than 20 ms after its first event");
	printf("edu_drv coalesce: usecs=20000: shortest hold (irqd's clock) %llu us\n",
	       (unsigned long long)(min_held / 1000));
	get_stats(&s);
	print_stats(&s);
	mrt_check(s.raised == k && s.knotes == k && s.kacks == k && s.delivered == k,
	      "irqd counted every event once (raised = kernel notifications = acks = delivered)");
	snprintf(detail, sizeof(detail), "frames=8: %u events as %u batches; usecs=20000: %u rounds "
		 "of 3 as %u batches, held >= %llu us (raise to receipt %llu..%llu us)", total,
		 batches, rounds, rbatches, (unsigned long long)(min_held / 1000),
		 (unsigned long long)(min_ns / 1000), (unsigned long long)(max_ns / 1000));
	mrt_verdict(detail);
}

/* mach_irqd_pass_enum: pass-b first (created suspended), then pass-a given B's task port. A
 * enumerates, attaches, runs N/2 rounds, receives occurrence N/2+1 and, without answering it,
 * passes its attachment; the token goes to B on a port A makes in B's space at PASS_PORT_NAME.
 * B accepts, gets occurrence N/2+1 again (it was owed), services and answers it, runs the other
 * rounds and gives the verdict: every occurrence once, counters exact. */
#define PASS_PORT_NAME 0x7e570
struct token_msg {
	mach_msg_header_t head;
	uint64_t token;
};

static void role_pass_a(unsigned n, mach_port_t taskb)
{
	struct irqd_line_desc d;
	struct irqd_event ev;
	mach_port_t port, sendr;
	mach_msg_type_name_t type;
	uint64_t token;
	unsigned half = n / 2;

	mrt_test.name = "mach_irqd_pass_enum";
	edu_setup();
	int r = irqd_line_next(cl, NULL, &d);
	mrt_check(r == 0 && strcmp(d.name, "edu") == 0 && d.trigger == IRQD_LEVEL,
	      "enumeration: first line edu, level");
	printf("edu_drv pass-a: line %u: %s, %s, %u attachment(s)\n", d.id, d.name,
	       d.trigger == IRQD_LEVEL ? "level" : "edge", d.attachments);
	mrt_check(irqd_line_next(cl, &d, &d) == -ENOENT, "enumeration: -ENOENT after the last line");
	attach();
	for (unsigned i = 0; i < half; i++) {
		raise_intr(i);
		if (wait_occ(WAIT_MS) != MACH_MSG_SUCCESS || got_occ != i + 1)
			mrt_die("A: one occurrence per raise");
		if (!service(i))
			mrt_check(0, "A: device status");
		answer(got_occ, IRQD_HANDLED);
	}
	raise_intr(half);
	if (wait_occ(WAIT_MS) != MACH_MSG_SUCCESS || got_occ != half + 1)
		mrt_die("A: the occurrence to pass");
	if (irqd_pass(cl, h_att, &token) < 0)
		mrt_die("irqd_pass");
	if (mach_port_allocate_name(taskb, MACH_PORT_RIGHT_RECEIVE, PASS_PORT_NAME) != KERN_SUCCESS ||
	    mach_port_extract_right(taskb, PASS_PORT_NAME, MACH_MSG_TYPE_MAKE_SEND, &sendr, &type) !=
		    KERN_SUCCESS)
		mrt_die("a port in B's space");
	port = sendr;
	struct token_msg m = { .head = { .msgh_bits = MACH_MSGH_BITS(MACH_MSG_TYPE_COPY_SEND, 0),
					 .msgh_size = sizeof(m), .msgh_remote_port = port,
					 .msgh_id = 4711 }, .token = token };
	if (mach_msg(&m.head, MACH_SEND_MSG, sizeof(m), 0, MACH_PORT_NULL, 0, MACH_PORT_NULL))
		mrt_die("sending the token");
	printf("edu_drv pass-a: passed the attachment (occurrence %llu unanswered)\n",
	       (unsigned long long)got_occ);
	/* Nothing more for A: no occurrence, and its old handle is dead once B accepted. */
	int got = irqd_wait(cl, &ev, 1, 3000);
	mrt_check(got == 0, "A: no occurrence after the pass");
	mrt_check(irqd_answer(cl, h_att, half + 1, IRQD_HANDLED) < 0, "A: the old handle is dead");
	if (mrt_test.failures)
		mrt_verdict("(A)");
	printf("edu_drv pass-a: done, no occurrence after the pass\n");
	mrt_task_exit(0);
}

static void role_pass_b(unsigned n)
{
	struct token_msg m;
	struct irqd_line_desc d;
	struct stats s;
	unsigned half = n / 2, bad = 0;
	char detail[160];
	mach_msg_return_t mr;

	mrt_test.name = "mach_irqd_pass_enum";
	edu_setup();
	for (unsigned t = 0;; t++) {
		mr = mach_msg(&m.head, MACH_RCV_MSG | MACH_RCV_TIMEOUT, 0, sizeof(m), PASS_PORT_NAME,
			      100, MACH_PORT_NULL);
		if (mr == MACH_MSG_SUCCESS)
			break;
		if (t > 100)
			mrt_die("B: no token from A");
		if (mr == MACH_RCV_INVALID_NAME)
			sleep_ms(10);
	}
	if (irqd_accept(cl, m.token, &h_att) < 0) {
		printf("edu_drv pass-b: irqd_accept: %s\n", irqd_last_error());
		mrt_die("irqd_accept");
	}
	{
		uint32_t h2;
		mrt_check(irqd_accept(cl, m.token, &h2) == -ENOENT, "a token is good once");
	}
	mrt_check(irqd_line_next(cl, NULL, &d) == 0 && d.attachments == 1,
	      "enumeration: edu has one attachment after the pass");
	/* The occurrence A was given and did not answer comes again, same number. */
	if (wait_occ(WAIT_MS) != MACH_MSG_SUCCESS || got_occ != half + 1)
		mrt_die("B: the passed occurrence");
	if (!service(half))
		mrt_check(0, "B: device status of the passed occurrence");
	answer(got_occ, IRQD_HANDLED);
	for (unsigned i = half + 1; i < n; i++) {
		raise_intr(i);
		if (wait_occ(WAIT_MS) != MACH_MSG_SUCCESS) {
			mrt_check(0, "B: one occurrence per raise");
			break;
		}
		if (got_occ != i + 1 && bad++ < 3)
			printf("edu_drv pass-b: raise %u: occurrence %llu\n", i,
			       (unsigned long long)got_occ);
		if (!service(i))
			bad++;
		answer(got_occ, IRQD_HANDLED);
	}
	struct irqd_event ev;
	mrt_check(irqd_wait(cl, &ev, 1, 100) == 0, "B: no extra occurrence");
	mrt_check(bad == 0, "B: occurrences in order, device status as raised");
	get_stats(&s);
	print_stats(&s);
	mrt_check(s.raised == n && s.delivered == n && s.handled == n && s.kacks == n &&
		      s.knotes == n && s.not_mine == 0 && s.early == 0 && s.sharers == 1,
	      "counters exact: raised = delivered = handled = kernel acks = N, one sharer");
	snprintf(detail, sizeof(detail), "enumerated edu; A handled %u, passed occurrence %u "
		 "unanswered, B answered it and %u more; counters exact", half, half + 1,
		 n - half - 1);
	mrt_verdict(detail);
}

/* mach_edu_dma: edu's DMA engine (BAR0 0x80 src, 0x88 dst, 0x90 count, 0x98 command: bit 0
 * start, bit 1 direction (QEMU's edu.c: 0 = RAM -> device buffer, 1 = device buffer -> RAM;
 * the reverse makes QEMU abort with "DMA range out of bounds"), bit 2 raise interrupt 0x100; device buffer at device
 * address 0x40000, 4 KiB; addresses below 2^28, edu's DMA mask) with a buffer from
 * vm_allocate_contiguous and bus mastering on. Each round: a pattern to the device, back into
 * a second page, each completion an occurrence through irqd (status 0x100), compared. */
#define EDU_DMA_SRC 0x80
#define EDU_DMA_DST 0x88
#define EDU_DMA_COUNT 0x90
#define EDU_DMA_CMD 0x98
#define EDU_DMA_BUF 0x40000
#define EDU_DMA_IRQ 0x100

static uint64_t dma_wait(unsigned *bad)
{
	uint64_t t0 = mrt_rdtsc();
	if (wait_occ(WAIT_MS) != MACH_MSG_SUCCESS)
		mrt_die("a DMA completion interrupt through irqd");
	uint64_t t1 = mrt_rdtsc();
	uint32_t st = mrt_mmio_read32(mmio, EDU_INTR_STATUS);
	if (st != EDU_DMA_IRQ)
		(*bad)++;
	mrt_mmio_write32(mmio, EDU_INTR_ACK, st);
	answer(got_occ, IRQD_HANDLED);
	return t1 - t0;
}

static void role_dma(unsigned rounds)
{
	/* 4096 bytes (the whole device buffer) would be refused by QEMU 7.2's edu_check_range
	 * (its end must be strictly below the buffer's end: an off-by-one, fatal hw_error): 2 KiB
	 * per transfer, each in its own page of the contiguous buffer. */
	const size_t len = 2048, page = 4096;
	vm_address_t va = 0;
	rpc_phys_addr_t pa = 0;
	uint16_t bdf;
	unsigned bad_status = 0, bad_data = 0;
	uint64_t wmax = 0;
	struct stats s;
	char detail[160];

	mrt_test.name = "mach_edu_dma";
	edu_setup();
	if (mrt_pci_find(EDU_VENDOR, EDU_DEVICE, 0, &bdf) != 0)
		mrt_die("no edu");
	mrt_pci_write16(bdf, MRT_PCI_COMMAND,
			(uint16_t)(mrt_pci_read16(bdf, MRT_PCI_COMMAND) | MRT_PCI_CMD_MASTER));
	kern_return_t kr = vm_allocate_contiguous(mrt_host_priv, mach_task_self(), &va, &pa,
						  2 * page, 0, 0x100000000ull, 4096);
	if (kr != KERN_SUCCESS) {
		printf("edu_drv dma: vm_allocate_contiguous: 0x%x\n", kr);
		mrt_die("vm_allocate_contiguous");
	}
	if (pa + 2 * page > (1ull << 28))
		mrt_die("the DMA buffer below 2^28 (edu's DMA mask)");
	printf("edu_drv dma: buffer va 0x%lx pa 0x%llx\n", (unsigned long)va,
	       (unsigned long long)pa);
	volatile uint8_t *src = (volatile uint8_t *)va, *dst = src + page;
	attach();
	for (unsigned r = 0; r < rounds; r++) {
		for (size_t i = 0; i < len; i++) {
			src[i] = (uint8_t)(i * 7 + r * 31 + (i >> 8));
			dst[i] = 0xee;
		}
		/* RAM -> device buffer */
		mrt_mmio_write64(mmio, EDU_DMA_SRC, pa);
		mrt_mmio_write64(mmio, EDU_DMA_DST, EDU_DMA_BUF);
		mrt_mmio_write64(mmio, EDU_DMA_COUNT, len);
		mrt_mmio_write64(mmio, EDU_DMA_CMD, 1 | 4);	/* direction 0: RAM -> edu */
		uint64_t w = dma_wait(&bad_status);
		if (w > wmax)
			wmax = w;
		/* device buffer -> RAM (the second page) */
		mrt_mmio_write64(mmio, EDU_DMA_SRC, EDU_DMA_BUF);
		mrt_mmio_write64(mmio, EDU_DMA_DST, pa + page);
		mrt_mmio_write64(mmio, EDU_DMA_COUNT, len);
		mrt_mmio_write64(mmio, EDU_DMA_CMD, 1 | 2 | 4);	/* direction 1: edu -> RAM */
		w = dma_wait(&bad_status);
		if (w > wmax)
			wmax = w;
		for (size_t i = 0; i < len; i++)
			if (dst[i] != src[i]) {
				if (bad_data++ < 3)
					printf("edu_drv dma: round %u byte %lu: 0x%02x, not 0x%02x\n", r,
					       (unsigned long)i, dst[i], src[i]);
				break;
			}
	}
	get_stats(&s);
	print_stats(&s);
	mrt_check(bad_status == 0, "each completion interrupt had status 0x100 (DMA done)");
	mrt_check(bad_data == 0, "the data round-tripped (RAM -> device -> RAM)");
	mrt_check(s.raised == 2 * rounds && s.handled == 2 * rounds && s.kacks == 2 * rounds,
	      "one occurrence per DMA, counters exact");
	snprintf(detail, sizeof(detail), "%u rounds of 2 KiB to the device and back, %u completion "
		 "interrupts through irqd, data equal; longest wait %llu ms (edu's DMA timer: 100 ms)",
		 rounds, 2 * rounds, (unsigned long long)(to_ns(wmax) / 1000000));
	mrt_verdict(detail);
}

/* mach_irqd_storm: edu's INTx stays asserted (raised once, never serviced) and every occurrence
 * is answered NOT_MINE; the kernel re-notifies after each ack, so the line storms until irqcore's
 * storm rule (irqd/core/line.h) disables it: after IRQCORE_STORM_WINDOW completed occurrences of
 * which more than IRQCORE_STORM_UNHANDLED were unhandled (here all: exactly the window). */
#define STORM_LIMIT_MS 60000u
#define STORM_MAX_WINDOWS 64
#define STORM_GAP_MS 50u /* a gap this long may be IRQCORE_STORM_QUIET_NS (100 ms) in irqd */
/* Milliseconds of a TSC interval (to_ns overflows past ~8 s at 2 GHz). */
static uint64_t to_ms(uint64_t cycles) { return hz >= 1000 ? cycles / (hz / 1000) : 0; }

static void role_storm(void)
{
	const uint64_t win = IRQCORE_STORM_WINDOW;
	struct irqd_line_desc d;
	struct stats s;
	uint64_t got = 0, bad_occ = 0, t0, t1, tmax, last, gap;
	uint64_t wgap[STORM_MAX_WINDOWS] = { 0 }; /* per window: the longest gap seen, cycles */
	char detail[200];
	int disabled = 0;

	mrt_test.name = "mach_irqd_storm";
	_Static_assert(IRQCORE_STORM_WINDOW > IRQCORE_STORM_UNHANDLED,
		       "an all-unhandled window is a storm");
	edu_setup();
	attach();
	/* Before: the line is neither disabled nor counted as such; enable needs the right. */
	get_stats(&s);
	mrt_check(s.disables == 0 && !(s.flags & IRQD_LINE_DISABLED), "not disabled at start");
	mrt_check(rpc_irqd_line_enable(server, "edu", server) == KERN_NO_ACCESS,
	      "irqd_line_enable with another port as the right is refused (KERN_NO_ACCESS)");
	mrt_check(irqd_line_enable(cl, "nosuch") == -ENOENT, "irqd_line_enable of an unknown line: -ENOENT");

	t0 = mrt_rdtsc();
	tmax = t0 + hz * (STORM_LIMIT_MS / 1000);
	raise_intr(0);
	last = t0;
	for (;;) {
		mach_msg_return_t mr = wait_occ(200);
		if (mr == MACH_MSG_SUCCESS) {
			uint64_t now = mrt_rdtsc();
			if (got_occ != got + 1)
				bad_occ++;
			gap = now - last;
			last = now;
			if (got / win < STORM_MAX_WINDOWS && gap > wgap[got / win])
				wgap[got / win] = gap;
			got++;
			answer(got_occ, IRQD_NOT_MINE);
		} else if (mr == MACH_RCV_TIMED_OUT) {
			/* Quiet for 200 ms: disabled (or lost); the stats say which. */
			get_stats(&s);
			if (s.flags & IRQD_LINE_DISABLED) {
				disabled = 1;
				break;
			}
			printf("edu_drv storm: no occurrence for 200 ms after %llu, line not disabled\n",
			       (unsigned long long)got);
		} else {
			mrt_die("irqd_wait");
		}
		if (mrt_rdtsc() > tmax)
			break;
		if (got % 20000 == 0 && mr == MACH_MSG_SUCCESS)
			printf("edu_drv storm: %llu occurrences after %llu ms\n", (unsigned long long)got,
			       (unsigned long long)to_ms(mrt_rdtsc() - t0));
	}
	t1 = mrt_rdtsc();
	uint64_t storm_ms = to_ms(t1 - t0) - 200; /* less the quiet 200 ms that told */
	get_stats(&s);
	print_stats(&s);
	printf("edu_drv storm: disables %llu flags 0x%x; %llu occurrences in %llu ms (%llu per s); "
	       "rule: > %u unhandled of %u\n",
	       (unsigned long long)s.disables, s.flags, (unsigned long long)got,
	       (unsigned long long)storm_ms,
	       (unsigned long long)(storm_ms ? got * 1000 / storm_ms : 0),
	       IRQCORE_STORM_UNHANDLED, IRQCORE_STORM_WINDOW);
	if (!disabled)
		mrt_die("the storm rule disabled the line within 60 s");
	/* The rule is judged at the end of each window: the line goes at the end of the first one
	 * (exactly IRQCORE_STORM_WINDOW unhandled occurrences) unless a gap over 100 ms (the quiet
	 * reset: the host stalled QEMU) restarted the unhandled count in it; then at a later window's
	 * end, and each earlier window must show such a gap (over STORM_GAP_MS as the driver saw it). */
	uint64_t windows = got / win;
	mrt_check(got % win == 0 && windows >= 1 && windows <= STORM_MAX_WINDOWS && bad_occ == 0,
	      "occurrences 1..k*WINDOW in order, then none");
	for (uint64_t w = 0; w + 1 < windows && w < STORM_MAX_WINDOWS; w++) {
		printf("edu_drv storm: window %llu not a storm: longest gap %llu ms (quiet reset)\n",
		       (unsigned long long)(w + 1), (unsigned long long)to_ms(wgap[w]));
		mrt_check(to_ms(wgap[w]) >= STORM_GAP_MS, "an earlier window was reset by a quiet gap");
	}
	mrt_check(s.disables == 1 && (s.flags & IRQD_LINE_DISABLED) && (s.flags & IRQD_LINE_MASKED),
	      "disables = 1, line DISABLED and masked");
	mrt_check(s.raised == got && s.delivered == got && s.not_mine == got && s.unhandled == got &&
	      s.handled == 0, "disabled after exactly k*IRQCORE_STORM_WINDOW unhandled occurrences");
	mrt_check(s.knotes == got && s.kacks == got - 1 && s.early == 0,
	      "every notification but the last acked; the last held while disabled");
	mrt_check(irqd_line_next(cl, NULL, &d) == 0 && (d.flags & IRQD_LINE_DISABLED),
	      "irqd_line_next (line info) shows DISABLED");
	struct irqd_line_stats ls;
	mrt_check(irqd_line_stats(cl, "edu", &ls) == 0 && ls.disables == 1 &&
	      (ls.flags & IRQD_LINE_DISABLED), "irqd_line_stats (client API): disables 1, DISABLED");
	mrt_check(wait_occ(300) == MACH_RCV_TIMED_OUT, "nothing while disabled");

	/* Service the device (INTx drops), re-enable: the held notification is acked, no new one. */
	mrt_check(service(0), "edu status still the first raise");
	mrt_check(irqd_line_enable(cl, "edu") == 0, "irqd_line_enable");
	mrt_check(wait_occ(200) == MACH_RCV_TIMED_OUT, "no occurrence after the enable (device serviced)");
	get_stats(&s);
	mrt_check(!(s.flags & (IRQD_LINE_DISABLED | IRQD_LINE_MASKED)) && s.disables == 1 &&
	      s.kacks == got, "enabled: not disabled, not masked, the held notification acked");
	mrt_check(irqd_line_next(cl, NULL, &d) == 0 && !(d.flags & IRQD_LINE_DISABLED),
	      "line info: DISABLED cleared");
	/* The line works again: one interrupt, a normal occurrence answered HANDLED. */
	raise_intr(1);
	mrt_check(wait_occ(WAIT_MS) == MACH_MSG_SUCCESS && got_occ == got + 1 && got_count == 1,
	      "one more interrupt arrives as occurrence WINDOW+1");
	mrt_check(service(1), "edu status: the second raise");
	answer(got_occ, IRQD_HANDLED);
	mrt_check(wait_occ(100) == MACH_RCV_TIMED_OUT, "no extra occurrence");
	mrt_check(wait_stats(&s, kacks_are, got + 1, 1000), "kernel acked the new occurrence");
	print_stats(&s);
	mrt_check(s.raised == got + 1 && s.handled == 1 && s.unhandled == got && s.disables == 1 &&
	      !(s.flags & IRQD_LINE_DISABLED) && s.early == 0,
	      "after: raised WINDOW+1, handled 1, disables 1");
	snprintf(detail, sizeof(detail), "disabled after %llu unhandled occurrences (rule: > %u of %u; "
		 "windows %llu) in %llu ms (%llu/s), disables 1; enabled, next occurrence HANDLED",
		 (unsigned long long)got, IRQCORE_STORM_UNHANDLED, IRQCORE_STORM_WINDOW,
		 (unsigned long long)windows,
		 (unsigned long long)storm_ms, (unsigned long long)(storm_ms ? got * 1000 / storm_ms : 0));
	mrt_verdict(detail);
}

int main(int argc, char **argv)
{
	unsigned n = 100;

	role = argc > MRT_FIRST_ARG ? argv[MRT_FIRST_ARG] : "";
	static char who[64];
	snprintf(who, sizeof(who), "edu_drv %s", role);
	mrt_test.name = "mach_irqd";
	mrt_test.who = who;
	if (argc > MRT_FIRST_ARG + 1)
		n = (unsigned)strtoul(argv[MRT_FIRST_ARG + 1], NULL, 0);
	if (n == 0 || n > 100000)
		mrt_die("N must be 1..100000");
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
	else if (strcmp(role, "latency") == 0)
		role_latency(n);
	else if (strcmp(role, "two-a") == 0)
		role_two(TWO_A, n);
	else if (strcmp(role, "two-b") == 0)
		role_two(TWO_B, n);
	else if (strcmp(role, "dma") == 0)
		role_dma(n);
	else if (strcmp(role, "coalesce") == 0)
		role_coalesce(n);
	else if (strcmp(role, "pass-a") == 0 && argc > MRT_FIRST_ARG + 2)
		role_pass_a(n, (mach_port_t)strtoul(argv[MRT_FIRST_ARG + 2], NULL, 0));
	else if (strcmp(role, "pass-b") == 0)
		role_pass_b(n);
	else if (strcmp(role, "storm") == 0)
		role_storm();
	mrt_die("unknown role");
}
