/*
 * test_api.c - the client API's contract: waiting and polling, irqd_fd in an epoll set, one
 * wake-up for many batches, partial takes, many threads on one client, answer errors, and lines
 * made from a client's eventfd.
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "harness.h"

/* This process's session in irqd's client list: the one with `attachments` attachments. */
static struct irqd_client_stats my_stats(struct irqd_client *c, uint32_t attachments)
{
	struct irqd_client_stats st;
	for (uint32_t i = 0; irqd_client_stats(c, i, &st) == 0; i = st.index + 1)
		if (st.pid == (uint32_t)getpid() && st.attachments == attachments)
			return st;
	fail_msg("no session of pid %d with %u attachments", getpid(), attachments);
	return st;
}

/* ---- waiting and polling ------------------------------------------------------------------------- */

static void test_wait_timeout(void **state)
{
	(void)state;
	struct irqd_proc p;
	irqd_start(&p, 1, "line sim0 trigger=edge\n");
	struct irqd_client *c = client(&p);
	struct irqd_event ev[4];
	/* nothing attached at all */
	uint64_t t0 = mono_ns();
	assert_int_equal(irqd_wait(c, ev, 4, 150), 0);
	assert_true(mono_ns() - t0 >= 150000000ull);
	/* attached, nothing raised */
	uint32_t h;
	assert_int_equal(irqd_attach(c, "sim0", IRQD_ATTACH_SHARED, NULL, &h), 0);
	for (int ms = 1; ms <= 301; ms += 100) {
		t0 = mono_ns();
		assert_int_equal(irqd_wait(c, ev, 4, ms), 0);
		uint64_t took = mono_ns() - t0;
		if (took < (uint64_t)ms * 1000000ull)
			fail_msg("irqd_wait(%d ms) returned after %llu ns", ms, (unsigned long long)took);
	}
	/* timeout 0 is a poll */
	assert_int_equal(irqd_wait(c, ev, 4, 0), 0);
	/* an event ends the wait early, and the wait then times out again */
	struct irqd_simdev *dev;
	assert_int_equal(irqd_simdev_open(c, "sim0", &dev), 0);
	assert_int_equal(irqd_simdev_raise(dev, 2), 0);
	assert_int_equal(irqd_wait(c, ev, 4, 10000), 1);
	assert_int_equal(ev[0].count, 2);
	t0 = mono_ns();
	assert_int_equal(irqd_wait(c, ev, 4, 100), 0);
	assert_true(mono_ns() - t0 >= 100000000ull);
	irqd_simdev_close(dev);
	irqd_disconnect(c);
	irqd_stop(&p);
}

static void test_poll_nonblocking(void **state)
{
	(void)state;
	struct irqd_proc p;
	irqd_start(&p, 1, "line sim0 trigger=edge\n");
	struct irqd_client *c = client(&p);
	struct irqd_event ev[4];
	uint32_t h;
	assert_int_equal(irqd_attach(c, "sim0", IRQD_ATTACH_SHARED, NULL, &h), 0);
	uint64_t t0 = mono_ns();
	for (int i = 0; i < 1000; i++)
		assert_int_equal(irqd_poll(c, ev, 4), 0);
	/* a thousand polls, no sleeping among them (generous bound for sanitizer builds) */
	assert_true(mono_ns() - t0 < 2000000000ull);
	assert_int_equal(irqd_poll(c, ev, 0), -EINVAL);
	/* it does return what is there */
	struct irqd_simdev *dev;
	assert_int_equal(irqd_simdev_open(c, "sim0", &dev), 0);
	assert_int_equal(irqd_simdev_raise(dev, 3), 0);
	assert_true(WAIT_UNTIL(line_stats(c, "sim0").delivered == 3, 5000));
	assert_int_equal(irqd_poll(c, ev, 4), 1);
	assert_int_equal(ev[0].count, 3);
	assert_int_equal(ev[0].handle, h);
	assert_int_equal(irqd_poll(c, ev, 4), 0);
	irqd_simdev_close(dev);
	irqd_disconnect(c);
	irqd_stop(&p);
}

