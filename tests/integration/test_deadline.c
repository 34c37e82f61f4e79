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

/* ---- a failing test must not leave irqd or its children running --------------------------- */

static struct irqd_proc live_irqd; /* a copy: the test's own may be gone; pid 0: none */
static pid_t live_kids[16];

static void start(struct irqd_proc *p, int sim, const char *config)
{
	irqd_start(p, sim, config);
	live_irqd = *p;
}

static void stop(struct irqd_proc *p)
{
	live_irqd.pid = 0;
	irqd_stop(p);
}

static pid_t child(int (*fn)(const struct irqd_proc *, void *), const struct irqd_proc *p,
		   void *arg)
{
	pid_t pid = spawn(fn, p, arg);
	for (unsigned i = 0; i < sizeof(live_kids) / sizeof(live_kids[0]); i++)
		if (!live_kids[i]) {
			live_kids[i] = pid;
			break;
		}
	return pid;
}

static int reap_child(pid_t pid)
{
	for (unsigned i = 0; i < sizeof(live_kids) / sizeof(live_kids[0]); i++)
		if (live_kids[i] == pid)
			live_kids[i] = 0;
	return reap(pid);
}

static int cleanup(void **state)
{
	(void)state;
	for (unsigned i = 0; i < sizeof(live_kids) / sizeof(live_kids[0]); i++)
		if (live_kids[i] > 0) {
			kill(live_kids[i], SIGKILL);
			waitpid(live_kids[i], NULL, 0);
			live_kids[i] = 0;
		}
	if (live_irqd.pid > 0) {
		kill(live_irqd.pid, SIGKILL);
		waitpid(live_irqd.pid, NULL, 0);
		char cmd[128];
		snprintf(cmd, sizeof(cmd), "rm -rf %s", live_irqd.dir);
		if (system(cmd) != 0)
			(void)0;
		live_irqd.pid = 0;
	}
	return 0;
}

#define CONFIG "ack-deadline-ms 200\nline sim1 ack-deadline-ms=10000\n"
#define DEADLINE_NS (200 * 1000000ull)

/* ---- driver processes -------------------------------------------------------------------- */

#define DRV_LOG_MAX 4096

enum drv_mode {
	DRV_SERVICE,   /* service the device; HANDLED if it had pending events, else NOT_MINE */
	DRV_NOT_MINE,  /* answer NOT_MINE without servicing (a confused driver: storms) */
	DRV_HOLD,      /* owe the answer until told (DRV_CMD_ANSWER) */
};

enum drv_cmd { DRV_CMD_MASK = 1, DRV_CMD_UNMASK, DRV_CMD_ANSWER, DRV_CMD_DETACH };

struct drv {
	/* set by the test before spawning */
	char line[IRQD_NAME_MAX];
	int kick;                        /* eventfd: a command or stop was posted */
	bool spin;                       /* busy-poll instead of sleeping between batches */
	/* set by the test at any time */
	_Atomic int mode;
	_Atomic int stop;
	/* command mailbox: the test fills cmd/arg, then bumps cmd_seq; the driver bumps cmd_done */
	int cmd, cmd_arg, cmd_result;
	char cmd_err[IRQD_ERRMSG_MAX];
	_Atomic uint32_t cmd_seq, cmd_done;
	/* written by the driver */
	_Atomic int attached;
	_Atomic uint64_t batches, events, occurrences, last_occ, owed_occ;
	_Atomic uint64_t handled, not_mine, serviced;
	_Atomic uint64_t last_delivered_ns;  /* delivered_ns of the latest occurrence */
	_Atomic uint64_t errors;
	char err[256];
	_Atomic uint64_t log_n;
	uint64_t log[DRV_LOG_MAX];       /* occurrence << 2 | answer, in the order received */
};

static void drv_error(struct drv *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void drv_error(struct drv *d, const char *fmt, ...)
{
	if (atomic_fetch_add(&d->errors, 1) == 0) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(d->err, sizeof(d->err), fmt, ap);
		va_end(ap);
	}
}

