/* test_smoke.c - the shortest end-to-end path: a level line, one driver, one device; and how the
 * delivery thread is scheduled (real-time priority, scheduler slice). */
#include <dirent.h>
#include <errno.h>
#include <sched.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "util/sched_slice.h"

static void test_level_roundtrip(void **state)
{
	(void)state;
	struct irqd_proc p;
	irqd_start(&p, 2, NULL);
	struct irqd_client *drv = client(&p), *devc = client(&p);
	uint32_t h;
	assert_int_equal(irqd_attach(drv, "sim1", IRQD_ATTACH_SHARED, NULL, &h), 0);
	struct irqd_simdev *dev;
	assert_int_equal(irqd_simdev_open(devc, "sim1", &dev), 0);
	for (int i = 1; i <= 100; i++) {
		assert_int_equal(irqd_simdev_raise(dev, 1), 0);
		struct irqd_event ev[4];
		int n = irqd_wait(drv, ev, 4, 5000);
		assert_int_equal(n, 1);
		assert_int_equal(ev[0].occurrence, (uint64_t)i);
		assert_int_equal(ev[0].seq, (uint64_t)i);
		assert_true(ev[0].first_ns <= ev[0].delivered_ns);
		assert_int_equal(irqd_simdev_service(dev), 1);
		assert_int_equal(irqd_answer(drv, h, ev[0].occurrence, IRQD_HANDLED), 0);
		/* the line comes back unmasked once the answer is seen */
		assert_true(WAIT_UNTIL(!(line_stats(drv, "sim1").flags & IRQD_LINE_MASKED), 5000));
	}
	struct irqd_line_stats st = line_stats(drv, "sim1");
	assert_int_equal(st.raised, 100);
	assert_int_equal(st.handled, 100);
	assert_int_equal(st.unhandled, 0);
	irqd_simdev_close(dev);
	irqd_disconnect(devc);
	irqd_disconnect(drv);
	irqd_stop(&p);
}

/* Each thread of irqd p: is it the delivery thread, its policy, priority and slice. */
struct thread_sched {
	bool delivery;
	int policy, priority;
	uint32_t slice_us;
};

static int irqd_threads(const struct irqd_proc *p, struct thread_sched *t, int max)
{
	char path[320], comm[32];
	snprintf(path, sizeof(path), "/proc/%d/task", (int)p->pid);
	DIR *d = opendir(path);
	assert_non_null(d);
	int n = 0;
	for (struct dirent *e; (e = readdir(d)) && n < max;) {
		if (e->d_name[0] == '.')
			continue;
		pid_t tid = (pid_t)atoi(e->d_name);
		snprintf(path, sizeof(path), "/proc/%d/task/%s/comm", (int)p->pid, e->d_name);
		FILE *f = fopen(path, "r");
		if (!f || !fgets(comm, sizeof(comm), f))
			comm[0] = 0;
		if (f)
			fclose(f);
		struct sched_param sp;
		assert_int_equal(sched_getparam(tid, &sp), 0);
		t[n++] = (struct thread_sched){ .delivery = !strncmp(comm, "irqd-delivery", 13),
						.policy = sched_getscheduler(tid),
						.priority = sp.sched_priority,
						.slice_us = sched_slice_of(tid) };
	}
	closedir(d);
	return n;
}

/* `rt-priority 50`: the delivery thread runs SCHED_FIFO at 50, as Linux's interrupt threads do;
 * the other threads stay ordinary. */
static void test_rt_priority(void **state)
{
	(void)state;
	struct irqd_proc p;
	irqd_start(&p, 1, "rt-priority 50\n");
	struct thread_sched t[16];
	int n = irqd_threads(&p, t, 16), fifo = 0, other = 0;
	for (int i = 0; i < n; i++) {
		if (t[i].delivery) {
			assert_int_equal(t[i].policy, SCHED_FIFO);
			assert_int_equal(t[i].priority, 50);
			fifo++;
		} else {
			assert_int_equal(t[i].policy, SCHED_OTHER);
			other++;
		}
	}
	assert_int_equal(fifo, 1);
	assert_true(other >= 1);
	/* and it still delivers */
	struct irqd_client *c = client(&p);
	assert_int_equal(line_stats(c, "sim0").raised, 0);
	irqd_disconnect(c);
	irqd_stop(&p);
}

/* Does this kernel take custom slices (Linux 6.12+)? Asked in a child: the slice is inherited. */
static int child_sets_slice(const struct irqd_proc *p, void *arg)
{
	(void)p;
	uint32_t us = *(const uint32_t *)arg;
	int err = irqd_thread_slice(us);
	if (err == -EOPNOTSUPP)
		return 3;
	return err ? 1 : sched_slice_of(0) == us ? 0 : 2;
}

static bool kernel_has_slices(void)
{
	uint32_t us = SCHED_SLICE_MIN_US;
	int st = reap(spawn(child_sets_slice, NULL, &us));
	assert_true(st == 0 || st == 3);
	return st == 0;
}

/* The delivery thread's slice: irqd's one thread that the interrupt wakes, so only it asks
 * for one; slice-us sets it, 0 gives the kernel's default back. */
static uint32_t delivery_slice(const char *conf, uint32_t *others)
{
	struct irqd_proc p;
	irqd_start(&p, 1, conf);
	struct thread_sched t[16];
	int n = irqd_threads(&p, t, 16), delivery = 0;
	uint32_t slice = 0;
	for (int i = 0; i < n; i++) {
		assert_int_equal(t[i].policy, SCHED_OTHER);
		if (t[i].delivery) {
			slice = t[i].slice_us;
			delivery++;
		} else {
			*others = t[i].slice_us;
		}
	}
	assert_int_equal(delivery, 1);
	irqd_stop(&p);
	return slice;
}

static void test_slice(void **state)
{
	(void)state;
	char out[512];
	assert_int_equal(irqd_run_config("slice-us 50\n", out, sizeof(out)), 2);
	assert_non_null(strstr(out, "line 1: slice-us takes 0 (the kernel's default) or a number "
				    "from 100 to 100000"));
	if (!kernel_has_slices())
		skip();
	uint32_t others = 0;
	assert_int_equal(delivery_slice(NULL, &others), SCHED_SLICE_MIN_US);
	assert_true(others > SCHED_SLICE_MIN_US);   /* the kernel's default, ~3 ms */
	uint32_t kernel_default = others;
	assert_int_equal(delivery_slice("slice-us 300\n", &others), 300);
	assert_int_equal(delivery_slice("slice-us 0\n", &others), kernel_default);
	/* the client library's call, for a driver's interrupt thread */
	uint32_t us = 250;
	assert_int_equal(reap(spawn(child_sets_slice, NULL, &us)), 0);
	us = 50;
	assert_int_equal(reap(spawn(child_sets_slice, NULL, &us)), 1);
	assert_int_equal(irqd_thread_slice(50), -EINVAL);
	assert_non_null(strstr(irqd_last_error(), "a slice is 0 (the kernel's default) or 100 to "
						  "100000"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_level_roundtrip, harness_teardown),
		cmocka_unit_test_teardown(test_rt_priority, harness_teardown),
		cmocka_unit_test_teardown(test_slice, harness_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
