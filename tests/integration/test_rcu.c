/*
 * test_rcu.c - attach and detach run concurrently with delivery (the control thread changes a
 * line's RCU list while the delivery thread walks it) and never lose or duplicate an event.
 *
 * Three processes per run: a stable driver attached throughout, counting every event (and, on
 * a level line, servicing the device and answering); a churner attaching and detaching the same
 * line 2,000 times, checking each attachment's batches (sequence numbers from 1, no gap, no
 * batch after the detach); a device raising 300,000 single events, paced so that the raising
 * spans the whole churn. Counts are compared exactly with the device's and irqd's.
 */
#include <errno.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

struct run {
	char line[IRQD_NAME_MAX];
	bool level;
	uint64_t cycles;               /* churner attach/detach cycles */
	uint64_t events;               /* device raises */
	_Atomic int go, stop;
	/* stable driver */
	_Atomic int stable_ready;
	_Atomic uint64_t stable_events, stable_batches, stable_occ, stable_handled, stable_not_mine;
	/* churner */
	_Atomic uint64_t cycles_done, churn_events, churn_batches, churn_nonempty, churn_occ;
	_Atomic uint64_t churn_waited;   /* attachments that waited for (and got) a batch */
	_Atomic int churn_done, need;    /* need: the churner waits for an event, raise one */
	/* device */
	_Atomic uint64_t raised;
	_Atomic uint64_t errors;
	char err[256];
};

static int stable_main(const struct irqd_proc *p, void *arg)
{
	struct run *r = arg;
	struct irqd_client *c;
	struct irqd_simdev *dev;
	uint32_t h;
	if (irqd_connect(p->sock, &c) < 0 || irqd_simdev_open(c, r->line, &dev) < 0 ||
	    irqd_attach(c, r->line, IRQD_ATTACH_SHARED, NULL, &h) < 0) {
		NOTE_ERROR(r, "stable: %s", irqd_last_error());
		return 1;
	}
	atomic_store(&r->stable_ready, 1);
	uint64_t last_seq = 0, last_occ = 0;
	while (!atomic_load(&r->stop)) {
		struct irqd_event ev[16];
		int n = irqd_wait(c, ev, 16, 20);
		if (n < 0) {
			NOTE_ERROR(r, "stable: wait: %s", irqd_last_error());
			return 1;
		}
		for (int i = 0; i < n; i++) {
			if (ev[i].handle != h || ev[i].seq != last_seq + 1)
				NOTE_ERROR(r, "stable: handle %u seq %llu after %llu", ev[i].handle,
					  (unsigned long long)ev[i].seq, (unsigned long long)last_seq);
			last_seq = ev[i].seq;
			atomic_fetch_add(&r->stable_batches, 1);
			atomic_fetch_add(&r->stable_events, ev[i].count);
			if (!ev[i].occurrence)
				continue;
			if (ev[i].occurrence <= last_occ)
				NOTE_ERROR(r, "stable: occurrence %llu after %llu",
					  (unsigned long long)ev[i].occurrence,
					  (unsigned long long)last_occ);
			last_occ = ev[i].occurrence;
			atomic_fetch_add(&r->stable_occ, 1);
			bool mine = irqd_simdev_service(dev) > 0;
			if (irqd_answer(c, h, ev[i].occurrence, mine ? IRQD_HANDLED : IRQD_NOT_MINE))
				NOTE_ERROR(r, "stable: answer: %s", irqd_last_error());
			atomic_fetch_add(mine ? &r->stable_handled : &r->stable_not_mine, 1);
		}
	}
	irqd_simdev_close(dev);
	irqd_disconnect(c);
	return 0;
}

