/*
 * source.h - where a line's interrupts come from (the controller, in Linux's terms).
 *
 * Every source on Linux signals through an eventfd that the delivery thread watches (sim devices,
 * plain eventfds, and later VFIO triggers). Masking at the source means the delivery thread stops
 * reading that eventfd; events keep accumulating in its counter, so none is lost. A source adds
 * what only it knows: event timestamps, whether a level line is still asserted, its own
 * unmask action (VFIO INTx, UIO).
 */
#ifndef IRQD_SOURCE_H
#define IRQD_SOURCE_H

#include <stdbool.h>
#include <stdint.h>

struct line;

struct source_ops {
	const char *name;
	/* The eventfd signalled n > 0 times: fill in the raise times of the first and last event
	 * (the source knows them, or uses now_ns). */
	void (*stamp)(struct line *l, uint64_t n, uint64_t now_ns, uint64_t *first_ns,
		      uint64_t *last_ns);
	/* Level lines: is the device still asserting the line? */
	bool (*asserted)(struct line *l);
	/* Optional hardware action when irqd unmasks (NULL: nothing beyond re-arming the fd). */
	int (*unmask)(struct line *l);
	void (*destroy)(struct line *l);
};

extern const struct source_ops source_sim_ops;
extern const struct source_ops source_eventfd_ops;

/* Create the source side of a line (fills l->fd, l->ops, l->src). 0 or -errno. A sim line's
 * device is irqd's own (fds NULL) or its creator's (fds: eventfd, device page memfd). */
int source_sim_create(struct line *l, bool level, const int fds[2]);
int source_eventfd_create(struct line *l, int efd);
/* The sim device's register page, to hand out with SIM_OPEN. */
int source_sim_memfd(const struct line *l);

#endif
