/*
 * test_edge.c - edge lines (configured `line simK trigger=edge`): every event counted exactly,
 * through irqd to several sharers, dropped when nobody listens, and read directly from the
 * source by a DIRECT attachment.
 */
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "harness.h"

#define EDGE_CONF "line sim1 trigger=edge\n"

/* ---- the shared page of a run ------------------------------------------------------------------ */

struct receiver {
	_Atomic int ready;
	_Atomic uint64_t events, batches;
	uint64_t first_seq, last_seq;
};

struct run {
	char line[IRQD_NAME_MAX];
	uint32_t flags;               /* receivers' attach flags */
	uint32_t line_id;
	uint64_t total;               /* the device raises this many */
	uint64_t seed;
	_Atomic int go;
	struct receiver rx[2];
	_Atomic uint64_t raised, raises;
	_Atomic int device_done;
	_Atomic uint64_t errors;
	char err[256];
};

static void check_errors(struct run *r)
{
	if (atomic_load(&r->errors))
		fail_msg("%llu errors, first: %s", (unsigned long long)atomic_load(&r->errors), r->err);
}

/* Raises r->total events in bursts of random size: a burst is 1..400 raises of 1..16 events
 * each, back to back; between bursts the device pauses for 0..200 us or just yields. */
static int device_main(const struct irqd_proc *p, void *arg)
{
	struct run *r = arg;
	struct irqd_client *c;
	struct irqd_simdev *dev;
	if (irqd_connect(p->sock, &c) < 0 || irqd_simdev_open(c, r->line, &dev) < 0) {
		NOTE_ERROR(r, "device: %s", irqd_last_error());
		return 1;
	}
	uint64_t x = r->seed | 1, left = r->total;
	uint64_t end = mono_ns() + 30000000000ull;
	while (!atomic_load(&r->go) && mono_ns() < end)
		sched_yield();
	while (left) {
		unsigned burst = 1 + (unsigned)(xorshift(&x) % 400);
		for (unsigned i = 0; i < burst && left; i++) {
			uint64_t n = 1 + xorshift(&x) % 16;
			if (n > left)
				n = left;
			if (irqd_simdev_raise(dev, n) < 0) {
				NOTE_ERROR(r, "device: raise failed");
				return 1;
			}
			left -= n;
			atomic_fetch_add(&r->raised, n);
			atomic_fetch_add(&r->raises, 1);
		}
		uint64_t pause = xorshift(&x) % 400;
		if (pause < 200)
			usleep((useconds_t)pause);
		else
			sched_yield();
	}
	atomic_store(&r->device_done, 1);
	irqd_simdev_close(dev);
	irqd_disconnect(c);
	return 0;
}

/* A receiver: attach, then count until r->total events came (30 s at most), checking every
 * batch: its own handle and line, sequence numbers 1, 2, 3, ... without a gap, and the times
 * first_ns <= last_ns <= delivered_ns. Then makes sure nothing more comes. */
static int receiver_run(const struct irqd_proc *p, struct run *r, int idx)
{
	struct receiver *rx = &r->rx[idx];
	struct irqd_client *c;
	uint32_t h;
	if (irqd_connect(p->sock, &c) < 0 || irqd_attach(c, r->line, r->flags, NULL, &h) < 0) {
		NOTE_ERROR(r, "receiver %d: %s", idx, irqd_last_error());
		atomic_store(&rx->ready, -1);
		return 1;
	}
	atomic_store(&rx->ready, 1);
	uint64_t end = mono_ns() + 30000000000ull, last_seq = 0;
	while (atomic_load(&rx->events) < r->total && mono_ns() < end) {
		struct irqd_event ev[16];
		int n = irqd_wait(c, ev, 16, 500);
		if (n < 0) {
			NOTE_ERROR(r, "receiver %d: wait: %s", idx, irqd_last_error());
			return 1;
		}
		for (int i = 0; i < n; i++) {
			const struct irqd_event *e = &ev[i];
			if (e->handle != h || e->line != r->line_id)
				NOTE_ERROR(r, "receiver %d: batch for handle %u line %u (mine: %u, %u)", idx,
					  e->handle, e->line, h, r->line_id);
			if (last_seq == 0)
				rx->first_seq = e->seq;
			else if (e->seq != last_seq + 1)
				NOTE_ERROR(r, "receiver %d: seq %llu after %llu", idx,
					  (unsigned long long)e->seq, (unsigned long long)last_seq);
			last_seq = e->seq;
			if (e->count == 0 || e->occurrence != 0)
				NOTE_ERROR(r, "receiver %d: batch of %llu events, occurrence %llu", idx,
					  (unsigned long long)e->count, (unsigned long long)e->occurrence);
			if (!(e->first_ns <= e->last_ns && e->last_ns <= e->delivered_ns))
				NOTE_ERROR(r, "receiver %d: seq %llu: first %llu last %llu delivered %llu",
					  idx, (unsigned long long)e->seq,
					  (unsigned long long)e->first_ns, (unsigned long long)e->last_ns,
					  (unsigned long long)e->delivered_ns);
			atomic_fetch_add(&rx->events, e->count);
			atomic_fetch_add(&rx->batches, 1);
		}
	}
	rx->last_seq = last_seq;
	/* all raised events are in: anything more would be counted twice */
	struct irqd_event ev[16];
	int n = irqd_wait(c, ev, 16, 100);
	if (n != 0)
		NOTE_ERROR(r, "receiver %d: %d batches beyond the %llu events", idx, n,
			  (unsigned long long)r->total);
	irqd_disconnect(c);
	return 0;
}

