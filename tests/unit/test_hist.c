/* test_hist.c - the log-linear histogram: geometry, precision, percentiles, merging. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <cmocka.h>

#include "core/hist.h"

static struct hist h;
static struct hist_snapshot s, t;

/* Buckets tile the value range: contiguous, increasing, each value in its own bucket. */
static void test_geometry(void **state)
{
	(void)state;
	for (unsigned b = 0; b + 1 < HIST_BUCKETS; b++) {
		assert_true(hist_bucket_low(b) < hist_bucket_high(b));
		assert_int_equal(hist_bucket_high(b), hist_bucket_low(b + 1));
		assert_int_equal(hist_bucket_of(hist_bucket_low(b)), b);
		assert_int_equal(hist_bucket_of(hist_bucket_high(b) - 1), b);
	}
	assert_int_equal(hist_bucket_of(0), 0);
	assert_int_equal(hist_bucket_of(UINT64_MAX), HIST_BUCKETS - 1);
	assert_int_equal(hist_bucket_of(1ull << HIST_MAX_EXP), HIST_BUCKETS - 1);
}

/* Every bucket is narrower than 1/64 of its lower bound: ~1% relative precision. */
static void test_precision(void **state)
{
	(void)state;
	for (unsigned b = 64; b + 1 < HIST_BUCKETS; b++) {
		uint64_t lo = hist_bucket_low(b), hi = hist_bucket_high(b);
		assert_true((hi - lo) * 64 <= lo);
	}
	/* percentiles of a known distribution: values 1..100000 us uniformly */
	hist_init(&h);
	for (uint64_t v = 1; v <= 100000; v++)
		hist_record(&h, v * 1000);
	hist_snapshot(&h, &s);
	assert_int_equal(s.count, 100000);
	assert_int_equal(s.min, 1000);
	assert_int_equal(s.max, 100000000);
	double p[] = { 50, 90, 99, 99.9 };
	for (unsigned i = 0; i < 4; i++) {
		double want = p[i] / 100.0 * 100000.0 * 1000.0;
		double got = (double)hist_percentile(&s, p[i]);
		assert_true(got >= want * 0.99 && got <= want * 1.017);
	}
	assert_int_equal(hist_percentile(&s, 100), 100000000);
	/* p0: the upper bound of the first value's bucket */
	assert_int_equal(hist_percentile(&s, 0), hist_bucket_high(hist_bucket_of(1000)) - 1);
}

static void test_small_values_exact(void **state)
{
	(void)state;
	hist_init(&h);
	for (int i = 0; i < 10; i++)
		hist_record(&h, 7);
	hist_record(&h, 9);
	hist_snapshot(&h, &s);
	assert_int_equal(hist_percentile(&s, 50), 7);
	assert_int_equal(hist_percentile(&s, 100), 9);
	assert_int_equal(s.sum, 79);
}

static void test_empty(void **state)
{
	(void)state;
	hist_init(&h);
	hist_snapshot(&h, &s);
	assert_int_equal(s.count, 0);
	assert_int_equal(hist_percentile(&s, 99), 0);
}

/* Merging two histograms equals recording everything into one. */
static void test_merge(void **state)
{
	(void)state;
	static struct hist a, b, all;
	hist_init(&a);
	hist_init(&b);
	hist_init(&all);
	srand(7);
	for (int i = 0; i < 50000; i++) {
		uint64_t v = (uint64_t)rand() % 5000000;
		hist_record(i % 3 ? &a : &b, v);
		hist_record(&all, v);
	}
	hist_snapshot(&a, &s);
	hist_snapshot(&b, &t);
	hist_merge(&s, &t);
	static struct hist_snapshot u;
	hist_snapshot(&all, &u);
	assert_int_equal(s.count, u.count);
	assert_int_equal(s.sum, u.sum);
	assert_int_equal(s.min, u.min);
	assert_int_equal(s.max, u.max);
	assert_memory_equal(s.bucket, u.bucket, sizeof(s.bucket));
	struct hist_snapshot empty;
	hist_snapshot_init(&empty);
	hist_merge(&empty, &u);
	assert_int_equal(empty.min, u.min);
}

/* A window of one histogram: later minus earlier is what was recorded in between. */
static void test_subtract(void **state)
{
	(void)state;
	static struct hist live, window;
	static struct hist_snapshot before, after, diff, want;
	hist_init(&live);
	hist_init(&window);
	for (uint64_t v = 100; v < 100000; v += 7)
		hist_record(&live, v);
	hist_snapshot(&live, &before);
	for (uint64_t v = 3000; v < 9000; v += 3) {
		hist_record(&live, v);
		hist_record(&window, v);
	}
	hist_snapshot(&live, &after);
	hist_subtract(&diff, &after, &before);
	hist_snapshot(&window, &want);
	assert_int_equal(diff.count, want.count);
	assert_int_equal(diff.sum, want.sum);
	assert_memory_equal(diff.bucket, want.bucket, sizeof(diff.bucket));
	/* extremes to their buckets: within 1/64 */
	assert_true(diff.min <= want.min && diff.min >= want.min - want.min / 64);
	assert_true(diff.max >= want.max && diff.max <= want.max + want.max / 64);
	assert_int_equal(hist_percentile(&diff, 50), hist_percentile(&want, 50));
	/* from an empty start the extremes stay exact */
	static struct hist_snapshot empty;
	hist_snapshot_init(&empty);
	hist_subtract(&diff, &want, &empty);
	assert_int_equal(diff.min, want.min);
	assert_int_equal(diff.max, want.max);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_geometry),   cmocka_unit_test(test_precision),
		cmocka_unit_test(test_small_values_exact), cmocka_unit_test(test_empty),
		cmocka_unit_test(test_merge),      cmocka_unit_test(test_subtract),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
