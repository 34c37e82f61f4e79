/*
 * test_deadline.c - dead and hung sharers never keep a shared level line masked.
 *
 * irqd runs with `ack-deadline-ms 200` (sim0) and, for the kill tests, a per-line deadline of
 * 10 s (sim1): there the line can only come back because irqd saw the driver die, not because
 * a deadline ran out (stalls stays 0). Drivers are separate processes (spawn/reap) reporting
 * through shared memory, as in test_shared.c. SIGKILL is sent at three stages: before the
 * occurrence arrives, after the driver received it, after it answered.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "sharer.h"

#define CONFIG "ack-deadline-ms 200\nline sim1 ack-deadline-ms=10000\n"
#define DEADLINE_NS (200 * 1000000ull)

/* ---- tests ---------------------------------------------------------------------------------- */

static uint64_t sharer_answers(struct drv *d)
{
	return atomic_load(&d->handled) + atomic_load(&d->not_mine);
}

/* Raise one event and wait until its occurrence completed (counted, unmasked): the paced
 * device of test_shared.c. */
static void raise_and_complete(struct irqd_client *ctl, struct irqd_simdev *dev, const char *line,
			       uint64_t occ)
{
	assert_int_equal(irqd_simdev_raise(dev, 1), 0);
	struct irqd_line_stats st;
	if (!WAIT_UNTIL((st = line_stats(ctl, line)).raised == occ &&
				!(st.flags & IRQD_LINE_MASKED),
			10000))
		fail_msg("%s: occurrence %llu did not complete: raised %llu flags 0x%x stalls %llu",
			 line, (unsigned long long)occ, (unsigned long long)st.raised, st.flags,
			 (unsigned long long)st.stalls);
}

/* A sharer killed while it owes an answer: irqd sees the connection close, counts the dead
 * sharer as answered, unmasks the line at once (not at the 10 s deadline) and drops the
 * attachment; the other sharer keeps getting occurrences. */
static void test_killed_while_owing(void **state)
{
	(void)state;
	struct irqd_proc p;
	irqd_start(&p, 2, CONFIG);
	struct irqd_client *ctl = client(&p);
	struct irqd_simdev *dev = device(ctl, "sim1");
	struct drv *d = drv_alloc(2);
	pid_t a = drv_start(&p, &d[0], "sim1", DRV_SERVICE, false);
	pid_t v = drv_start(&p, &d[1], "sim1", DRV_HOLD, false);
	assert_int_equal(line_stats(ctl, "sim1").attachments, 2);

	assert_int_equal(irqd_simdev_raise(dev, 1), 0);
	assert_true(WAIT_UNTIL(sharer_answers(&d[0]) == 1 && atomic_load(&d[1].owed_occ) == 1,
			       10000));
	/* masked while the victim owes, past the global 200 ms deadline (sim1 has 10 s) */
	usleep(300000);
	struct irqd_line_stats st = line_stats(ctl, "sim1");
	assert_true(st.flags & IRQD_LINE_MASKED);
	assert_int_equal(st.stalls, 0);
	assert_int_equal(st.handled, 1);

	uint64_t t_kill = mono_ns();
	assert_int_equal(kill(v, SIGKILL), 0);
	assert_int_equal(reap(v), 128 + SIGKILL);
	uint64_t t_back = wait_unmasked(ctl, "sim1", 5000);
	printf("  line back %.1f ms after the kill\n", (double)(t_back - t_kill) / 1e6);
	st = line_stats(ctl, "sim1");
	assert_int_equal(st.attachments, 1);
	assert_int_equal(st.stalls, 0);
	assert_int_equal(st.raised, 1);
	assert_int_equal(st.unhandled, 0);

	for (uint64_t i = 2; i <= 50; i++)
		raise_and_complete(ctl, dev, "sim1", i);
	assert_true(WAIT_UNTIL(atomic_load(&d[0].handled) == 50, 5000));
	st = line_stats(ctl, "sim1");
	assert_int_equal(st.raised, 50);
	assert_int_equal(st.delivered, 2 + 49);
	assert_int_equal(st.handled, 50);
	assert_int_equal(st.unhandled, 0);
	assert_int_equal(st.stalls, 0);
	assert_int_equal(atomic_load(&d[0].occurrences), 50);
	assert_int_equal(atomic_load(&d[1].occurrences), 1);
	drv_stop(&d[0], a);
	close(d[1].kick);
	drv_free(d, 2);
	irqd_simdev_close(dev);
	irqd_disconnect(ctl);
	irqd_stop(&p);
}

