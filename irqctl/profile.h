/* profile.h - irqctl's latency reports: `irqctl profile` and the percentiles of `stats --json`. */
#ifndef IRQCTL_PROFILE_H
#define IRQCTL_PROFILE_H

#include <stdio.h>

#include "irqd/profile.h"

struct profile_opts {
	double seconds;
	const char *svg, *json, *csv;   /* output files, or NULL */
};

/* Profile LINE for o->seconds and print p50/p90/p99/p99.9/max per stage; write the files. */
int profile_cmd(struct irqd_client *c, const char *line, const struct profile_opts *o);

/* {"raise-to-delivery":{"count":N,"p50_us":..,...},...} for one set of histograms. */
void profile_json_stages(FILE *f, const struct irqd_hist stage[IRQD_STAGES]);

#endif
