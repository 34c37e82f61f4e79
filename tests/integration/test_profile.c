/*
 * test_profile.c - latency profiling end to end: irqd's histograms per line and per attachment
 * count every batch exactly once per stage, measure what they claim to measure, follow
 * attachments that come and go, and are released when their last user leaves.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "irqd/profile.h"
#include "sharer.h"

static struct irqd_profile_dump *read_profile(struct irqd_client *c, const char *line)
{
	struct irqd_profile_dump *d = NULL;
	int r = irqd_profile_read(c, line, &d);
	if (r < 0)
		fail_msg("profile of %s: %s", line, irqd_last_error());
	return d;
}

static uint32_t profiled_lines(struct irqd_client *c)
{
	struct irqd_server_stats st;
	assert_int_equal(irqd_server_stats(c, &st), 0);
	return st.profiled_lines;
}

static void assert_ordered(const struct irqd_hist *h)
{
	uint64_t p50 = irqd_hist_percentile(h, 50), p99 = irqd_hist_percentile(h, 99);
	assert_true(h->min <= p50 && p50 <= p99 && p99 <= h->max);
	uint64_t sum = 0;
	for (unsigned b = 0; b < IRQD_HIST_BUCKETS; b++)
		sum += h->bucket[b];
	assert_int_equal(sum, h->count);
}

/* Two sharers on a level line, occurrences one at a time: each stage of each attachment
 * counts every occurrence once; the line's histograms are the sum of its attachments'. */
static void test_level_shared_exact(void **state)
{
	(void)state;
	enum { N = 300, S = 2 };
	struct irqd_proc p;
	irqd_start(&p, 1, NULL);
	struct irqd_client *ctl = client(&p);
	struct irqd_simdev *dev = device(ctl, "sim0");
	assert_int_equal(irqd_profile_start(ctl, "sim0"), 0);
	struct drv *d = drv_alloc(S);
	pid_t pid[S];
	for (int i = 0; i < S; i++)
		pid[i] = drv_start(&p, &d[i], "sim0", DRV_SERVICE, false);
	for (uint64_t i = 1; i <= N; i++) {
		assert_int_equal(irqd_simdev_raise(dev, 1), 0);
		struct irqd_line_stats st;
		assert_true(WAIT_UNTIL((st = line_stats(ctl, "sim0")).raised == i &&
					       st.handled + st.not_mine == S * i,
				       10000));
	}
	struct irqd_profile_dump *dump = read_profile(ctl, "sim0");
	assert_int_equal(dump->n_sets, 1 + S);
	assert_int_equal(dump->set[0].handle, IRQD_HANDLE_LINE);
	assert_int_equal(dump->stats.raised, N);
	for (int s = 0; s < IRQD_STAGES; s++) {
		const struct irqd_hist *line = &dump->set[0].stage[s];
		assert_int_equal(line->count, S * N);
		assert_ordered(line);
		struct irqd_hist merged = { .min = UINT64_MAX };
		for (int i = 0; i < S; i++) {
			const struct irqd_profile_set *a =
				irqd_profile_find(dump, (uint32_t)pid[i], 0);
			assert_non_null(a);
			assert_int_equal(a->stage[s].count, N);
			irqd_hist_merge(&merged, &a->stage[s]);
		}
		assert_memory_equal(merged.bucket, line->bucket, sizeof(merged.bucket));
		assert_int_equal(merged.sum, line->sum);
	}
	/* the driver could not have answered before irqd delivered, nor irqd seen it earlier */
	const struct irqd_hist *ans = &dump->set[0].stage[IRQD_STAGE_DELIVER_ANSWER];
	const struct irqd_hist *hnd = &dump->set[0].stage[IRQD_STAGE_DELIVER_HANDLER];
	assert_true(ans->sum >= hnd->sum);
	irqd_profile_free(dump);
	for (int i = 0; i < S; i++)
		drv_stop(&d[i], pid[i]);
	drv_free(d, S);
	irqd_simdev_close(dev);
	irqd_disconnect(ctl);
	irqd_stop(&p);
}

/* delivery-to-answer measures what it says: a driver holds its answer while the test watches
 * the clock; the recorded time lies between the hold the test saw and the moment it knew the
 * answer was given. */