/* Take what is there for attachment h (one irqd_poll), checking it; returns events. */
static uint64_t churn_take(struct run *r, struct irqd_client *c, uint32_t h, uint64_t *last_seq)
{
	struct irqd_event ev[16];
	int n = irqd_poll(c, ev, 16);
	if (n < 0) {
		NOTE_ERROR(r, "churner: poll: %s", irqd_last_error());
		return 0;
	}
	uint64_t got = 0;
	for (int i = 0; i < n; i++) {
		if (ev[i].handle != h)
			NOTE_ERROR(r, "churner: batch for handle %u, attached is %u", ev[i].handle, h);
		/* a fresh attachment's batches are numbered from 1, without gaps: a batch left
		 * over from an earlier attachment in the same slot would break this */
		if (ev[i].seq != *last_seq + 1)
			NOTE_ERROR(r, "churner: cycle %llu: seq %llu after %llu (count %llu)",
				  (unsigned long long)atomic_load(&r->cycles_done),
				  (unsigned long long)ev[i].seq, (unsigned long long)*last_seq,
				  (unsigned long long)ev[i].count);
		*last_seq = ev[i].seq;
		got += ev[i].count;
		atomic_fetch_add(&r->churn_batches, 1);
		if (ev[i].occurrence)
			atomic_fetch_add(&r->churn_occ, 1);
	}
	return got;
}

/* Attach; look at the mailbox 0, 1 or 2 times (0: detach with whatever is pending untaken), or
 * (every 4th attachment) wait until a batch arrives: a new attachment must get events; detach.
 * On a level line it never answers: its detach must count as its answer. */
static int churn_main(const struct irqd_proc *p, void *arg)
{
	struct run *r = arg;
	struct irqd_client *c;
	if (irqd_connect(p->sock, &c) < 0) {
		NOTE_ERROR(r, "churner: %s", irqd_last_error());
		return 1;
	}
	while (!atomic_load(&r->go))
		sched_yield();
	for (uint64_t i = 0; i < r->cycles; i++) {
		uint32_t h;
		if (irqd_attach(c, r->line, IRQD_ATTACH_SHARED, NULL, &h) < 0) {
			NOTE_ERROR(r, "churner: attach: %s", irqd_last_error());
			return 1;
		}
		uint64_t last_seq = 0, got = 0;
		if (i % 4 == 3) {
			atomic_store(&r->need, 1);
			uint64_t end = mono_ns() + 5000000000ull;
			while (!got && atomic_load(&r->raised) < r->events && mono_ns() < end) {
				struct pollfd pf = { .fd = irqd_fd(c), .events = POLLIN };
				got += churn_take(r, c, h, &last_seq);
				if (!got && poll(&pf, 1, 10) < 0)
					break;
			}
			atomic_store(&r->need, 0);
			if (got)
				atomic_fetch_add(&r->churn_waited, 1);
			else if (atomic_load(&r->raised) < r->events)
				NOTE_ERROR(r, "churner: attachment %llu got nothing in 5 s",
					  (unsigned long long)i);
		} else {
			for (unsigned k = 0; k < i % 4; k++)
				got += churn_take(r, c, h, &last_seq);
		}
		if (irqd_detach(c, h) < 0) {
			NOTE_ERROR(r, "churner: detach: %s", irqd_last_error());
			return 1;
		}
		if (i % 8 == 5) {
			/* nothing of a detached attachment is ever handed out */
			struct irqd_event ev[4];
			int n = irqd_poll(c, ev, 4);
			if (n != 0)
				NOTE_ERROR(r, "churner: %d batches after detach", n);
		}
		atomic_fetch_add(&r->churn_events, got);
		if (got)
			atomic_fetch_add(&r->churn_nonempty, 1);
		atomic_fetch_add(&r->cycles_done, 1);
	}
	atomic_store(&r->churn_done, 1);
	irqd_disconnect(c);
	return 0;
}

/* Single raises; never more than two cycles' worth ahead of the churner, so that the raising
 * spans the churn; the rest once the churner is done. */
static int device_main(const struct irqd_proc *p, void *arg)
{
	struct run *r = arg;
	struct irqd_client *c;
	struct irqd_simdev *dev;
	if (irqd_connect(p->sock, &c) < 0 || irqd_simdev_open(c, r->line, &dev) < 0) {
		NOTE_ERROR(r, "device: %s", irqd_last_error());
		return 1;
	}
	uint64_t per = r->events / r->cycles;
	while (!atomic_load(&r->go))
		sched_yield();
	for (uint64_t i = 0; i < r->events; i++) {
		while (!atomic_load(&r->churn_done) && !atomic_load(&r->need) &&
		       i >= (atomic_load(&r->cycles_done) + 2) * per)
			sched_yield();
		if (irqd_simdev_raise(dev, 1) < 0) {
			NOTE_ERROR(r, "device: raise: %s", irqd_last_error());
			return 1;
		}
		atomic_fetch_add(&r->raised, 1);
	}
	irqd_simdev_close(dev);
	irqd_disconnect(c);
	return 0;
}

