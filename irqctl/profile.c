/*
 * profile.c - `irqctl profile LINE`: profile a line for a while and show where the time went.
 *
 * The window is the difference of two dumps of the line's histograms (irqd/profile.h), so a
 * line that was profiled already (by `profile on` or another irqctl) is measured over the
 * window only. The table has one row per stage for the line and for each attachment; the SVG
 * plots the line's distribution per stage on a log latency axis; JSON and CSV carry the raw
 * buckets.
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "irqctl.h"
#include "profile.h"
#include "svg.h"

static const double pcts[] = { 50, 90, 99, 99.9 };
#define N_PCTS (sizeof(pcts) / sizeof(pcts[0]))

static double us(uint64_t ns)
{
	return (double)ns / 1e3;
}

/* The window of one set: after minus the same set before (if it existed then). */
static void window(struct irqd_profile_set *out, const struct irqd_profile_set *after,
		   const struct irqd_profile_dump *before)
{
	const struct irqd_profile_set *b = irqd_profile_find(before, after->pid, after->handle);
	*out = *after;
	if (b)
		for (int s = 0; s < IRQD_STAGES; s++)
			irqd_hist_subtract(&out->stage[s], &after->stage[s], &b->stage[s]);
}

static void who(char *buf, size_t len, const struct irqd_profile_set *set)
{
	if (set->handle == IRQD_HANDLE_LINE)
		snprintf(buf, len, "line");
	else
		snprintf(buf, len, "pid %u h%u", set->pid, set->handle);
}

static void print_table(const struct irqd_profile_set *sets, uint32_t n)
{
	printf("%-16s %-20s %10s %9s %9s %9s %9s %9s\n", "WHO", "STAGE (us)", "COUNT", "P50",
	       "P90", "P99", "P99.9", "MAX");
	for (uint32_t i = 0; i < n; i++) {
		char w[32];
		who(w, sizeof(w), &sets[i]);
		for (int s = 0; s < IRQD_STAGES; s++) {
			const struct irqd_hist *h = &sets[i].stage[s];
			if (!h->count)
				continue;
			printf("%-16s %-20s %10" PRIu64, w, irqd_stage_name(s), h->count);
			for (unsigned p = 0; p < N_PCTS; p++)
				printf(" %9.1f", us(irqd_hist_percentile(h, pcts[p])));
			printf(" %9.1f\n", us(h->max));
		}
	}
}

void profile_json_stages(FILE *f, const struct irqd_hist stage[IRQD_STAGES])
{
	fputc('{', f);
	for (int s = 0; s < IRQD_STAGES; s++) {
		const struct irqd_hist *h = &stage[s];
		fprintf(f, "%s\"%s\":{\"count\":%" PRIu64, s ? "," : "", irqd_stage_name(s), h->count);
		if (h->count) {
			fprintf(f, ",\"mean_us\":%.3f,\"min_us\":%.3f", us(h->sum) / (double)h->count,
				us(h->min));
			for (unsigned p = 0; p < N_PCTS; p++)
				fprintf(f, ",\"p%g_us\":%.3f", pcts[p], us(irqd_hist_percentile(h, pcts[p])));
			fprintf(f, ",\"max_us\":%.3f", us(h->max));
		}
		fputc('}', f);
	}
	fputc('}', f);
}

static void json_buckets(FILE *f, const struct irqd_hist *h)
{
	/* [low_ns, high_ns (exclusive), count] for every non-empty bucket */
	fputs(",\"buckets\":[", f);
	bool first = true;
	for (unsigned b = 0; b < IRQD_HIST_BUCKETS; b++) {
		if (!h->bucket[b])
			continue;
		fprintf(f, "%s[%" PRIu64 ",%" PRIu64 ",%" PRIu64 "]", first ? "" : ",",
			irqd_hist_bucket_low(b), irqd_hist_bucket_low(b + 1), h->bucket[b]);
		first = false;
	}
	fputc(']', f);
}