/* Answer the occurrence this driver owes: how = DRV_SERVICE or DRV_NOT_MINE. */
static int drv_answer(struct drv *d, struct irqd_client *c, uint32_t h, struct irqd_simdev *dev,
		      int how)
{
	uint64_t occ = atomic_load(&d->owed_occ);
	if (!occ)
		return -ENOENT;
	enum irqd_answer a = IRQD_NOT_MINE;
	if (how == DRV_SERVICE) {
		uint64_t n = irqd_simdev_service(dev);
		atomic_fetch_add(&d->serviced, n);
		a = n ? IRQD_HANDLED : IRQD_NOT_MINE;
	}
	int r = irqd_answer(c, h, occ, a);
	if (r < 0) {
		drv_error(d, "answer %d for occurrence %llu: %s", a, (unsigned long long)occ,
			  irqd_last_error());
		return r;
	}
	atomic_store(&d->owed_occ, 0);
	atomic_fetch_add(a == IRQD_HANDLED ? &d->handled : &d->not_mine, 1);
	uint64_t n = atomic_load(&d->log_n);
	if (n && n <= DRV_LOG_MAX && d->log[n - 1] >> 2 == occ)
		d->log[n - 1] |= (uint64_t)a;
	return 0;
}

static void drv_event(struct drv *d, struct irqd_client *c, struct irqd_simdev *dev,
		      const struct irqd_event *ev, uint64_t *last_seq)
{
	if (ev->seq != *last_seq + 1)
		drv_error(d, "batch seq %llu after %llu", (unsigned long long)ev->seq,
			  (unsigned long long)*last_seq);
	*last_seq = ev->seq;
	atomic_fetch_add(&d->batches, 1);
	atomic_fetch_add(&d->events, ev->count);
	if (!ev->occurrence)
		return;
	uint64_t last = atomic_load(&d->last_occ);
	if (ev->occurrence <= last)
		drv_error(d, "occurrence %llu after %llu (duplicate or out of order)",
			  (unsigned long long)ev->occurrence, (unsigned long long)last);
	atomic_store(&d->last_occ, ev->occurrence);
	uint64_t n = atomic_load(&d->log_n);
	if (n < DRV_LOG_MAX)
		d->log[n] = ev->occurrence << 2;
	atomic_store(&d->owed_occ, ev->occurrence);
	atomic_store(&d->last_delivered_ns, ev->delivered_ns);
	atomic_store(&d->log_n, n + 1);
	atomic_fetch_add(&d->occurrences, 1);
	int mode = atomic_load(&d->mode);
	if (mode != DRV_HOLD)
		drv_answer(d, c, ev->handle, dev, mode);
}

static void drv_commands(struct drv *d, struct irqd_client *c, uint32_t h,
			 struct irqd_simdev *dev)
{
	uint32_t seq = atomic_load(&d->cmd_seq);
	if (seq == atomic_load(&d->cmd_done))
		return;
	int r = -EINVAL;
	d->cmd_err[0] = 0;
	switch (d->cmd) {
	case DRV_CMD_MASK:
		r = irqd_mask(c, h);
		break;
	case DRV_CMD_UNMASK:
		r = irqd_unmask(c, h);
		break;
	case DRV_CMD_ANSWER:
		r = drv_answer(d, c, h, dev, d->cmd_arg);
		break;
	case DRV_CMD_DETACH:
		r = irqd_detach(c, h);
		if (r == 0)
			atomic_store(&d->attached, 0);
		break;
	}
	if (r < 0)
		snprintf(d->cmd_err, sizeof(d->cmd_err), "%s", irqd_last_error());
	d->cmd_result = r;
	atomic_store(&d->cmd_done, seq);
}