static int receiver0(const struct irqd_proc *p, void *arg)
{
	return receiver_run(p, arg, 0);
}

static int receiver1(const struct irqd_proc *p, void *arg)
{
	return receiver_run(p, arg, 1);
}

static struct run *new_run(struct irqd_client *c, const char *line, uint64_t total)
{
	struct run *r = shared_page(sizeof(*r));
	snprintf(r->line, sizeof(r->line), "%s", line);
	struct irqd_line_desc d;
	assert_int_equal(irqd_line_lookup(c, line, &d), 0);
	assert_int_equal(d.trigger, IRQD_EDGE);
	r->line_id = d.id;
	r->total = total;
	r->seed = mono_ns();
	printf("  device seed %llu\n", (unsigned long long)r->seed);
	return r;
}

/* ---- tests --------------------------------------------------------------------------------- */

static void test_two_sharers_exact(void **state)
{
	(void)state;
	const uint64_t N = 200000;
	struct irqd_proc p;
	irqd_start(&p, 2, EDGE_CONF);
	struct irqd_client *c = client(&p);
	struct run *r = new_run(c, "sim1", N);
	r->flags = IRQD_ATTACH_SHARED;
	pid_t rx0 = spawn(receiver0, &p, r), rx1 = spawn(receiver1, &p, r);
	assert_true(WAIT_UNTIL(atomic_load(&r->rx[0].ready) && atomic_load(&r->rx[1].ready), 10000));
	check_errors(r);
	assert_int_equal(line_stats(c, "sim1").attachments, 2);
	pid_t devp = spawn(device_main, &p, r);
	uint64_t t0 = mono_ns();
	atomic_store(&r->go, 1);
	assert_int_equal(reap(devp), 0);
	assert_int_equal(reap(rx0), 0);
	assert_int_equal(reap(rx1), 0);
	double secs = (double)(mono_ns() - t0) / 1e9;
	check_errors(r);
	printf("  %llu events in %llu raises, %.2f s; sharer 0: %llu batches, sharer 1: %llu\n",
	       (unsigned long long)N, (unsigned long long)r->raises, secs,
	       (unsigned long long)r->rx[0].batches, (unsigned long long)r->rx[1].batches);
	assert_int_equal(atomic_load(&r->raised), N);
	for (int i = 0; i < 2; i++) {
		assert_int_equal(atomic_load(&r->rx[i].events), N);
		assert_int_equal(r->rx[i].first_seq, 1);
		assert_int_equal(r->rx[i].last_seq, atomic_load(&r->rx[i].batches));
	}
	struct irqd_line_stats st = line_stats(c, "sim1");
	assert_int_equal(st.raised, N);
	assert_int_equal(st.delivered, 2 * N);
	assert_int_equal(st.dropped, 0);
	assert_int_equal(st.direct_events, 0);
	assert_int_equal(st.masked_now, 0);
	assert_int_equal(st.attachments, 0);
	/* the other line saw nothing */
	assert_int_equal(line_stats(c, "sim0").raised, 0);
	munmap(r, sizeof(*r));
	irqd_disconnect(c);
	irqd_stop(&p);
}

static void raise_all(struct irqd_simdev *dev, const uint64_t *sizes, int n)
{
	for (int i = 0; i < n; i++)
		assert_int_equal(irqd_simdev_raise(dev, sizes[i]), 0);
}

static uint64_t receive(struct irqd_client *c, uint32_t h, uint64_t want, int timeout_ms)
{
	uint64_t got = 0, end = mono_ns() + (uint64_t)timeout_ms * 1000000ull;
	while (got < want && mono_ns() < end) {
		struct irqd_event ev[16];
		int n = irqd_wait(c, ev, 16, 100);
		assert_true(n >= 0);
		for (int i = 0; i < n; i++) {
			assert_int_equal(ev[i].handle, h);
			got += ev[i].count;
		}
	}
	return got;
}