static void churn(bool level)
{
	struct irqd_proc p;
	irqd_start(&p, 1, level ? NULL : "line sim0 trigger=edge\n");
	struct irqd_client *ctl = client(&p);
	struct irqd_simdev *dev;
	assert_int_equal(irqd_simdev_open(ctl, "sim0", &dev), 0);
	struct run *r = mmap(NULL, sizeof(*r), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
			     -1, 0);
	assert_true(r != MAP_FAILED);
	memset(r, 0, sizeof(*r));
	snprintf(r->line, sizeof(r->line), "sim0");
	r->level = level;
	r->cycles = 2000;
	r->events = 300000;

	pid_t stable = spawn(stable_main, &p, r);
	assert_true(WAIT_UNTIL(atomic_load(&r->stable_ready) || atomic_load(&r->errors), 10000));
	pid_t churner = spawn(churn_main, &p, r);
	pid_t devp = spawn(device_main, &p, r);
	uint64_t t0 = mono_ns();
	atomic_store(&r->go, 1);
	int st_dev = reap(devp), st_churn = reap(churner);
	double secs = (double)(mono_ns() - t0) / 1e9;
	if (atomic_load(&r->errors))
		fail_msg("%llu errors, first: %s", (unsigned long long)atomic_load(&r->errors),
			 r->err);
	assert_int_equal(st_dev, 0);
	assert_int_equal(st_churn, 0);
	assert_int_equal(atomic_load(&r->raised), r->events);

	struct irqd_line_stats st;
	struct irqd_simdev_regs regs;
	if (!level) {
		/* every event reaches the stable driver, exactly once */
		if (!WAIT_UNTIL(atomic_load(&r->stable_events) >= r->events, 30000))
			fail_msg("stable driver got %llu of %llu events",
				 (unsigned long long)atomic_load(&r->stable_events),
				 (unsigned long long)r->events);
	} else {
		/* the device is fully serviced and the line is back, unmasked */
		if (!WAIT_UNTIL((irqd_simdev_read(dev, &regs), regs.serviced == r->events) &&
					!((st = line_stats(ctl, "sim0")).flags & IRQD_LINE_MASKED) &&
					atomic_load(&r->stable_occ) == st.raised,
				30000))
			fail_msg("device serviced %llu of %llu", (unsigned long long)regs.serviced,
				 (unsigned long long)r->events);
	}
	atomic_store(&r->stop, 1);
	assert_int_equal(reap(stable), 0);
	if (atomic_load(&r->errors))
		fail_msg("%llu errors, first: %s", (unsigned long long)atomic_load(&r->errors),
			 r->err);
	st = line_stats(ctl, "sim0");
	irqd_simdev_read(dev, &regs);
	printf("  %s: %llu raises during %llu attach/detach cycles in %.2f s; churner got %llu "
	       "events in %llu batches (%llu attachments non-empty, %llu of them waited for)\n",
	       level ? "level" : "edge", (unsigned long long)r->events,
	       (unsigned long long)r->cycles, secs, (unsigned long long)r->churn_events,
	       (unsigned long long)r->churn_batches, (unsigned long long)r->churn_nonempty,
	       (unsigned long long)r->churn_waited);
	/* the waiting attachments got events (all but those after the device had finished) */
	assert_true(r->churn_waited >= r->cycles / 4 / 2);
	assert_int_equal(atomic_load(&r->cycles_done), r->cycles);
	assert_int_equal(st.attachments, 0);
	assert_int_equal(regs.raised, r->events);
	if (!level) {
		assert_int_equal(atomic_load(&r->stable_events), r->events);
		assert_int_equal(st.raised, r->events);
		assert_int_equal(st.dropped, 0);
		/* the churner got no more than it was handed while attached */
		assert_true(r->churn_events <= r->events);
		assert_true(st.delivered >= r->events);
		assert_true(r->churn_events <= st.delivered - r->events);
	} else {
		printf("  level: %llu occurrences, churner notified of %llu\n",
		       (unsigned long long)st.raised, (unsigned long long)r->churn_occ);
		assert_int_equal(regs.serviced, r->events);
		assert_int_equal(regs.pending, 0);
		assert_false(st.flags & IRQD_LINE_MASKED);
		assert_int_equal(st.mask_refs, 0);
		assert_true(st.raised >= 1 && st.raised <= r->events);
		/* the stable driver saw and handled every occurrence; none was unhandled; the
		 * churner's silence never cost a deadline */
		assert_int_equal(atomic_load(&r->stable_occ), st.raised);
		assert_int_equal(atomic_load(&r->stable_handled), st.raised);
		assert_int_equal(atomic_load(&r->stable_not_mine), 0);
		assert_int_equal(st.handled, st.raised);
		assert_int_equal(st.unhandled, 0);
		assert_int_equal(st.stalls, 0);
		assert_true(r->churn_occ <= st.raised);
		assert_true(st.delivered >= st.raised + r->churn_occ);
	}
	munmap(r, sizeof(*r));
	irqd_simdev_close(dev);
	irqd_disconnect(ctl);
	irqd_stop(&p);
}

