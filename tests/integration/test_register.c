/*
 * test_register.c - finding lines and holding them: attach by name and by "#id", the errors
 * irqd gives (unknown line, exclusive against shared), detach and re-attach, enumeration, and
 * handing an attachment from one client process to another (irqd_pass/irqd_accept) without
 * losing or doubling an event, on an edge line and on a level line with an occurrence owed.
 *
 * Client processes are driven through a shared page (struct holder): the test posts a command
 * and waits, bounded, for the child's acknowledgement; the child receives events between
 * commands and keeps its counts on the page.
 */
#include <errno.h>
#include <poll.h>
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

/* ---- a client process driven by commands ----------------------------------------------------- */

enum hcmd {
	H_ATTACH = 1,   /* arg: sim line number; result: handle or -errno */
	H_ACCEPT,       /* arg: token; result: handle or -errno */
	H_PASS,         /* result: 0 or -errno; token in ->token */
	H_PAUSE,        /* stop taking batches */
	H_RESUME,
	H_ANSWER,       /* arg: occurrence; answer HANDLED; result of irqd_answer */
	H_DRAIN,        /* arg: target; receive until total >= target (5 s), then 100 ms more;
			 * result: total */
	H_DETACH,       /* result of irqd_detach on the current handle */
	H_EXIT,
};

struct holder {
	_Atomic uint32_t cmd_seq, ack_seq;
	uint32_t cmd;
	uint64_t arg;
	int64_t result;
	uint64_t token;
	int32_t handle;
	_Atomic int ready;
	/* what the child received */
	_Atomic uint64_t total, batches, occs, last_occ, last_count;
	_Atomic uint64_t seq_errors, ts_errors;
	_Atomic uint64_t errors;
	char err[256];
	char ts_err[160];
};

static uint64_t h_last_seq; /* per child process */

static void h_account(struct holder *h, const struct irqd_event *ev, int n)
{
	for (int i = 0; i < n; i++) {
		if (ev[i].handle != (uint32_t)h->handle)
			NOTE_ERROR(h, "batch for handle %u, holding %d", ev[i].handle, h->handle);
		if (ev[i].seq <= h_last_seq)
			atomic_fetch_add(&h->seq_errors, 1);
		h_last_seq = ev[i].seq;
		if (!(ev[i].first_ns <= ev[i].last_ns && ev[i].last_ns <= ev[i].delivered_ns) &&
		    atomic_fetch_add(&h->ts_errors, 1) == 0)
			snprintf(h->ts_err, sizeof(h->ts_err),
				 "seq %llu count %llu: first %llu last %llu delivered %llu",
				 (unsigned long long)ev[i].seq, (unsigned long long)ev[i].count,
				 (unsigned long long)ev[i].first_ns, (unsigned long long)ev[i].last_ns,
				 (unsigned long long)ev[i].delivered_ns);
		atomic_fetch_add(&h->total, ev[i].count);
		atomic_fetch_add(&h->batches, 1);
		atomic_store(&h->last_count, ev[i].count);
		if (ev[i].occurrence) {
			atomic_store(&h->last_occ, ev[i].occurrence);
			atomic_fetch_add(&h->occs, 1);
		}
	}
}

