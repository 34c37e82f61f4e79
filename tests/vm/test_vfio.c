/*
 * test_vfio.c - real device interrupts through irqd, inside the QEMU guest (vm/): two QEMU `edu`
 * devices bound to vfio-pci, the first with MSI, the second with INTx.
 *
 * The test plays the device (tests/vm/edu.h) through BAR0 mapped from sysfs, as a driver would.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tests/integration/harness.h"
#include "tests/vm/edu.h"

static char config[256];
static struct edu msi_dev, intx_dev;

static void start(struct irqd_proc *p)
{
	edu_find(0, "vfio-pci", &msi_dev);
	edu_find(1, "vfio-pci", &intx_dev);
	snprintf(config, sizeof(config), "device vfio %s irq=msi\ndevice vfio %s irq=intx\n",
		 msi_dev.bdf, intx_dev.bdf);
	irqd_start(p, 0, config);
}

static void line_of(char *out, size_t len, const struct edu *e, const char *vector)
{
	snprintf(out, len, "vfio:%s/%s", e->bdf, vector);
}

/* MSI: every raise is one message, one event, exactly; the line is an edge line. */
static void test_msi_exact(void **state)
{
	(void)state;
	enum { N = 2000 };
	struct irqd_proc p;
	start(&p);
	struct irqd_client *c = client(&p);
	char line[64];
	line_of(line, sizeof(line), &msi_dev, "msi0");
	struct irqd_line_desc d;
	assert_int_equal(irqd_line_lookup(c, line, &d), 0);
	assert_int_equal(d.trigger, IRQD_EDGE);
	assert_string_equal(d.source, "vfio");
	uint32_t h;
	assert_int_equal(irqd_attach(c, line, IRQD_ATTACH_SHARED, NULL, &h), 0);
	uint64_t got = 0;
	struct irqd_event ev[16];
	for (int i = 0; i < N; i++) {
		edu_raise(&msi_dev, 1);
		/* one at a time: a raise while the status is still set would be the same message */
		while (got < (uint64_t)i + 1) {
			int n = irqd_wait(c, ev, 16, 10000);
			if (n <= 0)
				fail_msg("MSI %d: no event (%d: %s)", i + 1, n, irqd_last_error());
			for (int j = 0; j < n; j++)
				got += ev[j].count;
		}
		edu_service(&msi_dev);
	}
	assert_int_equal(got, N);
	struct irqd_line_stats st;
	assert_int_equal(irqd_line_stats(c, line, &st), 0);
	assert_int_equal(st.raised, N);
	assert_int_equal(st.delivered, N);
	printf("  %d MSIs from %s: %llu events delivered\n", N, msi_dev.bdf, (unsigned long long)got);
	/* irqctl shows the device's lines, and the device bound to vfio-pci */
	char out[8192];
	char bin[4096];
	snprintf(bin, sizeof(bin), "%s", build_bin("irqctl"));
	char *lines_argv[] = { bin, "--socket", p.sock, "lines", NULL };
	assert_int_equal(run_capture(out, sizeof(out), lines_argv), 0);
	printf("%s", out);
	if (!strstr(out, line) || !strstr(out, "vfio"))
		fail_msg("irqctl lines does not show %s", line);
	char *pci_argv[] = { bin, "pci", NULL };
	assert_int_equal(run_capture(out, sizeof(out), pci_argv), 0);
	printf("%s", out);
	if (!strstr(out, msi_dev.bdf + 5) || !strstr(out, "vfio-pci"))
		fail_msg("irqctl pci does not show %s bound to vfio-pci", msi_dev.bdf);
	irqd_disconnect(c);
	irqd_stop(&p);
}

/* A second driver process sharing the INTx line: answers as told, or dies owing an answer. */
struct sharer_job {
	char line[64];
	enum { ANSWER_NOT_MINE, DIE_OWING } what;
	int rounds;
};

static int sharer(const struct irqd_proc *p, void *arg)
{
	struct sharer_job *j = arg;
	struct irqd_client *c;
	uint32_t h;
	if (irqd_connect(p->sock, &c) || irqd_attach(c, j->line, IRQD_ATTACH_SHARED, NULL, &h))
		return 10;
	printf("  sharer %d attached\n", getpid());
	fflush(stdout);
	for (int r = 0; r < j->rounds; r++) {
		struct irqd_event ev[4];
		int n = irqd_wait(c, ev, 4, 20000);
		if (n != 1 || !ev[0].occurrence)
			return 11;
		if (j->what == DIE_OWING)
			raise(SIGKILL);
		if (irqd_answer(c, h, ev[0].occurrence, IRQD_NOT_MINE))
			return 12;
	}
	irqd_disconnect(c);
	return 0;
}

/* INTx, shared by two driver processes: masked from the first signal until both answered, the
 * owner services the device and answers HANDLED, the other NOT_MINE; unmasked once; nothing
 * fires again until the next raise. */
