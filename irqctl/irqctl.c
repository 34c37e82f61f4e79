/*
 * irqctl - look at and drive irqd.
 *
 *   irqctl [--socket PATH] lines [--json] [--noheadings]
 *   irqctl [--socket PATH] top [--interval S] [--count N] [--no-latency]
 *   irqctl [--socket PATH] stats [--json]
 *   irqctl [--socket PATH] watch LINE [--count N] [--shared]
 *   irqctl [--socket PATH] raise LINE [--count N] [--rate HZ]
 *   irqctl [--socket PATH] coalesce LINE [--usecs N] [--frames N] [--adaptive on|off]
 *   irqctl [--socket PATH] enable LINE
 *   irqctl [--socket PATH] profile LINE [--seconds S] [--svg FILE] [--json FILE] [--csv FILE]
 *   irqctl pci [--json]
 *
 * Exit status 0 on success; otherwise one line on stderr and a non-zero status.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "irqd/client.h"
#include "irqd/profile.h"
#include "irqd/simdev.h"
#include "irqctl.h"
#include "pci.h"
#include "profile.h"
#include "top.h"

static const char *socket_path;

int die(const char *what, int err)
{
	const char *why = irqd_last_error();
	fprintf(stderr, "irqctl: %s: %s\n", what, *why ? why : strerror(-err));
	return 1;
}

static int usage(void)
{
	fprintf(stderr,
		"usage: irqctl [--socket PATH] COMMAND\n"
		"  lines [--json] [--noheadings]             the lines irqd serves (like lsirq)\n"
		"  top [--interval S] [--count N] [--no-latency]\n"
		"                                            live view of the lines (like irqtop)\n"
		"  stats [--json]                            counters per line and per client\n"
		"  watch LINE [--count N] [--shared]         print each notification, answer handled\n"
		"  raise LINE [--count N] [--rate HZ]        raise a simulated line\n"
		"  coalesce LINE [--usecs N] [--frames N] [--adaptive on|off]\n"
		"  enable LINE                               re-arm a line the storm rule disabled\n"
		"  profile LINE [--seconds S] [--svg FILE] [--json FILE] [--csv FILE]\n"
		"                                            latency per stage: p50 p90 p99 p99.9 max\n"
		"  pci [--json]                              PCI functions and their interrupts\n");
	return 2;
}

static bool parse_u64(const char *s, uint64_t *out)
{
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || end == s || *end || s[0] == '-')
		return false;
	*out = v;
	return true;
}

static bool parse_seconds(const char *s, double *out)
{
	char *end;
	double v = strtod(s, &end);
	if (end == s || *end || !(v > 0 && v <= 86400))
		return false;
	*out = v;
	return true;
}

/* Options after the command: --name VALUE pairs and bare flags. */
struct opts {
	uint64_t count, rate, usecs, frames;
	bool json, shared, have_usecs, have_frames, have_adaptive, adaptive, noheadings;
	struct profile_opts profile;
	struct top_opts top;
};

static int parse_opts(int argc, char **argv, struct opts *o)
{
	for (int i = 0; i < argc; i++) {
		const char *a = argv[i];
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (!strcmp(a, "--json")) {
			o->json = true;
			if (v && strncmp(v, "--", 2))   /* profile: --json FILE */
				o->profile.json = argv[++i];
		} else if (!strcmp(a, "--svg") && v) {
			o->profile.svg = argv[++i];
		} else if (!strcmp(a, "--csv") && v) {
			o->profile.csv = argv[++i];
		} else if (!strcmp(a, "--seconds") && v && parse_seconds(v, &o->profile.seconds)) {
			i++;
		} else if (!strcmp(a, "--shared")) {
			o->shared = true;
		} else if (!strcmp(a, "--noheadings")) {
			o->noheadings = true;
		} else if (!strcmp(a, "--no-latency")) {
			o->top.no_latency = true;
		} else if (!strcmp(a, "--interval") && v && parse_seconds(v, &o->top.interval)) {
			i++;
		} else if (!strcmp(a, "--count") && v && parse_u64(v, &o->count)) {
			i++;
		} else if (!strcmp(a, "--rate") && v && parse_u64(v, &o->rate)) {
			i++;
		} else if (!strcmp(a, "--usecs") && v && parse_u64(v, &o->usecs)) {
			o->have_usecs = true;
			i++;
		} else if (!strcmp(a, "--frames") && v && parse_u64(v, &o->frames)) {
			o->have_frames = true;
			i++;
		} else if (!strcmp(a, "--adaptive") && v && (!strcmp(v, "on") || !strcmp(v, "off"))) {
			o->have_adaptive = true;
			o->adaptive = !strcmp(v, "on");
			i++;
		} else {
			fprintf(stderr, "irqctl: bad option '%s'%s\n", a,
				v ? "" : " (missing value?)");
			return -1;
		}
	}
	return 0;
}