static int drv_main(const struct irqd_proc *p, void *arg)
{
	struct drv *d = arg;
	struct irqd_client *c;
	struct irqd_simdev *dev;
	uint32_t h;
	if (irqd_connect(p->sock, &c) < 0) {
		drv_error(d, "connect: %s", irqd_last_error());
		return 1;
	}
	if (irqd_simdev_open(c, d->line, &dev) < 0 ||
	    irqd_attach(c, d->line, IRQD_ATTACH_SHARED, NULL, &h) < 0) {
		drv_error(d, "open/attach %s: %s", d->line, irqd_last_error());
		return 1;
	}
	atomic_store(&d->attached, 1);
	uint64_t last_seq = 0;
	while (!atomic_load(&d->stop)) {
		drv_commands(d, c, h, dev);
		struct irqd_event ev[16];
		int n = irqd_poll(c, ev, 16);
		if (n < 0) {
			drv_error(d, "poll: %s", irqd_last_error());
			break;
		}
		for (int i = 0; i < n; i++)
			drv_event(d, c, dev, &ev[i], &last_seq);
		if (n || d->spin)
			continue;
		/* irqd_poll returned 0: irqd_fd is armed; the kick eventfd brings commands */
		struct pollfd pf[2] = { { .fd = irqd_fd(c), .events = POLLIN },
					{ .fd = d->kick, .events = POLLIN } };
		if (poll(pf, 2, 1000) > 0 && pf[1].revents) {
			uint64_t v;
			if (read(d->kick, &v, sizeof(v)) < 0)
				v = 0;
		}
	}
	irqd_simdev_close(dev);
	irqd_disconnect(c);
	return atomic_load(&d->errors) ? 1 : 0;
}