/* A hung sharer (alive, takes its notifications, never answers): after the 200 ms deadline the
 * line is unmasked and one stall counted. It stays notified, but later occurrences complete
 * without waiting for it (no further stall). Once it answers again it is waited for again: the
 * next time it is silent costs one more deadline. */
static void test_hung_sharer(void **state)
{
	(void)state;
	struct irqd_proc p;
	irqd_start(&p, 1, CONFIG);
	struct irqd_client *ctl = client(&p);
	struct irqd_simdev *dev = device(ctl, "sim0");
	struct drv *d = drv_alloc(2);
	pid_t a = drv_start(&p, &d[0], "sim0", DRV_SERVICE, false);
	pid_t s = drv_start(&p, &d[1], "sim0", DRV_HOLD, false);

	/* occurrence 1: the driver answers, the hung one does not */
	assert_int_equal(irqd_simdev_raise(dev, 1), 0);
	assert_true(WAIT_UNTIL(atomic_load(&d[0].handled) == 1 && atomic_load(&d[1].owed_occ) == 1,
			       10000));
	struct irqd_line_stats st = line_stats(ctl, "sim0");
	uint64_t fired = atomic_load(&d[0].last_delivered_ns);
	if (mono_ns() < fired + DEADLINE_NS) {
		/* still within the deadline: the line waits for the hung sharer */
		assert_true(st.flags & IRQD_LINE_MASKED);
		assert_int_equal(st.stalls, 0);
	}
	uint64_t back = wait_unmasked(ctl, "sim0", 5000);
	printf("  unmasked %.1f ms after the occurrence (deadline 200 ms)\n",
	       (double)(back - fired) / 1e6);
	assert_true(back - fired >= DEADLINE_NS);
	st = line_stats(ctl, "sim0");
	assert_int_equal(st.stalls, 1);
	assert_int_equal(st.raised, 1);
	assert_int_equal(st.handled, 1);

	/* occurrences 2..21: notified to the stalled sharer, completed without it */
	uint64_t t0 = mono_ns();
	for (uint64_t i = 2; i <= 21; i++)
		raise_and_complete(ctl, dev, "sim0", i);
	printf("  20 occurrences with a stalled sharer took %.1f ms\n",
	       (double)(mono_ns() - t0) / 1e6);
	/* the stalled sharer may be slow to take them (a loaded machine): occurrences it had not
	 * taken yet reach it in one batch, the latest one, so wait for that */
	assert_true(WAIT_UNTIL(atomic_load(&d[1].last_occ) == 21, 10000));
	assert_true(atomic_load(&d[1].occurrences) <= 21);
	st = line_stats(ctl, "sim0");
	assert_int_equal(st.stalls, 1);
	assert_int_equal(st.delivered, 2 * 21);
	assert_int_equal(st.handled, 21);
	assert_int_equal(st.unhandled, 0);
	assert_int_equal(atomic_load(&d[1].last_occ), 21);
	assert_int_equal(atomic_load(&d[1].owed_occ), 21);

	/* it answers again (its latest occurrence, late): from now on it is awaited */
	assert_int_equal(drv_cmd(&d[1], DRV_CMD_ANSWER, DRV_NOT_MINE), 0);
	assert_true(WAIT_UNTIL(line_stats(ctl, "sim0").not_mine == 1, 5000));
	/* occurrence 22: it is silent again -> the line waits for the deadline, a second stall */
	assert_int_equal(irqd_simdev_raise(dev, 1), 0);
	assert_true(WAIT_UNTIL(atomic_load(&d[0].handled) == 22 &&
				       atomic_load(&d[1].owed_occ) == 22,
			       10000));
	fired = atomic_load(&d[0].last_delivered_ns);
	back = wait_unmasked(ctl, "sim0", 5000);
	assert_true(back - fired >= DEADLINE_NS);
	st = line_stats(ctl, "sim0");
	assert_int_equal(st.stalls, 2);
	assert_int_equal(st.raised, 22);

	/* it recovers for good: answers promptly, nothing stalls any more */
	atomic_store(&d[1].mode, DRV_NOT_MINE);
	assert_int_equal(drv_cmd(&d[1], DRV_CMD_ANSWER, DRV_NOT_MINE), 0);
	for (uint64_t i = 23; i <= 40; i++)
		raise_and_complete(ctl, dev, "sim0", i);
	assert_true(WAIT_UNTIL(sharer_answers(&d[1]) == 1 + 1 + 18, 5000));
	st = line_stats(ctl, "sim0");
	assert_int_equal(st.stalls, 2);
	assert_int_equal(st.raised, 40);
	assert_int_equal(st.handled, 40);
	assert_int_equal(st.not_mine, 20);
	assert_int_equal(st.unhandled, 0);
	for (uint64_t k = 0; k < 40; k++)
		assert_int_equal(d[1].log[k] >> 2, k + 1);
	drv_stop(&d[0], a);
	drv_stop(&d[1], s);
	drv_free(d, 2);
	irqd_simdev_close(dev);
	irqd_disconnect(ctl);
	irqd_stop(&p);
}

