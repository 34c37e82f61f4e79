/*
 * svg.c - the chart writer: an axis model (linear with 1-2-5 ticks, or log with decade ticks)
 * shared by both chart kinds, then polylines or bars in a fixed 800x480 canvas.
 */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "svg.h"

#define W 800.0
#define H 480.0
#define LEFT 80.0
#define RIGHT 20.0
#define TOP 50.0
#define BOTTOM 70.0
#define MAX_TICKS 32

static const char *const palette[] = { "#1f77b4", "#d62728", "#2ca02c", "#ff7f0e",
				       "#9467bd", "#8c564b", "#e377c2", "#17becf",
				       "#7f7f7f", "#bcbd22" };
#define PALETTE (sizeof(palette) / sizeof(palette[0]))

struct axis {
	bool log;
	double lo, hi;           /* data range shown (log: powers of ten) */
	double from, to;         /* pixel range */
	int n_ticks;
	double tick[MAX_TICKS];
};

static void escaped(FILE *f, const char *s)
{
	for (; s && *s; s++) {
		switch (*s) {
		case '&': fputs("&amp;", f); break;
		case '<': fputs("&lt;", f); break;
		case '>': fputs("&gt;", f); break;
		case '"': fputs("&quot;", f); break;
		case '\'': fputs("&apos;", f); break;
		default: fputc(*s, f);
		}
	}
}

static bool usable(double v, bool log)
{
	return isfinite(v) && (!log || v > 0);
}

/* Ticks for [lo, hi]: decades on a log axis, 1/2/5 x 10^k steps on a linear one. Widens the
 * range to whole ticks; a degenerate range is padded first. */
static void axis_fit(struct axis *a, double lo, double hi)
{
	if (a->log) {
		double l = floor(log10(lo)), h = ceil(log10(hi));
		if (h <= l)
			h = l + 1;
		while (h - l + 1 > MAX_TICKS)
			l++;
		a->lo = pow(10, l);
		a->hi = pow(10, h);
		a->n_ticks = 0;
		for (double e = l; e <= h; e++)
			a->tick[a->n_ticks++] = pow(10, e);
		return;
	}
	if (hi <= lo) {
		double pad = lo != 0 ? fabs(lo) * 0.5 : 1;
		lo -= pad;
		hi += pad;
	}
	double raw = (hi - lo) / 6, mag = pow(10, floor(log10(raw))), step = mag;
	if (raw / mag > 5)
		step = 10 * mag;
	else if (raw / mag > 2)
		step = 5 * mag;
	else if (raw / mag > 1)
		step = 2 * mag;
	a->lo = floor(lo / step) * step;
	a->hi = ceil(hi / step) * step;
	a->n_ticks = 0;
	for (double t = a->lo; t <= a->hi + step / 2 && a->n_ticks < MAX_TICKS; t += step)
		a->tick[a->n_ticks++] = fabs(t) < step / 1e6 ? 0 : t;
}

static double axis_px(const struct axis *a, double v)
{
	double f = a->log ? (log10(v) - log10(a->lo)) / (log10(a->hi) - log10(a->lo))
			  : (v - a->lo) / (a->hi - a->lo);
	return a->from + f * (a->to - a->from);
}

/* 0.01, 0.1, 1, 10, 100, 1k, 10k, 1M, 2.5, 1.2G */
static void label(char *buf, size_t len, double v)
{
	static const char *const unit[] = { "", "k", "M", "G", "T" };
	int u = 0;
	double a = fabs(v);
	while (a >= 1000 && u < 4) {
		a /= 1000;
		v /= 1000;
		u++;
	}
	if (a == 0 || a >= 1)
		snprintf(buf, len, "%.3g%s", v, unit[u]);
	else
		snprintf(buf, len, "%.2g", v);
}

static void header(FILE *f, const struct svg_chart *c)
{
	fprintf(f, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
		   "<svg xmlns=\"http://www.w3.org/2000/svg\" version=\"1.1\" width=\"%.0f\" "
		   "height=\"%.0f\" viewBox=\"0 0 %.0f %.0f\" font-family=\"sans-serif\" "
		   "font-size=\"12\">\n"
		   "<rect x=\"0\" y=\"0\" width=\"%.0f\" height=\"%.0f\" fill=\"white\"/>\n"
		   "<text x=\"%.2f\" y=\"28\" text-anchor=\"middle\" font-size=\"16\" "
		   "font-weight=\"bold\">",
		W, H, W, H, W, H, W / 2);
	escaped(f, c->title);
	fputs("</text>\n", f);
}