static int write_json(const char *path, const char *line, double secs,
		      const struct irqd_line_stats *d, const uint64_t cpu[2],
		      const struct irqd_profile_set *sets, uint32_t n)
{
	FILE *f = fopen(path, "w");
	if (!f)
		return -errno;
	fprintf(f, "{\"line\":\"%s\",\"seconds\":%.3f,\"raised\":%" PRIu64 ",\"delivered\":%" PRIu64
		   ",\"wakeups\":%" PRIu64 ",\"cpu_control_ns\":%" PRIu64
		   ",\"cpu_delivery_ns\":%" PRIu64 ",\"sets\":[",
		line, secs, d->raised, d->delivered, d->wakeups, cpu[0], cpu[1]);
	for (uint32_t i = 0; i < n; i++) {
		if (sets[i].handle == IRQD_HANDLE_LINE)
			fprintf(f, "%s{\"who\":\"line\",\"stages\":", i ? "," : "");
		else
			fprintf(f, "%s{\"who\":\"attachment\",\"pid\":%u,\"handle\":%u,\"stages\":",
				i ? "," : "", sets[i].pid, sets[i].handle);
		profile_json_stages(f, sets[i].stage);
		fputs(",\"raw\":{", f);
		for (int s = 0; s < IRQD_STAGES; s++) {
			const struct irqd_hist *h = &sets[i].stage[s];
			fprintf(f, "%s\"%s\":{\"count\":%" PRIu64 ",\"sum_ns\":%" PRIu64, s ? "," : "",
				irqd_stage_name(s), h->count, h->sum);
			json_buckets(f, h);
			fputc('}', f);
		}
		fputs("}}", f);
	}
	fputs("]}\n", f);
	return fclose(f) ? -errno : 0;
}

static int write_csv(const char *path, const struct irqd_profile_set *sets, uint32_t n)
{
	FILE *f = fopen(path, "w");
	if (!f)
		return -errno;
	fputs("who,pid,handle,stage,low_ns,high_ns,count\n", f);
	for (uint32_t i = 0; i < n; i++)
		for (int s = 0; s < IRQD_STAGES; s++)
			for (unsigned b = 0; b < IRQD_HIST_BUCKETS; b++)
				if (sets[i].stage[s].bucket[b])
					fprintf(f, "%s,%u,%u,%s,%" PRIu64 ",%" PRIu64 ",%" PRIu64 "\n",
						sets[i].handle == IRQD_HANDLE_LINE ? "line"
										   : "attachment",
						sets[i].pid,
						sets[i].handle == IRQD_HANDLE_LINE ? 0 : sets[i].handle,
						irqd_stage_name(s), irqd_hist_bucket_low(b),
						irqd_hist_bucket_low(b + 1), sets[i].stage[s].bucket[b]);
	return fclose(f) ? -errno : 0;
}

/*
 * The plot: the fine buckets (64 per octave) regrouped 8 per octave, each point the share of
 * samples in its bin at the bin's geometric middle, so that curves of different stages and
 * counts compare on one percent axis.
 */
#define PLOT_GROUP 8
#define PLOT_BINS (IRQD_HIST_BUCKETS / PLOT_GROUP)

