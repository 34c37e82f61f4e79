/* test_stats.c - paired ratios: the median of per-round ratios and its order-statistic interval. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdint.h>
#include <string.h>

#include "stats.h"

/* 20 rounds whose ratios are 1.01 .. 1.20 in a shuffled order: the median is the mean of the
 * 10th and 11th, the interval the 6th and the 15th (P(Binomial(20, 1/2) <= 5) = 2.07%). */
static void test_twenty_rounds(void **state)
{
	(void)state;
	static const unsigned perm[20] = { 7, 19, 0, 12, 3, 15, 9, 1, 18, 5,
					   11, 2, 16, 8, 13, 4, 17, 6, 10, 14 };
	double a[20], b[20], lo, hi;
	for (unsigned i = 0; i < 20; i++) {
		b[i] = 10.0 * (i + 1);              /* a slow round scales both sides */
		a[i] = b[i] * (1.01 + 0.01 * perm[i]);
	}
	assert_float_equal(stats_paired_ratio(a, b, 20, &lo, &hi), 1.105, 1e-9);
	assert_float_equal(lo, 1.06, 1e-9);
	assert_float_equal(hi, 1.15, 1e-9);
}

/* Too few rounds for a 95% interval (5: P(X = 0) = 3.1%): the smallest and largest ratio. */
static void test_few_rounds(void **state)
{
	(void)state;
	double a[5] = { 2, 9, 4, 6, 3 }, b[5] = { 1, 3, 2, 2, 1 }, lo, hi;
	assert_float_equal(stats_paired_ratio(a, b, 5, &lo, &hi), 3.0, 1e-9);
	assert_float_equal(lo, 2.0, 1e-9);
	assert_float_equal(hi, 3.0, 1e-9);
}

/* A round without a figure on the B side is left out; no round at all gives 0. */
static void test_missing_rounds(void **state)
{
	(void)state;
	double a[3] = { 4, 5, 6 }, b[3] = { 2, 0, 3 }, lo, hi;
	assert_float_equal(stats_paired_ratio(a, b, 3, &lo, &hi), 2.0, 1e-9);
	assert_float_equal(stats_paired_ratio(a, b, 0, &lo, &hi), 0.0, 0);
	assert_float_equal(lo, 0.0, 0);
	assert_float_equal(hi, 0.0, 0);
}

/* The rounds' order: a permutation each time, the same sequence for the same seed (the
 * benchmarks' orders are reproducible), the generator's state carried from one round to the
 * next. Expected values from the xorshift64 (13, 7, 17) Fisher-Yates the benchmarks used. */
static void test_shuffle(void **state)
{
	(void)state;
	unsigned order[5] = { 0, 1, 2, 3, 4 };
	uint64_t seed = 0x9e3779b97f4a7c15ull;
	stats_shuffle(order, 5, &seed);
	unsigned first[5] = { 1, 3, 0, 2, 4 }, second[5] = { 0, 1, 4, 3, 2 };
	assert_memory_equal(order, first, sizeof(order));
	stats_shuffle(order, 5, &seed);
	assert_memory_equal(order, second, sizeof(order));
	assert_true(seed == 0xd9aa792e1af470eaull);
	unsigned none[1] = { 7 };
	stats_shuffle(none, 0, &seed);     /* no variant: nothing to do (it once divided by zero) */
	stats_shuffle(none, 1, &seed);
	assert_int_equal(none[0], 7);
}

/* The wording beside a target: the interval, and whether it holds the limit (inclusive). */
static void test_ratio_note(void **state)
{
	(void)state;
	char buf[160];
	stats_ratio_note(buf, sizeof buf, 20, 1.86, 1.91, 2.2);
	assert_string_equal(buf, "median of 20 per-round ratios, 95% interval 1.86-1.91x");
	stats_ratio_note(buf, sizeof buf, 20, 0.95, 1.02, 1.0);
	assert_string_equal(buf, "median of 20 per-round ratios, 95% interval 0.95-1.02x, across "
				 "the limit");
	stats_ratio_note(buf, sizeof buf, 10, 0.90, 0.95, 0.95);
	assert_non_null(strstr(buf, "across the limit"));
	stats_ratio_note(buf, sizeof buf, 10, 1.00, 1.03, 0.95);
	assert_null(strstr(buf, "across"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_twenty_rounds),
		cmocka_unit_test(test_few_rounds),
		cmocka_unit_test(test_missing_rounds),
		cmocka_unit_test(test_shuffle),
		cmocka_unit_test(test_ratio_note),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
