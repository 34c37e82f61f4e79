/*
 * source_sim.c - the simulated interrupt controller: a register page (struct irqd_simdev_page, in a
 * memfd shared with whoever plays the device) plus the eventfd the device writes when it raises.
 * A level line stays asserted while the device has pending events; irqd, as the controller,
 * re-fires it when it is unmasked still asserted.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "irqd.h"

struct sim {
	int memfd;
	struct irqd_simdev_page *dev;
};

static void sim_stamp(struct line *l, uint64_t n, uint64_t now, uint64_t *first, uint64_t *last)
{
	struct sim *s = l->src;
	(void)n;
	/* The device stamps its raises; the first stamp is taken over by irqd (exchange), so the
	 * next batch starts fresh. A device that never stamped gets irqd's own time. */
	uint64_t f = atomic_exchange(&s->dev->first_ns, 0);
	uint64_t t = atomic_load(&s->dev->last_ns);
	/* The events of this batch were read before `now`; a stamp later than that belongs to a
	 * raise made after the read (the next batch's): never claim it for this one. With no
	 * first stamp left (an earlier read took it), the events were raised no later than the
	 * newest stamp: using that, not `now`, keeps first <= last when an attachment's pending
	 * batch spans several reads (the device's last_ns only grows). */
	uint64_t newest = t && t <= now ? t : now;
	*first = f && f <= now ? f : newest;
	*last = newest >= *first ? newest : *first;
}

static bool sim_asserted(struct line *l)
{
	struct sim *s = l->src;
	return atomic_load(&s->dev->pending) > 0;
}

static void sim_destroy(struct line *l)
{
	struct sim *s = l->src;
	munmap(s->dev, sizeof(*s->dev));
	close(s->memfd);
	close(l->fd);
	free(s);
}

const struct source_ops source_sim_ops = {
	.name = "sim",
	.stamp = sim_stamp,
	.asserted = sim_asserted,
	.destroy = sim_destroy,
};

/* A device page and eventfd of irqd's own (fds NULL: a line from the configuration), or the
 * creator's (fds: eventfd, page memfd), which outlive irqd. On failure the fds are left open. */
int source_sim_create(struct line *l, bool level, const int fds[2])
{
	struct sim *s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	struct stat st;
	int err = EINVAL;
	s->memfd = fds ? fds[1] : memfd_create("irqd-simdev", MFD_CLOEXEC);
	if (s->memfd < 0 || (!fds && ftruncate(s->memfd, sizeof(*s->dev)) < 0) ||
	    fstat(s->memfd, &st) < 0) {
		err = errno;
		goto fail;
	}
	/* a creator's page must not shrink under irqd (a touch past its end would be SIGBUS) */
	int seals = fds ? fcntl(s->memfd, F_GET_SEALS) : F_SEAL_SHRINK;
	if (!S_ISREG(st.st_mode) || st.st_size < (off_t)sizeof(*s->dev) || seals < 0 ||
	    !(seals & F_SEAL_SHRINK))
		goto fail;
	s->dev = mmap(NULL, sizeof(*s->dev), PROT_READ | PROT_WRITE, MAP_SHARED, s->memfd, 0);
	if (s->dev == MAP_FAILED) {
		err = errno;
		goto fail;
	}
	if (!fds) {
		s->dev->magic = IRQD_SIMDEV_MAGIC;
		s->dev->trigger = level ? IRQD_LEVEL : IRQD_EDGE;
	} else if (s->dev->magic != IRQD_SIMDEV_MAGIC ||
		   s->dev->trigger != (level ? IRQD_LEVEL : IRQD_EDGE)) {
		munmap(s->dev, sizeof(*s->dev));
		goto fail;
	}
	l->fd = fds ? fds[0] : eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	int fl = l->fd < 0 ? -1 : fcntl(l->fd, F_GETFL);
	if (fl < 0 || fcntl(l->fd, F_SETFL, fl | O_NONBLOCK) < 0) {
		err = errno;
		if (!fds && l->fd >= 0)
			close(l->fd);
		munmap(s->dev, sizeof(*s->dev));
		goto fail;
	}
	l->ops = &source_sim_ops;
	l->src = s;
	return 0;
fail:
	if (!fds && s->memfd >= 0)
		close(s->memfd);
	free(s);
	return -err;
}

int source_sim_memfd(const struct line *l)
{
	return l->ops == &source_sim_ops ? ((struct sim *)l->src)->memfd : -1;
}