/* Grid, ticks and labels of both axes; x may be absent (bar charts label groups instead). */
static void axes(FILE *f, const struct svg_chart *c, const struct axis *x, const struct axis *y)
{
	char buf[32];
	for (int i = 0; i < y->n_ticks; i++) {
		double py = axis_px(y, y->tick[i]);
		label(buf, sizeof(buf), y->tick[i]);
		fprintf(f, "<line x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\" stroke=\"#ddd\"/>\n"
			   "<text x=\"%.2f\" y=\"%.2f\" text-anchor=\"end\">%s</text>\n",
			LEFT, py, W - RIGHT, py, LEFT - 6, py + 4, buf);
		for (int m = 2; y->log && m <= 9 && i + 1 < y->n_ticks; m++)
			fprintf(f, "<line x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\" "
				   "stroke=\"#f2f2f2\"/>\n",
				LEFT, axis_px(y, y->tick[i] * m), W - RIGHT, axis_px(y, y->tick[i] * m));
	}
	for (int i = 0; x && i < x->n_ticks; i++) {
		double px = axis_px(x, x->tick[i]);
		label(buf, sizeof(buf), x->tick[i]);
		fprintf(f, "<line x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\" stroke=\"#ddd\"/>\n"
			   "<text x=\"%.2f\" y=\"%.2f\" text-anchor=\"middle\">%s</text>\n",
			px, TOP, px, H - BOTTOM, px, H - BOTTOM + 18, buf);
		for (int m = 2; x->log && m <= 9 && i + 1 < x->n_ticks; m++)
			fprintf(f, "<line x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\" "
				   "stroke=\"#f2f2f2\"/>\n",
				axis_px(x, x->tick[i] * m), TOP, axis_px(x, x->tick[i] * m), H - BOTTOM);
	}
	fprintf(f, "<rect x=\"%.2f\" y=\"%.2f\" width=\"%.2f\" height=\"%.2f\" fill=\"none\" "
		   "stroke=\"#444\"/>\n",
		LEFT, TOP, W - LEFT - RIGHT, H - TOP - BOTTOM);
	fprintf(f, "<text x=\"%.2f\" y=\"%.2f\" text-anchor=\"middle\">", (LEFT + W - RIGHT) / 2,
		H - 22);
	escaped(f, c->x_label);
	fprintf(f, "</text>\n<text x=\"18\" y=\"%.2f\" text-anchor=\"middle\" "
		   "transform=\"rotate(-90 18 %.2f)\">",
		(TOP + H - BOTTOM) / 2, (TOP + H - BOTTOM) / 2);
	escaped(f, c->y_label);
	fputs("</text>\n", f);
}

static void legend(FILE *f, const struct svg_chart *c)
{
	double y = TOP + 16;
	for (size_t s = 0; s < c->n_series; s++, y += 16) {
		fprintf(f, "<rect x=\"%.2f\" y=\"%.2f\" width=\"12\" height=\"10\" fill=\"%s\"/>\n"
			   "<text x=\"%.2f\" y=\"%.2f\">",
			LEFT + 12, y - 9, palette[s % PALETTE], LEFT + 30, y);
		escaped(f, c->series[s].name);
		fputs("</text>\n", f);
	}
}

static int finish(FILE *f)
{
	fputs("</svg>\n", f);
	return ferror(f) ? -1 : 0;
}

int svg_line_chart(FILE *f, const struct svg_chart *c)
{
	double xlo = INFINITY, xhi = -INFINITY, ylo = INFINITY, yhi = -INFINITY;
	for (size_t s = 0; s < c->n_series; s++)
		for (size_t i = 0; i < c->series[s].n; i++) {
			double x = c->series[s].x[i], y = c->series[s].y[i];
			if (!usable(x, c->log_x) || !usable(y, c->log_y))
				continue;
			xlo = fmin(xlo, x);
			xhi = fmax(xhi, x);
			ylo = fmin(ylo, y);
			yhi = fmax(yhi, y);
		}
	if (xlo > xhi)
		return -1;
	/* a linear y axis of non-negative values starts at zero: shares and counts read right */
	if (!c->log_y && ylo > 0)
		ylo = 0;
	struct axis x = { .log = c->log_x, .from = LEFT, .to = W - RIGHT };
	struct axis y = { .log = c->log_y, .from = H - BOTTOM, .to = TOP };
	axis_fit(&x, xlo, xhi);
	axis_fit(&y, ylo, yhi);
	header(f, c);
	axes(f, c, &x, &y);
	for (size_t s = 0; s < c->n_series; s++) {
		const struct svg_series *sr = &c->series[s];
		const char *col = palette[s % PALETTE];
		fprintf(f, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"2\" points=\"", col);
		for (size_t i = 0; i < sr->n; i++)
			if (usable(sr->x[i], c->log_x) && usable(sr->y[i], c->log_y))
				fprintf(f, "%.2f,%.2f ", axis_px(&x, sr->x[i]), axis_px(&y, sr->y[i]));
		fputs("\"/>\n", f);
		for (size_t i = 0; i < sr->n; i++)
			if (usable(sr->x[i], c->log_x) && usable(sr->y[i], c->log_y))
				fprintf(f, "<circle cx=\"%.2f\" cy=\"%.2f\" r=\"2.5\" fill=\"%s\"/>\n",
					axis_px(&x, sr->x[i]), axis_px(&y, sr->y[i]), col);
	}
	legend(f, c);
	return finish(f);
}

