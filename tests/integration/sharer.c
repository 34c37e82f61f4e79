/* sharer.c - see sharer.h */
#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

#include "sharer.h"

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
		NOTE_ERROR(d, "answer %d for occurrence %llu: %s", a, (unsigned long long)occ,
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
		NOTE_ERROR(d, "batch seq %llu after %llu", (unsigned long long)ev->seq,
			  (unsigned long long)*last_seq);
	*last_seq = ev->seq;
	atomic_fetch_add(&d->batches, 1);
	atomic_fetch_add(&d->events, ev->count);
	if (!ev->occurrence)
		return;
	uint64_t last = atomic_load(&d->last_occ);
	if (ev->occurrence <= last)
		NOTE_ERROR(d, "occurrence %llu after %llu (duplicate or out of order)",
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

int drv_main(const struct irqd_proc *p, void *arg)
{
	struct drv *d = arg;
	struct irqd_client *c;
	struct irqd_simdev *dev;
	uint32_t h;
	if (irqd_connect(p->sock, &c) < 0) {
		NOTE_ERROR(d, "connect: %s", irqd_last_error());
		return 1;
	}
	if (irqd_simdev_open(c, d->line, &dev) < 0 ||
	    irqd_attach(c, d->line, IRQD_ATTACH_SHARED, NULL, &h) < 0) {
		NOTE_ERROR(d, "open/attach %s: %s", d->line, irqd_last_error());
		return 1;
	}
	atomic_store(&d->attached, 1);
	uint64_t last_seq = 0;
	while (!atomic_load(&d->stop)) {
		drv_commands(d, c, h, dev);
		struct irqd_event ev[16];
		int n = irqd_poll(c, ev, 16);
		if (n < 0) {
			NOTE_ERROR(d, "poll: %s", irqd_last_error());
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

struct drv *drv_alloc(int n)
{
	void *m = mmap(NULL, sizeof(struct drv) * (size_t)n, PROT_READ | PROT_WRITE,
		       MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	assert_true(m != MAP_FAILED);
	return m;
}

void drv_free(struct drv *d, int n)
{
	munmap(d, sizeof(struct drv) * (size_t)n);
}

void drv_kick(struct drv *d)
{
	uint64_t one = 1;
	assert_int_equal(write(d->kick, &one, sizeof(one)), sizeof(one));
}

pid_t drv_start(const struct irqd_proc *p, struct drv *d, const char *line, int mode,
		       bool spin)
{
	memset(d, 0, sizeof(*d));
	snprintf(d->line, sizeof(d->line), "%s", line);
	d->kick = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	assert_true(d->kick >= 0);
	d->spin = spin;
	atomic_store(&d->mode, mode);
	pid_t pid = spawn(drv_main, p, d);
	if (!WAIT_UNTIL(atomic_load(&d->attached) || atomic_load(&d->errors), 10000))
		fail_msg("driver on %s did not attach", line);
	if (atomic_load(&d->errors))
		fail_msg("driver on %s: %s", line, d->err);
	return pid;
}

void drv_check(struct drv *d)
{
	if (atomic_load(&d->errors))
		fail_msg("driver on %s: %llu errors, first: %s", d->line,
			 (unsigned long long)atomic_load(&d->errors), d->err);
}

void drv_stop(struct drv *d, pid_t pid)
{
	atomic_store(&d->stop, 1);
	drv_kick(d);
	int st = reap(pid);
	drv_check(d);
	assert_int_equal(st, 0);
	close(d->kick);
}

/* Post a command and wait (bounded) until the driver has run it; returns its result. */
int drv_cmd(struct drv *d, int cmd, int arg)
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

int raiser_main(const struct irqd_proc *p, void *arg)
{
	const struct raiser *a = arg;
	struct irqd_client *c;
	struct irqd_simdev *dev;
	if (irqd_connect(p->sock, &c) < 0 || irqd_simdev_open(c, a->line, &dev) < 0)
		return 1;
	uint64_t next = mono_ns();
	for (uint64_t i = 0; i < a->n; i++) {
		if (a->gap_ns) {
			while (mono_ns() < next)
				;
			next += a->gap_ns;
		}
		if (irqd_simdev_raise(dev, 1) < 0)
			return 2;
	}
	irqd_simdev_close(dev);
	irqd_disconnect(c);
	return 0;
}
