/*
 * test_coalesce_e2e.c - per-attachment coalescing through the real irqd: parameters given at
 * irqd_attach, changed with irqd_set_coalesce, or set line-wide with irqd_line_coalesce (admin).
 *
 * The test process is the driver; devices that raise bursts or steady streams are separate
 * processes (spawn/reap). Paced checks raise one event and wait until irqd's stats count it: by
 * then irqd has run its coalescing rule on it, so "nothing delivered yet" is an observation,
 * not a hope.
 */
#include <errno.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "coalesce.h"
#include "harness.h"
#include "sharer.h"

#define COALESCE_HOLD_NS (COALESCE_FRAMES_MAX_HOLD_US * 1000ull)

/* ---- devices and helpers --------------------------------------------------------------------- */

#define CONFIG "line sim0 trigger=edge\nline sim1 trigger=edge\n"

/* One raise, then wait until irqd counted it (its coalescing rule has run). */
static void raise_counted(struct irqd_client *ctl, struct irqd_simdev *dev, const char *line,
			  uint64_t total)
{
	assert_int_equal(irqd_simdev_raise(dev, 1), 0);
	if (!WAIT_UNTIL(line_stats(ctl, line).raised == total, 5000))
		fail_msg("irqd did not count raise %llu", (unsigned long long)total);
}

struct batches {
	uint64_t n, events, max_count;
	uint64_t count[1 << 16];
	uint64_t first_ns[1 << 16], delivered_ns[1 << 16];
};

/* Collect batches of handle h until `want` events arrived (bounded); checks seq numbering. */
static void collect(struct irqd_client *c, uint32_t h, uint64_t want, struct batches *b,
		    int timeout_ms)
{
	memset(b, 0, sizeof(*b));
	uint64_t end = mono_ns() + (uint64_t)timeout_ms * 1000000ull;
	while (b->events < want) {
		if (mono_ns() > end)
			fail_msg("got %llu of %llu events in %llu batches",
				 (unsigned long long)b->events, (unsigned long long)want,
				 (unsigned long long)b->n);
		struct irqd_event ev[16];
		int n = irqd_wait(c, ev, 16, 100);
		assert_true(n >= 0);
		for (int i = 0; i < n; i++) {
			assert_int_equal(ev[i].handle, h);
			assert_int_equal(ev[i].seq, b->n + 1);
			assert_true(ev[i].count >= 1);
			assert_true(ev[i].first_ns <= ev[i].last_ns);
			assert_true(ev[i].last_ns <= ev[i].delivered_ns);
			if (b->n < sizeof(b->count) / sizeof(b->count[0])) {
				b->count[b->n] = ev[i].count;
				b->first_ns[b->n] = ev[i].first_ns;
				b->delivered_ns[b->n] = ev[i].delivered_ns;
			}
			b->n++;
			b->events += ev[i].count;
			if (ev[i].count > b->max_count)
				b->max_count = ev[i].count;
		}
	}
	assert_int_equal(b->events, want);
}

static struct batches B;

/* ---- tests ------------------------------------------------------------------------------------ */

/* frames=N given at attach; a device raises k*N single events in one burst. Every batch is
 * due by the count rule (>= N events: a burst crossing N in one eventfd read is delivered
 * whole, as coalesce.h documents) or, for the tail, by the 1 ms safety hold; the total is
 * exact. */