static int holder_main(const struct irqd_proc *p, void *arg)
{
	struct holder *h = arg;
	struct irqd_client *c;
	if (irqd_connect(p->sock, &c) < 0) {
		NOTE_ERROR(h, "connect: %s", irqd_last_error());
		return 1;
	}
	h->handle = -1;
	bool paused = false;
	atomic_store(&h->ready, 1);
	uint64_t deadline = mono_ns() + 60ull * 1000000000ull; /* never outlive the test */
	while (mono_ns() < deadline) {
		uint32_t seq = atomic_load(&h->cmd_seq);
		if (seq == atomic_load(&h->ack_seq)) {
			struct irqd_event ev[64];
			int n = paused ? 0 : irqd_wait(c, ev, 64, 2);
			if (n < 0)
				NOTE_ERROR(h, "wait: %s", irqd_last_error());
			else if (n > 0)
				h_account(h, ev, n);
			else if (paused)
				usleep(500);
			continue;
		}
		int64_t r = 0;
		uint32_t hd;
		switch ((enum hcmd)h->cmd) {
		case H_ATTACH: {
			char name[16];
			snprintf(name, sizeof(name), "sim%llu", (unsigned long long)h->arg);
			r = irqd_attach(c, name, IRQD_ATTACH_SHARED, NULL, &hd);
			if (r == 0)
				r = h->handle = (int32_t)hd;
			break;
		}
		case H_ACCEPT:
			r = irqd_accept(c, h->arg, &hd);
			if (r == 0)
				r = h->handle = (int32_t)hd;
			break;
		case H_PASS:
			r = irqd_pass(c, (uint32_t)h->handle, &h->token);
			break;
		case H_PAUSE:
			paused = true;
			break;
		case H_RESUME:
			paused = false;
			break;
		case H_ANSWER:
			r = irqd_answer(c, (uint32_t)h->handle, h->arg, IRQD_HANDLED);
			break;
		case H_DRAIN: {
			uint64_t end = mono_ns() + 5000000000ull;
			while (atomic_load(&h->total) < h->arg && mono_ns() < end) {
				struct irqd_event ev[64];
				int n = irqd_wait(c, ev, 64, 100);
				if (n > 0)
					h_account(h, ev, n);
			}
			/* anything beyond the target would be a duplicate */
			struct irqd_event ev[64];
			int n = irqd_wait(c, ev, 64, 100);
			if (n > 0)
				h_account(h, ev, n);
			r = (int64_t)atomic_load(&h->total);
			break;
		}
		case H_DETACH:
			r = irqd_detach(c, (uint32_t)h->handle);
			break;
		case H_EXIT:
			irqd_disconnect(c);
			h->result = 0;
			atomic_store(&h->ack_seq, seq);
			return 0;
		}
		h->result = r;
		atomic_store(&h->ack_seq, seq);
	}
	NOTE_ERROR(h, "holder ran for 60 s");
	return 2;
}

static struct holder *holder_start(const struct irqd_proc *p, pid_t *pid)
{
	struct holder *h = shared_page(sizeof(*h));
	*pid = spawn(holder_main, p, h);
	if (!WAIT_UNTIL(atomic_load(&h->ready) || atomic_load(&h->errors), 10000))
		fail_msg("holder did not start");
	if (atomic_load(&h->errors))
		fail_msg("holder: %s", h->err);
	return h;
}

static int64_t hcall(struct holder *h, enum hcmd cmd, uint64_t arg)
{
	h->cmd = cmd;
	h->arg = arg;
	uint32_t seq = atomic_fetch_add(&h->cmd_seq, 1) + 1;
	if (!WAIT_UNTIL(atomic_load(&h->ack_seq) == seq, 15000))
		fail_msg("holder did not complete command %d", cmd);
	return h->result;
}

static void holder_finish(struct holder *h, pid_t pid)
{
	hcall(h, H_EXIT, 0);
	assert_int_equal(reap(pid), 0);
	if (atomic_load(&h->errors))
		fail_msg("holder: %s", h->err);
	assert_int_equal(atomic_load(&h->seq_errors), 0);
	if (atomic_load(&h->ts_errors))
		fail_msg("%llu batches with first_ns <= last_ns <= delivered_ns broken, first: %s",
			 (unsigned long long)atomic_load(&h->ts_errors), h->ts_err);
	munmap(h, sizeof(*h));
}

/* ---- attach, errors, detach ---------------------------------------------------------------------- */