static int write_svg(const char *path, const char *line, double secs,
		     const struct irqd_profile_set *set)
{
	static double x[IRQD_STAGES][PLOT_BINS], y[IRQD_STAGES][PLOT_BINS];
	struct svg_series series[IRQD_STAGES];
	char names[IRQD_STAGES][96];
	size_t n_series = 0;
	for (int s = 0; s < IRQD_STAGES; s++) {
		const struct irqd_hist *h = &set->stage[s];
		if (!h->count)
			continue;
		size_t n = 0;
		for (unsigned g = 0; g < PLOT_BINS; g++) {
			uint64_t sum = 0;
			for (unsigned b = g * PLOT_GROUP; b < (g + 1) * PLOT_GROUP; b++)
				sum += h->bucket[b];
			if (!sum)
				continue;
			double lo = (double)irqd_hist_bucket_low(g * PLOT_GROUP);
			double hi = (double)irqd_hist_bucket_low((g + 1) * PLOT_GROUP);
			x[n_series][n] = sqrt((lo > 0 ? lo : 0.5) * hi) / 1e3;
			y[n_series][n] = 100.0 * (double)sum / (double)h->count;
			n++;
		}
		snprintf(names[n_series], sizeof(names[n_series]),
			 "%s (n=%" PRIu64 ", p50 %.1f us, p99 %.1f us)", irqd_stage_name(s), h->count,
			 us(irqd_hist_percentile(h, 50)), us(irqd_hist_percentile(h, 99)));
		series[n_series] = (struct svg_series){ .name = names[n_series], .n = n,
							.x = x[n_series], .y = y[n_series] };
		n_series++;
	}
	char title[128];
	snprintf(title, sizeof(title), "irqd latency of line %s over %.1f s", line, secs);
	struct svg_chart chart = { .title = title, .x_label = "latency (us, log scale)",
				   .y_label = "share of samples per bin (%)", .log_x = true,
				   .n_series = n_series, .series = series };
	FILE *f = fopen(path, "w");
	if (!f)
		return -errno;
	int r = svg_line_chart(f, &chart);
	if (fclose(f) || r < 0)
		return r < 0 ? -ENODATA : -errno;
	return 0;
}

int profile_cmd(struct irqd_client *c, const char *line, const struct profile_opts *o)
{
	struct irqd_profile_dump *before = NULL, *after = NULL;
	int r = irqd_profile_start(c, line);
	if (r < 0 || (r = irqd_profile_read(c, line, &before)) < 0)
		return die(line, r);
	struct timespec ts = { .tv_sec = (time_t)o->seconds,
			       .tv_nsec = (long)((o->seconds - (double)(time_t)o->seconds) * 1e9) };
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
	r = irqd_profile_read(c, line, &after);
	if (r < 0) {
		irqd_profile_free(before);
		return die(line, r);
	}
	struct irqd_profile_set *sets = calloc(after->n_sets, sizeof(*sets));
	if (!sets) {
		irqd_profile_free(before);
		irqd_profile_free(after);
		return die(line, -ENOMEM);
	}
	for (uint32_t i = 0; i < after->n_sets; i++)
		window(&sets[i], &after->set[i], before);
	double secs = (double)(after->taken_ns - before->taken_ns) / 1e9;
	struct irqd_line_stats d = after->stats;
	d.raised -= before->stats.raised;
	d.delivered -= before->stats.delivered;
	d.wakeups -= before->stats.wakeups;
	uint64_t cpu[2] = { after->cpu_control_ns - before->cpu_control_ns,
			    after->cpu_delivery_ns - before->cpu_delivery_ns };
	printf("line %s, %.2f s: %" PRIu64 " raised, %" PRIu64 " delivered, %" PRIu64
	       " wake-ups (%.2f events per wake-up)\n",
	       line, secs, d.raised, d.delivered, d.wakeups,
	       d.wakeups ? (double)d.delivered / (double)d.wakeups : 0.0);
	printf("irqd CPU: control %.1f ms, delivery %.1f ms (%.2f%% of one CPU)\n\n", cpu[0] / 1e6,
	       cpu[1] / 1e6, secs > 0 ? 100.0 * (double)(cpu[0] + cpu[1]) / (secs * 1e9) : 0.0);
	print_table(sets, after->n_sets);
	r = 0;
	if (!r && o->json && (r = write_json(o->json, line, secs, &d, cpu, sets, after->n_sets)) < 0)
		fprintf(stderr, "irqctl: %s: %s\n", o->json, strerror(-r));
	if (!r && o->csv && (r = write_csv(o->csv, sets, after->n_sets)) < 0)
		fprintf(stderr, "irqctl: %s: %s\n", o->csv, strerror(-r));
	if (!r && o->svg && (r = write_svg(o->svg, line, secs, &sets[0])) < 0)
		fprintf(stderr, "irqctl: %s: %s\n", o->svg,
			r == -ENODATA ? "no samples in the window to plot" : strerror(-r));
	free(sets);
	irqd_profile_free(before);
	irqd_profile_free(after);
	return r < 0 ? 1 : 0;
}
