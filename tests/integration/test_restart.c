/*
 * test_restart.c - irqd killed (-9) and started again under its clients: the client library
 * notices, hands out what the dead irqd owed (one notification per attachment, seq 0),
 * reconnects, makes its lines again from the same descriptors and re-attaches under the same
 * handles with the same coalescing and masks. Edge counts resume exactly; a level line still
 * asserted fires again.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "harness.h"

static void raise_n(int efd, uint64_t n)
{
	for (uint64_t i = 0; i < n; i++) {
		uint64_t one = 1;
		assert_int_equal(write(efd, &one, sizeof(one)), sizeof(one));
	}
}

/* Events the driver is given until `want` arrived; counts the seq-0 notifications. */
struct tally {
	uint64_t events, batches, resyncs, resync_count;
};

static void take_until(struct irqd_client *c, uint32_t h, uint64_t want, struct tally *t)
{
	uint64_t deadline = mono_ns() + 30000000000ull;
	while (t->events < want) {
		if (mono_ns() > deadline)
			fail_msg("%llu of %llu events after 30 s (%s)", (unsigned long long)t->events,
				 (unsigned long long)want, irqd_last_error());
		struct irqd_event ev[16];
		int n = irqd_wait(c, ev, 16, 1000);
		if (n < 0)
			fail_msg("irqd_wait: %s", irqd_last_error());
		for (int i = 0; i < n; i++) {
			assert_int_equal(ev[i].handle, h);
			t->events += ev[i].count;
			if (ev[i].seq == 0) {
				t->resyncs++;
				t->resync_count += ev[i].count;
			} else {
				t->batches++;
			}
		}
	}
}

/*
 * An eventfd line the driver made (as a vhost-user driver does), coalesced at 64 events or 1 s:
 * 960 raised and delivered, 40 more that irqd holds, irqd killed, 500 raised while it is down,
 * irqd back, 12 more. Every event arrives exactly once: the 40 in the one notification with
 * seq 0, the 500 the new irqd reads from the driver's eventfd in one batch, the 12 held by the
 * coalescing the library set again (same handle) until its 1 s timer.
 */
static void test_edge_counts_resume(void **state)
{
	(void)state;
	struct irqd_proc p;
	irqd_start(&p, 0, NULL);
	struct irqd_client *c = client(&p), *ctl = client(&p);
	int efd = eventfd(0, EFD_CLOEXEC);
	assert_true(efd >= 0);
	assert_int_equal(irqd_line_create_eventfd(c, efd, "nic0", NULL), 0);
	struct irqd_coalesce_params co = { .frames = 64, .usecs = 1000000 };
	uint32_t h, h2;
	/* not handle 0: the same handle must come back, not merely the first free one */
	assert_int_equal(irqd_attach(c, "nic0", IRQD_ATTACH_SHARED, NULL, &h), 0);
	assert_int_equal(irqd_attach(c, "nic0", IRQD_ATTACH_SHARED, &co, &h2), 0);
	assert_int_equal(irqd_detach(c, h), 0);
	h = h2;
	assert_int_not_equal(h, 0);

	struct irqd_line_stats st;
	struct tally t = { 0 };
	raise_n(efd, 960);
	take_until(c, h, 960, &t);
	raise_n(efd, 40);
	assert_true(WAIT_UNTIL(irqd_line_stats(ctl, "nic0", &st) == 0 && st.raised == 1000, 10000));
	struct irqd_event ev[4];
	assert_int_equal(irqd_poll(c, ev, 4), 0); /* irqd holds the 40 */

	irqd_kill(&p);
	raise_n(efd, 500);
	irqd_restart(&p);
	take_until(c, h, 1500, &t);
	raise_n(efd, 12);
	assert_true(WAIT_UNTIL(irqd_line_stats(ctl, "nic0", &st) == 0 && st.raised == 512, 10000));
	assert_int_equal(irqd_poll(c, ev, 4), 0); /* the 12 are held: coalescing is back */
	take_until(c, h, 1512, &t);
	printf("  1512 raised around a kill -9: %llu delivered in %llu batches and %llu seq-0 "
	       "notification(s) carrying %llu\n",
	       (unsigned long long)t.events, (unsigned long long)t.batches,
	       (unsigned long long)t.resyncs, (unsigned long long)t.resync_count);
	assert_int_equal(t.events, 1512);
	assert_int_equal(t.resyncs, 1);
	assert_int_equal(t.resync_count, 40);
	assert_int_equal(irqd_poll(c, ev, 4), 0);
	assert_int_equal(irqd_line_stats(ctl, "nic0", &st), 0);
	assert_int_equal(st.delivered, 512);
	assert_int_equal(irqd_handle_line(c, h), (int)st.id);
	irqd_disconnect(c);
	irqd_disconnect(ctl);
	close(efd);
	irqd_stop(&p);
}