static void test_fd_epoll(void **state)
{
	(void)state;
	struct irqd_proc p;
	irqd_start(&p, 2, "line sim1 trigger=edge\n");
	struct irqd_client *c = client(&p), *devc = client(&p);
	struct irqd_simdev *dev;
	assert_int_equal(irqd_simdev_open(devc, "sim1", &dev), 0);
	uint32_t h;
	assert_int_equal(irqd_attach(c, "sim1", IRQD_ATTACH_SHARED, NULL, &h), 0);
	int ep = epoll_create1(EPOLL_CLOEXEC);
	assert_true(ep >= 0);
	struct epoll_event e = { .events = EPOLLIN, .data.u64 = 0x1234 };
	assert_int_equal(epoll_ctl(ep, EPOLL_CTL_ADD, irqd_fd(c), &e), 0);
	struct irqd_event ev[4];
	for (uint64_t round = 1; round <= 20; round++) {
		assert_int_equal(irqd_poll(c, ev, 4), 0); /* arms irqd_fd */
		struct epoll_event out[2];
		assert_int_equal(epoll_wait(ep, out, 2, 0), 0);
		assert_int_equal(irqd_simdev_raise(dev, round), 0);
		int n = epoll_wait(ep, out, 2, 5000);
		assert_int_equal(n, 1);
		assert_int_equal(out[0].data.u64, 0x1234);
		assert_true(out[0].events & EPOLLIN);
		assert_int_equal(irqd_poll(c, ev, 4), 1);
		assert_int_equal(ev[0].handle, h);
		assert_int_equal(ev[0].count, round);
		assert_int_equal(ev[0].seq, round);
	}
	/* drained: not readable once polled empty again */
	assert_int_equal(irqd_poll(c, ev, 4), 0);
	struct epoll_event out[2];
	assert_int_equal(epoll_wait(ep, out, 2, 50), 0);
	close(ep);
	irqd_simdev_close(dev);
	irqd_disconnect(devc);
	irqd_disconnect(c);
	irqd_stop(&p);
}

/* irqd_try takes batches without arming a wake-up: irqd writes no wake eventfd for them and
 * irqd_fd does not become readable; irqd_poll then arms as before. */
static void test_try_no_arm(void **state)
{
	(void)state;
	struct irqd_proc p;
	irqd_start(&p, 2, "line sim1 trigger=edge\n");
	struct irqd_client *c = client(&p), *devc = client(&p);
	struct irqd_simdev *dev;
	assert_int_equal(irqd_simdev_open(devc, "sim1", &dev), 0);
	uint32_t h;
	assert_int_equal(irqd_attach(c, "sim1", IRQD_ATTACH_SHARED, NULL, &h), 0);
	int ep = epoll_create1(EPOLL_CLOEXEC);
	struct epoll_event e = { .events = EPOLLIN }, out[2];
	assert_int_equal(epoll_ctl(ep, EPOLL_CTL_ADD, irqd_fd(c), &e), 0);
	struct irqd_event ev[4];
	for (uint64_t round = 1; round <= 20; round++) {
		assert_int_equal(irqd_try(c, ev, 4), 0);
		assert_int_equal(irqd_simdev_raise(dev, 1), 0);
		assert_true(WAIT_UNTIL(line_stats(c, "sim1").delivered == round, 5000));
		assert_int_equal(epoll_wait(ep, out, 2, 0), 0);
		assert_int_equal(irqd_try(c, ev, 4), 1);
		assert_int_equal(ev[0].seq, round);
	}
	assert_int_equal(line_stats(c, "sim1").wakeups, 0);
	assert_int_equal(irqd_poll(c, ev, 4), 0); /* arms */
	assert_int_equal(irqd_simdev_raise(dev, 1), 0);
	assert_int_equal(epoll_wait(ep, out, 2, 5000), 1);
	assert_int_equal(irqd_try(c, ev, 4), 1);
	assert_int_equal(line_stats(c, "sim1").wakeups, 1);
	close(ep);
	irqd_simdev_close(dev);
	irqd_disconnect(devc);
	irqd_disconnect(c);
	irqd_stop(&p);
}

/* A thread sleeping in irqd_wait with only mailboxes sleeps on the futex; a DIRECT attachment
 * made meanwhile by another thread moves it to epoll, where the direct source wakes it. Mailbox
 * batches keep waking it, through whichever of the two it sleeps on. */
struct waiter {
	struct irqd_client *c;
	_Atomic int started;
	_Atomic pid_t tid;
	int n;
	struct irqd_event ev[4];
};

static void *waiter_main(void *arg)
{
	struct waiter *w = arg;
	atomic_store(&w->tid, gettid());
	atomic_store(&w->started, 1);
	w->n = irqd_wait(w->c, w->ev, 4, 20000);
	return NULL;
}

/* The system call thread tid of this process is blocked in, from /proc; -1 if running. */
static long blocked_in(pid_t tid)
{
	char path[64], buf[64] = "";
	snprintf(path, sizeof(path), "/proc/self/task/%d/syscall", (int)tid);
	FILE *f = fopen(path, "r");
	if (!f)
		return -1;
	long nr = -1;
	if (!fgets(buf, sizeof(buf), f) || sscanf(buf, "%ld", &nr) != 1)
		nr = -1;
	fclose(f);
	return nr;
}

/* Start a thread in irqd_wait and wait until it sleeps in the expected system call. */
static void wait_in_thread(struct waiter *w, pthread_t *t, bool futex)
{
	atomic_store(&w->started, 0);
	w->n = -1;
	assert_int_equal(pthread_create(t, NULL, waiter_main, w), 0);
	assert_true(WAIT_UNTIL(atomic_load(&w->started), 10000));
	pid_t tid = atomic_load(&w->tid);
	long nr;
	if (!WAIT_UNTIL((nr = blocked_in(tid)) == (futex ? SYS_futex : SYS_epoll_wait) ||
				(!futex && nr == SYS_epoll_pwait),
			10000))
		fail_msg("irqd_wait sleeps in system call %ld, expected %s", nr,
			 futex ? "futex" : "epoll_wait");
}

