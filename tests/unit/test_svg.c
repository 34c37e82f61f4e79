/* test_svg.c - the chart writer: well-formed output, escaping, decade ticks on log axes, points
 * skipped when they cannot be drawn, one bar per value, no chart without data. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "svg.h"

static char *out;
static size_t out_len;

static FILE *sink(void)
{
	free(out);
	out = NULL;
	FILE *f = open_memstream(&out, &out_len);
	assert_non_null(f);
	return f;
}

static int count(const char *hay, const char *needle)
{
	int n = 0;
	for (const char *p = hay; (p = strstr(p, needle)); p += strlen(needle))
		n++;
	return n;
}

/* The document is balanced for every element the writer uses and holds no nan or inf. */
static void assert_well_formed(void)
{
	assert_non_null(strstr(out, "<svg "));
	assert_true(out_len > 7 && !strcmp(out + out_len - 7, "</svg>\n"));
	assert_int_equal(count(out, "<text"), count(out, "</text>"));
	assert_int_equal(count(out, "<svg"), 1);
	assert_null(strstr(out, "nan"));
	assert_null(strstr(out, "inf"));
}

static void test_line_log_axis(void **state)
{
	(void)state;
	const double x[] = { 0.5, 3, NAN, 40, 0, 5000 }, y[] = { 1, 2, 3, 4, 5, 6 };
	struct svg_series s[2] = { { .name = "a <&> \"b\"", .n = 6, .x = x, .y = y },
				   { .name = "second", .n = 2, .x = x, .y = y } };
	struct svg_chart c = { .title = "t", .x_label = "latency (us)", .y_label = "%",
			       .log_x = true, .n_series = 2, .series = s };
	FILE *f = sink();
	assert_int_equal(svg_line_chart(f, &c), 0);
	fclose(f);
	assert_well_formed();
	assert_non_null(strstr(out, "a &lt;&amp;&gt; &quot;b&quot;"));
	assert_null(strstr(out, "a <&>"));
	/* decade labels from 0.1 to 10k */
	const char *decades[] = { ">0.1<", ">1<", ">10<", ">100<", ">1k<", ">10k<" };
	for (unsigned i = 0; i < sizeof(decades) / sizeof(decades[0]); i++)
		assert_non_null(strstr(out, decades[i]));
	/* the first polyline has the 4 drawable points: NaN and 0 (on a log axis) are skipped */
	const char *p = strstr(out, "points=\"");
	assert_non_null(p);
	p += 8;
	int pts = 0;
	for (; *p != '"'; p++)
		pts += *p == ',';
	assert_int_equal(pts, 4);
	assert_int_equal(count(out, "<polyline"), 2);
}

static void test_bars(void **state)
{
	(void)state;
	const double a[] = { 10, 200, 3000 }, b[] = { 1.5, 25, 0 };
	const char *groups[] = { "raw", "irqd shared level, one sharer of a long name", "x" };
	struct svg_series s[2] = { { .name = "p50", .n = 3, .y = a }, { .name = "p99", .n = 3, .y = b } };
	struct svg_chart c = { .title = "bars", .y_label = "us", .log_y = true, .n_series = 2,
			       .series = s };
	FILE *f = sink();
	assert_int_equal(svg_bar_chart(f, &c, 3, groups), 0);
	fclose(f);
	assert_well_formed();
	/* 5 bars: the 0 cannot stand on a log axis */
	assert_int_equal(count(out, "class=\"bar\""), 5);
	assert_non_null(strstr(out, ">3k<"));
	assert_non_null(strstr(out, ">1.5<"));
	assert_non_null(strstr(out, ">200<"));
	/* the long label is wrapped onto more than one line, every word kept */
	assert_non_null(strstr(out, "shared"));
	assert_non_null(strstr(out, "name<"));
	/* linear: the zero bar is drawn, from a zero baseline */
	c.log_y = false;
	f = sink();
	assert_int_equal(svg_bar_chart(f, &c, 3, groups), 0);
	fclose(f);
	assert_well_formed();
	assert_int_equal(count(out, "class=\"bar\""), 6);
	assert_non_null(strstr(out, ">0<"));
}

static void test_nothing_to_draw(void **state)
{
	(void)state;
	const double x[] = { NAN, -1 }, y[] = { 1, 1 };
	struct svg_series s = { .name = "none", .n = 2, .x = x, .y = y };
	struct svg_chart c = { .title = "empty", .log_x = true, .n_series = 1, .series = &s };
	FILE *f = sink();
	assert_int_equal(svg_line_chart(f, &c), -1);
	c.n_series = 0;
	assert_int_equal(svg_line_chart(f, &c), -1);
	assert_int_equal(svg_bar_chart(f, &c, 0, NULL), -1);
	fclose(f);
}

/* One point, or all values equal: a padded range, still a valid chart. */
static void test_degenerate(void **state)
{
	(void)state;
	const double x[] = { 7, 7 }, y[] = { 3, 3 };
	struct svg_series s = { .name = "one", .n = 2, .x = x, .y = y };
	struct svg_chart c = { .title = "flat", .n_series = 1, .series = &s };
	FILE *f = sink();
	assert_int_equal(svg_line_chart(f, &c), 0);
	fclose(f);
	assert_well_formed();
	c.log_x = c.log_y = true;
	f = sink();
	assert_int_equal(svg_line_chart(f, &c), 0);
	fclose(f);
	assert_well_formed();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_line_log_axis),
		cmocka_unit_test(test_bars),
		cmocka_unit_test(test_nothing_to_draw),
		cmocka_unit_test(test_degenerate),
	};
	int r = cmocka_run_group_tests(tests, NULL, NULL);
	free(out);
	return r;
}
