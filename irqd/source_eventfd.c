/*
 * source_eventfd.c - any eventfd as an edge line: VFIO MSI/MSI-X triggers, vhost-user call
 * eventfds, KVM irqfds. The eventfd counter is the exact event count; irqd stamps the events
 * when it reads them (the writer's time is not known).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <unistd.h>

#include "irqd.h"

void source_stamp_now(struct line *l, uint64_t n, uint64_t now, uint64_t *first, uint64_t *last)
{
	(void)l;
	(void)n;
	*first = *last = now;
}

static bool efd_asserted(struct line *l)
{
	(void)l;
	return false;
}

static void efd_destroy(struct line *l)
{
	close(l->fd);
}

const struct source_ops source_eventfd_ops = {
	.name = "eventfd",
	.stamp = source_stamp_now,
	.asserted = efd_asserted,
	.destroy = efd_destroy,
};

bool source_signalled(struct line *l)
{
	uint64_t n;
	return read(l->fd, &n, sizeof(n)) == sizeof(n) && n > 0;
}

/* Resample lines: the served occurrence's signals are read before the unmask. */
static int resample_unmask(struct line *l)
{
	uint64_t one = 1;
	source_signalled(l);
	return write((int)(intptr_t)l->src, &one, sizeof(one)) == sizeof(one) ? 0 : -errno;
}

static void resample_destroy(struct line *l)
{
	close((int)(intptr_t)l->src);
	close(l->fd);
}

const struct source_ops source_resample_ops = {
	.name = "resample",
	.stamp = source_stamp_now,
	.asserted = source_signalled,
	.unmask = resample_unmask,
	.destroy = resample_destroy,
};

int source_eventfd_create(struct line *l, int efd, int unmask_fd)
{
	/* irqd reads without blocking whatever the creator set */
	int fl = fcntl(efd, F_GETFL);
	if (fl < 0 || fcntl(efd, F_SETFL, fl | O_NONBLOCK) < 0)
		return -errno;
	l->fd = efd;
	l->ops = unmask_fd >= 0 ? &source_resample_ops : &source_eventfd_ops;
	l->src = (void *)(intptr_t)unmask_fd;
	return 0;
}