static void test_attach_by_name_and_id(void **state)
{
	(void)state;
	struct irqd_proc p;
	irqd_start(&p, 4, NULL);
	struct irqd_client *c = client(&p);
	struct irqd_line_desc d, d2;
	assert_int_equal(irqd_line_lookup(c, "sim2", &d), 0);
	assert_string_equal(d.name, "sim2");
	assert_string_equal(d.source, "sim");
	assert_int_equal(d.trigger, IRQD_LEVEL);
	assert_int_equal(d.attachments, 0);
	/* the same line by its number */
	char byid[16];
	snprintf(byid, sizeof(byid), "#%u", d.id);
	assert_int_equal(irqd_line_lookup(c, byid, &d2), 0);
	assert_int_equal(d2.id, d.id);
	assert_string_equal(d2.name, "sim2");

	uint32_t h1, h2;
	assert_int_equal(irqd_attach(c, "sim2", IRQD_ATTACH_SHARED, NULL, &h1), 0);
	assert_int_equal(irqd_attach(c, byid, IRQD_ATTACH_SHARED, NULL, &h2), 0);
	assert_int_not_equal(h1, h2);
	assert_int_equal(irqd_handle_line(c, h1), (int)d.id);
	assert_int_equal(irqd_handle_line(c, h2), (int)d.id);
	assert_int_equal(irqd_line_lookup(c, "sim2", &d2), 0);
	assert_int_equal(d2.attachments, 2);
	assert_int_equal(line_stats(c, "sim2").attachments, 2);

	/* both attachments are live: one occurrence is notified to each, with the line's id */
	struct irqd_simdev *dev;
	assert_int_equal(irqd_simdev_open(c, byid, &dev), 0);
	assert_int_equal(irqd_simdev_raise(dev, 1), 0);
	struct irqd_event ev[4];
	int got = 0;
	bool seen1 = false, seen2 = false;
	uint64_t end = mono_ns() + 5000000000ull;
	while (got < 2 && mono_ns() < end) {
		int n = irqd_wait(c, ev, 4, 1000);
		assert_true(n >= 0);
		for (int i = 0; i < n; i++) {
			assert_int_equal(ev[i].line, d.id);
			assert_int_equal(ev[i].occurrence, 1);
			assert_int_equal(ev[i].count, 1);
			seen1 |= ev[i].handle == h1;
			seen2 |= ev[i].handle == h2;
		}
		got += n;
	}
	assert_int_equal(got, 2);
	assert_true(seen1 && seen2);
	assert_int_equal(irqd_simdev_service(dev), 1);
	assert_int_equal(irqd_answer(c, h1, 1, IRQD_HANDLED), 0);
	assert_int_equal(irqd_answer(c, h2, 1, IRQD_NOT_MINE), 0);
	assert_true(WAIT_UNTIL(!(line_stats(c, "sim2").flags & IRQD_LINE_MASKED), 5000));
	struct irqd_line_stats st = line_stats(c, byid);
	assert_int_equal(st.id, d.id);
	assert_int_equal(st.raised, 1);
	assert_int_equal(st.delivered, 2);
	assert_int_equal(st.handled, 1);
	assert_int_equal(st.not_mine, 1);
	/* no other line saw anything */
	for (int i = 0; i < 4; i++) {
		char nm[16];
		snprintf(nm, sizeof(nm), "sim%d", i);
		if ((uint32_t)i != d.id)
			assert_int_equal(line_stats(c, nm).raised, 0);
	}
	irqd_simdev_close(dev);
	irqd_disconnect(c);
	irqd_stop(&p);
}

static void test_unknown_line(void **state)
{
	(void)state;
	struct irqd_proc p;
	irqd_start(&p, 2, NULL);
	struct irqd_client *c = client(&p);
	uint32_t h = 12345;
	struct irqd_line_desc d;
	assert_int_equal(irqd_attach(c, "nosuchline", IRQD_ATTACH_SHARED, NULL, &h), -ENOENT);
	assert_non_null(strstr(irqd_last_error(), "nosuchline"));
	assert_int_equal(h, 12345); /* untouched on failure */
	assert_int_equal(irqd_attach(c, "#77", IRQD_ATTACH_SHARED, NULL, &h), -ENOENT);
	assert_non_null(strstr(irqd_last_error(), "77"));
	assert_int_equal(irqd_attach(c, "#2", IRQD_ATTACH_EXCLUSIVE, NULL, &h), -ENOENT);
	assert_int_equal(irqd_line_lookup(c, "sim2", &d), -ENOENT);
	assert_non_null(strstr(irqd_last_error(), "sim2"));
	/* a malformed number is the library's to reject */
	assert_int_equal(irqd_attach(c, "#x1", IRQD_ATTACH_SHARED, NULL, &h), -EINVAL);
	assert_true(strlen(irqd_last_error()) > 0);
	/* the failed requests left nothing behind; the connection still works */
	assert_int_equal(irqd_attach(c, "sim1", IRQD_ATTACH_SHARED, NULL, &h), 0);
	assert_int_equal(line_stats(c, "sim1").attachments, 1);
	assert_int_equal(line_stats(c, "sim0").attachments, 0);
	irqd_disconnect(c);
	irqd_stop(&p);
}

/* another client process: exclusive against shared, and shared against exclusive */
struct excl {
	_Atomic int step;     /* 1: child checked sim0, holds sim1 exclusively; 2: release */
	int r_excl_on_shared, r_excl_on_excl;
	char msg[IRQD_ERRMSG_MAX];
	int r_hold;
};