static uint64_t mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static const char *trigger_name(enum irqd_trigger t)
{
	return t == IRQD_LEVEL ? "level" : "edge";
}

/* Like lsirq: aligned columns, or --json, optionally without the heading. */
static int cmd_lines(struct irqd_client *c, const struct opts *o)
{
	struct irqd_line_desc d;
	if (o->json)
		printf("{\"lines\":[");
	else if (!o->noheadings)
		printf("%-5s %-24s %-8s %-7s %7s %12s %s\n", "ID", "NAME", "SOURCE", "TRIGGER",
		       "SHARERS", "TOTAL", "FLAGS");
	int r;
	bool first = true;
	for (r = irqd_line_next(c, NULL, &d); r == 0; r = irqd_line_next(c, &d, &d)) {
		struct irqd_line_stats st;
		if (irqd_line_stats(c, d.name, &st) < 0)
			continue; /* deleted meanwhile */
		const char *flags = (st.flags & IRQD_LINE_DISABLED) ? "disabled"
				    : (d.flags & IRQD_LINE_EXCLUSIVE) ? "exclusive"
								      : "-";
		if (o->json)
			printf("%s{\"id\":%u,\"name\":\"%s\",\"source\":\"%s\",\"trigger\":\"%s\","
			       "\"sharers\":%u,\"total\":%" PRIu64 ",\"exclusive\":%s,"
			       "\"masked\":%s,\"disabled\":%s}",
			       first ? "" : ",", d.id, d.name, d.source, trigger_name(d.trigger),
			       d.attachments, st.raised,
			       (d.flags & IRQD_LINE_EXCLUSIVE) ? "true" : "false",
			       (st.flags & IRQD_LINE_MASKED) ? "true" : "false",
			       (st.flags & IRQD_LINE_DISABLED) ? "true" : "false");
		else
			printf("%-5u %-24s %-8s %-7s %7u %12" PRIu64 " %s\n", d.id, d.name, d.source,
			       trigger_name(d.trigger), d.attachments, st.raised, flags);
		first = false;
	}
	if (o->json)
		printf("]}\n");
	return r == -ENOENT ? 0 : die("lines", r);
}

/* ,"latency":{per stage percentiles since profiling began} or null, and the closing brace */
static void json_latency(struct irqd_client *c, const char *line)
{
	struct irqd_profile_dump *d;
	printf(",\"latency\":");
	if (irqd_profile_read(c, line, &d) < 0) {
		printf("null}");
		return;
	}
	profile_json_stages(stdout, d->set[0].stage);
	printf("}");
	irqd_profile_free(d);
}

