/*
 * report/stats.c - the median of per-round ratios, its distribution-free interval, its wording.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "stats.h"

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

double stats_paired_ratio(const double *a, const double *b, unsigned n, double *lo, double *hi)
{
	double *q = malloc((n ? n : 1) * sizeof(*q));
	unsigned m = 0;
	for (unsigned i = 0; q && i < n; i++)
		if (b[i] > 0)
			q[m++] = a[i] / b[i];
	*lo = *hi = 0;
	if (m == 0) {
		free(q);
		return 0;
	}
	qsort(q, m, sizeof(q[0]), cmp_double);
	/* k: the first count whose cumulative probability P(X <= k) passes 2.5% */
	unsigned k = 0;
	double below = ldexp(1.0, -(int)m), term = below;
	while (k + 1 < m && below <= 0.025) {
		k++;
		term = term * (double)(m - k + 1) / (double)k;
		below += term;
	}
	*lo = q[k ? k - 1 : 0];
	*hi = q[k ? m - k : m - 1];
	double median = m % 2 ? q[m / 2] : (q[m / 2 - 1] + q[m / 2]) / 2;
	free(q);
	return median;
}

uint64_t stats_xorshift(uint64_t *seed)
{
	*seed ^= *seed << 13, *seed ^= *seed >> 7, *seed ^= *seed << 17;
	return *seed;
}

void stats_shuffle(unsigned *order, unsigned n, uint64_t *seed)
{
	for (unsigned i = n; i > 1; i--) {
		unsigned j = (unsigned)(stats_xorshift(seed) % i), t = order[i - 1];
		order[i - 1] = order[j];
		order[j] = t;
	}
}

int stats_ratio_note(char *buf, size_t len, unsigned rounds, double lo, double hi,
		     double limit)
{
	return snprintf(buf, len, "median of %u per-round ratios, 95%% interval %.2f-%.2fx%s", rounds,
			lo, hi, lo <= limit && hi >= limit ? ", across the limit" : "");
}