static int excl_child(const struct irqd_proc *p, void *arg)
{
	struct excl *x = arg;
	struct irqd_client *c;
	if (irqd_connect(p->sock, &c) < 0)
		return 1;
	uint32_t h;
	x->r_excl_on_shared = irqd_attach(c, "sim0", IRQD_ATTACH_EXCLUSIVE, NULL, &h);
	snprintf(x->msg, sizeof(x->msg), "%s", irqd_last_error());
	x->r_hold = irqd_attach(c, "sim1", IRQD_ATTACH_EXCLUSIVE, NULL, &h);
	/* a second exclusive attach of the same client is refused too */
	x->r_excl_on_excl = irqd_attach(c, "sim1", IRQD_ATTACH_EXCLUSIVE, NULL, &h);
	atomic_store(&x->step, 1);
	uint64_t end = mono_ns() + 20000000000ull;
	while (atomic_load(&x->step) != 2 && mono_ns() < end)
		usleep(1000);
	irqd_disconnect(c);
	return 0;
}

static void test_exclusive_conflicts(void **state)
{
	(void)state;
	struct irqd_proc p;
	irqd_start(&p, 2, NULL);
	struct excl *x = shared_page(sizeof(*x));
	struct irqd_client *c = client(&p);
	uint32_t hs, h;
	assert_int_equal(irqd_attach(c, "sim0", IRQD_ATTACH_SHARED, NULL, &hs), 0);
	pid_t pid = spawn(excl_child, &p, x);
	assert_true(WAIT_UNTIL(atomic_load(&x->step) == 1, 10000));
	/* exclusive while shared exists */
	assert_int_equal(x->r_excl_on_shared, -EBUSY);
	assert_non_null(strstr(x->msg, "sim0"));
	assert_int_equal(x->r_hold, 0);
	assert_int_equal(x->r_excl_on_excl, -EBUSY);
	/* shared (and exclusive) while another client holds it exclusively */
	struct irqd_line_desc d;
	assert_int_equal(irqd_line_lookup(c, "sim1", &d), 0);
	assert_true(d.flags & IRQD_LINE_EXCLUSIVE);
	assert_int_equal(d.attachments, 1);
	assert_int_equal(irqd_attach(c, "sim1", IRQD_ATTACH_SHARED, NULL, &h), -EBUSY);
	assert_non_null(strstr(irqd_last_error(), "exclusive"));
	assert_int_equal(irqd_attach(c, "sim1", IRQD_ATTACH_EXCLUSIVE, NULL, &h), -EBUSY);
	/* sim0 is still shared, and shared attaches still work there */
	assert_int_equal(irqd_line_lookup(c, "sim0", &d), 0);
	assert_false(d.flags & IRQD_LINE_EXCLUSIVE);
	assert_int_equal(d.attachments, 1);
	uint32_t hs2;
	assert_int_equal(irqd_attach(c, "sim0", IRQD_ATTACH_SHARED, NULL, &hs2), 0);
	/* the holder goes away: the line is free, exclusive again possible */
	atomic_store(&x->step, 2);
	assert_int_equal(reap(pid), 0);
	assert_true(WAIT_UNTIL(line_stats(c, "sim1").attachments == 0, 5000));
	assert_int_equal(irqd_line_lookup(c, "sim1", &d), 0);
	assert_false(d.flags & IRQD_LINE_EXCLUSIVE);
	assert_int_equal(irqd_attach(c, "sim1", IRQD_ATTACH_EXCLUSIVE, NULL, &h), 0);
	assert_int_equal(line_stats(c, "sim1").flags & IRQD_LINE_EXCLUSIVE, IRQD_LINE_EXCLUSIVE);
	/* and after detaching both shared attachments, sim0 can be held exclusively */
	assert_int_equal(irqd_detach(c, hs), 0);
	assert_int_equal(irqd_attach(c, "sim0", IRQD_ATTACH_EXCLUSIVE, NULL, &h), -EBUSY);
	assert_int_equal(irqd_detach(c, hs2), 0);
	assert_int_equal(irqd_attach(c, "sim0", IRQD_ATTACH_EXCLUSIVE, NULL, &h), 0);
	munmap(x, sizeof(*x));
	irqd_disconnect(c);
	irqd_stop(&p);
}

