/*
 * core/hist.h - log-linear latency histograms (HDR-style), pure.
 *
 * Values are nanoseconds. Below 2^HIST_SUB_BITS each value has its own bucket; above, every
 * power of two is split into 2^HIST_SUB_BITS equal buckets, so a bucket's width is at most
 * 1/64 of its lower bound: a reported percentile is within 1.6% (0.8% on average) of the
 * truth. Values at or above 2^HIST_MAX_EXP ns (~69 s) land in the last bucket; min, max and
 * the exact sum are kept beside the buckets.
 *
 * One writer records without locks or allocation (the delivery thread); readers copy with
 * relaxed loads and merge copies by adding buckets, so histograms of lines, attachments and
 * runs combine exactly.
 */
#ifndef IRQCORE_HIST_H
#define IRQCORE_HIST_H

#include <stdatomic.h>
#include <stdint.h>

#define HIST_SUB_BITS 6
#define HIST_MAX_EXP 36
#define HIST_BUCKETS (((HIST_MAX_EXP - HIST_SUB_BITS) + 1) << HIST_SUB_BITS)

struct hist {
	_Atomic uint64_t count, sum, min, max;
	_Atomic uint64_t bucket[HIST_BUCKETS];
};

/* A plain copy, for merging and percentiles. */
struct hist_snapshot {
	uint64_t count, sum, min, max;
	uint64_t bucket[HIST_BUCKETS];
};

void hist_init(struct hist *h);
/* Single writer. */
void hist_record(struct hist *h, uint64_t value_ns);
void hist_snapshot(const struct hist *h, struct hist_snapshot *out);
void hist_snapshot_init(struct hist_snapshot *s);
void hist_merge(struct hist_snapshot *into, const struct hist_snapshot *from);
/* What `later` recorded after `earlier` was taken (both of one histogram). min and max of
 * the difference are bucket bounds unless `earlier` was empty. */
void hist_subtract(struct hist_snapshot *out, const struct hist_snapshot *later,
		   const struct hist_snapshot *earlier);
/* The value at percentile p (0..100): the upper bound of the bucket holding it, clamped to
 * max. 0 when empty. */
uint64_t hist_percentile(const struct hist_snapshot *s, double p);

/* Bucket geometry, for exporting raw buckets. */
unsigned hist_bucket_of(uint64_t value_ns);
uint64_t hist_bucket_low(unsigned b);
uint64_t hist_bucket_high(unsigned b); /* exclusive */

#endif
