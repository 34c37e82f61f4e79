/*
 * report/svg.h - small SVG charts for latency distributions and benchmark tables.
 *
 * The charts are meant for people: log axes with a labelled tick at each decade, a title, axis
 * labels with units, a legend, a distinct colour per series. The output is one standalone
 * SVG 1.1 document.
 */
#ifndef REPORT_SVG_H
#define REPORT_SVG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

struct svg_series {
	const char *name;        /* legend text (escaped by the writer) */
	size_t n;
	const double *x, *y;     /* n points; a non-finite value, or <= 0 on a log axis, is skipped */
};

struct svg_chart {
	const char *title;
	const char *x_label, *y_label;   /* with units, e.g. "latency (us)" */
	bool log_x, log_y;
	size_t n_series;
	const struct svg_series *series;
};

/* A line chart: each series a polyline with point markers. 0, or -1 if writing failed or there
 * is no point to draw. */
int svg_line_chart(FILE *out, const struct svg_chart *c);

/* A grouped bar chart: n_groups categories (group_label[i]) on the x axis, in each one bar per
 * series of height series[s].y[i] (series[s].n must be n_groups; x is unused), its value
 * printed above it. log_y is honoured, log_x ignored. 0, or -1 as above. */
int svg_bar_chart(FILE *out, const struct svg_chart *c, size_t n_groups,
		  const char *const *group_label);

#endif