static void test_detach_reattach(void **state)
{
	(void)state;
	struct irqd_proc p;
	irqd_start(&p, 1, "line sim0 ack-deadline-ms=20000\n");
	struct irqd_client *c = client(&p), *devc = client(&p);
	struct irqd_simdev *dev;
	assert_int_equal(irqd_simdev_open(devc, "sim0", &dev), 0);
	uint32_t h;
	assert_int_equal(irqd_attach(c, "sim0", IRQD_ATTACH_EXCLUSIVE, NULL, &h), 0);
	/* an occurrence delivered and never answered: the detach counts as the answer */
	assert_int_equal(irqd_simdev_raise(dev, 1), 0);
	struct irqd_event ev[4];
	assert_int_equal(irqd_wait(c, ev, 4, 5000), 1);
	assert_int_equal(ev[0].occurrence, 1);
	assert_true(line_stats(c, "sim0").flags & IRQD_LINE_MASKED);
	assert_int_equal(irqd_detach(c, h), 0);
	assert_int_equal(irqd_detach(c, h), -EBADF);
	assert_int_equal(irqd_handle_line(c, h), -EBADF);
	assert_int_equal(irqd_answer(c, h, 1, IRQD_HANDLED), -EBADF);
	struct irqd_line_stats st = line_stats(c, "sim0");
	assert_int_equal(st.attachments, 0);
	assert_false(st.flags & IRQD_LINE_EXCLUSIVE);
	/* the detach completed occurrence 1 (nobody said HANDLED); the device still asserts and
	 * nobody is attached: it fires once more and waits masked (orphaned, unhandled) */
	assert_true(WAIT_UNTIL(line_stats(c, "sim0").raised == 2, 5000));
	st = line_stats(c, "sim0");
	assert_true(st.flags & IRQD_LINE_MASKED);
	assert_int_equal(st.stalls, 0);
	assert_int_equal(st.handled, 0);
	assert_int_equal(st.unhandled, 2);
	assert_int_equal(st.delivered, 1);

	/* re-attach (exclusive again: the old one is gone) and the line works for it */
	uint32_t h2;
	assert_int_equal(irqd_attach(c, "sim0", IRQD_ATTACH_EXCLUSIVE, NULL, &h2), 0);
	assert_int_equal(irqd_handle_line(c, h2), 0);
	assert_int_equal(irqd_wait(c, ev, 4, 5000), 1);
	assert_int_equal(ev[0].handle, h2);
	assert_int_equal(ev[0].seq, 1);
	assert_int_equal(ev[0].occurrence, 3);
	assert_int_equal(irqd_simdev_service(dev), 1);
	assert_int_equal(irqd_answer(c, h2, 3, IRQD_HANDLED), 0);
	assert_true(WAIT_UNTIL(!(line_stats(c, "sim0").flags & IRQD_LINE_MASKED), 5000));
	for (uint64_t i = 4; i < 14; i++) {
		assert_int_equal(irqd_simdev_raise(dev, 1), 0);
		assert_int_equal(irqd_wait(c, ev, 4, 5000), 1);
		assert_int_equal(ev[0].handle, h2);
		assert_int_equal(ev[0].occurrence, i);
		assert_int_equal(irqd_simdev_service(dev), 1);
		assert_int_equal(irqd_answer(c, h2, i, IRQD_HANDLED), 0);
	}
	assert_true(WAIT_UNTIL(!(line_stats(c, "sim0").flags & IRQD_LINE_MASKED), 5000));
	st = line_stats(c, "sim0");
	assert_int_equal(st.raised, 13);
	assert_int_equal(st.handled, 11);
	assert_int_equal(st.unhandled, 2);
	assert_int_equal(st.stalls, 0);
	/* the same client can hold it shared after detaching the exclusive attachment */
	assert_int_equal(irqd_detach(c, h2), 0);
	assert_int_equal(irqd_attach(c, "sim0", IRQD_ATTACH_SHARED, NULL, &h), 0);
	assert_int_equal(irqd_attach(c, "sim0", IRQD_ATTACH_SHARED, NULL, &h2), 0);
	assert_int_equal(line_stats(c, "sim0").attachments, 2);
	irqd_simdev_close(dev);
	irqd_disconnect(devc);
	irqd_disconnect(c);
	irqd_stop(&p);
}

