/*
 * top.c - `irqctl top`: a live view of irqd's lines, like util-linux irqtop.
 *
 * Every interval: per line the rate of raised events, delivered and unhandled counts, whether it
 * is masked or disabled, its sharers, and the p99 of irqd's raise-to-delivery latency over the
 * interval (top profiles every line while it runs, unless --no-latency; the histograms go when
 * it exits). On a terminal the screen is redrawn in place and keys change the sort (r rate,
 * d delivered, u unhandled, l latency, n name) or quit (q); otherwise a table is printed every
 * interval, --count times.
 */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "irqctl.h"
#include "top.h"

struct top_line {
	struct irqd_line_stats st, prev;
	struct irqd_hist lat_prev;     /* raise-to-delivery at the previous refresh */
	bool have_prev, profiled;
	double rate, p99_us;           /* over the last interval; p99 < 0: no sample */
};

enum sort_key { SORT_RATE, SORT_DELIVERED, SORT_UNHANDLED, SORT_LATENCY, SORT_NAME };
static const char *const sort_name[] = { "rate", "delivered", "unhandled", "p99 latency",
					 "name" };
static enum sort_key sort_by = SORT_RATE;

static struct top_line *lines;
static unsigned n_lines;

static uint64_t mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static struct top_line *find_line(uint32_t id)
{
	for (unsigned i = 0; i < n_lines; i++)
		if (lines[i].st.id == id)
			return &lines[i];
	return NULL;
}

/* One refresh: the lines irqd has now, their counters, rates and latency since the last. */
static int sample(struct irqd_client *c, const struct top_opts *o, double secs)
{
	struct top_line *next = NULL;
	unsigned n = 0;
	struct irqd_line_desc d;
	int r;
	for (r = irqd_line_next(c, NULL, &d); r == 0; r = irqd_line_next(c, &d, &d)) {
		struct top_line *t = realloc(next, (n + 1) * sizeof(*next));
		if (!t) {
			free(next);
			return -ENOMEM;
		}
		next = t;
		struct top_line *l = &next[n];
		struct top_line *old = find_line(d.id);
		*l = old && !strcmp(old->st.name, d.name) ? *old : (struct top_line){ .p99_us = -1 };
		if (irqd_line_stats(c, d.name, &l->st) < 0)
			continue;   /* deleted meanwhile */
		l->rate = l->have_prev && secs > 0 ? (double)(l->st.raised - l->prev.raised) / secs : 0;
		l->prev = l->st;
		if (!o->no_latency && !l->profiled)
			l->profiled = irqd_profile_start(c, d.name) == 0;
		struct irqd_profile_dump *dump;
		if (l->profiled && irqd_profile_read(c, d.name, &dump) == 0) {
			const struct irqd_hist *now = &dump->set[0].stage[IRQD_STAGE_RAISE_DELIVER];
			static struct irqd_hist win;
			irqd_hist_subtract(&win, now, &l->lat_prev);
			l->p99_us = l->have_prev && win.count ? irqd_hist_percentile(&win, 99) / 1e3 : -1;
			l->lat_prev = *now;
			irqd_profile_free(dump);
		}
		l->have_prev = true;
		n++;
	}
	free(lines);
	lines = next;
	n_lines = n;
	return r == -ENOENT ? 0 : r;
}

static int cmp_lines(const void *a, const void *b)
{
	const struct top_line *x = a, *y = b;
	double dx = 0, dy = 0;
	switch (sort_by) {
	case SORT_RATE:
		dx = x->rate, dy = y->rate;
		break;
	case SORT_DELIVERED:
		dx = (double)x->st.delivered, dy = (double)y->st.delivered;
		break;
	case SORT_UNHANDLED:
		dx = (double)x->st.unhandled, dy = (double)y->st.unhandled;
		break;
	case SORT_LATENCY:
		dx = x->p99_us, dy = y->p99_us;
		break;
	case SORT_NAME:
		return strcmp(x->st.name, y->st.name);
	}
	if (dx != dy)
		return dx < dy ? 1 : -1;   /* largest first */
	return strcmp(x->st.name, y->st.name);
}

static const char *state(const struct irqd_line_stats *st)
{
	return (st->flags & IRQD_LINE_DISABLED) ? "disabled"
	       : (st->flags & IRQD_LINE_MASKED) ? "masked"
						  : "-";
}

/* The table, rows at most `rows` (0: all), each line ending in `eol`. */
static void print_table(FILE *f, unsigned rows, const char *eol)
{
	qsort(lines, n_lines, sizeof(lines[0]), cmp_lines);
	fprintf(f, "%-16s %-5s %10s %12s %10s %-8s %7s %9s%s", "LINE", "TRIG", "RATE/s", "DELIVERED",
		"UNHANDLED", "STATE", "SHARERS", "P99_US", eol);
	for (unsigned i = 0; i < n_lines && (!rows || i < rows); i++) {
		const struct top_line *l = &lines[i];
		char p99[16] = "-";
		if (l->p99_us >= 0)
			snprintf(p99, sizeof(p99), "%.1f", l->p99_us);
		fprintf(f, "%-16s %-5s %10.0f %12" PRIu64 " %10" PRIu64 " %-8s %7u %9s%s", l->st.name,
			l->st.trigger == IRQD_LEVEL ? "level" : "edge", l->rate, l->st.delivered,
			l->st.unhandled, state(&l->st), l->st.attachments, p99, eol);
	}
}

