/* top.h - `irqctl top`, a live view of irqd's lines (like irqtop). */
#ifndef IRQCTL_TOP_H
#define IRQCTL_TOP_H

#include <stdbool.h>
#include <stdint.h>

#include "irqd/profile.h"

struct top_opts {
	double interval;   /* seconds between refreshes */
	uint64_t count;    /* plain output: tables to print, 0 for ever */
	bool no_latency;   /* do not profile the lines for the p99 column */
};

int top_cmd(struct irqd_client *c, const struct top_opts *o);

#endif