static void test_enumerate(void **state)
{
	(void)state;
	enum { N = 7 };
	struct irqd_proc p;
	irqd_start(&p, N, "line sim3 trigger=edge\n");
	struct irqd_client *c = client(&p);
	struct irqd_line_desc d, prev;
	bool seen[N] = { false };
	int n = 0, r;
	for (r = irqd_line_next(c, NULL, &d); r == 0; r = irqd_line_next(c, &prev, &d)) {
		assert_true(n < N);
		if (n > 0)
			assert_true(d.id > prev.id);
		unsigned k;
		char extra;
		assert_int_equal(sscanf(d.name, "sim%u%c", &k, &extra), 1);
		assert_true(k < N);
		assert_false(seen[k]);
		seen[k] = true;
		assert_string_equal(d.source, "sim");
		assert_int_equal(d.trigger, k == 3 ? IRQD_EDGE : IRQD_LEVEL);
		/* the id is the one lookup gives, by name and by number */
		struct irqd_line_desc l;
		assert_int_equal(irqd_line_lookup(c, d.name, &l), 0);
		assert_int_equal(l.id, d.id);
		char byid[16];
		snprintf(byid, sizeof(byid), "#%u", d.id);
		assert_int_equal(irqd_line_lookup(c, byid, &l), 0);
		assert_string_equal(l.name, d.name);
		prev = d;
		n++;
	}
	assert_int_equal(r, -ENOENT);
	assert_true(strlen(irqd_last_error()) > 0);
	assert_int_equal(n, N);
	/* asking past the last again is still the end; the listing is stable */
	assert_int_equal(irqd_line_next(c, &prev, &d), -ENOENT);
	struct irqd_line_desc first;
	assert_int_equal(irqd_line_next(c, NULL, &first), 0);
	assert_string_equal(first.name, "sim0");
	uint32_t h;
	assert_int_equal(irqd_attach(c, "sim5", IRQD_ATTACH_SHARED, NULL, &h), 0);
	int m = 0;
	for (r = irqd_line_next(c, NULL, &d); r == 0; r = irqd_line_next(c, &d, &d)) {
		char nm[16];
		snprintf(nm, sizeof(nm), "sim%d", m);
		assert_string_equal(d.name, nm);
		assert_int_equal(d.attachments, m == 5 ? 1 : 0);
		m++;
	}
	assert_int_equal(m, N);
	irqd_disconnect(c);
	irqd_stop(&p);
}

/* ---- pass / accept --------------------------------------------------------------------------------- */

struct device {
	_Atomic int ready, stop;
	_Atomic uint64_t raised;
	uint64_t seed;
	_Atomic uint64_t errors;
};

/* Raises on sim0 in bursts of random size (1..200 raises of 1..8 events) until told to stop. */
static int device_main(const struct irqd_proc *p, void *arg)
{
	struct device *d = arg;
	struct irqd_client *c;
	struct irqd_simdev *dev;
	if (irqd_connect(p->sock, &c) < 0 || irqd_simdev_open(c, "sim0", &dev) < 0) {
		atomic_fetch_add(&d->errors, 1);
		return 1;
	}
	uint64_t x = d->seed | 1;
	atomic_store(&d->ready, 1);
	uint64_t end = mono_ns() + 30000000000ull;
	while (!atomic_load(&d->stop) && mono_ns() < end) {
		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		unsigned burst = 1 + (unsigned)(x % 200);
		for (unsigned i = 0; i < burst; i++) {
			uint64_t n = 1 + ((x >> (i % 32)) & 7);
			if (irqd_simdev_raise(dev, n) < 0) {
				atomic_fetch_add(&d->errors, 1);
				return 1;
			}
			atomic_fetch_add(&d->raised, n);
		}
		usleep((useconds_t)((x >> 40) % 300));
	}
	irqd_simdev_close(dev);
	irqd_disconnect(c);
	return 0;
}

static void raise_n(struct irqd_simdev *dev, uint64_t n)
{
	for (uint64_t i = 0; i < n; i++)
		assert_int_equal(irqd_simdev_raise(dev, 1), 0);
}

/* Edge line: events before, during and after the hand-overs reach the two holders exactly once
 * in total. The attachment goes back and forth 20 times while a device raises all along; the
 * giving holder keeps receiving (racing irqd for its last batch) until the accept. */