static void test_futex_then_direct(void **state)
{
	(void)state;
	struct irqd_proc p;
	irqd_start(&p, 3, "line sim1 trigger=edge\nline sim2 trigger=edge\n");
	struct irqd_client *c = client(&p), *devc = client(&p);
	struct irqd_simdev *d1, *d2;
	assert_int_equal(irqd_simdev_open(devc, "sim1", &d1), 0);
	assert_int_equal(irqd_simdev_open(devc, "sim2", &d2), 0);
	uint32_t hs, hd;
	assert_int_equal(irqd_attach(c, "sim2", IRQD_ATTACH_SHARED, NULL, &hs), 0);
	struct waiter w = { .c = c };
	pthread_t t;

	/* mailbox only: woken by irqd (futex) */
	wait_in_thread(&w, &t, true);
	assert_int_equal(irqd_simdev_raise(d2, 3), 0);
	pthread_join(t, NULL);
	assert_int_equal(w.n, 1);
	assert_int_equal(w.ev[0].handle, hs);
	assert_int_equal(w.ev[0].count, 3);

	/* asleep on the futex, then a DIRECT attachment appears and only its source fires */
	wait_in_thread(&w, &t, true);
	assert_int_equal(irqd_attach(c, "sim1", IRQD_ATTACH_EXCLUSIVE | IRQD_ATTACH_DIRECT, NULL, &hd),
			 0);
	assert_int_equal(irqd_simdev_raise(d1, 5), 0);
	pthread_join(t, NULL);
	assert_int_equal(w.n, 1);
	assert_int_equal(w.ev[0].handle, hd);
	assert_int_equal(w.ev[0].count, 5);

	/* now asleep in epoll: a mailbox batch still wakes it (the wake eventfd) */
	wait_in_thread(&w, &t, false);
	assert_int_equal(irqd_simdev_raise(d2, 2), 0);
	pthread_join(t, NULL);
	assert_int_equal(w.n, 1);
	assert_int_equal(w.ev[0].handle, hs);
	assert_int_equal(w.ev[0].count, 2);

	/* and without the DIRECT attachment, back on the futex */
	assert_int_equal(irqd_detach(c, hd), 0);
	wait_in_thread(&w, &t, true);
	assert_int_equal(irqd_simdev_raise(d2, 7), 0);
	pthread_join(t, NULL);
	assert_int_equal(w.n, 1);
	assert_int_equal(w.ev[0].count, 7);
	irqd_simdev_close(d1);
	irqd_simdev_close(d2);
	irqd_disconnect(devc);
	irqd_disconnect(c);
	irqd_stop(&p);
}

/* ---- batching --------------------------------------------------------------------------------------- */

#define EIGHT_EDGE                                                                          \
	"line sim0 trigger=edge\nline sim1 trigger=edge\nline sim2 trigger=edge\n"          \
	"line sim3 trigger=edge\nline sim4 trigger=edge\nline sim5 trigger=edge\n"          \
	"line sim6 trigger=edge\nline sim7 trigger=edge\n"

struct eight {
	struct irqd_client *c, *devc;
	struct irqd_simdev *dev[8];
	uint32_t h[8];
	uint64_t delivered[8];  /* per line, so far */
};

static void eight_setup(struct irqd_proc *p, struct eight *E)
{
	irqd_start(p, 8, EIGHT_EDGE);
	memset(E, 0, sizeof(*E));
	E->c = client(p);
	E->devc = client(p);
	for (int i = 0; i < 8; i++) {
		char nm[16];
		snprintf(nm, sizeof(nm), "sim%d", i);
		assert_int_equal(irqd_simdev_open(E->devc, nm, &E->dev[i]), 0);
		assert_int_equal(irqd_attach(E->c, nm, IRQD_ATTACH_SHARED, NULL, &E->h[i]), 0);
	}
}

/* line i gets (round * 10 + i + 1) events in one raise (one batch); wait until irqd delivered
 * them all */
static uint64_t eight_raise(struct eight *E, uint64_t round)
{
	uint64_t want[8];
	for (int i = 0; i < 8; i++) {
		want[i] = round * 10 + (uint64_t)i + 1;
		assert_int_equal(irqd_simdev_raise(E->dev[i], want[i]), 0);
	}
	uint64_t sum = 0;
	for (int i = 0; i < 8; i++) {
		char nm[16];
		snprintf(nm, sizeof(nm), "sim%d", i);
		sum += want[i];
		E->delivered[i] += want[i];
		assert_true(WAIT_UNTIL(line_stats(E->c, nm).delivered == E->delivered[i], 5000));
	}
	return sum;
}

static void eight_check(struct eight *E, const struct irqd_event *ev, int n, bool *seen,
			uint64_t round)
{
	for (int k = 0; k < n; k++) {
		int i = -1;
		for (int j = 0; j < 8; j++)
			if (E->h[j] == ev[k].handle)
				i = j;
		assert_true(i >= 0);
		assert_false(seen[i]);
		seen[i] = true;
		assert_int_equal(ev[k].line, (uint32_t)i);
		assert_int_equal(ev[k].count, round * 10 + (uint64_t)i + 1);
	}
}