static void test_frames_burst(void **state)
{
	(void)state;
	enum { N = 64, K = 200 };
	struct irqd_proc p;
	irqd_start(&p, 2, CONFIG);
	struct irqd_client *ctl = client(&p), *c = client(&p);
	uint32_t h;
	struct irqd_coalesce_params cp = { .frames = N };
	assert_int_equal(irqd_attach(c, "sim0", IRQD_ATTACH_SHARED, &cp, &h), 0);
	pid_t d = spawn(raiser_main, &p, &(struct raiser){ "sim0", (uint64_t)K * N, 0 });
	collect(c, h, (uint64_t)K * N, &B, 20000);
	assert_int_equal(reap(d), 0);
	uint64_t exact = 0, more = 0, less = 0;
	for (uint64_t i = 0; i < B.n; i++) {
		if (B.count[i] == N)
			exact++;
		else if (B.count[i] > N)
			more++;
		else {
			less++;
			/* only the safety hold delivers fewer than N */
			if (B.delivered_ns[i] - B.first_ns[i] < COALESCE_HOLD_NS)
				fail_msg("batch %llu: %llu events after %.3f ms",
					 (unsigned long long)i + 1, (unsigned long long)B.count[i],
					 (double)(B.delivered_ns[i] - B.first_ns[i]) / 1e6);
		}
	}
	printf("  %d events, frames=%d: %llu batches: %llu of exactly %d, %llu larger (max %llu), "
	       "%llu smaller (safety hold)\n",
	       K * N, N, (unsigned long long)B.n, (unsigned long long)exact, N,
	       (unsigned long long)more, (unsigned long long)B.max_count, (unsigned long long)less);
	assert_true(exact + more <= K);
	assert_true(B.n < (uint64_t)K * N / 4);
	struct irqd_line_stats st = line_stats(ctl, "sim0");
	assert_int_equal(st.raised, (uint64_t)K * N);
	assert_int_equal(st.delivered, (uint64_t)K * N);
	assert_int_equal(st.dropped, 0);
	/* nothing else comes */
	struct irqd_event ev[4];
	assert_int_equal(irqd_poll(c, ev, 4), 0);
	irqd_disconnect(c);
	irqd_disconnect(ctl);
	irqd_stop(&p);
}

/* frames=N changed with irqd_set_coalesce (with a 1 s timer, so that only the count decides):
 * events raised one by one give batches of exactly N, none earlier; the tail waits until the
 * parameters change to off, which delivers it at once. */
static void test_frames_exact(void **state)
{
	(void)state;
	enum { N = 16, K = 10 };
	struct irqd_proc p;
	irqd_start(&p, 2, CONFIG);
	struct irqd_client *ctl = client(&p), *c = client(&p);
	struct irqd_simdev *dev = device(ctl, "sim0");
	uint32_t h;
	assert_int_equal(irqd_attach(c, "sim0", IRQD_ATTACH_SHARED, NULL, &h), 0);
	struct irqd_coalesce_params cp = { .frames = N, .usecs = 1000000 };
	assert_int_equal(irqd_set_coalesce(c, h, &cp), 0);
	struct irqd_event ev[4];
	uint64_t total = 0;
	for (uint64_t k = 1; k <= K; k++) {
		for (int i = 1; i < N; i++) {
			raise_counted(ctl, dev, "sim0", ++total);
			assert_int_equal(irqd_poll(c, ev, 4), 0);
		}
		raise_counted(ctl, dev, "sim0", ++total);
		assert_int_equal(irqd_wait(c, ev, 4, 5000), 1);
		assert_int_equal(ev[0].count, N);
		assert_int_equal(ev[0].seq, k);
	}
	/* the tail: half a batch, held by the count rule ... */
	for (int i = 0; i < N / 2; i++) {
		raise_counted(ctl, dev, "sim0", ++total);
		assert_int_equal(irqd_poll(c, ev, 4), 0);
	}
	/* ... until coalescing is turned off: the pending events are due at once */
	cp = (struct irqd_coalesce_params){ 0 };
	assert_int_equal(irqd_set_coalesce(c, h, &cp), 0);
	assert_int_equal(irqd_wait(c, ev, 4, 5000), 1);
	assert_int_equal(ev[0].count, N / 2);
	assert_int_equal(ev[0].seq, K + 1);
	/* off: every event alone */
	raise_counted(ctl, dev, "sim0", ++total);
	assert_int_equal(irqd_wait(c, ev, 4, 5000), 1);
	assert_int_equal(ev[0].count, 1);
	struct irqd_line_stats st = line_stats(ctl, "sim0");
	assert_int_equal(st.raised, total);
	assert_int_equal(st.delivered, total);
	irqd_simdev_close(dev);
	irqd_disconnect(c);
	irqd_disconnect(ctl);
	irqd_stop(&p);
}

/* frames-only: a batch short of N is never held longer than the 1 ms safety hold. */
static void test_frames_safety_hold(void **state)
{
	(void)state;
	struct irqd_proc p;
	irqd_start(&p, 2, CONFIG);
	struct irqd_client *ctl = client(&p), *c = client(&p);
	struct irqd_simdev *dev = device(ctl, "sim0");
	uint32_t h;
	struct irqd_coalesce_params cp = { .frames = 1000 };
	assert_int_equal(irqd_attach(c, "sim0", IRQD_ATTACH_SHARED, &cp, &h), 0);
	for (uint64_t k = 1; k <= 20; k++) {
		assert_int_equal(irqd_simdev_raise(dev, 3), 0);
		struct irqd_event ev[4];
		assert_int_equal(irqd_wait(c, ev, 4, 5000), 1);
		assert_int_equal(ev[0].count, 3);
		assert_int_equal(ev[0].seq, k);
		assert_true(ev[0].delivered_ns - ev[0].first_ns >= COALESCE_HOLD_NS);
	}
	irqd_simdev_close(dev);
	irqd_disconnect(c);
	irqd_disconnect(ctl);
	irqd_stop(&p);
}

