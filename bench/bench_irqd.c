/*
 * bench_irqd - raise-to-handler latency and delivered events per second, in one run:
 * a raw eventfd (no server), irqd exclusive direct, irqd shared (server hop, level line with
 * its answer), and each coalescing mode, each as a ratio to the raw eventfd.
 *
 *   bench_irqd --irqd PATH [--out DIR] [--events N] [--burst M]
 *
 * Every row runs a device process and a driver process. Latency: the device raises N events
 * paced at 2 kHz (so the driver sleeps before each one, the usual case for an interrupt),
 * stamping each in shared memory first; the driver computes handler-entry time minus the
 * stamp of every event it receives. Throughput: the device raises M events as fast as it can
 * (one write per event), or paced at 1,488,095 events/s (gigabit line rate at 64-byte frames);
 * the driver counts events and wake-ups until it has all M (any loss shows as a timeout).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "irqd/client.h"
#include "irqd/simdev.h"

#define LINE_RATE 1488095ull

static uint64_t mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

enum kind { RAW, IRQD };
enum phase { LATENCY, MAX_RATE, LINE_RATE_PHASE };

struct row {
	const char *name;
	enum kind kind;
	const char *line;          /* sim0 level, sim1..3 edge */
	uint32_t flags;
	struct irqd_coalesce_params co;
	/* results */
	double p50_us, p99_us;
	double max_eps, max_wakeups_per_event, line_eps, line_wakeups_per_event;
	bool lost;
};

/* Shared between coordinator, device and driver. */
struct shared {
	_Atomic int driver_ready;
	_Atomic int device_done;
	_Atomic uint64_t received;
	uint64_t start_ns, end_ns;
	uint64_t wakeups;
	bool timeout;
	uint64_t stamp[];          /* device's raise time of event i (latency phase) */
};

static struct shared *sh;
static uint64_t n_lat = 2000, n_burst = 1000000;
static char sock[128];

static void fatal(const char *what)
{
	fprintf(stderr, "bench_irqd: %s: %s\n", what, *irqd_last_error() ? irqd_last_error()
								    : strerror(errno));
	exit(1);
}

/* ---- device ------------------------------------------------------------------------------- */

static void device(const struct row *r, enum phase ph, int raw_efd)
{
	struct irqd_client *c = NULL;
	struct irqd_simdev *dev = NULL;
	if (r->kind == IRQD) {
		if (irqd_connect(sock, &c) < 0 || irqd_simdev_open(c, r->line, &dev) < 0)
			fatal("device");
	}
	while (!atomic_load(&sh->driver_ready))
		usleep(100);
	uint64_t total = ph == LATENCY ? n_lat : n_burst;
	uint64_t period = ph == LATENCY ? 500000 : 0;
	uint64_t start = mono_ns();
	sh->start_ns = start;
	uint64_t one = 1;
	for (uint64_t i = 0; i < total;) {
		uint64_t k = 1;
		if (ph == LATENCY) {
			uint64_t due = start + i * period;
			struct timespec ts = { .tv_sec = (time_t)(due / 1000000000ull),
					       .tv_nsec = (long)(due % 1000000000ull) };
			clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL);
			sh->stamp[i] = mono_ns();
		} else if (ph == LINE_RATE_PHASE) {
			/* raise what is due by now: the average rate is exact, bursts are small */
			uint64_t due = (mono_ns() - start) * LINE_RATE / 1000000000ull + 1;
			if (due <= i)
				continue;
			k = due - i;
			if (k > total - i)
				k = total - i;
		}
		if (r->kind == RAW)
			one = k, (void)!write(raw_efd, &one, sizeof(one));
		else if (irqd_simdev_raise(dev, k) < 0)
			fatal("raise");
		i += k;
	}
	atomic_store(&sh->device_done, 1);
	irqd_simdev_close(dev);
	irqd_disconnect(c);
}

/* ---- driver ------------------------------------------------------------------------------- */

static void record(enum phase ph, uint64_t got, uint64_t k, uint64_t now, uint64_t *lat)
{
	if (ph != LATENCY)
		return;
	for (uint64_t j = 0; j < k && got + j < n_lat; j++)
		lat[got + j] = now - sh->stamp[got + j];
}