/* A sharer stopped (SIGSTOP) cannot even take its notifications: same rule, the deadline
 * unmasks the line; when it continues it gets the latest occurrence and answers it. */
static void test_stopped_sharer(void **state)
{
	(void)state;
	struct irqd_proc p;
	irqd_start(&p, 1, CONFIG);
	struct irqd_client *ctl = client(&p);
	struct irqd_simdev *dev = device(ctl, "sim0");
	struct drv *d = drv_alloc(2);
	pid_t a = drv_start(&p, &d[0], "sim0", DRV_SERVICE, false);
	pid_t s = drv_start(&p, &d[1], "sim0", DRV_NOT_MINE, false);
	assert_int_equal(kill(s, SIGSTOP), 0);
	assert_true(WAIT_UNTIL(({
		char path[64], buf[256] = "";
		snprintf(path, sizeof(path), "/proc/%d/stat", s);
		FILE *f = fopen(path, "r");
		if (f) {
			if (!fgets(buf, sizeof(buf), f))
				buf[0] = 0;
			fclose(f);
		}
		strstr(buf, ") T ") != NULL;
	}), 5000));

	assert_int_equal(irqd_simdev_raise(dev, 1), 0);
	assert_true(WAIT_UNTIL(atomic_load(&d[0].handled) == 1, 10000));
	uint64_t fired = atomic_load(&d[0].last_delivered_ns);
	uint64_t back = wait_unmasked(ctl, "sim0", 5000);
	assert_true(back - fired >= DEADLINE_NS);
	assert_int_equal(line_stats(ctl, "sim0").stalls, 1);
	for (uint64_t i = 2; i <= 10; i++)
		raise_and_complete(ctl, dev, "sim0", i);
	assert_int_equal(line_stats(ctl, "sim0").stalls, 1);

	assert_int_equal(kill(s, SIGCONT), 0);
	/* it takes occurrence 1 (published before it stopped), then the held one: 10 */
	assert_true(WAIT_UNTIL(atomic_load(&d[1].last_occ) == 10, 10000));
	for (uint64_t i = 11; i <= 20; i++)
		raise_and_complete(ctl, dev, "sim0", i);
	assert_true(WAIT_UNTIL(atomic_load(&d[1].last_occ) == 20, 5000));
	struct irqd_line_stats st = line_stats(ctl, "sim0");
	assert_int_equal(st.stalls, 1);
	assert_int_equal(st.raised, 20);
	assert_int_equal(st.handled, 20);
	assert_int_equal(st.unhandled, 0);
	assert_int_equal(atomic_load(&d[0].occurrences), 20);
	drv_stop(&d[0], a);
	drv_stop(&d[1], s);
	drv_free(d, 2);
	irqd_simdev_close(dev);
	irqd_disconnect(ctl);
	irqd_stop(&p);
}

/* SIGKILL at three stages; each stage five times, a new victim process each time. The
 * remaining sharer gets every occurrence, the line never stays masked, and the 10 s deadline
 * never has to step in (stalls == 0). */
enum stage { BEFORE_OCCURRENCE, AFTER_RECEIVING, AFTER_ANSWERING };

