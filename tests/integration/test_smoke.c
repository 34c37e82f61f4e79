/* test_smoke.c - the shortest end-to-end path: a level line, one driver, one device; and the
 * delivery thread's real-time priority. */
#include <dirent.h>
#include <sched.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"

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

/* `rt-priority 50`: the delivery thread runs SCHED_FIFO at 50, as Linux's interrupt threads do;
 * the other threads stay ordinary. */
static void test_rt_priority(void **state)
{
	(void)state;
	struct irqd_proc p;
	irqd_start(&p, 1, "rt-priority 50\n");
	char path[320], comm[32];
	snprintf(path, sizeof(path), "/proc/%d/task", (int)p.pid);
	DIR *d = opendir(path);
	assert_non_null(d);
	int fifo = 0, other = 0;
	for (struct dirent *e; (e = readdir(d));) {
		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/%d/task/%s/comm", (int)p.pid, e->d_name);
		FILE *f = fopen(path, "r");
		if (!f || !fgets(comm, sizeof(comm), f))
			comm[0] = 0;
		if (f)
			fclose(f);
		struct sched_param sp;
		int policy = sched_getscheduler((pid_t)atoi(e->d_name));
		assert_int_equal(sched_getparam((pid_t)atoi(e->d_name), &sp), 0);
		if (!strncmp(comm, "irqd-delivery", 13)) {
			assert_int_equal(policy, SCHED_FIFO);
			assert_int_equal(sp.sched_priority, 50);
			fifo++;
		} else {
			assert_int_equal(policy, SCHED_OTHER);
			other++;
		}
	}
	closedir(d);
	assert_int_equal(fifo, 1);
	assert_true(other >= 1);
	/* and it still delivers */
	struct irqd_client *c = client(&p);
	assert_int_equal(line_stats(c, "sim0").raised, 0);
	irqd_disconnect(c);
	irqd_stop(&p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_level_roundtrip, harness_teardown),
		cmocka_unit_test_teardown(test_rt_priority, harness_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