static void eight_teardown(struct irqd_proc *p, struct eight *E)
{
	for (int i = 0; i < 8; i++)
		irqd_simdev_close(E->dev[i]);
	irqd_disconnect(E->devc);
	irqd_disconnect(E->c);
	irqd_stop(p);
}

static void test_batching_one_wakeup(void **state)
{
	(void)state;
	struct irqd_proc p;
	struct eight E;
	eight_setup(&p, &E);
	for (uint64_t round = 0; round < 5; round++) {
		struct irqd_client_stats s0 = my_stats(E.c, 8);
		eight_raise(&E, round);
		struct irqd_event ev[16];
		int n = irqd_wait(E.c, ev, 16, 5000);
		assert_int_equal(n, 8);
		bool seen[8] = { false };
		eight_check(&E, ev, n, seen, round);
		struct irqd_client_stats s1 = my_stats(E.c, 8);
		assert_true(s1.wakeups - s0.wakeups <= 1);
		assert_int_equal(s1.notifications - s0.notifications, 8);
		assert_int_equal(s1.events - s0.events, 8 * (round * 10) + 36);
		assert_int_equal(irqd_poll(E.c, ev, 16), 0);
		/* the client sleeps this time: the first batch wakes it, at most once */
		s0 = my_stats(E.c, 8);
		assert_int_equal(irqd_wait(E.c, ev, 16, 0), 0); /* armed: client_waiting */
		eight_raise(&E, round);
		n = irqd_wait(E.c, ev, 16, 5000);
		assert_int_equal(n, 8);
		bool seen2[8] = { false };
		eight_check(&E, ev, n, seen2, round);
		s1 = my_stats(E.c, 8);
		assert_int_equal(s1.wakeups - s0.wakeups, 1);
	}
	eight_teardown(&p, &E);
}

static void test_wait_max_smaller(void **state)
{
	(void)state;
	struct irqd_proc p;
	struct eight E;
	eight_setup(&p, &E);
	for (uint64_t round = 0; round < 3; round++) {
		eight_raise(&E, round);
		bool seen[8] = { false };
		struct irqd_event ev[16];
		memset(ev, 0xee, sizeof(ev));
		assert_int_equal(irqd_wait(E.c, ev, 3, 5000), 3);
		assert_int_equal(ev[3].handle, 0xeeeeeeeeu); /* max is respected */
		eight_check(&E, ev, 3, seen, round);
		assert_int_equal(irqd_wait(E.c, ev, 3, 5000), 3);
		eight_check(&E, ev, 3, seen, round);
		assert_int_equal(irqd_wait(E.c, ev, 3, 5000), 2);
		eight_check(&E, ev, 2, seen, round);
		for (int i = 0; i < 8; i++)
			assert_true(seen[i]);
		assert_int_equal(irqd_poll(E.c, ev, 16), 0);
		/* one at a time */
		eight_raise(&E, round);
		bool one[8] = { false };
		for (int k = 0; k < 8; k++) {
			assert_int_equal(irqd_poll(E.c, ev, 1), 1);
			eight_check(&E, ev, 1, one, round);
		}
		assert_int_equal(irqd_poll(E.c, ev, 1), 0);
	}
	eight_teardown(&p, &E);
}

/* Events that come while the client has not taken the last batch are held and come as the
 * next batch, all of them, once it has. */
static void test_held_remainder(void **state)
{
	(void)state;
	struct irqd_proc p;
	irqd_start(&p, 1, "line sim0 trigger=edge\n");
	struct irqd_client *c = client(&p);
	struct irqd_simdev *dev;
	assert_int_equal(irqd_simdev_open(c, "sim0", &dev), 0);
	uint32_t h;
	assert_int_equal(irqd_attach(c, "sim0", IRQD_ATTACH_SHARED, NULL, &h), 0);
	uint64_t seq = 0, delivered = 0;
	for (uint64_t round = 1; round <= 10; round++) {
		assert_int_equal(irqd_simdev_raise(dev, round), 0);
		delivered += round;
		assert_true(WAIT_UNTIL(line_stats(c, "sim0").delivered == delivered, 5000));
		for (uint64_t k = 0; k < round; k++)
			assert_int_equal(irqd_simdev_raise(dev, 2), 0);
		delivered += 2 * round;
		assert_true(WAIT_UNTIL(line_stats(c, "sim0").delivered == delivered, 5000));
		struct irqd_event ev[4];
		assert_int_equal(irqd_poll(c, ev, 4), 1);
		assert_int_equal(ev[0].count, round);
		assert_int_equal(ev[0].seq, ++seq);
		/* the rest, as one batch */
		assert_int_equal(irqd_wait(c, ev, 4, 5000), 1);
		assert_int_equal(ev[0].count, 2 * round);
		assert_int_equal(ev[0].seq, ++seq);
		assert_int_equal(irqd_poll(c, ev, 4), 0);
	}
	irqd_simdev_close(dev);
	irqd_disconnect(c);
	irqd_stop(&p);
}