static void test_answer_stage_measures_hold(void **state)
{
	(void)state;
	struct irqd_proc p;
	irqd_start(&p, 1, NULL);
	struct irqd_client *ctl = client(&p);
	struct irqd_simdev *dev = device(ctl, "sim0");
	assert_int_equal(irqd_profile_start(ctl, "sim0"), 0);
	struct drv *d = drv_alloc(1);
	pid_t pid = drv_start(&p, d, "sim0", DRV_HOLD, false);
	assert_int_equal(irqd_simdev_raise(dev, 1), 0);
	assert_true(WAIT_UNTIL(atomic_load(&d->owed_occ) == 1, 10000));
	uint64_t delivered = atomic_load(&d->last_delivered_ns);
	usleep(20000);   /* the hold; whatever it turns out to be is measured below */
	uint64_t held_at_least = mono_ns() - delivered;
	atomic_store(&d->mode, DRV_SERVICE);
	assert_int_equal(drv_cmd(d, DRV_CMD_ANSWER, DRV_SERVICE), 0);
	wait_unmasked(ctl, "sim0", 10000);   /* irqd has processed the answer */
	uint64_t held_at_most = mono_ns() - delivered;
	struct irqd_profile_dump *dump = read_profile(ctl, "sim0");
	const struct irqd_hist *h = &dump->set[0].stage[IRQD_STAGE_DELIVER_ANSWER];
	assert_int_equal(h->count, 1);
	assert_true(h->max >= held_at_least);
	assert_true(h->max <= held_at_most);
	assert_int_equal(h->min, h->max);
	assert_int_equal(h->sum, h->max);
	irqd_profile_free(dump);
	drv_stop(d, pid);
	drv_free(d, 1);
	irqd_simdev_close(dev);
	irqd_disconnect(ctl);
	irqd_stop(&p);
}

/* An edge line with frame coalescing: one record per batch, and the handler stamp of every
 * batch is read exactly once (the last one when the profile is read). */
static void test_edge_batches_exact(void **state)
{
	(void)state;
	enum { EVENTS = 4000 };
	struct irqd_proc p;
	irqd_start(&p, 2, "line sim1 trigger=edge\n");
	struct irqd_client *c = client(&p);
	struct irqd_simdev *dev = device(c, "sim1");
	struct irqd_coalesce_params co = { .frames = 16, .usecs = 1000 };
	uint32_t h;
	assert_int_equal(irqd_attach(c, "sim1", IRQD_ATTACH_EXCLUSIVE, &co, &h), 0);
	assert_int_equal(irqd_profile_start(c, "sim1"), 0);
	uint64_t events = 0, batches = 0, first_delivery = 0;
	for (int i = 0; i < EVENTS; i++)
		assert_int_equal(irqd_simdev_raise(dev, 1), 0);
	while (events < EVENTS) {
		struct irqd_event ev[16];
		int n = irqd_wait(c, ev, 16, 10000);
		assert_true(n > 0);
		for (int i = 0; i < n; i++) {
			events += ev[i].count;
			batches++;
			if (!first_delivery)
				first_delivery = ev[i].delivered_ns;
			assert_true(ev[i].delivered_ns >= ev[i].first_ns);
		}
	}
	assert_int_equal(events, EVENTS);
	struct irqd_profile_dump *dump = read_profile(c, "sim1");
	const struct irqd_profile_set *a = irqd_profile_find(dump, (uint32_t)getpid(), h);
	assert_non_null(a);
	assert_int_equal(a->stage[IRQD_STAGE_RAISE_DELIVER].count, batches);
	assert_int_equal(a->stage[IRQD_STAGE_DELIVER_HANDLER].count, batches);
	assert_int_equal(a->stage[IRQD_STAGE_DELIVER_ANSWER].count, 0);   /* edge: no answers */
	assert_int_equal(dump->set[0].stage[IRQD_STAGE_RAISE_DELIVER].count, batches);
	assert_ordered(&a->stage[IRQD_STAGE_RAISE_DELIVER]);
	assert_ordered(&a->stage[IRQD_STAGE_DELIVER_HANDLER]);
	/* reading again adds nothing: every stamp was taken once */
	struct irqd_profile_dump *again = read_profile(c, "sim1");
	assert_int_equal(again->set[1].stage[IRQD_STAGE_DELIVER_HANDLER].count, batches);
	/* a window is the difference of two reads */
	struct irqd_hist win;
	irqd_hist_subtract(&win, &again->set[0].stage[0], &dump->set[0].stage[0]);
	assert_int_equal(win.count, 0);
	irqd_profile_free(again);
	irqd_profile_free(dump);
	irqd_simdev_close(dev);
	irqd_disconnect(c);
	irqd_stop(&p);
}