static int cmd_stats(struct irqd_client *c, bool json)
{
	struct irqd_line_desc d;
	int r;
	bool first = true;
	if (json)
		printf("{\"lines\":[");
	else
		printf("%-16s %-5s %10s %10s %10s %10s %10s %7s %6s %4s %4s %5s\n", "LINE", "TRIG",
		       "RAISED", "DELIVERED", "HANDLED", "NOT_MINE", "UNHANDLED", "STALLS", "WAKEUPS",
		       "MASK", "DIS", "ATT");
	for (r = irqd_line_next(c, NULL, &d); r == 0; r = irqd_line_next(c, &d, &d)) {
		struct irqd_line_stats st;
		int e = irqd_line_stats(c, d.name, &st);
		if (e == -ENOENT)
			continue; /* deleted meanwhile */
		if (e < 0)
			return die("stats", e);
		bool masked = st.flags & IRQD_LINE_MASKED, dis = st.flags & IRQD_LINE_DISABLED;
		if (json)
			printf("%s{\"id\":%u,\"name\":\"%s\",\"trigger\":\"%s\",\"raised\":%" PRIu64
			       ",\"delivered\":%" PRIu64 ",\"handled\":%" PRIu64 ",\"not_mine\":%" PRIu64
			       ",\"unhandled\":%" PRIu64 ",\"stalls\":%" PRIu64 ",\"dropped\":%" PRIu64
			       ",\"disables\":%" PRIu64 ",\"wakeups\":%" PRIu64
			       ",\"direct_events\":%" PRIu64 ",\"masked\":%s,\"disabled\":%s"
			       ",\"mask_refs\":%" PRIu64 ",\"attachments\":%u",
			       first ? "" : ",", st.id, st.name, trigger_name(st.trigger), st.raised,
			       st.delivered, st.handled, st.not_mine, st.unhandled, st.stalls,
			       st.dropped, st.disables, st.wakeups, st.direct_events,
			       masked ? "true" : "false", dis ? "true" : "false", st.mask_refs,
			       st.attachments);
		if (json)
			json_latency(c, d.name);
		else
			printf("%-16s %-5s %10" PRIu64 " %10" PRIu64 " %10" PRIu64 " %10" PRIu64
			       " %10" PRIu64 " %7" PRIu64 " %6" PRIu64 " %4s %4s %5u\n",
			       st.name, trigger_name(st.trigger), st.raised, st.delivered, st.handled,
			       st.not_mine, st.unhandled, st.stalls, st.wakeups, masked ? "yes" : "-",
			       dis ? "yes" : "-", st.attachments);
		first = false;
	}
	if (r != -ENOENT)
		return die("stats", r);
	if (json)
		printf("],\"clients\":[");
	else
		printf("\n%-8s %-6s %4s %12s %12s %10s %10s %6s %9s %6s\n", "PID", "UID", "ATT",
		       "NOTIFIED", "EVENTS", "WAKEUPS", "ANSWERS", "BAD", "REQUESTS", "ERRORS");
	first = true;
	struct irqd_client_stats cs;
	for (uint32_t i = 0; (r = irqd_client_stats(c, i, &cs)) == 0; i = cs.index + 1) {
		if (json)
			printf("%s{\"pid\":%u,\"uid\":%u,\"attachments\":%u,\"notifications\":%" PRIu64
			       ",\"events\":%" PRIu64 ",\"wakeups\":%" PRIu64 ",\"answers\":%" PRIu64
			       ",\"bad_answers\":%" PRIu64 ",\"requests\":%" PRIu64 ",\"errors\":%" PRIu64
			       "}",
			       first ? "" : ",", cs.pid, cs.uid, cs.attachments, cs.notifications,
			       cs.events, cs.wakeups, cs.answers, cs.bad_answers, cs.requests, cs.errors);
		else
			printf("%-8u %-6u %4u %12" PRIu64 " %12" PRIu64 " %10" PRIu64 " %10" PRIu64
			       " %6" PRIu64 " %9" PRIu64 " %6" PRIu64 "\n",
			       cs.pid, cs.uid, cs.attachments, cs.notifications, cs.events, cs.wakeups,
			       cs.answers, cs.bad_answers, cs.requests, cs.errors);
		first = false;
	}
	if (r != -ENOENT)
		return die("stats", r);
	if (json) {
		struct irqd_server_stats ss;
		if ((r = irqd_server_stats(c, &ss)) < 0)
			return die("stats", r);
		printf("],\"server\":{\"uptime_ns\":%" PRIu64 ",\"cpu_control_ns\":%" PRIu64
		       ",\"cpu_delivery_ns\":%" PRIu64 ",\"lines\":%u,\"clients\":%u"
		       ",\"profiled_lines\":%u}}\n",
		       ss.uptime_ns, ss.cpu_control_ns, ss.cpu_delivery_ns, ss.lines, ss.clients,
		       ss.profiled_lines);
	}
	return 0;
}

/* A driver in a few lines: wait, service the device if it is a sim line we may drive, answer. */
static int cmd_watch(struct irqd_client *c, const char *line, const struct opts *o)
{
	uint32_t h;
	int r = irqd_attach(c, line, o->shared ? IRQD_ATTACH_SHARED : IRQD_ATTACH_EXCLUSIVE, NULL,
			    &h);
	if (r < 0)
		return die(line, r);
	struct irqd_simdev *dev = NULL;
	if (irqd_simdev_open(c, line, &dev) < 0)
		dev = NULL; /* not a sim line, or not ours to drive: answer without servicing */
	printf("%8s %-16s %8s %10s %12s %12s %s\n", "SEQ", "LINE", "COUNT", "OCCURRENCE",
	       "DELIVER_US", "HANDLER_US", "ANSWER");
	fflush(stdout);
	uint64_t seen = 0;
	while (!o->count || seen < o->count) {
		struct irqd_event ev[32];
		int n = irqd_wait(c, ev, 32, -1);
		if (n < 0)
			return die("watch", n);
		uint64_t now = mono_ns();
		for (int i = 0; i < n; i++) {
			const char *ans = "-";
			uint64_t events = ev[i].count;
			if (ev[i].occurrence) {
				/* a level occurrence stands for every event the device had pending;
				 * one another sharer serviced still counts once, so that sharers
				 * watching the same line all come to their --count */
				uint64_t serviced = dev ? irqd_simdev_service(dev) : 1;
				bool mine = serviced > 0;
				events = mine ? serviced : 1;
				r = irqd_answer(c, ev[i].handle, ev[i].occurrence,
						mine ? IRQD_HANDLED : IRQD_NOT_MINE);
				if (r < 0)
					return die("answer", r);
				ans = mine ? "handled" : "not-mine";
			}
			printf("%8" PRIu64 " %-16s %8" PRIu64 " %10" PRIu64 " %12.1f %12.1f %s\n",
			       ev[i].seq, line, ev[i].count, ev[i].occurrence,
			       (double)(ev[i].delivered_ns - ev[i].first_ns) / 1e3,
			       (double)(now - ev[i].first_ns) / 1e3, ans);
			seen += events;
		}
		fflush(stdout);
	}
	irqd_simdev_close(dev);
	return 0;
}