static void test_churn_edge(void **state)
{
	(void)state;
	churn(false);
}

static void test_churn_level(void **state)
{
	(void)state;
	churn(true);
}

/* The same slot, reused: an attachment detached with a batch it never took, then a new
 * attachment (same connection, same handle). The new one must see exactly its own events,
 * numbered from 1, whether or not the connection looked at its mailbox in between. */
static void reattach(bool poll_between)
{
	struct irqd_proc p;
	irqd_start(&p, 1, "line sim0 trigger=edge\n");
	struct irqd_client *ctl = client(&p), *c = client(&p);
	struct irqd_simdev *dev;
	assert_int_equal(irqd_simdev_open(ctl, "sim0", &dev), 0);
	for (uint64_t round = 1; round <= 20; round++) {
		uint32_t h;
		assert_int_equal(irqd_attach(c, "sim0", IRQD_ATTACH_SHARED, NULL, &h), 0);
		assert_int_equal(h, 0);
		/* irqd publishes 3 events to the attachment; nobody takes them */
		assert_int_equal(irqd_simdev_raise(dev, 3), 0);
		assert_true(WAIT_UNTIL(line_stats(ctl, "sim0").delivered == 3 * round + 5 * (round - 1),
				       5000));
		assert_int_equal(irqd_detach(c, h), 0);
		struct irqd_event ev[4];
		if (poll_between)
			assert_int_equal(irqd_poll(c, ev, 4), 0);
		assert_int_equal(irqd_attach(c, "sim0", IRQD_ATTACH_SHARED, NULL, &h), 0);
		assert_int_equal(h, 0);
		assert_int_equal(irqd_simdev_raise(dev, 5), 0);
		int n = irqd_wait(c, ev, 4, 5000);
		if (n != 1 || ev[0].count != 5 || ev[0].seq != 1)
			fail_msg("round %llu: new attachment got %d batches, first: count %llu seq %llu "
				 "(want 1 batch, count 5, seq 1)",
				 (unsigned long long)round, n, n > 0 ? (unsigned long long)ev[0].count : 0,
				 n > 0 ? (unsigned long long)ev[0].seq : 0);
		/* and nothing else */
		assert_true(WAIT_UNTIL(line_stats(ctl, "sim0").delivered == 8 * round, 5000));
		assert_int_equal(irqd_poll(c, ev, 4), 0);
		assert_int_equal(irqd_detach(c, h), 0);
	}
	struct irqd_line_stats st = line_stats(ctl, "sim0");
	assert_int_equal(st.raised, 8 * 20);
	assert_int_equal(st.dropped, 0);
	irqd_simdev_close(dev);
	irqd_disconnect(c);
	irqd_disconnect(ctl);
	irqd_stop(&p);
}

static void test_reattach_untaken_batch(void **state)
{
	(void)state;
	reattach(false);
}

static void test_reattach_after_poll(void **state)
{
	(void)state;
	reattach(true);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_reattach_untaken_batch, harness_teardown),
		cmocka_unit_test_teardown(test_reattach_after_poll, harness_teardown),
		cmocka_unit_test_teardown(test_churn_edge, harness_teardown),
		cmocka_unit_test_teardown(test_churn_level, harness_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