static void kill_at(enum stage stage)
{
	enum { ROUNDS = 5, AFTER = 10 };
	struct irqd_proc p;
	irqd_start(&p, 2, CONFIG);
	struct irqd_client *ctl = client(&p);
	struct irqd_simdev *dev = device(ctl, "sim1");
	struct drv *d = drv_alloc(1 + ROUNDS);
	pid_t a = drv_start(&p, &d[0], "sim1", DRV_SERVICE, false);
	uint64_t occ = 0;
	for (int r = 1; r <= ROUNDS; r++) {
		struct drv *v = &d[r];
		pid_t vp = drv_start(&p, v, "sim1",
				     stage == AFTER_RECEIVING ? DRV_HOLD : DRV_SERVICE, false);
		assert_int_equal(line_stats(ctl, "sim1").attachments, 2);
		uint64_t a_answers = sharer_answers(&d[0]);
		occ++;
		switch (stage) {
		case BEFORE_OCCURRENCE:
			/* killed, then the device raises at once: irqd may or may not have seen
			 * the death when the line fires; either way the line comes back */
			assert_int_equal(kill(vp, SIGKILL), 0);
			assert_int_equal(reap(vp), 128 + SIGKILL);
			assert_int_equal(irqd_simdev_raise(dev, 1), 0);
			break;
		case AFTER_RECEIVING:
			assert_int_equal(irqd_simdev_raise(dev, 1), 0);
			assert_true(WAIT_UNTIL(atomic_load(&v->owed_occ) == occ &&
						       sharer_answers(&d[0]) == a_answers + 1,
					       10000));
			assert_true(line_stats(ctl, "sim1").flags & IRQD_LINE_MASKED);
			assert_int_equal(kill(vp, SIGKILL), 0);
			assert_int_equal(reap(vp), 128 + SIGKILL);
			break;
		case AFTER_ANSWERING:
			/* the survivor holds its answer, the victim answers and dies: the line
			 * must still wait for the survivor (the dead one is not counted twice) */
			atomic_store(&d[0].mode, DRV_HOLD);
			assert_int_equal(irqd_simdev_raise(dev, 1), 0);
			assert_true(WAIT_UNTIL(sharer_answers(v) == 1 &&
						       atomic_load(&d[0].owed_occ) == occ,
					       10000));
			assert_int_equal(kill(vp, SIGKILL), 0);
			assert_int_equal(reap(vp), 128 + SIGKILL);
			assert_true(WAIT_UNTIL(line_stats(ctl, "sim1").attachments == 1, 5000));
			struct irqd_line_stats st = line_stats(ctl, "sim1");
			assert_true(st.flags & IRQD_LINE_MASKED);
			assert_int_equal(st.raised, occ);
			atomic_store(&d[0].mode, DRV_SERVICE);
			assert_int_equal(drv_cmd(&d[0], DRV_CMD_ANSWER, DRV_SERVICE), 0);
			break;
		}
		wait_unmasked(ctl, "sim1", 5000);
		assert_true(WAIT_UNTIL(line_stats(ctl, "sim1").attachments == 1, 5000));
		assert_true(WAIT_UNTIL(atomic_load(&d[0].occurrences) == occ, 5000));
		/* the survivor keeps receiving */
		for (int i = 0; i < AFTER; i++)
			raise_and_complete(ctl, dev, "sim1", ++occ);
		close(v->kick);
	}
	struct irqd_line_stats st = line_stats(ctl, "sim1");
	assert_int_equal(st.raised, occ);
	assert_int_equal(st.handled, occ);
	assert_int_equal(st.unhandled, 0);
	assert_int_equal(st.stalls, 0);
	assert_int_equal(st.attachments, 1);
	assert_false(st.flags & IRQD_LINE_MASKED);
	assert_int_equal(atomic_load(&d[0].occurrences), occ);
	assert_int_equal(atomic_load(&d[0].last_occ), occ);
	struct irqd_simdev_regs regs;
	irqd_simdev_read(dev, &regs);
	assert_int_equal(regs.serviced, occ);
	drv_stop(&d[0], a);
	drv_free(d, 1 + ROUNDS);
	irqd_simdev_close(dev);
	irqd_disconnect(ctl);
	irqd_stop(&p);
}

static void test_kill_before_occurrence(void **state)
{
	(void)state;
	kill_at(BEFORE_OCCURRENCE);
}

static void test_kill_after_receiving(void **state)
{
	(void)state;
	kill_at(AFTER_RECEIVING);
}

static void test_kill_after_answering(void **state)
{
	(void)state;
	kill_at(AFTER_ANSWERING);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_killed_while_owing, harness_teardown),
		cmocka_unit_test_teardown(test_hung_sharer, harness_teardown),
		cmocka_unit_test_teardown(test_stopped_sharer, harness_teardown),
		cmocka_unit_test_teardown(test_kill_before_occurrence, harness_teardown),
		cmocka_unit_test_teardown(test_kill_after_receiving, harness_teardown),
		cmocka_unit_test_teardown(test_kill_after_answering, harness_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