/* usecs=T: a single event is delivered no earlier than T after it was raised. */
static void test_usecs_single(void **state)
{
	(void)state;
	enum { T = 20000 };
	struct irqd_proc p;
	irqd_start(&p, 2, CONFIG);
	struct irqd_client *ctl = client(&p), *c = client(&p);
	struct irqd_simdev *dev = device(ctl, "sim0");
	uint32_t h;
	struct irqd_coalesce_params cp = { .usecs = T };
	assert_int_equal(irqd_attach(c, "sim0", IRQD_ATTACH_SHARED, &cp, &h), 0);
	for (uint64_t k = 1; k <= 10; k++) {
		assert_int_equal(irqd_simdev_raise(dev, 1), 0);
		struct irqd_event ev[4];
		assert_int_equal(irqd_wait(c, ev, 4, 5000), 1);
		assert_int_equal(ev[0].count, 1);
		assert_int_equal(ev[0].seq, k);
		uint64_t held = ev[0].delivered_ns - ev[0].first_ns;
		if (held < T * 1000ull)
			fail_msg("event %llu delivered %.3f ms after its raise (usecs=%d)",
				 (unsigned long long)k, (double)held / 1e6, T);
		assert_true(held < T * 1000ull + 2000000000ull);
	}
	irqd_simdev_close(dev);
	irqd_disconnect(c);
	irqd_disconnect(ctl);
	irqd_stop(&p);
}

/* usecs=T under a steady stream (one event every 50 us for ~0.4 s): every batch waited T after
 * its first event, and batches come at most once per window of T. */
static void test_usecs_stream(void **state)
{
	(void)state;
	enum { T = 2000, N = 8000 };
	struct irqd_proc p;
	irqd_start(&p, 2, CONFIG);
	struct irqd_client *ctl = client(&p), *c = client(&p);
	uint32_t h;
	struct irqd_coalesce_params cp = { .usecs = T };
	assert_int_equal(irqd_attach(c, "sim0", IRQD_ATTACH_SHARED, &cp, &h), 0);
	uint64_t t0 = mono_ns();
	pid_t d = spawn(raiser_main, &p, &(struct raiser){ "sim0", N, 50000 });
	collect(c, h, N, &B, 30000);
	uint64_t span = mono_ns() - t0;
	assert_int_equal(reap(d), 0);
	for (uint64_t i = 0; i < B.n; i++) {
		if (B.delivered_ns[i] - B.first_ns[i] < T * 1000ull)
			fail_msg("batch %llu delivered %.3f ms after its first event",
				 (unsigned long long)i + 1,
				 (double)(B.delivered_ns[i] - B.first_ns[i]) / 1e6);
		if (i && B.delivered_ns[i] - B.delivered_ns[i - 1] < T * 1000ull)
			fail_msg("batches %llu and %llu %.3f ms apart (usecs=%d)",
				 (unsigned long long)i, (unsigned long long)i + 1,
				 (double)(B.delivered_ns[i] - B.delivered_ns[i - 1]) / 1e6, T);
	}
	printf("  %d events in %.0f ms: %llu batches (at most %.0f windows), largest %llu\n", N,
	       (double)span / 1e6, (unsigned long long)B.n, (double)span / (T * 1000.0),
	       (unsigned long long)B.max_count);
	assert_true(B.n <= span / (T * 1000ull) + 1);
	struct irqd_line_stats st = line_stats(ctl, "sim0");
	assert_int_equal(st.raised, N);
	assert_int_equal(st.delivered, N);
	irqd_disconnect(c);
	irqd_disconnect(ctl);
	irqd_stop(&p);
}

/* One burst of `n` single raises, as fast as the device can, to an attachment with params cp;
 * returns the number of batches (wake-ups of the driver's mailbox). */
