/*
 * source_eventfd.c - any eventfd as an edge line: VFIO MSI/MSI-X triggers, vhost-user call
 * eventfds, KVM irqfds. The eventfd counter is the exact event count; irqd stamps the events
 * when it reads them (the writer's time is not known).
 */
#include <errno.h>
#include <fcntl.h>
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

int source_eventfd_create(struct line *l, int efd)
{
	/* irqd reads without blocking whatever the creator set */
	int fl = fcntl(efd, F_GETFL);
	if (fl < 0 || fcntl(efd, F_SETFL, fl | O_NONBLOCK) < 0)
		return -errno;
	l->fd = efd;
	l->ops = &source_eventfd_ops;
	l->src = NULL;
	return 0;
}