/* ---- threads ------------------------------------------------------------------------------------------ */

struct devrun {
	uint64_t total, seed;
	_Atomic int go, done;
	_Atomic uint64_t raised;
};

static int device_main(const struct irqd_proc *p, void *arg)
{
	struct devrun *d = arg;
	struct irqd_client *c;
	struct irqd_simdev *dev;
	if (irqd_connect(p->sock, &c) < 0 || irqd_simdev_open(c, "sim0", &dev) < 0)
		return 1;
	uint64_t x = d->seed | 1, left = d->total;
	uint64_t end = mono_ns() + 30000000000ull;
	while (!atomic_load(&d->go) && mono_ns() < end)
		sched_yield();
	while (left) {
		unsigned burst = 1 + (unsigned)(xorshift(&x) % 16);
		for (unsigned i = 0; i < burst && left; i++) {
			uint64_t n = 1 + xorshift(&x) % 4;
			if (n > left)
				n = left;
			if (irqd_simdev_raise(dev, n) < 0)
				return 2;
			left -= n;
			atomic_fetch_add(&d->raised, n);
		}
		if (xorshift(&x) % 2)
			usleep((useconds_t)(xorshift(&x) % 50));
		else
			sched_yield();
	}
	atomic_store(&d->done, 1);
	irqd_simdev_close(dev);
	irqd_disconnect(c);
	return 0;
}

struct waiters {
	struct irqd_client *c;
	uint32_t h;
	uint64_t total;
	_Atomic uint64_t events, nseq;
	uint64_t *seqs;              /* every batch's seq, in any order */
	_Atomic uint64_t errors;
	_Atomic uint64_t per_thread[4];
};

struct waiter_arg {
	struct waiters *w;
	int idx;
};

static void *waiter_thread(void *arg)
{
	struct waiter_arg *a = arg;
	struct waiters *w = a->w;
	uint64_t end = mono_ns() + 30000000000ull;
	while (atomic_load(&w->events) < w->total && mono_ns() < end) {
		struct irqd_event ev[8];
		/* two threads sleep in irqd_wait, two spin on it (timeout 0): takes race */
		int n = irqd_wait(w->c, ev, 8, a->idx < 2 ? 50 : 0);
		if (n == 0 && a->idx >= 2)
			sched_yield();
		if (n < 0) {
			atomic_fetch_add(&w->errors, 1);
			break;
		}
		for (int i = 0; i < n; i++) {
			if (ev[i].handle != w->h || ev[i].count == 0)
				atomic_fetch_add(&w->errors, 1);
			uint64_t k = atomic_fetch_add(&w->nseq, 1);
			if (k < w->total)
				w->seqs[k] = ev[i].seq;
			atomic_fetch_add(&w->per_thread[a->idx], ev[i].count);
			atomic_fetch_add(&w->events, ev[i].count);
		}
	}
	return NULL;
}

static void test_threads_one_client(void **state)
{
	(void)state;
	const uint64_t N = 100000;
	struct irqd_proc p;
	irqd_start(&p, 1, "line sim0 trigger=edge\n");
	struct devrun *d = shared_page(sizeof(*d));
	d->total = N;
	d->seed = mono_ns();
	printf("  device seed %llu\n", (unsigned long long)d->seed);
	pid_t devp = spawn(device_main, &p, d);
	struct waiters w = { .total = N };
	w.c = client(&p);
	w.seqs = calloc(N, sizeof(uint64_t));
	assert_non_null(w.seqs);
	assert_int_equal(irqd_attach(w.c, "sim0", IRQD_ATTACH_SHARED, NULL, &w.h), 0);
	pthread_t t[4];
	struct waiter_arg args[4];
	for (int i = 0; i < 4; i++) {
		args[i] = (struct waiter_arg){ &w, i };
		assert_int_equal(pthread_create(&t[i], NULL, waiter_thread, &args[i]), 0);
	}
	atomic_store(&d->go, 1);
	assert_int_equal(reap(devp), 0);
	for (int i = 0; i < 4; i++)
		pthread_join(t[i], NULL);
	assert_int_equal(atomic_load(&d->raised), N);
	assert_int_equal(atomic_load(&w.errors), 0);
	uint64_t nb = atomic_load(&w.nseq);
	printf("  %llu events in %llu batches; per thread %llu %llu %llu %llu\n",
	       (unsigned long long)N, (unsigned long long)nb,
	       (unsigned long long)w.per_thread[0], (unsigned long long)w.per_thread[1],
	       (unsigned long long)w.per_thread[2], (unsigned long long)w.per_thread[3]);
	assert_int_equal(atomic_load(&w.events), N);
	/* each batch was handed to exactly one thread: the seqs are 1..nb, once each */
	assert_true(nb <= N);
	qsort(w.seqs, nb, sizeof(uint64_t), cmp_u64);
	for (uint64_t i = 0; i < nb; i++)
		if (w.seqs[i] != i + 1)
			fail_msg("batch seqs: position %llu holds %llu", (unsigned long long)i,
				 (unsigned long long)w.seqs[i]);
	struct irqd_event ev[4];
	assert_int_equal(irqd_wait(w.c, ev, 4, 100), 0);
	struct irqd_line_stats st = line_stats(w.c, "sim0");
	assert_int_equal(st.raised, N);
	assert_int_equal(st.delivered, N);
	free(w.seqs);
	munmap(d, sizeof(*d));
	irqd_disconnect(w.c);
	irqd_stop(&p);
}