static void test_pass_edge_exactly_once(void **state)
{
	(void)state;
	enum { PASSES = 20 };
	struct irqd_proc p;
	irqd_start(&p, 1, "line sim0 trigger=edge\n");
	pid_t pa, pb, pd;
	struct holder *A = holder_start(&p, &pa), *B = holder_start(&p, &pb);
	struct device *D = shared_page(sizeof(*D));
	D->seed = mono_ns();
	printf("  device seed %llu\n", (unsigned long long)D->seed);
	struct irqd_client *c = client(&p);
	struct irqd_simdev *dev;
	assert_int_equal(irqd_simdev_open(c, "sim0", &dev), 0);

	assert_true(hcall(A, H_ATTACH, 0) >= 0);
	/* before: A receives them */
	raise_n(dev, 1000);
	assert_true(WAIT_UNTIL(atomic_load(&A->total) == 1000, 10000));
	/* during: a device raises all along while the holders pass and accept */
	pd = spawn(device_main, &p, D);
	assert_true(WAIT_UNTIL(atomic_load(&D->ready) && atomic_load(&D->raised) >= 5000, 10000));
	struct holder *from = A, *to = B;
	uint64_t token = 0, overlapped = 0, at_accept = 0;
	for (int k = 0; k < PASSES; k++) {
		assert_int_equal(hcall(from, H_PASS, 0), 0);
		assert_int_not_equal(from->token, 0);
		assert_int_not_equal(from->token, token);
		token = from->token;
		uint64_t at_pass = atomic_load(&D->raised);
		assert_true(hcall(to, H_ACCEPT, token) >= 0);
		at_accept = atomic_load(&D->raised);
		overlapped += at_accept > at_pass; /* the device raised during this hand-over */
		/* the old holder cannot pass what it no longer holds */
		assert_int_equal(hcall(from, H_PASS, 0), -EBADF);
		assert_true(WAIT_UNTIL(atomic_load(&D->raised) >= at_accept + 2000, 10000));
		struct holder *t = from;
		from = to;
		to = t;
	}
	/* the last token was used up */
	uint32_t h2;
	assert_int_equal(irqd_accept(c, token, &h2), -ENOENT);
	assert_non_null(strstr(irqd_last_error(), "token"));
	atomic_store(&D->stop, 1);
	assert_int_equal(reap(pd), 0);
	assert_int_equal(atomic_load(&D->errors), 0);
	/* after: only the last holder (`from`) */
	raise_n(dev, 1000);
	uint64_t R = 2000 + atomic_load(&D->raised);
	assert_true(WAIT_UNTIL(line_stats(c, "sim0").raised == R, 10000));

	/* the other one gets nothing more; its handle is no longer its own */
	int64_t other = hcall(to, H_DRAIN, 0);
	assert_int_equal(hcall(to, H_DETACH, 0), -EBADF);
	int64_t last = hcall(from, H_DRAIN, R - (uint64_t)other);
	int64_t a = from == A ? last : other, b = from == A ? other : last;
	printf("  %llu events, %d hand-overs (%llu while the device raised): A got %lld "
	       "(%llu batches), B got %lld (%llu batches)\n",
	       (unsigned long long)R, PASSES, (unsigned long long)overlapped, (long long)a,
	       (unsigned long long)atomic_load(&A->batches), (long long)b,
	       (unsigned long long)atomic_load(&B->batches));
	assert_int_equal((uint64_t)(a + b), R);
	assert_true(overlapped > 0);
	assert_true((uint64_t)a >= 1000);
	/* what was raised after the last accept is the last holder's (the device counts a raise
	 * after writing it: at most one raise of <= 8 events counted was written before) */
	assert_true((uint64_t)last >= (R - 2000 - at_accept) + 1000 - 8);
	struct irqd_line_stats st = line_stats(c, "sim0");
	assert_int_equal(st.raised, R);
	assert_int_equal(st.delivered, R);
	assert_int_equal(st.dropped, 0);
	assert_int_equal(st.attachments, 1);
	assert_int_equal(hcall(from, H_DETACH, 0), 0);
	holder_finish(A, pa);
	holder_finish(B, pb);
	munmap(D, sizeof(*D));
	irqd_simdev_close(dev);
	irqd_disconnect(c);
	irqd_stop(&p);
}

/* Edge line: a batch the old holder never took, and the events held behind it, go to the new
 * holder. */
static void test_pass_edge_untaken(void **state)
{
	(void)state;
	struct irqd_proc p;
	irqd_start(&p, 1, "line sim0 trigger=edge\n");
	pid_t pa, pb;
	struct holder *A = holder_start(&p, &pa), *B = holder_start(&p, &pb);
	struct irqd_client *c = client(&p);
	struct irqd_simdev *dev;
	assert_int_equal(irqd_simdev_open(c, "sim0", &dev), 0);
	assert_true(hcall(A, H_ATTACH, 0) >= 0);
	raise_n(dev, 10);
	assert_true(WAIT_UNTIL(atomic_load(&A->total) == 10, 10000));
	hcall(A, H_PAUSE, 0);
	/* one batch published and untaken, the rest held behind it */
	raise_n(dev, 100);
	assert_true(WAIT_UNTIL(line_stats(c, "sim0").delivered == 110, 10000));
	assert_int_equal(hcall(A, H_PASS, 0), 0);
	assert_true(hcall(B, H_ACCEPT, A->token) >= 0);
	hcall(A, H_RESUME, 0);
	assert_int_equal(hcall(B, H_DRAIN, 100), 100);
	raise_n(dev, 50);
	assert_int_equal(hcall(B, H_DRAIN, 150), 150);
	assert_int_equal(hcall(A, H_DRAIN, 0), 10);
	/* B's batches continue the attachment's sequence */
	assert_true(atomic_load(&B->batches) >= 2);
	struct irqd_line_stats st = line_stats(c, "sim0");
	assert_int_equal(st.raised, 160);
	assert_int_equal(st.delivered, 160);
	holder_finish(A, pa);
	holder_finish(B, pb);
	irqd_simdev_close(dev);
	irqd_disconnect(c);
	irqd_stop(&p);
}