static struct drv *drv_alloc(int n)
{
	void *m = mmap(NULL, sizeof(struct drv) * (size_t)n, PROT_READ | PROT_WRITE,
		       MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	assert_true(m != MAP_FAILED);
	return m;
}

static void drv_free(struct drv *d, int n)
{
	munmap(d, sizeof(struct drv) * (size_t)n);
}

static void drv_kick(struct drv *d)
{
	uint64_t one = 1;
	assert_int_equal(write(d->kick, &one, sizeof(one)), sizeof(one));
}

static pid_t drv_start(const struct irqd_proc *p, struct drv *d, const char *line, int mode,
		       bool spin)
{
	memset(d, 0, sizeof(*d));
	snprintf(d->line, sizeof(d->line), "%s", line);
	d->kick = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	assert_true(d->kick >= 0);
	d->spin = spin;
	atomic_store(&d->mode, mode);
	pid_t pid = child(drv_main, p, d);
	if (!WAIT_UNTIL(atomic_load(&d->attached) || atomic_load(&d->errors), 10000))
		fail_msg("driver on %s did not attach", line);
	if (atomic_load(&d->errors))
		fail_msg("driver on %s: %s", line, d->err);
	return pid;
}

static void drv_check(struct drv *d)
{
	if (atomic_load(&d->errors))
		fail_msg("driver on %s: %llu errors, first: %s", d->line,
			 (unsigned long long)atomic_load(&d->errors), d->err);
}

static void drv_stop(struct drv *d, pid_t pid)
{
	atomic_store(&d->stop, 1);
	drv_kick(d);
	int st = reap_child(pid);
	drv_check(d);
	assert_int_equal(st, 0);
	close(d->kick);
}

/* Post a command and wait (bounded) until the driver has run it; returns its result. */
static int drv_cmd(struct drv *d, int cmd, int arg)
{
	d->cmd = cmd;
	d->cmd_arg = arg;
	uint32_t seq = atomic_load(&d->cmd_seq) + 1;
	atomic_store(&d->cmd_seq, seq);
	drv_kick(d);
	if (!WAIT_UNTIL(atomic_load(&d->cmd_done) == seq, 10000))
		fail_msg("driver on %s did not run command %d", d->line, cmd);
	return d->cmd_result;
}

static struct irqd_simdev *device(struct irqd_client *c, const char *line)
{
	struct irqd_simdev *dev;
	if (irqd_simdev_open(c, line, &dev) < 0)
		fail_msg("simdev %s: %s", line, irqd_last_error());
	return dev;
}

static bool unmasked(struct irqd_client *c, const char *line)
{
	return !(line_stats(c, line).flags & IRQD_LINE_MASKED);
}

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

/* Wait until the line is unmasked; returns when that was first seen. */
static uint64_t wait_unmasked(struct irqd_client *ctl, const char *line, int timeout_ms)
{
	if (!WAIT_UNTIL(unmasked(ctl, line), timeout_ms))
		fail_msg("%s stays masked", line);
	return mono_ns();
}

/* A sharer killed while it owes an answer: irqd sees the connection close, counts the dead
 * sharer as answered, unmasks the line at once (not at the 10 s deadline) and drops the
 * attachment; the other sharer keeps getting occurrences. */
static void test_killed_while_owing(void **state)
{
	(void)state;
	struct irqd_proc p;
	start(&p, 2, CONFIG);
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
	assert_int_equal(reap_child(v), 128 + SIGKILL);
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
	stop(&p);
}

/* A hung sharer (alive, takes its notifications, never answers): after the 200 ms deadline the
 * line is unmasked and one stall counted. It stays notified, but later occurrences complete
 * without waiting for it (no further stall). Once it answers again it is waited for again: the
 * next time it is silent costs one more deadline. */
static void test_hung_sharer(void **state)
{
	(void)state;
	struct irqd_proc p;
	start(&p, 1, CONFIG);
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
	assert_true(WAIT_UNTIL(atomic_load(&d[1].occurrences) == 21, 5000));
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
	stop(&p);
}

/* A sharer stopped (SIGSTOP) cannot even take its notifications: same rule, the deadline
 * unmasks the line; when it continues it gets the latest occurrence and answers it. */
static void test_stopped_sharer(void **state)
{
	(void)state;
	struct irqd_proc p;
	start(&p, 1, CONFIG);
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
	stop(&p);
}

/* SIGKILL at three stages; each stage five times, a new victim process each time. The
 * remaining sharer gets every occurrence, the line never stays masked, and the 10 s deadline
 * never has to step in (stalls == 0). */
enum stage { BEFORE_OCCURRENCE, AFTER_RECEIVING, AFTER_ANSWERING };

static void kill_at(enum stage stage)
{
	enum { ROUNDS = 5, AFTER = 10 };
	struct irqd_proc p;
	start(&p, 2, CONFIG);
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
			assert_int_equal(reap_child(vp), 128 + SIGKILL);
			assert_int_equal(irqd_simdev_raise(dev, 1), 0);
			break;
		case AFTER_RECEIVING:
			assert_int_equal(irqd_simdev_raise(dev, 1), 0);
			assert_true(WAIT_UNTIL(atomic_load(&v->owed_occ) == occ &&
						       sharer_answers(&d[0]) == a_answers + 1,
					       10000));
			assert_true(line_stats(ctl, "sim1").flags & IRQD_LINE_MASKED);
			assert_int_equal(kill(vp, SIGKILL), 0);
			assert_int_equal(reap_child(vp), 128 + SIGKILL);
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
			assert_int_equal(reap_child(vp), 128 + SIGKILL);
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
	stop(&p);
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
		cmocka_unit_test_teardown(test_killed_while_owing, cleanup),
		cmocka_unit_test_teardown(test_hung_sharer, cleanup),
		cmocka_unit_test_teardown(test_stopped_sharer, cleanup),
		cmocka_unit_test_teardown(test_kill_before_occurrence, cleanup),
		cmocka_unit_test_teardown(test_kill_after_receiving, cleanup),
		cmocka_unit_test_teardown(test_kill_after_answering, cleanup),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