/* ---- answers ---------------------------------------------------------------------------------------------- */

static void test_answer_errors(void **state)
{
	(void)state;
	struct irqd_proc p;
	irqd_start(&p, 2, "line sim1 trigger=edge\n");
	struct irqd_client *c = client(&p);
	struct irqd_simdev *dev;
	assert_int_equal(irqd_simdev_open(c, "sim0", &dev), 0);
	uint32_t h, he;
	assert_int_equal(irqd_attach(c, "sim0", IRQD_ATTACH_SHARED, NULL, &h), 0);
	assert_int_equal(irqd_attach(c, "sim1", IRQD_ATTACH_SHARED, NULL, &he), 0);
	/* nothing delivered yet */
	assert_int_equal(irqd_answer(c, h, 0, IRQD_HANDLED), -EINVAL);
	assert_true(strlen(irqd_last_error()) > 0);
	assert_int_equal(irqd_answer(c, h, 1, IRQD_HANDLED), -EINVAL);
	assert_non_null(strstr(irqd_last_error(), "not delivered"));
	assert_int_equal(irqd_simdev_raise(dev, 1), 0);
	struct irqd_event ev[4];
	assert_int_equal(irqd_wait(c, ev, 4, 5000), 1);
	assert_int_equal(ev[0].occurrence, 1);
	/* wrong occurrence, wrong code, wrong handle */
	assert_int_equal(irqd_answer(c, h, 0, IRQD_HANDLED), -EINVAL);
	assert_int_equal(irqd_answer(c, h, 2, IRQD_HANDLED), -EINVAL);
	assert_int_equal(irqd_answer(c, h, 1, IRQD_ANSWER_NONE), -EINVAL);
	assert_int_equal(irqd_answer(c, h, 1, (enum irqd_answer)7), -EINVAL);
	assert_int_equal(irqd_answer(c, h + 100, 1, IRQD_HANDLED), -EBADF);
	assert_int_equal(irqd_answer(c, IRQD_SLOTS, 1, IRQD_HANDLED), -EINVAL);
	assert_int_equal(irqd_answer(c, he, 1, IRQD_HANDLED), -EINVAL); /* not this handle's */
	/* none of that reached irqd: the occurrence is still owed */
	assert_true(line_stats(c, "sim0").flags & IRQD_LINE_MASKED);
	assert_int_equal(irqd_simdev_service(dev), 1);
	assert_int_equal(irqd_answer(c, h, 1, IRQD_HANDLED), 0);
	assert_int_equal(irqd_answer(c, h, 1, IRQD_HANDLED), -EALREADY);
	assert_non_null(strstr(irqd_last_error(), "already"));
	assert_int_equal(irqd_answer(c, h, 1, IRQD_NOT_MINE), -EALREADY);
	assert_true(WAIT_UNTIL(!(line_stats(c, "sim0").flags & IRQD_LINE_MASKED), 5000));
	struct irqd_line_stats st = line_stats(c, "sim0");
	assert_int_equal(st.handled, 1);
	assert_int_equal(st.not_mine, 0);
	struct irqd_client_stats cs = my_stats(c, 2);
	assert_int_equal(cs.answers, 1);
	assert_int_equal(cs.bad_answers, 0);
	/* an edge batch owes nothing: occurrence 0 */
	struct irqd_simdev *edev;
	assert_int_equal(irqd_simdev_open(c, "sim1", &edev), 0);
	assert_int_equal(irqd_simdev_raise(edev, 4), 0);
	assert_int_equal(irqd_wait(c, ev, 4, 5000), 1);
	assert_int_equal(ev[0].handle, he);
	assert_int_equal(ev[0].occurrence, 0);
	assert_int_equal(irqd_answer(c, he, ev[0].occurrence, IRQD_HANDLED), -EINVAL);
	/* the second occurrence: answers for the old one are refused now */
	assert_int_equal(irqd_simdev_raise(dev, 1), 0);
	assert_int_equal(irqd_wait(c, ev, 4, 5000), 1);
	assert_int_equal(ev[0].occurrence, 2);
	assert_int_equal(irqd_answer(c, h, 1, IRQD_HANDLED), -EALREADY);
	assert_int_equal(irqd_answer(c, h, 3, IRQD_HANDLED), -EINVAL);
	assert_int_equal(irqd_simdev_service(dev), 1);
	assert_int_equal(irqd_answer(c, h, 2, IRQD_NOT_MINE), 0);
	assert_int_equal(irqd_answer(c, h, 2, IRQD_HANDLED), -EALREADY);
	assert_true(WAIT_UNTIL(line_stats(c, "sim0").not_mine == 1, 5000));
	cs = my_stats(c, 2);
	assert_int_equal(cs.answers, 2);
	assert_int_equal(cs.bad_answers, 0);
	irqd_simdev_close(edev);
	irqd_simdev_close(dev);
	irqd_disconnect(c);
	irqd_stop(&p);
}

