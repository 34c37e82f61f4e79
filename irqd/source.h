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
#include <stddef.h>
#include <stdint.h>

#include "irqd/proto.h"

struct line;

struct source_ops {
	const char *name;
	/* The eventfd signalled n > 0 times: fill in the raise times of the first and last event
	 * (the source knows them, or uses now_ns). */
	void (*stamp)(struct line *l, uint64_t n, uint64_t now_ns, uint64_t *first_ns,
		      uint64_t *last_ns);
	/* Level lines: is the device still asserting the line? */
	bool (*asserted)(struct line *l);
	/* Optional hardware action when irqd unmasks (NULL: nothing beyond re-arming the fd). A
	 * level source with one (VFIO INTx, UIO) consumes the signals of the occurrence served
	 * before it unmasks: a signal after that is a new assertion. */
	int (*unmask)(struct line *l);
	void (*destroy)(struct line *l);
};

extern const struct source_ops source_sim_ops;
extern const struct source_ops source_eventfd_ops;
extern const struct source_ops source_resample_ops;
extern const struct source_ops source_vfio_ops;
extern const struct source_ops source_uio_ops;

/* A level source that signals its eventfd once per assertion and masks itself (VFIO INTx, a
 * resample line): whether it signalled since the last look (the counter is read). */
bool source_signalled(struct line *l);
/* A source that knows no raise time: the events happened when irqd read them. */
void source_stamp_now(struct line *l, uint64_t n, uint64_t now_ns, uint64_t *first_ns,
		      uint64_t *last_ns);

/* How a device source adds its lines: a line `name` whose source is fd, ops and src (given to
 * the line, or left to the caller on error). 0 or -errno. */
typedef int (*source_line_fn)(void *arg, const char *name, enum irqd_trigger trigger, int fd,
			      const struct source_ops *ops, void *src);
/* A PCI device (BDF "0000:00:03.0") bound to vfio-pci: a line per vector of its MSI-X, MSI or
 * INTx (want: "msix", "msi", "intx", or NULL for the best it has), named vfio:BDF/msixN,
 * vfio:BDF/msiN or vfio:BDF/intx. 0, or -errno with the reason in why. */
int source_vfio_open(const char *bdf, const char *want, source_line_fn add, void *arg,
		     char *why, size_t why_len);
/* A PCI device bound to uio_pci_generic: its INTx as line uio:BDF/intx. */
int source_uio_open(const char *bdf, source_line_fn add, void *arg, char *why, size_t why_len);

/* Create the source side of a line (fills l->fd, l->ops, l->src). 0 or -errno. A sim line's
 * device is irqd's own (fds NULL) or its creator's (fds: eventfd, device page memfd). */
int source_sim_create(struct line *l, bool level, const int fds[2]);
/* An edge line from efd, or (unmask_fd >= 0) a level line whose source masks itself when it
 * signals efd and is unmasked by a write to unmask_fd (IRQD_CREATE_RESAMPLE). */
int source_eventfd_create(struct line *l, int efd, int unmask_fd);
/* The sim device's register page, to hand out with SIM_OPEN. */
int source_sim_memfd(const struct line *l);

#endif