static uint64_t burst_batches(const struct irqd_coalesce_params *cp, uint64_t n,
			      uint64_t *wakeups)
{
	struct irqd_proc p;
	irqd_start(&p, 2, CONFIG);
	struct irqd_client *ctl = client(&p), *c = client(&p);
	uint32_t h;
	assert_int_equal(irqd_attach(c, "sim0", IRQD_ATTACH_SHARED, cp, &h), 0);
	pid_t d = spawn(raiser_main, &p, &(struct raiser){ "sim0", n, 0 });
	collect(c, h, n, &B, 60000);
	assert_int_equal(reap(d), 0);
	struct irqd_line_stats st = line_stats(ctl, "sim0");
	assert_int_equal(st.raised, n);
	assert_int_equal(st.delivered, n);
	*wakeups = st.wakeups;
	struct irqd_event ev[4];
	assert_int_equal(irqd_poll(c, ev, 4), 0);
	irqd_disconnect(c);
	irqd_disconnect(ctl);
	irqd_stop(&p);
	return B.n;
}

static void test_adaptive_burst(void **state)
{
	(void)state;
	uint64_t n = 500000;
	struct irqd_coalesce_params off = { 0 }, adaptive = { .adaptive = 1 };
	uint64_t w_off, w_ad;
	uint64_t b_off = burst_batches(&off, n, &w_off);
	uint64_t b_ad = burst_batches(&adaptive, n, &w_ad);
	/* The adaptive run's batches (B): the walk climbs to the profiles whose timer is >= 64 us
	 * and holds there for most of the burst. Measured as time, not as a share of batches: the
	 * few windows spent at the low profiles hold many short batches each. */
	uint64_t span = 0, held = 0;
	for (uint64_t i = 1; i < B.n; i++) {
		uint64_t gap = B.delivered_ns[i] - B.delivered_ns[i - 1];
		span += gap;
		if (gap >= 64000)
			held += gap;
	}
	printf("  adaptive: %.0f%% of the burst's %.1f ms between batches >= 64 us apart\n",
	       span ? 100.0 * (double)held / (double)span : 0.0, (double)span / 1e6);
	assert_true(held * 2 >= span);
	printf("  %llu events: off %llu batches (%llu wake-ups, %.1f events each), adaptive %llu "
	       "batches (%llu wake-ups, %.1f events each): %.1f times fewer\n",
	       (unsigned long long)n, (unsigned long long)b_off, (unsigned long long)w_off,
	       (double)n / (double)b_off, (unsigned long long)b_ad, (unsigned long long)w_ad,
	       (double)n / (double)b_ad, (double)b_off / (double)b_ad);
#if defined(__SANITIZE_THREAD__)
	assert_true(b_ad < b_off);
#else
	assert_true(b_ad * 3 <= b_off * 2);
#endif
}

/* irqd_line_coalesce (admin) sets every attachment of the line and the default of later ones;
 * an attachment's own irqd_set_coalesce overrides it for that attachment only. */
static void test_line_coalesce(void **state)
{
	(void)state;
	enum { N = 8 };
	struct irqd_proc p;
	irqd_start(&p, 2, CONFIG);
	struct irqd_client *ctl = client(&p), *c1 = client(&p), *c2 = client(&p), *c3 = client(&p);
	struct irqd_simdev *dev = device(ctl, "sim1");
	uint32_t h1, h2, h3;
	assert_int_equal(irqd_attach(c1, "sim1", IRQD_ATTACH_SHARED, NULL, &h1), 0);
	assert_int_equal(irqd_attach(c2, "sim1", IRQD_ATTACH_SHARED, NULL, &h2), 0);
	struct irqd_coalesce_params cp = { .frames = N, .usecs = 1000000 };
	assert_int_equal(irqd_line_coalesce(ctl, "sim1", &cp), 0);
	assert_int_equal(irqd_attach(c3, "sim1", IRQD_ATTACH_SHARED, NULL, &h3), 0);
	uint64_t total = 0;
	struct irqd_event ev[4];
	for (int k = 1; k <= 3; k++) {
		for (int i = 1; i < N; i++) {
			raise_counted(ctl, dev, "sim1", ++total);
			assert_int_equal(irqd_poll(c1, ev, 4), 0);
			assert_int_equal(irqd_poll(c2, ev, 4), 0);
			assert_int_equal(irqd_poll(c3, ev, 4), 0);
		}
		raise_counted(ctl, dev, "sim1", ++total);
		struct irqd_client *cs[3] = { c1, c2, c3 };
		for (int j = 0; j < 3; j++) {
			assert_int_equal(irqd_wait(cs[j], ev, 4, 5000), 1);
			assert_int_equal(ev[0].count, N);
			assert_int_equal(ev[0].seq, k);
		}
	}
	/* c2 opts out for itself */
	struct irqd_coalesce_params none = { 0 };
	assert_int_equal(irqd_set_coalesce(c2, h2, &none), 0);
	raise_counted(ctl, dev, "sim1", ++total);
	assert_int_equal(irqd_wait(c2, ev, 4, 5000), 1);
	assert_int_equal(ev[0].count, 1);
	assert_int_equal(irqd_poll(c1, ev, 4), 0);
	assert_int_equal(irqd_poll(c3, ev, 4), 0);
	/* line-wide off: the others' pending event comes at once */
	assert_int_equal(irqd_line_coalesce(ctl, "sim1", &none), 0);
	assert_int_equal(irqd_wait(c1, ev, 4, 5000), 1);
	assert_int_equal(ev[0].count, 1);
	assert_int_equal(irqd_wait(c3, ev, 4, 5000), 1);
	assert_int_equal(ev[0].count, 1);
	struct irqd_line_stats st = line_stats(ctl, "sim1");
	assert_int_equal(st.raised, total);
	assert_int_equal(st.delivered, 3 * total);
	irqd_simdev_close(dev);
	irqd_disconnect(c3);
	irqd_disconnect(c2);
	irqd_disconnect(c1);
	irqd_disconnect(ctl);
	irqd_stop(&p);
}