/* A level line whose device outlives irqd (irqd_simdev_create): an occurrence delivered and not
 * answered when irqd dies; the new irqd finds the line still asserted and fires it again; the
 * driver services the device, answers, and the line works on. The driver's mask comes back. */
static void test_level_refires(void **state)
{
	(void)state;
	struct irqd_proc p;
	irqd_start(&p, 0, NULL);
	struct irqd_client *dev = client(&p), *drv = client(&p), *ctl = client(&p);
	struct irqd_simdev *d;
	assert_int_equal(irqd_simdev_create(dev, "disk0", IRQD_LEVEL, &d), 0);
	struct irqd_simdev *other;
	assert_int_equal(irqd_simdev_create(dev, "spare0", IRQD_EDGE, &other), 0);
	uint32_t h, hm;
	assert_int_equal(irqd_attach(drv, "disk0", IRQD_ATTACH_SHARED, NULL, &h), 0);
	assert_int_equal(irqd_attach(drv, "spare0", IRQD_ATTACH_SHARED, NULL, &hm), 0);
	assert_int_equal(irqd_mask(drv, hm), 0);

	assert_int_equal(irqd_simdev_raise(d, 1), 0);
	struct irqd_event ev[4];
	assert_int_equal(irqd_wait(drv, ev, 4, 10000), 1);
	assert_int_equal(ev[0].handle, h);
	assert_true(ev[0].occurrence != 0);

	irqd_kill(&p);
	irqd_restart(&p);
	/* the device's client finds out at its next request, and makes its lines again first */
	struct irqd_line_desc ld;
	assert_int_equal(irqd_line_lookup(dev, "disk0", &ld), 0);
	assert_int_equal(ld.trigger, IRQD_LEVEL);

	/* the driver: the seq-0 notifications (one per attachment), then disk0 fires again */
	uint64_t occ = 0;
	unsigned resyncs = 0;
	uint64_t deadline = mono_ns() + 30000000000ull;
	while (!occ) {
		if (mono_ns() > deadline)
			fail_msg("disk0 did not fire again after the restart (%s)", irqd_last_error());
		int n = irqd_wait(drv, ev, 4, 1000);
		assert_true(n >= 0);
		for (int i = 0; i < n; i++) {
			if (ev[i].seq == 0) {
				assert_int_equal(ev[i].count, 0);
				resyncs++;
			} else {
				assert_int_equal(ev[i].handle, h);
				occ = ev[i].occurrence;
			}
		}
	}
	assert_int_equal(resyncs, 2);
	assert_int_equal(irqd_simdev_service(d), 1);
	assert_int_equal(irqd_answer(drv, h, occ, IRQD_HANDLED), 0);
	struct irqd_line_stats st;
	assert_true(WAIT_UNTIL(irqd_line_stats(ctl, "disk0", &st) == 0 && st.handled == 1, 10000));
	assert_int_equal(st.delivered, 1);
	/* the mask the driver held on spare0 is held again */
	assert_int_equal(irqd_line_stats(ctl, "spare0", &st), 0);
	assert_int_equal(st.mask_refs, 1);
	assert_int_equal(irqd_unmask(drv, hm), 0);

	/* and the line works on */
	assert_int_equal(irqd_simdev_raise(d, 1), 0);
	assert_int_equal(irqd_wait(drv, ev, 4, 10000), 1);
	assert_int_equal(ev[0].handle, h);
	assert_int_equal(irqd_simdev_service(d), 1);
	assert_int_equal(irqd_answer(drv, h, ev[0].occurrence, IRQD_HANDLED), 0);
	assert_true(WAIT_UNTIL(irqd_line_stats(ctl, "disk0", &st) == 0 && st.handled == 2, 10000));
	assert_int_equal(st.delivered, 2);
	irqd_simdev_close(d);
	irqd_simdev_close(other);
	irqd_disconnect(drv);
	irqd_disconnect(dev);
	irqd_disconnect(ctl);
	irqd_stop(&p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_edge_counts_resume, harness_teardown),
		cmocka_unit_test_teardown(test_level_refires, harness_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
