/* core/hist.c - log-linear histograms (see hist.h). */
#include "core/hist.h"

#define SUB (1u << HIST_SUB_BITS)

unsigned hist_bucket_of(uint64_t v)
{
	if (v < SUB)
		return (unsigned)v;
	unsigned e = 63u - (unsigned)__builtin_clzll(v); /* v in [2^e, 2^(e+1)) */
	if (e >= HIST_MAX_EXP)
		return HIST_BUCKETS - 1;
	unsigned shift = e - HIST_SUB_BITS;
	return ((shift + 1) << HIST_SUB_BITS) + (unsigned)((v >> shift) - SUB);
}

uint64_t hist_bucket_low(unsigned b)
{
	if (b < SUB)
		return b;
	unsigned shift = (b >> HIST_SUB_BITS) - 1;
	return (uint64_t)(SUB + (b & (SUB - 1))) << shift;
}

uint64_t hist_bucket_high(unsigned b)
{
	if (b + 1 >= HIST_BUCKETS)
		return UINT64_MAX;
	return hist_bucket_low(b + 1);
}

void hist_init(struct hist *h)
{
	atomic_store_explicit(&h->count, 0, memory_order_relaxed);
	atomic_store_explicit(&h->sum, 0, memory_order_relaxed);
	atomic_store_explicit(&h->min, UINT64_MAX, memory_order_relaxed);
	atomic_store_explicit(&h->max, 0, memory_order_relaxed);
	for (unsigned i = 0; i < HIST_BUCKETS; i++)
		atomic_store_explicit(&h->bucket[i], 0, memory_order_relaxed);
}

/* Single writer: plain read-modify-write through relaxed atomics (no lock prefix needed). */
#define BUMP(a, d) atomic_store_explicit(&(a), atomic_load_explicit(&(a), memory_order_relaxed) + (d), \
					 memory_order_relaxed)

void hist_record(struct hist *h, uint64_t v)
{
	BUMP(h->bucket[hist_bucket_of(v)], 1);
	BUMP(h->count, 1);
	BUMP(h->sum, v);
	if (v < atomic_load_explicit(&h->min, memory_order_relaxed))
		atomic_store_explicit(&h->min, v, memory_order_relaxed);
	if (v > atomic_load_explicit(&h->max, memory_order_relaxed))
		atomic_store_explicit(&h->max, v, memory_order_relaxed);
}

void hist_snapshot_init(struct hist_snapshot *s)
{
	*s = (struct hist_snapshot){ .min = UINT64_MAX };
}

void hist_snapshot(const struct hist *h, struct hist_snapshot *out)
{
	out->count = 0;
	for (unsigned i = 0; i < HIST_BUCKETS; i++) {
		out->bucket[i] = atomic_load_explicit(&h->bucket[i], memory_order_relaxed);
		out->count += out->bucket[i]; /* consistent with the buckets even mid-record */
	}
	out->sum = atomic_load_explicit(&h->sum, memory_order_relaxed);
	out->min = atomic_load_explicit(&h->min, memory_order_relaxed);
	out->max = atomic_load_explicit(&h->max, memory_order_relaxed);
}

void hist_merge(struct hist_snapshot *into, const struct hist_snapshot *from)
{
	for (unsigned i = 0; i < HIST_BUCKETS; i++)
		into->bucket[i] += from->bucket[i];
	into->count += from->count;
	into->sum += from->sum;
	if (from->min < into->min)
		into->min = from->min;
	if (from->max > into->max)
		into->max = from->max;
}

void hist_subtract(struct hist_snapshot *out, const struct hist_snapshot *later,
		   const struct hist_snapshot *earlier)
{
	*out = *later;
	if (earlier->count == 0)
		return;   /* nothing to take away: min and max stay exact */
	out->count = 0;
	out->min = UINT64_MAX;
	out->max = 0;
	for (unsigned i = 0; i < HIST_BUCKETS; i++) {
		out->bucket[i] = later->bucket[i] - earlier->bucket[i];
		out->count += out->bucket[i];
		if (!out->bucket[i])
			continue;
		/* the extremes of the difference are known to their buckets only */
		if (out->min == UINT64_MAX)
			out->min = hist_bucket_low(i) > later->min ? hist_bucket_low(i) : later->min;
		uint64_t hi = hist_bucket_high(i) - 1;
		out->max = hi < later->max ? hi : later->max;
	}
	out->sum = later->sum - earlier->sum;
}

uint64_t hist_percentile(const struct hist_snapshot *s, double p)
{
	if (s->count == 0)
		return 0;
	if (p < 0)
		p = 0;
	if (p > 100)
		p = 100;
	/* the rank of the value at p, 1-based: at least the first value */
	uint64_t rank = (uint64_t)((p / 100.0) * (double)s->count + 0.5);
	if (rank == 0)
		rank = 1;
	uint64_t seen = 0;
	for (unsigned i = 0; i < HIST_BUCKETS; i++) {
		seen += s->bucket[i];
		if (seen >= rank) {
			uint64_t hi = hist_bucket_high(i) - 1;
			if (i < SUB)
				hi = i; /* exact buckets */
			return hi < s->max ? hi : s->max;
		}
	}
	return s->max;
}