/* ---- lines from eventfds ------------------------------------------------------------------------------------ */

struct efd_rx {
	_Atomic int ready;
	_Atomic uint64_t events, batches, extra;
	uint64_t want;
	int err;
};

static int efd_receiver(const struct irqd_proc *p, void *arg)
{
	struct efd_rx *r = arg;
	struct irqd_client *c;
	uint32_t h;
	if (irqd_connect(p->sock, &c) < 0 || irqd_attach(c, "myefd", IRQD_ATTACH_SHARED, NULL, &h)) {
		r->err = 1;
		atomic_store(&r->ready, -1);
		return 1;
	}
	atomic_store(&r->ready, 1);
	uint64_t end = mono_ns() + 20000000000ull;
	while (atomic_load(&r->events) < r->want && mono_ns() < end) {
		struct irqd_event ev[8];
		int n = irqd_wait(c, ev, 8, 100);
		for (int i = 0; i < n; i++) {
			if (ev[i].handle != h || ev[i].occurrence || !ev[i].count)
				r->err = 2;
			atomic_fetch_add(&r->events, ev[i].count);
			atomic_fetch_add(&r->batches, 1);
		}
	}
	struct irqd_event ev[8];
	int n = irqd_wait(c, ev, 8, 100);
	for (int i = 0; i < n; i++)
		atomic_fetch_add(&r->extra, ev[i].count);
	irqd_disconnect(c);
	return 0;
}

static void efd_write(int efd, uint64_t n)
{
	assert_int_equal(write(efd, &n, sizeof(n)), sizeof(n));
}

static void test_eventfd_line(void **state)
{
	(void)state;
	struct irqd_proc p;
	irqd_start(&p, 2, NULL);
	struct irqd_client *c = client(&p);
	int efd = eventfd(0, EFD_CLOEXEC);
	assert_true(efd >= 0);
	struct irqd_line_desc d;
	assert_int_equal(irqd_line_create_eventfd(c, efd, "myefd", &d), 0);
	assert_string_equal(d.name, "myefd");
	assert_string_equal(d.source, "eventfd");
	assert_int_equal(d.trigger, IRQD_EDGE);
	struct irqd_line_desc l;
	assert_int_equal(irqd_line_lookup(c, "myefd", &l), 0);
	assert_int_equal(l.id, d.id);
	/* its name is taken now */
	int efd2 = eventfd(0, EFD_CLOEXEC);
	assert_int_equal(irqd_line_create_eventfd(c, efd2, "myefd", NULL), -EEXIST);
	/* without a name irqd picks one */
	struct irqd_line_desc d2;
	assert_int_equal(irqd_line_create_eventfd(c, efd2, NULL, &d2), 0);
	assert_string_equal(d2.name, "efd0");
	/* a pipe is no eventfd */
	int pfd[2];
	assert_int_equal(pipe(pfd), 0);
	assert_int_equal(irqd_line_create_eventfd(c, pfd[0], "notefd", NULL), -EINVAL);
	assert_non_null(strstr(irqd_last_error(), "eventfd"));
	assert_int_equal(irqd_line_create_eventfd(c, pfd[1], "notefd", NULL), -EINVAL);
	assert_int_equal(irqd_line_lookup(c, "notefd", &l), -ENOENT);
	close(pfd[0]);
	close(pfd[1]);

	/* another client attaches; N counts written in several writes arrive exactly */
	const uint64_t N = 12345;
	struct efd_rx *r = shared_page(sizeof(*r));
	r->want = N;
	pid_t rx = spawn(efd_receiver, &p, r);
	assert_true(WAIT_UNTIL(atomic_load(&r->ready) != 0, 10000));
	assert_int_equal(atomic_load(&r->ready), 1);
	static const uint64_t parts[] = { 1, 5000, 2, 3, 4000, 1339, 2000 }; /* 12345 */
	for (unsigned i = 0; i < sizeof(parts) / sizeof(parts[0]); i++) {
		efd_write(efd, parts[i]);
		if (i % 2)
			usleep(2000); /* let some of them be read separately */
	}
	assert_int_equal(reap(rx), 0);
	assert_int_equal(r->err, 0);
	assert_int_equal(atomic_load(&r->events), N);
	assert_int_equal(atomic_load(&r->extra), 0);
	struct irqd_line_stats st = line_stats(c, "myefd");
	assert_int_equal(st.raised, N);
	assert_int_equal(st.delivered, N);
	assert_int_equal(st.dropped, 0);
	/* the creator deletes it */
	assert_int_equal(irqd_line_delete(c, "efd0"), 0);
	assert_int_equal(irqd_line_lookup(c, "efd0", &l), -ENOENT);
	/* a sim line is not a client's to delete */
	assert_true(irqd_line_delete(c, "sim0") < 0);
	assert_int_equal(irqd_line_lookup(c, "sim0", &l), 0);
	munmap(r, sizeof(*r));
	close(efd);
	close(efd2);
	irqd_disconnect(c);
	irqd_stop(&p);
}