static void driver(const struct row *r, enum phase ph, int raw_efd, uint64_t *lat)
{
	uint64_t total = ph == LATENCY ? n_lat : n_burst, got = 0, wakeups = 0;
	if (r->kind == RAW) {
		int ep = epoll_create1(0);
		struct epoll_event ev = { .events = EPOLLIN };
		epoll_ctl(ep, EPOLL_CTL_ADD, raw_efd, &ev);
		atomic_store(&sh->driver_ready, 1);
		while (got < total) {
			if (epoll_wait(ep, &ev, 1, 5000) <= 0) {
				sh->timeout = true;
				break;
			}
			uint64_t v;
			if (read(raw_efd, &v, sizeof(v)) != sizeof(v))
				continue;
			wakeups++;
			record(ph, got, v, mono_ns(), lat);
			got += v;
		}
	} else {
		struct irqd_client *c;
		struct irqd_simdev *dev = NULL;
		uint32_t h;
		const struct irqd_coalesce_params *co =
			r->co.usecs || r->co.frames || r->co.adaptive ? &r->co : NULL;
		if (irqd_connect(sock, &c) < 0 || irqd_attach(c, r->line, r->flags, co, &h) < 0)
			fatal("driver attach");
		bool level = !strcmp(r->line, "sim0");
		if (level && irqd_simdev_open(c, r->line, &dev) < 0)
			fatal("driver simdev");
		atomic_store(&sh->driver_ready, 1);
		struct irqd_event ev[64];
		while (got < total) {
			int n = irqd_wait(c, ev, 64, 5000);
			if (n <= 0) {
				sh->timeout = true;
				break;
			}
			uint64_t now = mono_ns();
			wakeups++;
			for (int i = 0; i < n; i++) {
				/* a level line's events are what the device had pending when serviced */
				uint64_t k = level ? irqd_simdev_service(dev) : ev[i].count;
				record(ph, got, k, now, lat);
				got += k;
				if (ev[i].occurrence)
					irqd_answer(c, ev[i].handle, ev[i].occurrence,
						    k ? IRQD_HANDLED : IRQD_NOT_MINE);
			}
		}
		irqd_simdev_close(dev);
		irqd_detach(c, h);
		irqd_disconnect(c);
	}
	sh->end_ns = mono_ns();
	sh->wakeups = wakeups;
	atomic_store(&sh->received, got);
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

static void run_phase(struct row *r, enum phase ph)
{
	size_t lat_bytes = n_lat * sizeof(uint64_t);
	uint64_t *lat = mmap(NULL, lat_bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
			     -1, 0);
	memset(sh, 0, sizeof(*sh));
	int efd = eventfd(0, 0);
	fflush(NULL);
	pid_t drv = fork();
	if (drv == 0) {
		driver(r, ph, efd, lat);
		_exit(0);
	}
	pid_t devp = fork();
	if (devp == 0) {
		device(r, ph, efd);
		_exit(0);
	}
	waitpid(devp, NULL, 0);
	waitpid(drv, NULL, 0);
	close(efd);
	uint64_t got = atomic_load(&sh->received), want = ph == LATENCY ? n_lat : n_burst;
	if (got != want || sh->timeout) {
		r->lost = true;
		fprintf(stderr, "bench_irqd: %s: received %" PRIu64 " of %" PRIu64 " events\n",
			r->name, got, want);
	}
	double secs = (double)(sh->end_ns - sh->start_ns) / 1e9;
	if (ph == LATENCY) {
		qsort(lat, n_lat, sizeof(uint64_t), cmp_u64);
		r->p50_us = (double)lat[n_lat / 2] / 1e3;
		r->p99_us = (double)lat[n_lat * 99 / 100] / 1e3;
	} else if (ph == MAX_RATE) {
		r->max_eps = (double)got / secs;
		r->max_wakeups_per_event = (double)sh->wakeups / (double)(got ? got : 1);
	} else {
		r->line_eps = (double)got / secs;
		r->line_wakeups_per_event = (double)sh->wakeups / (double)(got ? got : 1);
	}
	munmap(lat, lat_bytes);
}

int main(int argc, char **argv)
{
	const char *irqd = "build/bin/irqd", *out = "build/bench";
	for (int i = 1; i + 1 < argc; i += 2) {
		if (!strcmp(argv[i], "--irqd"))
			irqd = argv[i + 1];
		else if (!strcmp(argv[i], "--out"))
			out = argv[i + 1];
		else if (!strcmp(argv[i], "--events"))
			n_lat = strtoull(argv[i + 1], NULL, 10);
		else if (!strcmp(argv[i], "--burst"))
			n_burst = strtoull(argv[i + 1], NULL, 10);
		else {
			fprintf(stderr, "usage: bench_irqd --irqd PATH [--out DIR] [--events N] "
					"[--burst M]\n");
			return 2;
		}
	}
	if (n_lat < 100 || n_burst < 1000) {
		fprintf(stderr, "bench_irqd: --events >= 100, --burst >= 1000\n");
		return 2;
	}
	sh = mmap(NULL, sizeof(*sh) + n_lat * sizeof(uint64_t), PROT_READ | PROT_WRITE,
		  MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	char dir[] = "/tmp/irqd-bench.XXXXXX";
	if (!mkdtemp(dir))
		fatal("mkdtemp");
	snprintf(sock, sizeof(sock), "%s/irqd.sock", dir);
	char conf[128];
	snprintf(conf, sizeof(conf), "%s/irqd.conf", dir);
	FILE *f = fopen(conf, "w");
	fputs("line sim1 trigger=edge\nline sim2 trigger=edge\nline sim3 trigger=edge\n", f);
	fclose(f);
	pid_t srv = fork();
	if (srv == 0) {
		execl(irqd, irqd, "--socket", sock, "--sim", "4", "--config", conf, "--foreground",
		      (char *)NULL);
		_exit(127);
	}
	struct irqd_client *probe = NULL;
	for (int i = 0; i < 5000 && irqd_connect(sock, &probe) < 0; i++)
		usleep(1000);
	if (!probe)
		fatal("irqd did not start");
	irqd_disconnect(probe);

	struct row rows[] = {
		{ .name = "raw eventfd (no server)", .kind = RAW },
		{ .name = "irqd exclusive direct", .kind = IRQD, .line = "sim1",
		  .flags = IRQD_ATTACH_EXCLUSIVE | IRQD_ATTACH_DIRECT },
		{ .name = "irqd shared, level + answer", .kind = IRQD, .line = "sim0" },
		{ .name = "irqd edge, coalescing off", .kind = IRQD, .line = "sim2" },
		{ .name = "irqd edge, frames 32", .kind = IRQD, .line = "sim2", .co = { .frames = 32 } },
		{ .name = "irqd edge, usecs 50", .kind = IRQD, .line = "sim2", .co = { .usecs = 50 } },
		{ .name = "irqd edge, frames 32 + usecs 50", .kind = IRQD, .line = "sim2",
		  .co = { .usecs = 50, .frames = 32 } },
		{ .name = "irqd edge, adaptive", .kind = IRQD, .line = "sim2", .co = { .adaptive = 1 } },
	};
	const unsigned n_rows = sizeof(rows) / sizeof(rows[0]);
	for (unsigned i = 0; i < n_rows; i++) {
		run_phase(&rows[i], LATENCY);
		run_phase(&rows[i], MAX_RATE);
		run_phase(&rows[i], LINE_RATE_PHASE);
		fprintf(stderr, "  measured: %s\n", rows[i].name);
	}
	kill(srv, SIGTERM);
	waitpid(srv, NULL, 0);
	unlink(conf);
	rmdir(dir);

	mkdir(out, 0755);
	char path[256];
	snprintf(path, sizeof(path), "%s/results.md", out);
	FILE *md = fopen(path, "w");
	snprintf(path, sizeof(path), "%s/results.json", out);
	FILE *js = fopen(path, "w");
	const struct row *raw = &rows[0];
	char head[512];
	snprintf(head, sizeof(head),
		 "| row | p50 us | p99 us | p50 / raw | max-rate events/s | / raw | wake-ups/event "
		 "| at %llu/s: events/s | wake-ups/s | lost |\n"
		 "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|\n",
		 (unsigned long long)LINE_RATE);
	fputs(head, stdout);
	if (md)
		fputs(head, md);
	if (js)
		fprintf(js, "{\"latency_events\":%" PRIu64 ",\"burst_events\":%" PRIu64 ",\"rows\":[",
			n_lat, n_burst);
	for (unsigned i = 0; i < n_rows; i++) {
		const struct row *r = &rows[i];
		char line[512];
		snprintf(line, sizeof(line),
			 "| %s | %.1f | %.1f | %.2fx | %.0f | %.2fx | %.4f | %.0f | %.0f | %s |\n",
			 r->name, r->p50_us, r->p99_us, r->p50_us / raw->p50_us, r->max_eps,
			 r->max_eps / raw->max_eps, r->max_wakeups_per_event, r->line_eps,
			 r->line_wakeups_per_event * r->line_eps, r->lost ? "YES" : "no");
		fputs(line, stdout);
		if (md)
			fputs(line, md);
		if (js)
			fprintf(js,
				"%s{\"row\":\"%s\",\"p50_us\":%.2f,\"p99_us\":%.2f,\"p50_ratio\":%.3f,"
				"\"max_events_per_s\":%.0f,\"max_ratio\":%.3f,\"wakeups_per_event\":%.5f,"
				"\"line_rate_events_per_s\":%.0f,\"line_rate_wakeups_per_s\":%.0f,"
				"\"lost\":%s}",
				i ? "," : "", r->name, r->p50_us, r->p99_us, r->p50_us / raw->p50_us,
				r->max_eps, r->max_eps / raw->max_eps, r->max_wakeups_per_event,
				r->line_eps, r->line_wakeups_per_event * r->line_eps,
				r->lost ? "true" : "false");
	}
	if (js) {
		fputs("]}\n", js);
		fclose(js);
	}
	if (md)
		fclose(md);
	bool lost = false;
	for (unsigned i = 0; i < n_rows; i++)
		lost |= rows[i].lost;
	return lost ? 1 : 0;
}