static void test_intx_shared(void **state)
{
	(void)state;
	enum { ROUNDS = 200 };
	struct irqd_proc p;
	start(&p);
	struct irqd_client *c = client(&p);
	static struct sharer_job job;
	line_of(job.line, sizeof(job.line), &intx_dev, "intx");
	job.what = ANSWER_NOT_MINE;
	job.rounds = ROUNDS;
	struct irqd_line_desc d;
	assert_int_equal(irqd_line_lookup(c, job.line, &d), 0);
	assert_int_equal(d.trigger, IRQD_LEVEL);
	uint32_t h;
	assert_int_equal(irqd_attach(c, job.line, IRQD_ATTACH_SHARED, NULL, &h), 0);
	pid_t other = spawn(sharer, &p, &job);
	struct irqd_line_stats st;
	assert_true(WAIT_UNTIL(irqd_line_stats(c, job.line, &st) == 0 && st.attachments == 2, 10000));
	for (int r = 0; r < ROUNDS; r++) {
		edu_raise(&intx_dev, 1u << (r % 8));
		struct irqd_event ev[4];
		assert_int_equal(irqd_wait(c, ev, 4, 10000), 1);
		assert_true(ev[0].occurrence != 0);
		/* masked until both answered: the other may not have answered yet, and even once
		 * it has, the line stays masked until we do */
		assert_int_equal(irqd_line_stats(c, job.line, &st), 0);
		assert_true(st.masked_now);
		assert_int_equal(edu_service(&intx_dev), 1u << (r % 8));
		assert_int_equal(irqd_answer(c, h, ev[0].occurrence, IRQD_HANDLED), 0);
		assert_true(WAIT_UNTIL(irqd_line_stats(c, job.line, &st) == 0 && !st.masked_now &&
					       st.handled == (uint64_t)r + 1, 10000));
	}
	assert_int_equal(reap_within(other, 20000), 0);
	assert_int_equal(irqd_line_stats(c, job.line, &st), 0);
	printf("  %d INTx occurrences on %s: raised %llu, handled %llu, not mine %llu, "
	       "unhandled %llu\n", ROUNDS, intx_dev.bdf, (unsigned long long)st.raised,
	       (unsigned long long)st.handled, (unsigned long long)st.not_mine,
	       (unsigned long long)st.unhandled);
	assert_int_equal(st.raised, ROUNDS);
	assert_int_equal(st.handled, ROUNDS);
	assert_int_equal(st.not_mine, ROUNDS);
	struct irqd_event ev[4];
	assert_int_equal(irqd_poll(c, ev, 4), 0);
	irqd_disconnect(c);
	irqd_stop(&p);
}

/* A sharer killed while it owes the answer of a masked INTx occurrence: the line comes back
 * without it, and since the device still asserts (nobody serviced it) it fires again to the
 * survivor, who services it. */
static void test_intx_killed_sharer(void **state)
{
	(void)state;
	struct irqd_proc p;
	start(&p);
	struct irqd_client *c = client(&p);
	static struct sharer_job job;
	line_of(job.line, sizeof(job.line), &intx_dev, "intx");
	job.what = DIE_OWING;
	job.rounds = 1;
	uint32_t h;
	assert_int_equal(irqd_attach(c, job.line, IRQD_ATTACH_SHARED, NULL, &h), 0);
	pid_t other = spawn(sharer, &p, &job);
	struct irqd_line_stats st;
	assert_true(WAIT_UNTIL(irqd_line_stats(c, job.line, &st) == 0 && st.attachments == 2, 10000));
	edu_raise(&intx_dev, 1);
	struct irqd_event ev[4];
	assert_int_equal(irqd_wait(c, ev, 4, 10000), 1);
	/* we answer NOT_MINE without servicing: the line waits for the other, who dies */
	assert_int_equal(irqd_answer(c, h, ev[0].occurrence, IRQD_NOT_MINE), 0);
	assert_int_equal(reap_within(other, 20000), 128 + SIGKILL);
	assert_int_equal(irqd_wait(c, ev, 4, 10000), 1); /* fires again: still asserted */
	assert_int_equal(edu_service(&intx_dev), 1);
	assert_int_equal(irqd_answer(c, h, ev[0].occurrence, IRQD_HANDLED), 0);
	assert_true(WAIT_UNTIL(irqd_line_stats(c, job.line, &st) == 0 && !st.masked_now &&
				       st.handled == 1, 10000));
	assert_int_equal(st.raised, 2);
	assert_int_equal(irqd_poll(c, ev, 4), 0);
	irqd_disconnect(c);
	irqd_stop(&p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_msi_exact, harness_teardown),
		cmocka_unit_test_teardown(test_intx_shared, harness_teardown),
		cmocka_unit_test_teardown(test_intx_killed_sharer, harness_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