static int cmd_raise(struct irqd_client *c, const char *line, const struct opts *o)
{
	struct irqd_simdev *dev;
	int r = irqd_simdev_open(c, line, &dev);
	if (r < 0)
		return die(line, r);
	uint64_t count = o->count ? o->count : 1;
	uint64_t start = mono_ns();
	for (uint64_t i = 0; i < count; i++) {
		if (o->rate) {
			uint64_t due = start + i * 1000000000ull / o->rate;
			struct timespec ts = { .tv_sec = (time_t)(due / 1000000000ull),
					       .tv_nsec = (long)(due % 1000000000ull) };
			clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL);
		}
		r = irqd_simdev_raise(dev, 1);
		if (r < 0) {
			irqd_simdev_close(dev);
			return die("raise", r);
		}
	}
	irqd_simdev_close(dev);
	return 0;
}

static int cmd_coalesce(struct irqd_client *c, const char *line, const struct opts *o)
{
	if (o->usecs > UINT32_MAX || o->frames > UINT32_MAX) {
		fprintf(stderr, "irqctl: coalesce values too large\n");
		return 2;
	}
	struct irqd_coalesce_params p = { .usecs = (uint32_t)o->usecs, .frames = (uint32_t)o->frames,
					  .adaptive = o->adaptive };
	int r = irqd_line_coalesce(c, line, &p);
	return r < 0 ? die(line, r) : 0;
}

int main(int argc, char **argv)
{
	int i = 1;
	if (i + 1 < argc && !strcmp(argv[i], "--socket")) {
		socket_path = argv[i + 1];
		i += 2;
	}
	if (i >= argc || !strcmp(argv[i], "--help") || !strcmp(argv[i], "-h"))
		return usage();
	const char *cmd = argv[i++];
	const char *line = NULL;
	bool needs_line = !strcmp(cmd, "watch") || !strcmp(cmd, "raise") ||
			  !strcmp(cmd, "coalesce") || !strcmp(cmd, "enable") ||
			  !strcmp(cmd, "profile");
	/* errors are one line on stderr (the usage text is for no command or --help) */
	if (!needs_line && strcmp(cmd, "lines") && strcmp(cmd, "stats") && strcmp(cmd, "pci") &&
	    strcmp(cmd, "top")) {
		fprintf(stderr, "irqctl: unknown command '%s' (irqctl --help lists them)\n", cmd);
		return 2;
	}
	if (needs_line) {
		if (i >= argc) {
			fprintf(stderr, "irqctl: %s needs a LINE: irqctl %s LINE [options]\n", cmd, cmd);
			return 2;
		}
		line = argv[i++];
	}
	struct opts o = { .profile.seconds = 5, .top.interval = 1 };
	if (parse_opts(argc - i, argv + i, &o) < 0)
		return 2;
	if (!strcmp(cmd, "pci"))
		return pci_irq_print(stdout, o.json) < 0 ? 1 : 0;
	struct irqd_client *c;
	int r = irqd_connect(socket_path, &c);
	if (r < 0)
		return die("connect", r);
	if (!strcmp(cmd, "lines"))
		r = cmd_lines(c, &o);
	else if (!strcmp(cmd, "top")) {
		o.top.count = o.count;
		r = top_cmd(c, &o.top);
	}
	else if (!strcmp(cmd, "stats"))
		r = cmd_stats(c, o.json);
	else if (!strcmp(cmd, "watch"))
		r = cmd_watch(c, line, &o);
	else if (!strcmp(cmd, "raise"))
		r = cmd_raise(c, line, &o);
	else if (!strcmp(cmd, "coalesce"))
		r = cmd_coalesce(c, line, &o);
	else if (!strcmp(cmd, "profile"))
		r = profile_cmd(c, line, &o.profile);
	else {
		r = irqd_line_enable(c, line);
		r = r < 0 ? die(line, r) : 0;
	}
	irqd_disconnect(c);
	return r;
}
