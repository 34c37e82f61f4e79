/*
 * test_omega0.c - the classic Omega0 calls (omega0.h) against a real irqd. The implicit
 * connection is per process and opened on first use from $IRQD_SOCKET, so every scenario runs
 * in a child process that sets the variable first; the child plays the device through an
 * explicit connection (irqd_connect(NULL): the same variable) and reports on a shared page.
 */
#include <errno.h>
#include <pthread.h>
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
#include "omega0.h"

/* ---- the child side ------------------------------------------------------------------------------ */

struct scenario {
	int nlines;
	_Atomic int step;          /* hand-shakes between two children */
	uint64_t token;
	int results[32];
	char err[512];
};

static struct scenario *shared_scenario(void)
{
	struct scenario *s = mmap(NULL, sizeof(*s), PROT_READ | PROT_WRITE,
				  MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	assert_true(s != MAP_FAILED);
	memset(s, 0, sizeof(*s));
	return s;
}

static void report(struct scenario *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void report(struct scenario *s, const char *fmt, ...)
{
	if (s->err[0])
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(s->err, sizeof(s->err), fmt, ap);
	va_end(ap);
}

/* In a child: on failure, note where and what, and end the child with status 1. */
#define CHECK_EQ(a, b)                                                                          \
	do {                                                                                     \
		long long a_ = (long long)(a), b_ = (long long)(b);                              \
		if (a_ != b_) {                                                                  \
			report(S, "line %d: %s == %lld, expected %s == %lld (%s)", __LINE__, #a, \
			       a_, #b, b_, irqd_last_error());                                  \
			return 1;                                                                \
		}                                                                                \
	} while (0)
#define CHECK(c)                                                                                \
	do {                                                                                     \
		if (!(c)) {                                                                      \
			report(S, "line %d: %s (%s)", __LINE__, #c, irqd_last_error());          \
			return 1;                                                                \
		}                                                                                \
	} while (0)

/* Every child: the implicit connection goes to the test's irqd; a hung child is ended. */
static void child_env(const struct irqd_proc *p)
{
	setenv(IRQD_SOCKET_ENV, p->sock, 1);
	alarm(30);
}

/* An explicit connection for the device and the statistics ($IRQD_SOCKET too). */
struct side {
	struct irqd_client *c;
	struct irqd_simdev *dev;
	char line[IRQD_NAME_MAX];
	int num;  /* Omega0 number of the line */
};

static int side_open(struct scenario *S, struct side *d, const char *line)
{
	struct irqd_line_desc desc;
	CHECK_EQ(irqd_connect(NULL, &d->c), 0);
	CHECK_EQ(irqd_simdev_open(d->c, line, &d->dev), 0);
	CHECK_EQ(irqd_line_lookup(d->c, line, &desc), 0);
	snprintf(d->line, sizeof(d->line), "%s", line);
	d->num = (int)desc.id + 1;
	return 0;
}

static struct irqd_line_stats side_stats(struct side *d)
{
	struct irqd_line_stats st;
	memset(&st, 0xff, sizeof(st));
	if (irqd_line_stats(d->c, d->line, &st) < 0)
		memset(&st, 0xff, sizeof(st));
	return st;
}

static omega0_irqdesc_t desc_of(int num, bool shared)
{
	omega0_irqdesc_t d = { .i = 0 };
	d.s.num = (unsigned)num;
	d.s.shared = shared;
	return d;
}

static void run(const struct irqd_proc *p, int (*fn)(const struct irqd_proc *, void *),
		struct scenario *s)
{
	pid_t pid = spawn(fn, p, s);
	int st = reap(pid);
	if (st != 0)
		fail_msg("scenario child exited with %d: %s", st, s->err[0] ? s->err : "(no report)");
}

/* ---- scenarios ------------------------------------------------------------------------------------ */

static int enumerate_main(const struct irqd_proc *p, void *arg)
{
	struct scenario *S = arg;
	child_env(p);
	struct irqd_client *c;
	CHECK_EQ(irqd_connect(NULL, &c), 0);
	int num = omega0_first(), n = 0;
	while (num > 0) {
		CHECK(n < S->nlines);
		/* num is the line id + 1 */
		struct irqd_line_desc d;
		char nm[16], byid[16];
		snprintf(byid, sizeof(byid), "#%d", num - 1);
		CHECK_EQ(irqd_line_lookup(c, byid, &d), 0);
		snprintf(nm, sizeof(nm), "sim%d", n);
		if (strcmp(d.name, nm)) {
			report(S, "num %d is line %s, expected %s", num, d.name, nm);
			return 1;
		}
		CHECK_EQ(num, n + 1);
		n++;
		num = omega0_next(num);
	}
	CHECK_EQ(num, -ENOENT);
	CHECK_EQ(n, S->nlines);
	CHECK_EQ(omega0_next(S->nlines), -ENOENT);
	CHECK_EQ(omega0_next(0), -EINVAL);
	CHECK_EQ(omega0_next(-3), -EINVAL);
	CHECK_EQ(omega0_first(), 1);
	irqd_disconnect(c);
	return 0;
}

static void test_enumerate(void **state)
{
	(void)state;
	struct irqd_proc p;
	irqd_start(&p, 6, NULL);
	struct scenario *s = shared_scenario();
	s->nlines = 6;
	run(&p, enumerate_main, s);
	munmap(s, sizeof(*s));
	irqd_stop(&p);
}

/* Level line: WAIT returns the line's num; CONSUME answers HANDLED and the line is unmasked; a
 * WAIT with an occurrence still owed answers it (auto-consume). */
static int level_main(const struct irqd_proc *p, void *arg)
{
	struct scenario *S = arg;
	child_env(p);
	struct side d;
	if (side_open(S, &d, "sim2"))
		return 1;
	int h = omega0_attach(desc_of(d.num, true));
	CHECK(h >= 0);
	CHECK_EQ(side_stats(&d).attachments, 1);
	/* wait, then consume */
	CHECK_EQ(irqd_simdev_raise(d.dev, 1), 0);
	CHECK_EQ(omega0_request(h, OMEGA0_RQ(OMEGA0_WAIT, 0)), d.num);
	struct irqd_line_stats st = side_stats(&d);
	CHECK(st.flags & IRQD_LINE_MASKED);
	CHECK_EQ(st.handled, 0);
	CHECK_EQ(irqd_simdev_service(d.dev), 1);
	CHECK_EQ(omega0_request(h, OMEGA0_RQ(OMEGA0_CONSUME, 0)), 0);
	CHECK(WAIT_UNTIL(side_stats(&d).handled == 1, 5000));
	CHECK(WAIT_UNTIL(!(side_stats(&d).flags & IRQD_LINE_MASKED), 5000));
	/* a consume with nothing owed is no answer */
	CHECK_EQ(omega0_request(h, OMEGA0_RQ(OMEGA0_CONSUME, 0)), 0);
	/* auto-consume: each wait answers the previous occurrence */
	for (int i = 2; i <= 20; i++) {
		CHECK_EQ(irqd_simdev_raise(d.dev, 1), 0);
		CHECK_EQ(omega0_request(h, OMEGA0_RQ(OMEGA0_WAIT, 0)), d.num);
		CHECK_EQ(irqd_simdev_service(d.dev), 1);
	}
	/* wait + consume in one request: consume first, then wait */
	CHECK_EQ(irqd_simdev_raise(d.dev, 1), 0);
	CHECK_EQ(omega0_request(h, OMEGA0_RQ(OMEGA0_WAIT | OMEGA0_CONSUME, 0)), d.num);
	CHECK_EQ(irqd_simdev_service(d.dev), 1);
	CHECK_EQ(omega0_request(h, OMEGA0_RQ(OMEGA0_CONSUME, 0)), 0);
	CHECK(WAIT_UNTIL(side_stats(&d).handled == 21, 5000));
	CHECK(WAIT_UNTIL(!(side_stats(&d).flags & IRQD_LINE_MASKED), 5000));
	st = side_stats(&d);
	CHECK_EQ(st.raised, 21);
	CHECK_EQ(st.delivered, 21);
	CHECK_EQ(st.unhandled, 0);
	CHECK_EQ(st.not_mine, 0);
	CHECK_EQ(st.stalls, 0);
	irqd_simdev_close(d.dev);
	irqd_disconnect(d.c);
	return 0;
}

static void test_level_wait_consume(void **state)
{
	(void)state;
	struct irqd_proc p;
	irqd_start(&p, 3, "line sim2 ack-deadline-ms=20000\n");
	struct scenario *s = shared_scenario();
	run(&p, level_main, s);
	munmap(s, sizeof(*s));
	irqd_stop(&p);
}

struct waiter {
	int h;
	_Atomic int done;
	int result;
};

static void *wait_thread(void *arg)
{
	struct waiter *w = arg;
	w->result = omega0_request(w->h, OMEGA0_RQ(OMEGA0_WAIT, 0));
	atomic_store(&w->done, 1);
	return NULL;
}

/* Edge line: a batch of n events is returned by n waits, and the wait after them blocks until
 * the next event. */
static int edge_main(const struct irqd_proc *p, void *arg)
{
	struct scenario *S = arg;
	child_env(p);
	struct side d;
	if (side_open(S, &d, "sim1"))
		return 1;
	int h = omega0_attach(desc_of(d.num, false));
	CHECK(h >= 0);
	uint64_t delivered = 0;
	for (uint64_t n = 1; n <= 9; n += 4) {
		CHECK_EQ(irqd_simdev_raise(d.dev, n), 0);
		delivered += n;
		CHECK(WAIT_UNTIL(side_stats(&d).delivered == delivered, 5000));
		for (uint64_t i = 0; i < n; i++)
			CHECK_EQ(omega0_request(h, OMEGA0_RQ(OMEGA0_WAIT, 0)), d.num);
		/* nothing more: the next wait blocks */
		struct waiter w = { .h = h };
		pthread_t t;
		CHECK_EQ(pthread_create(&t, NULL, wait_thread, &w), 0);
		CHECK(!WAIT_UNTIL(atomic_load(&w.done), 200));
		CHECK_EQ(irqd_simdev_raise(d.dev, 1), 0);
		delivered += 1;
		CHECK(WAIT_UNTIL(atomic_load(&w.done), 5000));
		pthread_join(t, NULL);
		CHECK_EQ(w.result, d.num);
	}
	/* two batches (the second held behind the first): 3 + 4 waits */
	CHECK_EQ(irqd_simdev_raise(d.dev, 3), 0);
	CHECK(WAIT_UNTIL(side_stats(&d).delivered == delivered + 3, 5000));
	CHECK_EQ(irqd_simdev_raise(d.dev, 4), 0);
	CHECK(WAIT_UNTIL(side_stats(&d).delivered == delivered + 7, 5000));
	for (int i = 0; i < 7; i++)
		CHECK_EQ(omega0_request(h, OMEGA0_RQ(OMEGA0_WAIT, 0)), d.num);
	struct waiter w = { .h = h };
	pthread_t t;
	CHECK_EQ(pthread_create(&t, NULL, wait_thread, &w), 0);
	CHECK(!WAIT_UNTIL(atomic_load(&w.done), 200));
	CHECK_EQ(irqd_simdev_raise(d.dev, 1), 0);
	CHECK(WAIT_UNTIL(atomic_load(&w.done), 5000));
	pthread_join(t, NULL);
	CHECK_EQ(w.result, d.num);
	struct irqd_line_stats st = side_stats(&d);
	CHECK_EQ(st.raised, 1 + 5 + 9 + 3 + 7 + 1);
	CHECK_EQ(st.delivered, st.raised);
	irqd_simdev_close(d.dev);
	irqd_disconnect(d.c);
	return 0;
}

static void test_edge_batch_n_waits(void **state)
{
	(void)state;
	struct irqd_proc p;
	irqd_start(&p, 2, "line sim1 trigger=edge\n");
	struct scenario *s = shared_scenario();
	run(&p, edge_main, s);
	munmap(s, sizeof(*s));
	irqd_stop(&p);
}

/* MASK, then raise: irqd does not even read the source; UNMASK (+ WAIT) gets it. */
static int mask_main(const struct irqd_proc *p, void *arg)
{
	struct scenario *S = arg;
	child_env(p);
	struct side lv, ed;
	if (side_open(S, &lv, "sim0") || side_open(S, &ed, "sim1"))
		return 1;
	int h = omega0_attach(desc_of(lv.num, true));
	int he = omega0_attach(desc_of(ed.num, true));
	CHECK(h >= 0 && he >= 0);
	CHECK_EQ(omega0_request(h, OMEGA0_RQ(OMEGA0_UNMASK, 0)), -EPERM); /* holds no mask */
	/* level */
	CHECK_EQ(omega0_request(h, OMEGA0_RQ(OMEGA0_MASK, 0)), 0);
	struct irqd_line_stats st = side_stats(&lv);
	CHECK(st.flags & IRQD_LINE_MASKED);
	CHECK_EQ(st.mask_refs, 1);
	CHECK_EQ(irqd_simdev_raise(lv.dev, 1), 0);
	CHECK(!WAIT_UNTIL(side_stats(&lv).raised != 0, 200));
	CHECK_EQ(side_stats(&lv).delivered, 0);
	CHECK_EQ(omega0_request(h, OMEGA0_RQ(OMEGA0_UNMASK | OMEGA0_WAIT, 0)), lv.num);
	st = side_stats(&lv);
	CHECK_EQ(st.raised, 1);
	CHECK_EQ(st.mask_refs, 0);
	CHECK_EQ(irqd_simdev_service(lv.dev), 1);
	CHECK_EQ(omega0_request(h, OMEGA0_RQ(OMEGA0_CONSUME, 0)), 0);
	CHECK(WAIT_UNTIL(side_stats(&lv).handled == 1, 5000));
	CHECK(WAIT_UNTIL(!(side_stats(&lv).flags & IRQD_LINE_MASKED), 5000));
	/* two masks need two unmasks */
	CHECK_EQ(omega0_request(h, OMEGA0_RQ(OMEGA0_MASK, 0)), 0);
	CHECK_EQ(omega0_request(h, OMEGA0_RQ(OMEGA0_MASK, 0)), 0);
	CHECK_EQ(irqd_simdev_raise(lv.dev, 1), 0);
	CHECK_EQ(omega0_request(h, OMEGA0_RQ(OMEGA0_UNMASK, 0)), 0);
	CHECK(!WAIT_UNTIL(side_stats(&lv).raised != 1, 200));
	CHECK_EQ(omega0_request(h, OMEGA0_RQ(OMEGA0_UNMASK | OMEGA0_WAIT, 0)), lv.num);
	CHECK_EQ(side_stats(&lv).raised, 2);
	CHECK_EQ(irqd_simdev_service(lv.dev), 1);
	CHECK_EQ(omega0_request(h, OMEGA0_RQ(OMEGA0_CONSUME, 0)), 0);
	CHECK(WAIT_UNTIL(side_stats(&lv).handled == 2, 5000));
	/* edge: the events wait in the source, counted, and come as one batch */
	CHECK_EQ(omega0_request(he, OMEGA0_RQ(OMEGA0_MASK, 0)), 0);
	CHECK_EQ(irqd_simdev_raise(ed.dev, 2), 0);
	CHECK_EQ(irqd_simdev_raise(ed.dev, 5), 0);
	CHECK(!WAIT_UNTIL(side_stats(&ed).raised != 0, 200));
	CHECK_EQ(omega0_request(he, OMEGA0_RQ(OMEGA0_UNMASK, 0)), 0);
	CHECK(WAIT_UNTIL(side_stats(&ed).delivered == 7, 5000));
	for (int i = 0; i < 7; i++)
		CHECK_EQ(omega0_request(he, OMEGA0_RQ(OMEGA0_WAIT, 0)), ed.num);
	st = side_stats(&ed);
	CHECK_EQ(st.raised, 7);
	CHECK_EQ(st.dropped, 0);
	irqd_simdev_close(lv.dev);
	irqd_simdev_close(ed.dev);
	irqd_disconnect(lv.c);
	irqd_disconnect(ed.c);
	return 0;
}

static void test_mask_unmask(void **state)
{
	(void)state;
	struct irqd_proc p;
	irqd_start(&p, 2, "line sim0 ack-deadline-ms=20000\nline sim1 trigger=edge\n");
	struct scenario *s = shared_scenario();
	run(&p, mask_main, s);
	munmap(s, sizeof(*s));
	irqd_stop(&p);
}

static int detach_main(const struct irqd_proc *p, void *arg)
{
	struct scenario *S = arg;
	child_env(p);
	struct side d;
	if (side_open(S, &d, "sim0"))
		return 1;
	CHECK_EQ(omega0_attach(desc_of(0, true)), -EINVAL);
	CHECK_EQ(omega0_attach(desc_of(99, true)), -ENOENT);
	CHECK_EQ(omega0_detach(desc_of(d.num, true)), -ENOENT); /* not attached */
	int h = omega0_attach(desc_of(d.num, false));
	CHECK(h >= 0);
	struct irqd_line_stats st = side_stats(&d);
	CHECK_EQ(st.attachments, 1);
	CHECK(st.flags & IRQD_LINE_EXCLUSIVE);
	CHECK_EQ(omega0_attach(desc_of(d.num, true)), -EBUSY);
	CHECK_EQ(omega0_detach(desc_of(d.num, false)), 0);
	st = side_stats(&d);
	CHECK_EQ(st.attachments, 0);
	CHECK(!(st.flags & IRQD_LINE_EXCLUSIVE));
	CHECK_EQ(omega0_detach(desc_of(d.num, false)), -ENOENT);
	CHECK_EQ(omega0_request(h, OMEGA0_RQ(OMEGA0_WAIT, 0)), -EBADF);
	CHECK_EQ(omega0_request(-1, OMEGA0_RQ(OMEGA0_WAIT, 0)), -EINVAL);
	/* attach again: it works */
	h = omega0_attach(desc_of(d.num, true));
	CHECK(h >= 0);
	CHECK_EQ(irqd_simdev_raise(d.dev, 1), 0);
	CHECK_EQ(omega0_request(h, OMEGA0_RQ(OMEGA0_WAIT, 0)), d.num);
	/* detaching with an occurrence owed counts as the answer: the line comes back */
	CHECK_EQ(irqd_simdev_service(d.dev), 1);
	CHECK_EQ(omega0_detach(desc_of(d.num, true)), 0);
	CHECK(WAIT_UNTIL(!(side_stats(&d).flags & IRQD_LINE_MASKED), 5000));
	st = side_stats(&d);
	CHECK_EQ(st.attachments, 0);
	CHECK_EQ(st.raised, 1);
	CHECK_EQ(st.stalls, 0);
	irqd_simdev_close(d.dev);
	irqd_disconnect(d.c);
	return 0;
}

static void test_detach(void **state)
{
	(void)state;
	struct irqd_proc p;
	irqd_start(&p, 1, "line sim0 ack-deadline-ms=20000\n");
	struct scenario *s = shared_scenario();
	run(&p, detach_main, s);
	munmap(s, sizeof(*s));
	irqd_stop(&p);
}

/* pass / accept: A attaches and (owed: takes an occurrence without consuming it), passes; B
 * accepts and gets the line's interrupts, the owed one first. */
enum { P_PASSED = 1, P_ACCEPTED, P_CHECKED, P_DONE };

static int pass_a(const struct irqd_proc *p, void *arg)
{
	struct scenario *S = arg;
	child_env(p);
	struct side d;
	if (side_open(S, &d, "sim0"))
		return 1;
	bool owed = S->results[0];
	int h = omega0_attach(desc_of(d.num, false));
	CHECK(h >= 0);
	if (owed) {
		CHECK_EQ(irqd_simdev_raise(d.dev, 1), 0);
		CHECK_EQ(omega0_request(h, OMEGA0_RQ(OMEGA0_WAIT, 0)), d.num);
	}
	uint64_t token = 0;
	CHECK_EQ(omega0_pass(desc_of(d.num, false), &token), 0);
	CHECK(token != 0);
	S->token = token;
	atomic_store(&S->step, P_PASSED);
	CHECK(WAIT_UNTIL(atomic_load(&S->step) >= P_ACCEPTED, 10000));
	/* the attachment is B's now */
	CHECK(omega0_detach(desc_of(d.num, false)) < 0);
	CHECK_EQ(side_stats(&d).attachments, 1);
	atomic_store(&S->step, P_CHECKED);
	CHECK(WAIT_UNTIL(atomic_load(&S->step) == P_DONE, 20000));
	irqd_simdev_close(d.dev);
	irqd_disconnect(d.c);
	return 0;
}

static int pass_b(const struct irqd_proc *p, void *arg)
{
	struct scenario *S = arg;
	child_env(p);
	struct side d;
	if (side_open(S, &d, "sim0"))
		return 1;
	bool owed = S->results[0];
	CHECK(WAIT_UNTIL(atomic_load(&S->step) == P_PASSED, 10000));
	CHECK_EQ(omega0_accept(0), -ENOENT);
	int h = omega0_accept(S->token);
	CHECK(h >= 0);
	CHECK_EQ(omega0_accept(S->token), -ENOENT); /* once */
	atomic_store(&S->step, P_ACCEPTED);
	if (owed) {
		/* the occurrence A took and did not consume is B's to answer */
		CHECK_EQ(omega0_request(h, OMEGA0_RQ(OMEGA0_WAIT, 0)), d.num);
		CHECK_EQ(irqd_simdev_service(d.dev), 1);
		CHECK_EQ(omega0_request(h, OMEGA0_RQ(OMEGA0_CONSUME, 0)), 0);
		CHECK(WAIT_UNTIL(side_stats(&d).handled == 1, 5000));
	}
	for (int i = 0; i < 5; i++) {
		CHECK_EQ(irqd_simdev_raise(d.dev, 1), 0);
		CHECK_EQ(omega0_request(h, OMEGA0_RQ(OMEGA0_WAIT | OMEGA0_CONSUME, 0)), d.num);
		CHECK_EQ(irqd_simdev_service(d.dev), 1);
	}
	CHECK_EQ(omega0_request(h, OMEGA0_RQ(OMEGA0_CONSUME, 0)), 0);
	uint64_t total = owed ? 6 : 5;
	CHECK(WAIT_UNTIL(side_stats(&d).handled == total, 5000));
	struct irqd_line_stats st = side_stats(&d);
	CHECK_EQ(st.raised, total);
	CHECK_EQ(st.delivered, total);
	CHECK_EQ(st.stalls, 0);
	CHECK_EQ(st.unhandled, 0);
	CHECK(WAIT_UNTIL(atomic_load(&S->step) == P_CHECKED, 10000));
	CHECK_EQ(omega0_detach(desc_of(d.num, false)), 0);
	CHECK_EQ(side_stats(&d).attachments, 0);
	atomic_store(&S->step, P_DONE);
	irqd_simdev_close(d.dev);
	irqd_disconnect(d.c);
	return 0;
}

static void pass_accept(bool owed)
{
	struct irqd_proc p;
	irqd_start(&p, 1, "line sim0 ack-deadline-ms=20000\n");
	struct scenario *s = shared_scenario();
	s->results[0] = owed;
	pid_t a = spawn(pass_a, &p, s), b = spawn(pass_b, &p, s);
	int sa = reap(a), sb = reap(b);
	if (sa || sb)
		fail_msg("A exited with %d, B with %d: %s", sa, sb, s->err[0] ? s->err : "?");
	munmap(s, sizeof(*s));
	irqd_stop(&p);
}

static void test_pass_accept(void **state)
{
	(void)state;
	pass_accept(false);
}

static void test_pass_accept_owed(void **state)
{
	(void)state;
	pass_accept(true);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_enumerate, harness_teardown),
		cmocka_unit_test_teardown(test_level_wait_consume, harness_teardown),
		cmocka_unit_test_teardown(test_edge_batch_n_waits, harness_teardown),
		cmocka_unit_test_teardown(test_mask_unmask, harness_teardown),
		cmocka_unit_test_teardown(test_detach, harness_teardown),
		cmocka_unit_test_teardown(test_pass_accept, harness_teardown),
		cmocka_unit_test_teardown(test_pass_accept_owed, harness_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