/* irqd's CPU share over the last interval, from its threads' CPU clocks. */
static double cpu_pct, cpu_last_ns;
static uint64_t sampled_ns;

static void header(FILE *f, struct irqd_client *c, const char *eol)
{
	struct irqd_server_stats ss = { 0 };
	irqd_server_stats(c, &ss);
	fprintf(f, "irqd: up %.0f s, %u lines, %u clients, CPU %.1f%%   sort: %s%s",
		(double)ss.uptime_ns / 1e9, ss.lines, ss.clients, cpu_pct, sort_name[sort_by], eol);
}

/* sample() and the CPU share, timed from the previous refresh. */
static int refresh(struct irqd_client *c, const struct top_opts *o)
{
	uint64_t now = mono_ns();
	double secs = sampled_ns ? (double)(now - sampled_ns) / 1e9 : 0;
	struct irqd_server_stats ss = { 0 };
	irqd_server_stats(c, &ss);
	double cpu = (double)(ss.cpu_control_ns + ss.cpu_delivery_ns);
	cpu_pct = secs > 0 ? 100.0 * (cpu - cpu_last_ns) / (secs * 1e9) : 0;
	cpu_last_ns = cpu;
	sampled_ns = now;
	return sample(c, o, secs);
}

static void draw_screen(struct irqd_client *c)
{
	fputs("\033[H\033[2J", stdout);
	header(stdout, c, "\r\n");
	fputs("keys: r rate, d delivered, u unhandled, l latency, n name, q quit\r\n\r\n", stdout);
	print_table(stdout, 0, "\r\n");
	fflush(stdout);
}

static struct termios saved_tty;

static void restore_tty(void)
{
	tcsetattr(STDIN_FILENO, TCSANOW, &saved_tty);
	fputs("\033[?25h\033[?1049l", stdout);   /* the normal screen back, cursor shown */
	fflush(stdout);
}

/* Wait for a key until `deadline`: the key, or 0 at the deadline. */
static int key_until(uint64_t deadline)
{
	for (;;) {
		uint64_t now = mono_ns();
		if (now >= deadline)
			return 0;
		struct pollfd p = { .fd = STDIN_FILENO, .events = POLLIN };
		int r = poll(&p, 1, (int)((deadline - now) / 1000000 + 1));
		if (r < 0 && errno != EINTR)
			return 'q';
		if (r > 0) {
			char ch;
			return read(STDIN_FILENO, &ch, 1) == 1 ? ch : 'q';
		}
	}
}

/* On a terminal: redraw every interval, act on keys in between. */
static int top_tty(struct irqd_client *c, const struct top_opts *o, uint64_t period)
{
	tcgetattr(STDIN_FILENO, &saved_tty);
	struct termios raw = saved_tty;
	raw.c_lflag &= ~(tcflag_t)(ICANON | ECHO);
	raw.c_cc[VMIN] = 1;
	raw.c_cc[VTIME] = 0;
	tcsetattr(STDIN_FILENO, TCSANOW, &raw);
	atexit(restore_tty);
	fputs("\033[?1049h\033[?25l", stdout);   /* alternate screen, no cursor */
	int r = refresh(c, o);
	while (r == 0) {
		draw_screen(c);
		uint64_t deadline = mono_ns() + period;
		for (int k; (k = key_until(deadline));) {
			static const char keys[] = "rduln";   /* in enum sort_key order */
			const char *at = strchr(keys, k);
			if (k == 'q' || k == 'Q')
				return 0;
			if (at) {
				sort_by = (enum sort_key)(at - keys);
				draw_screen(c);
			}
		}
		r = refresh(c, o);
	}
	return die("top", r);
}

int top_cmd(struct irqd_client *c, const struct top_opts *o)
{
	uint64_t period = (uint64_t)(o->interval * 1e9);
	if (isatty(STDOUT_FILENO) && isatty(STDIN_FILENO))
		return top_tty(c, o, period);
	/* plain output: a table every interval, rates over it */
	int r = refresh(c, o);
	for (uint64_t shown = 0; r == 0 && (!o->count || shown < o->count); shown++) {
		struct timespec ts = { .tv_sec = (time_t)(period / 1000000000ull),
				       .tv_nsec = (long)(period % 1000000000ull) };
		while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
			;
		if ((r = refresh(c, o)) < 0)
			break;
		time_t t = time(NULL);
		char when[32];
		strftime(when, sizeof(when), "%H:%M:%S", localtime(&t));
		printf("%s ", when);
		header(stdout, c, "\n");
		print_table(stdout, 0, "\n");
		printf("\n");
		fflush(stdout);
	}
	return r < 0 ? die("top", r) : 0;
}