/* A group's label under its bars, wrapped at spaces to the group's width (about 5.5 pixels a
 * character at 10 points), at most three lines. */
static void group_text(FILE *f, const char *text, double cx, double width)
{
	size_t per_line = (size_t)(width / 5.5), len = strlen(text);
	if (per_line < 6)
		per_line = 6;
	double y = H - BOTTOM + 14;
	for (int line = 0; line < 3 && len; line++, y += 12) {
		size_t take = len;
		if (len > per_line && line < 2) {
			take = per_line;
			while (take > 0 && text[take] != ' ')
				take--;
			if (take == 0)
				take = per_line;
		}
		char buf[256];
		snprintf(buf, sizeof(buf), "%.*s", (int)(take < sizeof(buf) - 1 ? take : sizeof(buf) - 1),
			 text);
		fprintf(f, "<text x=\"%.2f\" y=\"%.2f\" text-anchor=\"middle\" font-size=\"10\">", cx,
			y);
		escaped(f, buf);
		fputs("</text>\n", f);
		text += take;
		len -= take;
		while (*text == ' ') {
			text++;
			len--;
		}
	}
}

int svg_bar_chart(FILE *f, const struct svg_chart *c, size_t n_groups,
		  const char *const *group_label)
{
	double ylo = INFINITY, yhi = -INFINITY;
	for (size_t s = 0; s < c->n_series; s++)
		for (size_t i = 0; i < c->series[s].n && i < n_groups; i++)
			if (usable(c->series[s].y[i], c->log_y)) {
				ylo = fmin(ylo, c->series[s].y[i]);
				yhi = fmax(yhi, c->series[s].y[i]);
			}
	if (ylo > yhi || n_groups == 0)
		return -1;
	if (!c->log_y)
		ylo = fmin(ylo, 0);
	/* headroom for the legend and the value labels above the tallest bar */
	yhi = c->log_y ? yhi * 4 : yhi * 1.2;
	struct axis y = { .log = c->log_y, .from = H - BOTTOM, .to = TOP };
	axis_fit(&y, ylo, yhi);
	header(f, c);
	axes(f, c, NULL, &y);
	double group_w = (W - LEFT - RIGHT) / (double)n_groups;
	double bar_w = group_w * 0.8 / (double)(c->n_series ? c->n_series : 1);
	double base = c->log_y ? H - BOTTOM : axis_px(&y, 0);
	for (size_t g = 0; g < n_groups; g++) {
		double gx = LEFT + group_w * (double)g + group_w * 0.1;
		for (size_t s = 0; s < c->n_series; s++) {
			double v = g < c->series[s].n ? c->series[s].y[g] : NAN;
			if (!usable(v, c->log_y))
				continue;
			double top = axis_px(&y, v), bx = gx + bar_w * (double)s;
			char buf[32];
			label(buf, sizeof(buf), v);
			fprintf(f, "<rect class=\"bar\" x=\"%.2f\" y=\"%.2f\" width=\"%.2f\" "
				   "height=\"%.2f\" fill=\"%s\"/>\n"
				   "<text x=\"%.2f\" y=\"%.2f\" text-anchor=\"middle\" "
				   "font-size=\"10\">%s</text>\n",
				bx, fmin(top, base), bar_w * 0.95, fabs(base - top),
				palette[s % PALETTE], bx + bar_w / 2, fmin(top, base) - 3, buf);
		}
		group_text(f, group_label[g], gx + group_w * 0.4, group_w);
	}
	legend(f, c);
	return finish(f);
}