struct creator {
	_Atomic int step; /* 1: line created and 10 events written; 2: go away */
	int err;
};

static int creator_main(const struct irqd_proc *p, void *arg)
{
	struct creator *cr = arg;
	struct irqd_client *c;
	int efd = eventfd(0, EFD_CLOEXEC);
	if (efd < 0 || irqd_connect(p->sock, &c) < 0 ||
	    irqd_line_create_eventfd(c, efd, "dying", NULL) < 0) {
		cr->err = 1;
		atomic_store(&cr->step, -1);
		return 1;
	}
	atomic_store(&cr->step, 1);
	uint64_t end = mono_ns() + 20000000000ull;
	while (atomic_load(&cr->step) == 1 && mono_ns() < end)
		usleep(1000);
	uint64_t ten = 10;
	if (write(efd, &ten, sizeof(ten)) != sizeof(ten))
		cr->err = 2;
	atomic_store(&cr->step, 3);
	while (atomic_load(&cr->step) == 3 && mono_ns() < end)
		usleep(1000);
	irqd_disconnect(c);
	close(efd);
	return 0;
}

static void test_eventfd_line_dies_with_creator(void **state)
{
	(void)state;
	struct irqd_proc p;
	irqd_start(&p, 1, NULL);
	struct creator *cr = shared_page(sizeof(*cr));
	pid_t pid = spawn(creator_main, &p, cr);
	assert_true(WAIT_UNTIL(atomic_load(&cr->step) != 0, 10000));
	assert_int_equal(atomic_load(&cr->step), 1);
	struct irqd_client *c = client(&p);
	uint32_t h, hs;
	assert_int_equal(irqd_attach(c, "dying", IRQD_ATTACH_SHARED, NULL, &h), 0);
	assert_int_equal(irqd_attach(c, "sim0", IRQD_ATTACH_SHARED, NULL, &hs), 0);
	atomic_store(&cr->step, 2);
	assert_true(WAIT_UNTIL(atomic_load(&cr->step) == 3, 10000));
	struct irqd_event ev[4];
	assert_int_equal(irqd_wait(c, ev, 4, 5000), 1);
	assert_int_equal(ev[0].handle, h);
	assert_int_equal(ev[0].count, 10);
	assert_int_equal(my_stats(c, 2).attachments, 2);
	/* the creator disconnects */
	atomic_store(&cr->step, 4);
	assert_int_equal(reap(pid), 0);
	assert_int_equal(cr->err, 0);
	struct irqd_line_desc d;
	assert_true(WAIT_UNTIL(irqd_line_lookup(c, "dying", &d) == -ENOENT, 5000));
	assert_int_equal(irqd_line_stats(c, "dying", &(struct irqd_line_stats){ 0 }), -ENOENT);
	/* our attachment went with it; the other one stays */
	assert_int_equal(my_stats(c, 1).attachments, 1);
	assert_int_equal(irqd_detach(c, h), -EBADF);
	assert_int_equal(irqd_attach(c, "dying", IRQD_ATTACH_SHARED, NULL, &h), -ENOENT);
	assert_int_equal(line_stats(c, "sim0").attachments, 1);
	assert_int_equal(irqd_poll(c, ev, 4), 0);
	/* the connection is fine */
	struct irqd_simdev *dev;
	assert_int_equal(irqd_simdev_open(c, "sim0", &dev), 0);
	assert_int_equal(irqd_simdev_raise(dev, 1), 0);
	assert_int_equal(irqd_wait(c, ev, 4, 5000), 1);
	assert_int_equal(ev[0].handle, hs);
	irqd_simdev_close(dev);
	munmap(cr, sizeof(*cr));
	irqd_disconnect(c);
	irqd_stop(&p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_wait_timeout, harness_teardown),
		cmocka_unit_test_teardown(test_poll_nonblocking, harness_teardown),
		cmocka_unit_test_teardown(test_fd_epoll, harness_teardown),
		cmocka_unit_test_teardown(test_try_no_arm, harness_teardown),
		cmocka_unit_test_teardown(test_futex_then_direct, harness_teardown),
		cmocka_unit_test_teardown(test_batching_one_wakeup, harness_teardown),
		cmocka_unit_test_teardown(test_wait_max_smaller, harness_teardown),
		cmocka_unit_test_teardown(test_held_remainder, harness_teardown),
		cmocka_unit_test_teardown(test_threads_one_client, harness_teardown),
		cmocka_unit_test_teardown(test_answer_errors, harness_teardown),
		cmocka_unit_test_teardown(test_eventfd_line, harness_teardown),
		cmocka_unit_test_teardown(test_eventfd_line_dies_with_creator, harness_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