static void test_dropped_when_nobody_attached(void **state)
{
	(void)state;
	struct irqd_proc p;
	irqd_start(&p, 2, EDGE_CONF);
	struct irqd_client *c = client(&p), *devc = client(&p);
	struct irqd_simdev *dev;
	assert_int_equal(irqd_simdev_open(devc, "sim1", &dev), 0);
	static const uint64_t before[] = { 1, 7, 100, 1, 1, 390 }; /* 500 */
	raise_all(dev, before, 6);
	assert_true(WAIT_UNTIL(line_stats(c, "sim1").raised == 500, 5000));
	struct irqd_line_stats st = line_stats(c, "sim1");
	assert_int_equal(st.dropped, 500);
	assert_int_equal(st.delivered, 0);
	/* attaching later does not bring them back */
	uint32_t h;
	assert_int_equal(irqd_attach(c, "sim1", IRQD_ATTACH_SHARED, NULL, &h), 0);
	struct irqd_event ev[4];
	assert_int_equal(irqd_wait(c, ev, 4, 300), 0);
	static const uint64_t during[] = { 3, 70, 4 }; /* 77 */
	raise_all(dev, during, 3);
	assert_int_equal(receive(c, h, 77, 5000), 77);
	assert_int_equal(irqd_wait(c, ev, 4, 100), 0);
	st = line_stats(c, "sim1");
	assert_int_equal(st.raised, 577);
	assert_int_equal(st.dropped, 500);
	assert_int_equal(st.delivered, 77);
	/* and after the last detach, dropped again */
	assert_int_equal(irqd_detach(c, h), 0);
	static const uint64_t after[] = { 9, 1 };
	raise_all(dev, after, 2);
	assert_true(WAIT_UNTIL(line_stats(c, "sim1").raised == 587, 5000));
	st = line_stats(c, "sim1");
	assert_int_equal(st.dropped, 510);
	assert_int_equal(st.delivered, 77);
	assert_int_equal(irqd_poll(c, ev, 4), 0);
	irqd_simdev_close(dev);
	irqd_disconnect(devc);
	irqd_disconnect(c);
	irqd_stop(&p);
}

static void test_direct_rules(void **state)
{
	(void)state;
	struct irqd_proc p;
	irqd_start(&p, 2, EDGE_CONF);
	struct irqd_client *c = client(&p);
	uint32_t h;
	/* a level line cannot be read directly */
	assert_int_equal(irqd_attach(c, "sim0", IRQD_ATTACH_EXCLUSIVE | IRQD_ATTACH_DIRECT, NULL, &h),
			 -EINVAL);
	assert_non_null(strstr(irqd_last_error(), "direct"));
	/* nor without holding the line exclusively */
	assert_int_equal(irqd_attach(c, "sim1", IRQD_ATTACH_DIRECT, NULL, &h), -EINVAL);
	assert_non_null(strstr(irqd_last_error(), "exclusive"));
	assert_int_equal(line_stats(c, "sim0").attachments, 0);
	assert_int_equal(line_stats(c, "sim1").attachments, 0);
	/* exclusive + direct on the edge line is fine, and then nobody else gets in */
	assert_int_equal(irqd_attach(c, "sim1", IRQD_ATTACH_EXCLUSIVE | IRQD_ATTACH_DIRECT, NULL, &h),
			 0);
	struct irqd_client *c2 = client(&p);
	uint32_t h2;
	assert_int_equal(irqd_attach(c2, "sim1", IRQD_ATTACH_SHARED, NULL, &h2), -EBUSY);
	/* nor can it be passed: its holder reads the source itself and would keep doing so */
	uint64_t token;
	assert_int_equal(irqd_pass(c, h, &token), -EINVAL);
	assert_non_null(strstr(irqd_last_error(), "cannot be passed"));
	irqd_disconnect(c2);
	irqd_disconnect(c);
	irqd_stop(&p);
}