/* Level line passed while an occurrence is owed: the new holder is notified of it, and its
 * answer completes it and unmasks the line. took: the old holder had taken the notification. */
static void pass_level_owed(bool took)
{
	struct irqd_proc p;
	irqd_start(&p, 2, "line sim1 ack-deadline-ms=30000\n");
	pid_t pa, pb;
	struct holder *A = holder_start(&p, &pa), *B = holder_start(&p, &pb);
	struct irqd_client *c = client(&p);
	struct irqd_simdev *dev;
	assert_int_equal(irqd_simdev_open(c, "sim1", &dev), 0);
	assert_true(hcall(A, H_ATTACH, 1) >= 0);
	if (!took)
		hcall(A, H_PAUSE, 0);
	assert_int_equal(irqd_simdev_raise(dev, 1), 0);
	if (took)
		assert_true(WAIT_UNTIL(atomic_load(&A->occs) == 1, 10000));
	else
		assert_true(WAIT_UNTIL(line_stats(c, "sim1").delivered == 1, 10000));
	assert_true(line_stats(c, "sim1").flags & IRQD_LINE_MASKED);
	assert_int_equal(hcall(A, H_PASS, 0), 0);
	assert_true(hcall(B, H_ACCEPT, A->token) >= 0);
	hcall(A, H_RESUME, 0);
	/* B gets the owed occurrence */
	assert_true(WAIT_UNTIL(atomic_load(&B->occs) == 1 || atomic_load(&B->errors), 10000));
	assert_int_equal(atomic_load(&B->last_occ), 1);
	assert_int_equal(atomic_load(&B->last_count), 1);
	assert_true(line_stats(c, "sim1").flags & IRQD_LINE_MASKED);
	assert_int_equal(irqd_simdev_service(dev), 1);
	assert_int_equal(hcall(B, H_ANSWER, 1), 0);
	assert_true(WAIT_UNTIL(!(line_stats(c, "sim1").flags & IRQD_LINE_MASKED), 10000));
	struct irqd_line_stats st = line_stats(c, "sim1");
	assert_int_equal(st.raised, 1);
	assert_int_equal(st.handled, 1);
	assert_int_equal(st.unhandled, 0);
	assert_int_equal(st.stalls, 0);
	/* A got nothing more (and nothing at all if it never looked) */
	assert_int_equal(hcall(A, H_DRAIN, 0), took ? 1 : 0);
	/* the line goes on with B */
	assert_int_equal(irqd_simdev_raise(dev, 1), 0);
	assert_true(WAIT_UNTIL(atomic_load(&B->occs) == 2, 10000));
	assert_int_equal(atomic_load(&B->last_occ), 2);
	assert_int_equal(irqd_simdev_service(dev), 1);
	assert_int_equal(hcall(B, H_ANSWER, 2), 0);
	assert_true(WAIT_UNTIL(line_stats(c, "sim1").handled == 2, 10000));
	assert_true(WAIT_UNTIL(!(line_stats(c, "sim1").flags & IRQD_LINE_MASKED), 10000));
	assert_int_equal(atomic_load(&A->occs), took ? 1 : 0);
	holder_finish(A, pa);
	holder_finish(B, pb);
	irqd_simdev_close(dev);
	irqd_disconnect(c);
	irqd_stop(&p);
}

static void test_pass_level_owed_taken(void **state)
{
	(void)state;
	pass_level_owed(true);
}

static void test_pass_level_owed_untaken(void **state)
{
	(void)state;
	pass_level_owed(false);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_attach_by_name_and_id, harness_teardown),
		cmocka_unit_test_teardown(test_unknown_line, harness_teardown),
		cmocka_unit_test_teardown(test_exclusive_conflicts, harness_teardown),
		cmocka_unit_test_teardown(test_detach_reattach, harness_teardown),
		cmocka_unit_test_teardown(test_enumerate, harness_teardown),
		cmocka_unit_test_teardown(test_pass_edge_exactly_once, harness_teardown),
		cmocka_unit_test_teardown(test_pass_edge_untaken, harness_teardown),
		cmocka_unit_test_teardown(test_pass_level_owed_taken, harness_teardown),
		cmocka_unit_test_teardown(test_pass_level_owed_untaken, harness_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