static void expect_einval(int r, const char *what)
{
	if (r != -EINVAL)
		fail_msg("%s: %d, want -EINVAL", what, r);
	if (!strstr(irqd_last_error(), "coalescing out of range"))
		fail_msg("%s: message '%s'", what, irqd_last_error());
}

/* Out-of-range parameters are refused with -EINVAL and irqd's explanation, wherever they are
 * given, and change nothing; the limits themselves are accepted. */
static void test_invalid_params(void **state)
{
	(void)state;
	struct irqd_proc p;
	irqd_start(&p, 2, CONFIG);
	struct irqd_client *ctl = client(&p), *c = client(&p);
	struct irqd_simdev *dev = device(ctl, "sim0");
	uint32_t h;
	const struct irqd_coalesce_params bad[] = {
		{ .usecs = 1000001 },
		{ .usecs = UINT32_MAX },
		{ .frames = 65537 },
		{ .usecs = 1000001, .adaptive = 1 },
		{ .adaptive = 2 },
		{ .frames = 4, .reserved = 1 },
	};
	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		expect_einval(irqd_attach(c, "sim0", IRQD_ATTACH_SHARED, &bad[i], &h), "attach");
	assert_int_equal(line_stats(ctl, "sim0").attachments, 0);

	struct irqd_coalesce_params limit = { .usecs = 1000000, .frames = 65536 };
	assert_int_equal(irqd_attach(c, "sim0", IRQD_ATTACH_SHARED, &limit, &h), 0);
	assert_int_equal(irqd_detach(c, h), 0);

	struct irqd_coalesce_params cp = { .frames = 4, .usecs = 1000000 };
	assert_int_equal(irqd_attach(c, "sim0", IRQD_ATTACH_SHARED, &cp, &h), 0);
	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		expect_einval(irqd_set_coalesce(c, h, &bad[i]), "set_coalesce");
		expect_einval(irqd_line_coalesce(ctl, "sim0", &bad[i]), "line_coalesce");
	}
	struct irqd_coalesce_params none = { 0 };
	assert_int_equal(irqd_set_coalesce(c, h + 1, &none), -EBADF);
	/* the attachment still batches by 4 */
	struct irqd_event ev[4];
	for (uint64_t i = 1; i <= 3; i++) {
		raise_counted(ctl, dev, "sim0", i);
		assert_int_equal(irqd_poll(c, ev, 4), 0);
	}
	raise_counted(ctl, dev, "sim0", 4);
	assert_int_equal(irqd_wait(c, ev, 4, 5000), 1);
	assert_int_equal(ev[0].count, 4);
	irqd_simdev_close(dev);
	irqd_disconnect(c);
	irqd_disconnect(ctl);
	irqd_stop(&p);
}

#define T(f) cmocka_unit_test_teardown(f, harness_teardown)
int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_frames_burst),    T(test_frames_exact),  T(test_frames_safety_hold),
		T(test_usecs_single),    T(test_usecs_stream),  T(test_adaptive_burst),
		T(test_line_coalesce),   T(test_invalid_params),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
