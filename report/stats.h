/*
 * report/stats.h - paired ratios for benchmarks that run their variants in interleaved rounds.
 *
 * A benchmark that measures A and B once per round, one right after the other, divides A's
 * figure by B's in each round and takes the median of those ratios: a slow spell of the
 * machine (on a VM, wake-ups cost 2x more from one process to the next) weighs on both sides
 * of each ratio instead of on whichever variant ran then.
 */
#ifndef REPORT_STATS_H
#define REPORT_STATS_H

#include <stddef.h>
#include <stdint.h>

/* The median of a[i] / b[i] over n rounds (rounds where b[i] is not positive are left out).
 * lo and hi bound that median with at least 95% confidence, free of any assumed distribution:
 * the order statistics k and m + 1 - k of the m ratios, k the largest with
 * P(Binomial(m, 1/2) < k) <= 2.5% (for 20 rounds the 6th and the 15th ratio); with too few
 * rounds for that, the smallest and the largest. Returns 0 (lo = hi = 0) with no round. */
double stats_paired_ratio(const double *a, const double *b, unsigned n, double *lo, double *hi);

/* One step of the xorshift64 generator whose state is *seed (not 0): the new state. */
uint64_t stats_xorshift(uint64_t *seed);

/* The variants' order for the next round, shuffled in place (Fisher-Yates) with
 * stats_xorshift(seed): what one variant leaves behind weighs on each in turn. */
void stats_shuffle(unsigned *order, unsigned n, uint64_t *seed);

/* How a benchmark words such a ratio beside its target: "median of N per-round ratios, 95%
 * interval LO-HIx", with ", across the limit" when the interval holds the limit (the machine's
 * noise could then tip the verdict either way). Returns snprintf's count. */
int stats_ratio_note(char *buf, size_t len, unsigned rounds, double lo, double hi,
		     double limit);

#endif