/* Clear errors; profiling lasts while anyone profiles; a client that leaves stops its own. */
static void test_users_and_errors(void **state)
{
	(void)state;
	struct irqd_proc p;
	irqd_start(&p, 2, NULL);
	struct irqd_client *a = client(&p), *b = client(&p);
	struct irqd_profile_dump *d = NULL;
	assert_int_equal(irqd_profile_read(a, "sim0", &d), -ENODATA);
	assert_non_null(strstr(irqd_last_error(), "not being profiled"));
	assert_int_equal(irqd_profile_stop(a, "sim0"), -EINVAL);
	assert_non_null(strstr(irqd_last_error(), "not profiling"));
	assert_int_equal(irqd_profile_start(a, "nosuch"), -ENOENT);
	assert_int_equal(profiled_lines(a), 0);

	assert_int_equal(irqd_profile_start(a, "sim0"), 0);
	assert_int_equal(irqd_profile_start(a, "sim0"), 0);   /* harmless twice */
	assert_int_equal(irqd_profile_start(b, "sim0"), 0);
	assert_int_equal(irqd_profile_start(b, "sim1"), 0);
	assert_int_equal(profiled_lines(a), 2);
	assert_int_equal(irqd_profile_stop(a, "sim0"), 0);
	assert_int_equal(profiled_lines(a), 2);              /* b still profiles sim0 */
	irqd_disconnect(b);
	assert_true(WAIT_UNTIL(profiled_lines(a) == 0, 10000));
	assert_int_equal(irqd_profile_read(a, "sim0", &d), -ENODATA);
	irqd_disconnect(a);
	irqd_stop(&p);
}

/* Attachments come and go while events flow and profiling is switched on and off: nothing is
 * recorded into freed memory (ASan), and the line's count covers its attachments'. */
static void test_churn(void **state)
{
	(void)state;
	struct irqd_proc p;
	irqd_start(&p, 2, "line sim1 trigger=edge\n");
	struct irqd_client *c = client(&p), *ctl = client(&p);
	struct raiser r = { .line = "sim1", .n = 10000000, .gap_ns = 2000 };
	pid_t rp = spawn(raiser_main, &p, &r);
	for (int i = 0; i < 200; i++) {
		uint32_t h;
		if (i % 10 == 0)
			assert_int_equal(irqd_profile_start(ctl, "sim1"), 0);
		assert_int_equal(irqd_attach(c, "sim1", IRQD_ATTACH_SHARED, NULL, &h), 0);
		struct irqd_event ev[8];
		assert_true(irqd_wait(c, ev, 8, 10000) >= 0);
		if (i % 10 == 5) {
			struct irqd_profile_dump *d = read_profile(ctl, "sim1");
			uint64_t att = 0;
			for (uint32_t k = 1; k < d->n_sets; k++)
				att += d->set[k].stage[IRQD_STAGE_RAISE_DELIVER].count;
			assert_true(d->set[0].stage[IRQD_STAGE_RAISE_DELIVER].count >= att);
			irqd_profile_free(d);
		}
		assert_int_equal(irqd_detach(c, h), 0);
		if (i % 10 == 9)
			assert_int_equal(irqd_profile_stop(ctl, "sim1"), 0);
	}
	kill(rp, SIGTERM);
	reap(rp);
	assert_int_equal(profiled_lines(ctl), 0);
	irqd_disconnect(c);
	irqd_disconnect(ctl);
	irqd_stop(&p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_level_shared_exact, harness_teardown),
		cmocka_unit_test_teardown(test_answer_stage_measures_hold, harness_teardown),
		cmocka_unit_test_teardown(test_edge_batches_exact, harness_teardown),
		cmocka_unit_test_teardown(test_users_and_errors, harness_teardown),
		cmocka_unit_test_teardown(test_churn, harness_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
