/*
 * virtio/irq.c - the queue interrupt through irqd, an eventfd, or nothing.
 */
#include "irq.h"

#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

/* How often a blocking irqd wait looks at the transport's fd (a vanished device). */
#define WATCH_SLICE_MS 50

static const char *const mode_names[] = { "irqd", "direct", "eventfd", "poll" };

int virtio_irq_mode_parse(const char *s, enum virtio_irq_mode *mode)
{
	for (unsigned i = 0; i < sizeof mode_names / sizeof *mode_names; i++)
		if (strcmp(s, mode_names[i]) == 0) {
			*mode = (enum virtio_irq_mode)i;
			return 0;
		}
	return -EINVAL;
}

const char *virtio_irq_mode_name(enum virtio_irq_mode mode)
{
	return mode_names[mode];
}

uint64_t virtio_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

int virtio_irq_open(struct virtio_irq *q, struct virtio_dev *dev, enum virtio_irq_mode mode,
		    struct irqd_client *c, const char *line,
		    const struct irqd_coalesce_params *coalesce, char *err, size_t errlen)
{
	memset(q, 0, sizeof *q);
	q->mode = mode;
	q->dev = dev;
	q->unmask_fd = dev && dev->ops->irq_unmask_fd ? dev->ops->irq_unmask_fd(dev) : -1;
	q->call_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (q->call_fd < 0) {
		snprintf(err, errlen, "eventfd: %s", strerror(errno));
		return -errno;
	}
	if (mode != VIRTIO_IRQ_IRQD && mode != VIRTIO_IRQ_DIRECT)
		return 0;
	if (c == NULL || (mode == VIRTIO_IRQ_DIRECT && q->unmask_fd >= 0)) {
		snprintf(err, errlen, "%s: interrupt mode %s needs %s", line, mode_names[mode],
			 c ? "an edge interrupt (this one is PCI INTx)" : "a connection to irqd");
		goto fail;
	}
	q->irqd = c;
	snprintf(q->line, sizeof q->line, "%s", line);
	struct irqd_line_desc d;
	int r = q->unmask_fd >= 0
			? irqd_line_create_level_eventfd(c, q->call_fd, q->unmask_fd, q->line, &d)
			: irqd_line_create_eventfd(c, q->call_fd, q->line, &d);
	if (r == 0)
		r = irqd_attach(c, q->line,
				IRQD_ATTACH_EXCLUSIVE | (mode == VIRTIO_IRQ_DIRECT ? IRQD_ATTACH_DIRECT : 0),
				coalesce, &q->handle);
	if (r < 0) {
		snprintf(err, errlen, "%s: %s", q->line, irqd_last_error());
		irqd_line_delete(c, q->line);
		close(q->call_fd);
		q->call_fd = -1;
		return r;
	}
	return 0;
fail:
	close(q->call_fd);
	q->call_fd = -1;
	return -EINVAL;
}

void virtio_irq_close(struct virtio_irq *q)
{
	if (q->irqd) {
		irqd_detach(q->irqd, q->handle);
		irqd_line_delete(q->irqd, q->line);
		q->irqd = NULL;
	}
	if (q->call_fd >= 0)
		close(q->call_fd);
	q->call_fd = -1;
}

int virtio_irq_fd(const struct virtio_irq *q)
{
	switch (q->mode) {
	case VIRTIO_IRQ_IRQD:
	case VIRTIO_IRQ_DIRECT:
		return irqd_fd(q->irqd);
	case VIRTIO_IRQ_EVENTFD:
		return q->call_fd;
	default:
		return -1;
	}
}

/* A level interrupt: the device deasserts it as it says whether it was its own. */
static bool level_ack(struct virtio_irq *q)
{
	return q->dev->ops->irq_ack(q->dev) != 0;
}

static void note(struct virtio_irq *q, const struct irqd_event *ev, int n)
{
	for (int i = 0; i < n; i++)
		if (ev[i].occurrence)
			irqd_answer(q->irqd, ev[i].handle, ev[i].occurrence,
				    level_ack(q) ? IRQD_HANDLED : IRQD_NOT_MINE);
	q->wakeups++;
	q->woken_ns = virtio_now_ns();
	q->raised_ns = q->delivered_ns = 0;
	for (int i = 0; i < n; i++) {
		q->interrupts += ev[i].count;
		if (i == 0)
			q->raised_ns = ev[i].first_ns, q->delivered_ns = ev[i].delivered_ns;
	}
}

static int take_eventfd(struct virtio_irq *q)
{
	uint64_t v;
	if (read(q->call_fd, &v, sizeof v) != sizeof v)
		return 0;
	if (q->unmask_fd >= 0) { /* level, without irqd: acknowledge and unmask ourselves */
		uint64_t one = 1;
		level_ack(q);
		if (write(q->unmask_fd, &one, sizeof one) < 0)
			(void)0; /* a full counter unmasks too */
	}
	q->wakeups++;
	q->interrupts += v;
	q->woken_ns = virtio_now_ns();
	q->raised_ns = q->delivered_ns = 0;
	return 1;
}

static int take(struct virtio_irq *q, bool arm)
{
	struct irqd_event ev[8];
	int n;
	switch (q->mode) {
	case VIRTIO_IRQ_IRQD:
	case VIRTIO_IRQ_DIRECT:
		n = arm ? irqd_poll(q->irqd, ev, 8) : irqd_try(q->irqd, ev, 8);
		if (n <= 0)
			return 0;
		note(q, ev, n);
		return 1;
	case VIRTIO_IRQ_EVENTFD:
		return take_eventfd(q); /* level-triggered in epoll: nothing to arm */
	default:
		return 0;
	}
}

int virtio_irq_take(struct virtio_irq *q)
{
	return take(q, false);
}

int virtio_irq_arm(struct virtio_irq *q)
{
	return take(q, true);
}

static bool readable(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	return poll(&p, 1, 0) == 1;
}

int virtio_irq_wait(struct virtio_irq *q, int watch_fd, int timeout_ms)
{
	if (q->mode == VIRTIO_IRQ_EVENTFD) {
		struct pollfd p[2] = { { .fd = q->call_fd, .events = POLLIN },
				       { .fd = watch_fd, .events = POLLIN } };
		if (poll(p, watch_fd >= 0 ? 2 : 1, timeout_ms) > 0 && (p[0].revents & POLLIN))
			return take_eventfd(q);
		return 0;
	}
	if (q->mode == VIRTIO_IRQ_POLL)
		return 0;
	/* irqd_wait sleeps on the mailbox futex, the fastest wake-up; the transport's fd is
	 * looked at between slices. */
	struct irqd_event ev[8];
	for (int left = timeout_ms;;) {
		int slice = watch_fd < 0 || (left >= 0 && left < WATCH_SLICE_MS) ? left : WATCH_SLICE_MS;
		int n = irqd_wait(q->irqd, ev, 8, slice);
		if (n > 0) {
			note(q, ev, n);
			return 1;
		}
		if (n < 0 || watch_fd < 0 || readable(watch_fd))
			return 0;
		if (left >= 0 && (left -= slice) <= 0)
			return 0;
	}
}
