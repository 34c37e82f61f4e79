/*
 * irqd/profile.h - latency profiles of irqd's lines: where the microseconds go between a device
 * raising an interrupt and the driver running.
 *
 * While a line is profiled irqd keeps, for the line and for each attachment, a histogram per
 * stage (enum irqd_stage in irqd/proto.h): raise to delivery, delivery to handler entry (as
 * this library reports it when irqd_wait/irqd_poll hands a batch over) and delivery to answer.
 * Histograms are log-linear, about 1% precise, and can be subtracted: read once at the start
 * and once at the end of a window and irqd_hist_subtract gives the window.
 *
 *	irqd_profile_start(c, "sim0");
 *	irqd_profile_read(c, "sim0", &before);
 *	... run the workload ...
 *	irqd_profile_read(c, "sim0", &after);
 *	irqd_hist_subtract(&win, &after->set[0].stage[IRQD_STAGE_RAISE_DELIVER],
 *			   &before->set[0].stage[IRQD_STAGE_RAISE_DELIVER]);
 *	printf("p99 %llu ns\n", (unsigned long long)irqd_hist_percentile(&win, 99));
 */
#ifndef IRQD_PROFILE_H
#define IRQD_PROFILE_H

#include <irqd/client.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Profile the line (by name or "#<id>") until irqd_profile_stop or this client disconnects.
 * Starting twice is harmless; the line stays profiled while anyone profiles it. */
int irqd_profile_start(struct irqd_client *c, const char *line);
int irqd_profile_stop(struct irqd_client *c, const char *line);

/* The line's histograms now, in a private copy to release with irqd_profile_free.
 * -ENODATA if nobody profiles the line. */
int irqd_profile_read(struct irqd_client *c, const char *line, struct irqd_profile_dump **out);
void irqd_profile_free(struct irqd_profile_dump *d);

/* The set of one attachment (pid, handle) in a dump, or NULL. */
const struct irqd_profile_set *irqd_profile_find(const struct irqd_profile_dump *d,
						 uint32_t pid, uint32_t handle);

/* "raise-to-delivery", "delivery-to-handler", "delivery-to-answer" */
const char *irqd_stage_name(enum irqd_stage stage);

/* Histogram arithmetic. */
void irqd_hist_subtract(struct irqd_hist *out, const struct irqd_hist *later,
			const struct irqd_hist *earlier);
void irqd_hist_merge(struct irqd_hist *into, const struct irqd_hist *from);
/* The value (ns) at percentile p (0..100), to 1/64 of itself; 0 when empty. */
uint64_t irqd_hist_percentile(const struct irqd_hist *h, double p);
/* Bucket b covers [low(b), low(b + 1)) nanoseconds. */
uint64_t irqd_hist_bucket_low(unsigned b);

/* irqd's own figures: uptime, CPU time of its threads, lines, clients. */
int irqd_server_stats(struct irqd_client *c, struct irqd_server_stats *st);

#ifdef __cplusplus
}
#endif
#endif