static void test_direct_exact(void **state)
{
	(void)state;
	const uint64_t N = 100000;
	struct irqd_proc p;
	irqd_start(&p, 2, EDGE_CONF);
	struct irqd_client *c = client(&p), *devc = client(&p);
	struct irqd_simdev *dev;
	assert_int_equal(irqd_simdev_open(devc, "sim1", &dev), 0);
	/* three events nobody hears: irqd counts them */
	assert_int_equal(irqd_simdev_raise(dev, 3), 0);
	assert_true(WAIT_UNTIL(line_stats(c, "sim1").raised == 3, 5000));

	struct run *r = new_run(c, "sim1", N);
	r->flags = IRQD_ATTACH_EXCLUSIVE | IRQD_ATTACH_DIRECT;
	pid_t rx = spawn(receiver0, &p, r);
	assert_true(WAIT_UNTIL(atomic_load(&r->rx[0].ready), 10000));
	check_errors(r);
	pid_t devp = spawn(device_main, &p, r);
	atomic_store(&r->go, 1);
	assert_int_equal(reap(devp), 0);
	/* the client has all of them before it goes (its wait loop ends at N) */
	assert_true(WAIT_UNTIL(atomic_load(&r->rx[0].events) == N || atomic_load(&r->errors), 30000));
	check_errors(r);
	struct irqd_line_stats st = line_stats(c, "sim1");
	printf("  %llu events in %llu raises, read in %llu batches by the direct client\n",
	       (unsigned long long)N, (unsigned long long)r->raises,
	       (unsigned long long)r->rx[0].batches);
	/* irqd never saw them: they are known from what the client reported */
	assert_int_equal(st.direct_events, N);
	assert_int_equal(st.raised, 3);
	assert_int_equal(st.delivered, 0);
	assert_int_equal(st.dropped, 3);
	assert_int_equal(st.attachments, 1);
	assert_int_equal(reap(rx), 0); /* disconnects: the direct attachment goes */
	check_errors(r);
	assert_int_equal(r->rx[0].events, N);
	assert_int_equal(r->rx[0].first_seq, 1);
	assert_int_equal(r->rx[0].last_seq, r->rx[0].batches);
	assert_true(WAIT_UNTIL(line_stats(c, "sim1").attachments == 0, 5000));

	/* irqd reads the source again and counts: raised grows, the direct count stays */
	assert_int_equal(irqd_simdev_raise(dev, 1000), 0);
	assert_true(WAIT_UNTIL(line_stats(c, "sim1").raised == 1003, 5000));
	st = line_stats(c, "sim1");
	assert_int_equal(st.direct_events, N);
	assert_int_equal(st.dropped, 1003);
	/* and delivers to an ordinary attachment */
	uint32_t h;
	assert_int_equal(irqd_attach(c, "sim1", IRQD_ATTACH_SHARED, NULL, &h), 0);
	assert_int_equal(irqd_simdev_raise(dev, 42), 0);
	assert_int_equal(receive(c, h, 42, 5000), 42);
	st = line_stats(c, "sim1");
	assert_int_equal(st.raised, 1045);
	assert_int_equal(st.delivered, 42);
	assert_int_equal(st.direct_events, N);
	munmap(r, sizeof(*r));
	irqd_simdev_close(dev);
	irqd_disconnect(devc);
	irqd_disconnect(c);
	irqd_stop(&p);
}

/* One client attaches DIRECT, detaches, attaches DIRECT again (the same mailbox slot): the
 * direct count is the sum of what it read, each event once. */
static void test_direct_reattach_counts(void **state)
{
	(void)state;
	struct irqd_proc p;
	irqd_start(&p, 2, EDGE_CONF);
	struct irqd_client *c = client(&p), *devc = client(&p);
	struct irqd_simdev *dev;
	assert_int_equal(irqd_simdev_open(devc, "sim1", &dev), 0);
	uint64_t expect = 0;
	for (int round = 1; round <= 3; round++) {
		uint32_t h;
		assert_int_equal(irqd_attach(c, "sim1", IRQD_ATTACH_EXCLUSIVE | IRQD_ATTACH_DIRECT,
					     NULL, &h),
				 0);
		uint64_t n = 100 * (uint64_t)round;
		for (uint64_t i = 0; i < n; i += 10)
			assert_int_equal(irqd_simdev_raise(dev, 10), 0);
		assert_int_equal(receive(c, h, n, 5000), n);
		expect += n;
		assert_int_equal(line_stats(c, "sim1").direct_events, expect);
		assert_int_equal(irqd_detach(c, h), 0);
		assert_int_equal(line_stats(c, "sim1").direct_events, expect);
	}
	struct irqd_line_stats st = line_stats(c, "sim1");
	assert_int_equal(st.raised, 0);
	assert_int_equal(st.direct_events, 600);
	irqd_simdev_close(dev);
	irqd_disconnect(devc);
	irqd_disconnect(c);
	irqd_stop(&p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_two_sharers_exact, harness_teardown),
		cmocka_unit_test_teardown(test_dropped_when_nobody_attached, harness_teardown),
		cmocka_unit_test_teardown(test_direct_rules, harness_teardown),
		cmocka_unit_test_teardown(test_direct_exact, harness_teardown),
		cmocka_unit_test_teardown(test_direct_reattach_counts, harness_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
