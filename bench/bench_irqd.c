/*
 * bench_irqd - where the microseconds go and what irqd costs, in one run and one table.
 *
 *   bench_irqd --irqd PATH [--out DIR] [--events N] [--burst M] [--rounds R] [--only TEXT]
 *              [--slice-us US]
 *
 * --events: latency events per row (default 4000), run in R interleaved rounds (default 20, the
 * rows in a new order each round);
 * --burst: events per throughput row (default 1,000,000); --only: the rows whose name contains
 * one of the comma-separated TEXT, or (TEXT starting with '=') the one row named exactly the rest,
 * commas and all, to trace or profile it alone (targets are then not evaluated); --slice-us: the
 * scheduler slice (irqd_thread_slice) of every process that waits for an interrupt (drivers,
 * the classic server) and of irqd's delivery thread (its slice-us), default 100; 0 leaves the
 * kernel's default. The device, which stands for hardware, keeps the default.
 *
 * Every row is a device process and one or more driver processes (plus, for the classic row, a
 * server process), forked from here; irqd is started once, with sim lines, and serves every
 * row. Each row is one of three phases:
 *   latency     the device raises N events paced at 2 kHz, so the driver sleeps before each
 *               one (the usual case for an interrupt), stamping each in shared memory first;
 *               the driver records handler entry minus the stamp of every event it receives.
 *               All processes and irqd's threads run on one CPU unless the row says "spread":
 *               on a virtual machine a wake-up across CPUs costs an inter-processor interrupt
 *               and a host reschedule, which would measure the hypervisor, not the path.
 *   max rate    the device raises M events, one write each, as fast as it can; the driver
 *               counts events until it has all M (a loss shows as a timeout).
 *   line rate   the same M events paced at 1,488,095 events/s (gigabit at 64-byte frames).
 * Ratios are to the raw eventfd row of the same phase. irqd's CPU time over the phase comes
 * from irqd itself (irqd_server_stats: its threads' CPU clocks); wake-ups from its line
 * counters (eventfd writes to sleeping clients).
 *
 * Results: a Markdown table on stdout and in DIR/results.md, DIR/results.json, SVG plots in
 * DIR, and the targets with their figures.
 */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/hist.h"
#include "irqd/client.h"
#include "irqd/profile.h"
#include "irqd/simdev.h"
#include "stats.h"
#include "svg.h"

#define LINE_RATE 1488095ull
#define LATENCY_PERIOD_NS 500000ull   /* 2 kHz */
#define MAX_SHARERS 64
#define MAX_LINES 1024
#define TIMEOUT_MS 10000
#define MAX_ROUNDS 100

enum kind {
	RAW,         /* eventfd, no server */
	POLL,        /* the driver spins on the device's register: the floor, no notification */
	CLASSIC,     /* Omega0's model: one request/reply IPC to a server per interrupt */
	SIM,         /* irqd, a sim line */
	LINES,       /* irqd, one driver attached to many eventfd lines, raised round robin */
	CONTROL,     /* irqd, no interrupt: the round trip of a control request (a line lookup) */
};
enum phase { LATENCY, MAX_RATE, LINE_RATE_PHASE };
static const char *const phase_name[] = { "latency at 2 kHz", "max rate", "1,488,095/s" };

struct row {
	const char *name;
	enum kind kind;
	enum phase phase;
	bool spread;                  /* processes free to run on any CPU */
	const char *line;             /* SIM: sim0 level, sim1/sim2 edge */
	uint32_t flags;
	struct irqd_coalesce_params co;
	unsigned sharers;             /* SIM level: 1 owner of the device + NOT_MINE others */
	unsigned lines;               /* LINES */
	bool storm;                   /* an interrupt storm on sim3 meanwhile */
	bool flood;                   /* another client floods irqd with requests meanwhile */
	/* results, summed over the row's runs */
	struct hist_snapshot lat;
	double round_p50[MAX_ROUNDS];   /* latency rows: each round's median, for paired ratios */
	unsigned n_rounds;
	uint64_t events, wakeups, wake_events, cpu_ns;
	uint64_t storm_occurrences, storm_disables;
	uint64_t flood_requests;
	uint64_t storm_final_occurrences, storm_final_disables;   /* the storm run to its end */
	double storm_final_s;
	double secs, bytes_per_line;
	bool has_wakeups, has_cpu, lost;
	bool skip;                    /* not selected by --only */
};

/* Shared by this process and every process of a row. */
struct shared {
	_Atomic unsigned ready;       /* drivers attached */
	_Atomic int lines_ready;      /* LINES: the device created them */
	_Atomic int storm_ready;      /* the storm runs */
	_Atomic int flood_ready;      /* the flood runs */
	_Atomic int slice_refused;    /* a waiter's irqd_thread_slice failed */
	uint64_t flood_requests;
	bool storm_to_the_end;        /* the storm runs until the storm rule disables the line */
	uint64_t storm_occurrences, storm_disables, storm_ns;
	_Atomic int stop;             /* the row is over: drivers that are not the owner leave */
	_Atomic uint64_t reg;         /* POLL: the device's event counter register */
	_Atomic uint64_t received;    /* events the owner driver got */
	uint64_t start_ns, end_ns;
	uint64_t driver_wakeups;      /* RAW: times the driver was woken with events */
	uint64_t cpu_ns;              /* server CPU over the phase */
	uint64_t irqd_wakeups, irqd_events;
	uint64_t rss_kb;              /* LINES: irqd's resident set once all is attached */
	bool timeout;
	char err[200];
	struct hist lat;              /* the owner driver records, the parent reads afterwards */
	uint64_t stamp[];             /* LATENCY: the device's raise time of event i */
};

static struct shared *sh;
static uint64_t n_lat = 4000, n_burst = 1000000, run_events;
static unsigned rounds = 20;
static unsigned slice_us = 100;
static bool slice_refused;        /* by this kernel (before 6.12) or out of bounds */
static char sock[128];
static char dir[] = "/tmp/irqd-bench.XXXXXX", conf[128];   /* irqd's socket and configuration */
static pid_t irqd_pid, bench_pid;
static int ncpus;

static uint64_t mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Ends the irqd this run started and removes its files. */
static void stop_irqd(void)
{
	kill(irqd_pid, SIGTERM);
	waitpid(irqd_pid, NULL, 0);
	irqd_pid = 0;
	unlink(conf);
	rmdir(dir);
}

static void die(const char *what)
{
	fprintf(stderr, "bench_irqd: %s: %s\n", what, *irqd_last_error() ? irqd_last_error()
								    : strerror(errno));
	if (irqd_pid > 0 && getpid() == bench_pid)
		stop_irqd(); /* the run's own failure: leave nothing behind */
	_exit(1);
}

/* Events of the run under way: latency rows run in rounds of n_lat / rounds. */
static uint64_t total_events(const struct row *r)
{
	(void)r;
	return run_events;
}

/* ---- placement ------------------------------------------------------------------------------ */

static void pin(pid_t tid, int cpu)
{
	cpu_set_t set;
	CPU_ZERO(&set);
	for (int i = 0; i < ncpus; i++)
		if (cpu < 0 || i == cpu)
			CPU_SET(i, &set);
	sched_setaffinity(tid, sizeof(set), &set);
}

/* Every thread of irqd: on one CPU, or (cpu < 0) on all. */
static void pin_irqd(int cpu)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/task", (int)irqd_pid);
	DIR *d = opendir(path);
	struct dirent *e;
	while (d && (e = readdir(d)))
		if (e->d_name[0] != '.')
			pin((pid_t)atoi(e->d_name), cpu);
	if (d)
		closedir(d);
}

static uint64_t irqd_rss_kb(void)
{
	char path[64], line[256];
	snprintf(path, sizeof(path), "/proc/%d/status", (int)irqd_pid);
	FILE *f = fopen(path, "r");
	uint64_t kb = 0;
	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "VmRSS: %" SCNu64, &kb) == 1)
			break;
	if (f)
		fclose(f);
	return kb;
}

/* ---- the device ----------------------------------------------------------------------------- */

/* The latency phase's pace: a periodic timerfd, armed once. Sleeping in clock_nanosleep instead
 * armed a timer after every raise, ~15 µs of the device's own work on the one CPU (timer
 * programming is a hypervisor exit here), which then ran ahead of the delivery whenever irqd
 * was busy and did not preempt it (the storm row). */
static int pace_start(uint64_t start)
{
	int tfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC);
	struct itimerspec its = {
		.it_interval = { .tv_nsec = (long)LATENCY_PERIOD_NS },
		.it_value = { .tv_sec = (time_t)(start / 1000000000ull),
			      .tv_nsec = (long)(start % 1000000000ull) },
	};
	if (tfd < 0 || timerfd_settime(tfd, TFD_TIMER_ABSTIME, &its, NULL) < 0)
		die("timerfd");
	return tfd;
}

static bool wait_flag(_Atomic uint64_t *v, uint64_t want)
{
	uint64_t end = mono_ns() + TIMEOUT_MS * 1000000ull;
	while (atomic_load(v) < want)
		if (mono_ns() > end)
			return false;
		else
			usleep(50);
	return true;
}

struct irqd_sample {
	uint64_t cpu, wakeups, events;
};

static void sample_irqd(struct irqd_client *c, const struct row *r, struct irqd_sample *s)
{
	struct irqd_server_stats ss;
	if (irqd_server_stats(c, &ss) < 0)
		die("server stats");
	s->cpu = ss.cpu_control_ns + ss.cpu_delivery_ns;
	if (r->kind == SIM) {
		struct irqd_line_stats st;
		if (irqd_line_stats(c, r->line, &st) < 0)
			die("line stats");
		s->wakeups = st.wakeups;
		s->events = st.delivered + st.direct_events;
	}
}

/* The owner driver got k events at `now`. */
static void got_events(const struct row *r, uint64_t k, uint64_t now)
{
	uint64_t got = atomic_load_explicit(&sh->received, memory_order_relaxed);
	for (uint64_t j = 0; r->phase == LATENCY && j < k && got + j < run_events; j++)
		hist_record(&sh->lat, now - sh->stamp[got + j]);
	if (got + k >= total_events(r))
		sh->end_ns = now;
	atomic_store(&sh->received, got + k);
}

static bool done(const struct row *r)
{
	return atomic_load(&sh->received) >= total_events(r);
}

static void device(const struct row *r, int efd, unsigned drivers)
{
	pin(0, r->spread ? -1 : 0);
	struct irqd_client *c = NULL;
	struct irqd_simdev *dev = NULL;
	static int line_fd[MAX_LINES];
	if (r->kind == SIM || r->kind == LINES || r->kind == CONTROL)
		if (irqd_connect(sock, &c) < 0)
			die("device connect");
	if (r->kind == SIM && irqd_simdev_open(c, r->line, &dev) < 0)
		die("device open");
	for (unsigned i = 0; r->kind == LINES && i < r->lines; i++) {
		char name[16];
		snprintf(name, sizeof(name), "bl%u", i);
		line_fd[i] = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		if (line_fd[i] < 0 || irqd_line_create_eventfd(c, line_fd[i], name, NULL) < 0)
			die("create eventfd line");
	}
	atomic_store(&sh->lines_ready, 1);
	while (atomic_load(&sh->ready) < drivers)
		usleep(100);
	if (r->kind == LINES)
		sh->rss_kb = irqd_rss_kb();
	struct irqd_sample before = { 0 }, after = { 0 };
	if (c)
		sample_irqd(c, r, &before);
	uint64_t total = total_events(r), start = mono_ns();
	sh->start_ns = start;
	int pace = r->phase == LATENCY ? pace_start(start) : -1;
	for (uint64_t i = 0; i < total;) {
		uint64_t k = 1;
		if (r->phase == LATENCY) {
			uint64_t periods;
			if (read(pace, &periods, sizeof(periods)) != sizeof(periods))
				die("timerfd");
			sh->stamp[i] = mono_ns();
		} else if (r->phase == LINE_RATE_PHASE) {
			/* raise what is due by now: the average rate is exact, bursts are small */
			uint64_t due = (mono_ns() - start) * LINE_RATE / 1000000000ull + 1;
			if (due <= i)
				continue;
			k = due - i < total - i ? due - i : total - i;
		}
		switch (r->kind) {
		case RAW:
		case CLASSIC:
			if (write(efd, &k, sizeof(k)) != sizeof(k))
				die("raise");
			break;
		case POLL:
			atomic_fetch_add_explicit(&sh->reg, k, memory_order_release);
			break;
		case SIM:
			if (irqd_simdev_raise(dev, k) < 0)
				die("raise");
			break;
		case LINES:
			if (write(line_fd[i % r->lines], &k, sizeof(k)) != sizeof(k))
				die("raise");
			break;
		case CONTROL: {
			/* the request's send time is the stamp, the reply its "handler entry" */
			struct irqd_line_desc d;
			if (irqd_line_lookup(c, "sim1", &d) < 0)
				die("control request");
			got_events(r, 1, mono_ns());
			break;
		}
		}
		i += k;
	}
	if (pace >= 0)
		close(pace);
	if (!wait_flag(&sh->received, total))
		sh->timeout = true;
	if (c) {
		sample_irqd(c, r, &after);
		sh->cpu_ns = after.cpu - before.cpu;
		sh->irqd_wakeups = after.wakeups - before.wakeups;
		sh->irqd_events = after.events - before.events;
	}
	irqd_simdev_close(dev);
	irqd_disconnect(c);   /* its eventfd lines go with it */
}

/* ---- drivers -------------------------------------------------------------------------------- */

static void driver_raw(const struct row *r, int efd)
{
	int ep = epoll_create1(0);
	struct epoll_event ev = { .events = EPOLLIN };
	epoll_ctl(ep, EPOLL_CTL_ADD, efd, &ev);
	atomic_fetch_add(&sh->ready, 1);
	while (!done(r)) {
		if (epoll_wait(ep, &ev, 1, TIMEOUT_MS) <= 0)
			return;
		uint64_t v;
		if (read(efd, &v, sizeof(v)) != sizeof(v))
			continue;
		sh->driver_wakeups++;
		got_events(r, v, mono_ns());
	}
}

static void driver_poll(const struct row *r)
{
	uint64_t seen = 0;
	atomic_fetch_add(&sh->ready, 1);
	uint64_t give_up = mono_ns() + TIMEOUT_MS * 1000000ull;
	while (!done(r)) {
		uint64_t v = atomic_load_explicit(&sh->reg, memory_order_acquire);
		if (v == seen) {
			if ((v & 0xfff) == 0 && mono_ns() > give_up)
				return;
			continue;
		}
		got_events(r, v - seen, mono_ns());
		seen = v;
		give_up = mono_ns() + TIMEOUT_MS * 1000000ull;
	}
}

/* The classic model's driver: request, block for the reply, handle, again. */
static void driver_classic(const struct row *r, int s)
{
	atomic_fetch_add(&sh->ready, 1);
	while (!done(r)) {
		uint32_t req = 3; /* WAIT | CONSUME */
		uint64_t count;
		if (send(s, &req, sizeof(req), 0) != sizeof(req) ||
		    recv(s, &count, sizeof(count), 0) != sizeof(count))
			return;
		got_events(r, count, mono_ns());
	}
}

/* The classic model's server: for each request, block until the interrupt, reply its count. */
static void classic_server(int efd, int s)
{
	uint32_t req;
	while (recv(s, &req, sizeof(req), 0) == sizeof(req)) {
		uint64_t count;
		if (read(efd, &count, sizeof(count)) != sizeof(count) ||
		    send(s, &count, sizeof(count), 0) != sizeof(count))
			break;
	}
	struct timespec ts;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	sh->cpu_ns = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* A driver on irqd. The owner services the device and records; the others (sharers of a level
 * line whose device is not theirs) answer NOT_MINE until the row is over. */
static void driver_irqd(const struct row *r, bool owner)
{
	struct irqd_client *c;
	struct irqd_simdev *dev = NULL;
	const struct irqd_coalesce_params *co =
		r->co.usecs || r->co.frames || r->co.adaptive ? &r->co : NULL;
	if (irqd_connect(sock, &c) < 0)
		die("driver connect");
	bool level = r->kind == SIM && !strcmp(r->line, "sim0");
	if (r->kind == LINES) {
		while (!atomic_load(&sh->lines_ready))
			usleep(100);
		for (unsigned i = 0; i < r->lines; i++) {
			char name[16];
			uint32_t h;
			snprintf(name, sizeof(name), "bl%u", i);
			if (irqd_attach(c, name, IRQD_ATTACH_EXCLUSIVE, NULL, &h) < 0)
				die("driver attach");
		}
	} else {
		uint32_t h;
		if (irqd_attach(c, r->line, r->flags, co, &h) < 0)
			die("driver attach");
		if (level && owner && irqd_simdev_open(c, r->line, &dev) < 0)
			die("driver simdev");
	}
	atomic_fetch_add(&sh->ready, 1);
	struct irqd_event ev[64];
	while (owner ? !done(r) : !atomic_load(&sh->stop)) {
		int n = irqd_wait(c, ev, 64, owner ? TIMEOUT_MS : 20);
		if (n < 0 || (n == 0 && owner))
			break;
		uint64_t now = mono_ns();
		for (int i = 0; i < n; i++) {
			/* a level occurrence stands for what the device had pending when serviced */
			uint64_t k = !level ? ev[i].count : owner ? irqd_simdev_service(dev) : 0;
			if (owner)
				got_events(r, k, now);
			if (ev[i].occurrence)
				irqd_answer(c, ev[i].handle, ev[i].occurrence,
					    k ? IRQD_HANDLED : IRQD_NOT_MINE);
		}
	}
	irqd_simdev_close(dev);
	irqd_disconnect(c);
}

/* ---- the storm: a level line nobody services ---------------------------------------------------- */

/*
 * The storm line's one driver answers NOT_MINE without servicing the device, which asserts for
 * ever: irqd refires the line on every unmask, as fast as the driver answers (it spins, on a CPU
 * of its own when there is one), until the storm rule disables it. The line is enabled again at
 * the start of every run.
 */
static void storm_main(void)
{
	pin(0, ncpus > 1 ? 1 : 0);
	struct irqd_client *c;
	struct irqd_simdev *dev;
	struct irqd_line_stats before, after;
	uint32_t h;
	if (irqd_connect(sock, &c) < 0 || irqd_line_enable(c, "sim3") < 0 ||
	    irqd_line_stats(c, "sim3", &before) < 0 || irqd_simdev_open(c, "sim3", &dev) < 0 ||
	    irqd_attach(c, "sim3", IRQD_ATTACH_SHARED, NULL, &h) < 0 || irqd_simdev_raise(dev, 1) < 0)
		die("storm");
	atomic_store(&sh->storm_ready, 1);
	struct irqd_event ev[8];
	uint64_t start = mono_ns(), look = start;
	while (sh->storm_to_the_end ? mono_ns() - start < TIMEOUT_MS * 6000000ull
				    : !atomic_load(&sh->stop)) {
		int n = irqd_poll(c, ev, 8);
		for (int i = 0; i < n; i++)
			if (ev[i].occurrence)
				irqd_answer(c, ev[i].handle, ev[i].occurrence, IRQD_NOT_MINE);
		/* every millisecond: has the storm rule stopped it? */
		if (sh->storm_to_the_end && mono_ns() - look > 1000000) {
			look = mono_ns();
			if (irqd_line_stats(c, "sim3", &after) == 0 && (after.flags & IRQD_LINE_DISABLED))
				break;
		}
	}
	sh->storm_ns = mono_ns() - start;
	if (irqd_line_stats(c, "sim3", &after) < 0)
		die("storm stats");
	sh->storm_occurrences = after.raised - before.raised;
	sh->storm_disables = after.disables - before.disables;
	irqd_simdev_service(dev);   /* quiet for the next rows */
	irqd_simdev_close(dev);
	irqd_disconnect(c);
}

static void body_storm(void *p)
{
	(void)p;
	storm_main();
}

/* ---- the flood: a client that asks irqd for a line's description as fast as it can ---------
 * irqd throttles it (20,000 requests/s); the row measures what that costs the others' interrupts. */
static void body_flood(void *p)
{
	(void)p;
	pin(0, ncpus > 1 ? 1 : 0);
	struct irqd_client *c;
	if (irqd_connect(sock, &c) < 0)
		die("flood");
	atomic_store(&sh->flood_ready, 1);
	uint64_t n = 0;
	struct irqd_line_desc d;
	while (!atomic_load(&sh->stop))
		n += irqd_line_lookup(c, "sim3", &d) == 0;
	sh->flood_requests = n;
	irqd_disconnect(c);
}

/* ---- one row -------------------------------------------------------------------------------- */

static pid_t child(void (*body)(void *), void *arg)
{
	fflush(NULL);
	pid_t pid = fork();
	if (pid < 0)
		die("fork");
	if (pid == 0) {
		body(arg);
		_exit(0);
	}
	return pid;
}

struct body_args {
	const struct row *r;
	int efd, sock;
	int other;                    /* the socket end this process must not keep open */
	unsigned drivers, index;
};

static void close_other(const struct body_args *a)
{
	if (a->other >= 0)
		close(a->other);
}

static void body_device(void *p)
{
	const struct body_args *a = p;
	close_other(a);
	device(a->r, a->efd, a->drivers);
}

/* A process that waits for an interrupt asks for a short slice, as irqd's delivery thread
 * does: woken, it preempts what runs (the device's own return from its raise) at once. */
static void waiter_slice(void)
{
	if (slice_us && irqd_thread_slice(slice_us) < 0)
		atomic_store(&sh->slice_refused, 1);
}

static void body_driver(void *p)
{
	const struct body_args *a = p;
	const struct row *r = a->r;
	close_other(a);
	waiter_slice();
	/* the floor: the poller has a CPU of its own, the device the other */
	pin(0, r->kind == POLL ? (ncpus > 1 ? 1 : 0) : r->spread ? -1 : 0);
	if (r->kind == RAW)
		driver_raw(r, a->efd);
	else if (r->kind == POLL)
		driver_poll(r);
	else if (r->kind == CLASSIC)
		driver_classic(r, a->sock);
	else
		driver_irqd(r, a->index == 0);
}

static void body_classic(void *p)
{
	const struct body_args *a = p;
	close_other(a);
	waiter_slice();
	pin(0, a->r->spread ? -1 : 0);
	classic_server(a->efd, a->sock);
}

static void run_row(struct row *r)
{
	memset(sh, 0, sizeof(*sh));
	hist_init(&sh->lat);
	pin_irqd(r->spread || r->kind == POLL ? -1 : 0);
	uint64_t rss_before = r->kind == LINES ? irqd_rss_kb() : 0;
	/* the classic server reads the eventfd blocking; the raw driver through epoll */
	int efd = eventfd(0, r->kind == CLASSIC ? EFD_CLOEXEC : EFD_CLOEXEC | EFD_NONBLOCK);
	int sv[2] = { -1, -1 };
	if (r->kind == CLASSIC && socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
		die("socketpair");
	unsigned drivers = r->kind == CONTROL ? 0 : r->sharers ? r->sharers : 1;
	pid_t pids[MAX_SHARERS + 3];
	int n = 0;
	if (r->storm) {
		pids[n++] = child(body_storm, NULL);
		while (!atomic_load(&sh->storm_ready))
			usleep(100);
	}
	if (r->flood) {
		pids[n++] = child(body_flood, NULL);
		while (!atomic_load(&sh->flood_ready))
			usleep(100);
	}
	struct body_args args[MAX_SHARERS];
	struct body_args server = { .r = r, .efd = efd, .sock = sv[0], .other = sv[1] };
	if (r->kind == CLASSIC)
		pids[n++] = child(body_classic, &server);
	for (unsigned i = 0; i < drivers; i++) {
		args[i] = (struct body_args){ .r = r, .efd = efd, .sock = sv[1], .other = sv[0],
					      .index = i };
		pids[n++] = child(body_driver, &args[i]);
	}
	/* the device needs neither end; the server must see the end of the stream */
	struct body_args dev = { .r = r, .efd = efd, .drivers = drivers, .other = -1 };
	if (sv[0] >= 0) {
		close(sv[0]);
		close(sv[1]);
		sv[0] = sv[1] = -1;
	}
	pid_t devp = child(body_device, &dev);
	waitpid(devp, NULL, 0);
	atomic_store(&sh->stop, 1);
	for (int i = 0; i < n; i++)
		waitpid(pids[i], NULL, 0);
	close(efd);
	slice_refused |= atomic_load(&sh->slice_refused);

	uint64_t got = atomic_load(&sh->received);
	r->events += got;
	if (got != run_events || sh->timeout) {
		r->lost = true;
		fprintf(stderr, "bench_irqd: %s: received %" PRIu64 " of %" PRIu64 " events\n",
			r->name, got, run_events);
	}
	r->secs += (double)(sh->end_ns - sh->start_ns) / 1e9;
	static struct hist_snapshot run;
	hist_snapshot(&sh->lat, &run);
	hist_merge(&r->lat, &run);
	if (r->phase == LATENCY && r->n_rounds < MAX_ROUNDS)
		r->round_p50[r->n_rounds++] = (double)hist_percentile(&run, 50);
	if (r->kind == RAW) {
		r->has_wakeups = true;
		r->wakeups += sh->driver_wakeups;
		r->wake_events += got;
	} else if (r->kind == SIM && !(r->flags & IRQD_ATTACH_DIRECT)) {
		r->has_wakeups = true;
		r->wakeups += sh->irqd_wakeups;
		r->wake_events += sh->irqd_events;
	}
	r->storm_occurrences += sh->storm_occurrences;
	r->storm_disables += sh->storm_disables;
	r->flood_requests += sh->flood_requests;
	r->has_cpu = r->kind != RAW && r->kind != POLL;
	r->cpu_ns += sh->cpu_ns;
	if (r->kind == LINES && !r->bytes_per_line)   /* the first run, on an irqd that never had
							* so many lines: no freed memory to reuse */
		r->bytes_per_line = (double)(sh->rss_kb - rss_before) * 1024.0 / r->lines;
}

/* ---- results -------------------------------------------------------------------------------- */

static double wakeups_per_event(const struct row *r)
{
	return (double)r->wakeups / (double)(r->wake_events ? r->wake_events : 1);
}

static double cpu_us_per_event(const struct row *r)
{
	return (double)r->cpu_ns / 1e3 / (double)(r->events ? r->events : 1);
}

static double p_us(const struct row *r, double p)
{
	return (double)hist_percentile(&r->lat, p) / 1e3;
}

static double eps(const struct row *r)
{
	return r->secs > 0 ? (double)r->events / r->secs : 0;
}

/* The raw eventfd row of r's phase (none for a control request, which is no interrupt). */
static const struct row *raw_of(const struct row *rows, unsigned n, const struct row *r)
{
	if (r->kind == CONTROL)
		return NULL;
	for (unsigned i = 0; i < n; i++)
		if (rows[i].kind == RAW && rows[i].phase == r->phase && !rows[i].skip)
			return &rows[i];
	return NULL;
}

static const struct row *find(const struct row *rows, unsigned n, const char *name)
{
	for (unsigned i = 0; i < n; i++)
		if (!strcmp(rows[i].name, name))
			return &rows[i];
	return NULL;
}

static void cell(char *buf, size_t len, bool have, const char *fmt, double v)
{
	if (have)
		snprintf(buf, len, fmt, v);
	else
		snprintf(buf, len, "-");
}

static void print_table(FILE *f, const struct row *rows, unsigned n)
{
	fprintf(f, "| row | phase | CPUs | p50 us | p99 us | p50 / raw | events/s | / raw "
		   "| wake-ups/event | irqd CPU us/event | lost |\n"
		   "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---|\n");
	for (unsigned i = 0; i < n; i++) {
		const struct row *r = &rows[i], *raw = raw_of(rows, n, r);
		bool lat = r->phase == LATENCY, rate = !lat;
		if (r->skip)
			continue;
		char c[6][32];
		cell(c[0], 32, lat, "%.1f", p_us(r, 50));
		cell(c[1], 32, lat, "%.1f", p_us(r, 99));
		cell(c[2], 32, lat && raw, "%.2fx", raw ? p_us(r, 50) / p_us(raw, 50) : 0);
		cell(c[3], 32, rate, "%.0f", eps(r));
		cell(c[4], 32, rate && raw, "%.2fx", raw ? eps(r) / eps(raw) : 0);
		cell(c[5], 32, r->has_wakeups, "%.4f", wakeups_per_event(r));
		char cpu[32];
		cell(cpu, 32, r->has_cpu, "%.2f", cpu_us_per_event(r));
		fprintf(f, "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", r->name,
			phase_name[r->phase],
			r->kind == POLL ? "2 (device, poller)" : r->spread ? "any" : "1",
			c[0], c[1], c[2], c[3], c[4], c[5], cpu, r->lost ? "YES" : "no");
	}
}

static void json_num(FILE *f, const char *key, bool have, double v)
{
	if (have)
		fprintf(f, ",\"%s\":%.4f", key, v);
	else
		fprintf(f, ",\"%s\":null", key);
}

struct target {
	const char *what;
	double figure, limit;
	const char *unit;
	bool holds;
	char note[256];
};

static void write_json(const char *path, const struct row *rows, unsigned n,
		       const struct target *t, unsigned nt, const char *machine)
{
	FILE *f = fopen(path, "w");
	if (!f)
		return;
	fprintf(f, "{\"machine\":\"%s\",\"latency_events\":%" PRIu64 ",\"burst_events\":%" PRIu64
		   ",\"waiter_slice_us\":%u,\"rows\":[",
		machine, n_lat, n_burst, slice_refused ? 0 : slice_us);
	const char *sep = "";
	for (unsigned i = 0; i < n; i++) {
		const struct row *r = &rows[i], *raw = raw_of(rows, n, r);
		bool lat = r->phase == LATENCY;
		if (r->skip)
			continue;
		fprintf(f, "%s{\"row\":\"%s\",\"phase\":\"%s\",\"spread\":%s,\"events\":%" PRIu64,
			sep, r->name, phase_name[r->phase], r->spread ? "true" : "false",
			r->events);
		json_num(f, "p50_us", lat, p_us(r, 50));
		json_num(f, "p90_us", lat, p_us(r, 90));
		json_num(f, "p99_us", lat, p_us(r, 99));
		json_num(f, "p999_us", lat, p_us(r, 99.9));
		json_num(f, "max_us", lat, (double)r->lat.max / 1e3);
		json_num(f, "p50_ratio", lat && raw, raw ? p_us(r, 50) / p_us(raw, 50) : 0);
		json_num(f, "events_per_s", !lat, eps(r));
		json_num(f, "events_per_s_ratio", !lat && raw, raw ? eps(r) / eps(raw) : 0);
		json_num(f, "wakeups_per_event", r->has_wakeups, wakeups_per_event(r));
		json_num(f, "wakeups_per_s", r->has_wakeups && !lat, wakeups_per_event(r) * eps(r));
		json_num(f, "irqd_cpu_us_per_event", r->has_cpu, cpu_us_per_event(r));
		json_num(f, "sharers", r->sharers, r->sharers);
		json_num(f, "lines", r->lines, r->lines);
		json_num(f, "bytes_per_attached_line", r->kind == LINES, r->bytes_per_line);
		json_num(f, "storm_occurrences", r->storm, (double)r->storm_occurrences);
		json_num(f, "storm_disables", r->storm, (double)r->storm_disables);
		json_num(f, "storm_to_disable_occurrences", r->storm, (double)r->storm_final_occurrences);
		json_num(f, "storm_to_disable_disables", r->storm, (double)r->storm_final_disables);
		json_num(f, "storm_to_disable_s", r->storm, r->storm_final_s);
		fprintf(f, ",\"lost\":%s}", r->lost ? "true" : "false");
		sep = ",";
	}
	fputs("],\"targets\":[", f);
	for (unsigned i = 0; i < nt; i++)
		fprintf(f, "%s{\"target\":\"%s\",\"figure\":%.4f,\"limit\":%.4f,\"unit\":\"%s\","
			   "\"holds\":%s,\"note\":\"%s\"}",
			i ? "," : "", t[i].what, t[i].figure, t[i].limit, t[i].unit,
			t[i].holds ? "true" : "false", t[i].note);
	fputs("]}\n", f);
	fclose(f);
}

static FILE *open_out(const char *dir, const char *name)
{
	char path[512];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	FILE *f = fopen(path, "w");
	if (!f)
		fprintf(stderr, "bench_irqd: %s: %s\n", path, strerror(errno));
	return f;
}

/* The latency rows worth a bar and a curve: not the scaling series beyond 1 and 8 sharers. */
static bool in_latency_plot(const struct row *r)
{
	return r->phase == LATENCY && r->lat.count && r->kind != LINES &&
	       (r->sharers <= 1 || r->sharers == 8);
}

/* Latency rows: p50 and p99 bars, and the distribution of each (8 bins per octave). */
static void plot_latency(const char *dir, const struct row *rows, unsigned n)
{
	const char *labels[32];
	static double p50[32], p99[32];
	unsigned k = 0;
	for (unsigned i = 0; i < n && k < 32; i++)
		if (in_latency_plot(&rows[i])) {
			labels[k] = rows[i].name;
			p50[k] = p_us(&rows[i], 50);
			p99[k] = p_us(&rows[i], 99);
			k++;
		}
	struct svg_series bars[2] = { { .name = "p50", .n = k, .y = p50 },
				      { .name = "p99", .n = k, .y = p99 } };
	struct svg_chart c = { .title = "Raise-to-handler latency (events at 2 kHz)",
			       .y_label = "latency (us, log scale)", .log_y = true,
			       .n_series = 2, .series = bars };
	FILE *f = open_out(dir, "latency.svg");
	if (f) {
		svg_bar_chart(f, &c, k, labels);
		fclose(f);
	}

	enum { BIN = 8, BINS = HIST_BUCKETS / BIN };
	static double x[32][BINS], y[32][BINS];
	struct svg_series dist[32];
	unsigned m = 0;
	for (unsigned i = 0; i < n && m < 32; i++) {
		const struct row *r = &rows[i];
		if (!in_latency_plot(r))
			continue;
		size_t pts = 0;
		for (unsigned g = 0; g < BINS; g++) {
			uint64_t sum = 0;
			for (unsigned b = g * BIN; b < (g + 1) * BIN; b++)
				sum += r->lat.bucket[b];
			if (!sum)
				continue;
			double lo = (double)hist_bucket_low(g * BIN), hi = (double)hist_bucket_low((g + 1) * BIN);
			x[m][pts] = sqrt((lo > 0 ? lo : 0.5) * hi) / 1e3;
			y[m][pts] = 100.0 * (double)sum / (double)r->lat.count;
			pts++;
		}
		dist[m] = (struct svg_series){ .name = r->name, .n = pts, .x = x[m], .y = y[m] };
		m++;
	}
	struct svg_chart d = { .title = "Raise-to-handler latency distribution",
			       .x_label = "latency (us, log scale)",
			       .y_label = "share of events per bin (%)", .log_x = true,
			       .n_series = m, .series = dist };
	if ((f = open_out(dir, "latency-distribution.svg"))) {
		svg_line_chart(f, &d);
		fclose(f);
	}
}

static void plot_throughput(const char *dir, const struct row *rows, unsigned n)
{
	const char *labels[16];
	static double line_wps[16], max_wps[16], line_eps[16], max_eps[16];
	unsigned k = 0;
	for (unsigned i = 0; i < n && k < 16; i++) {
		const struct row *r = &rows[i];
		if (r->phase != LINE_RATE_PHASE || r->skip)
			continue;
		const struct row *mx = NULL;
		for (unsigned j = 0; j < n; j++)
			if (rows[j].phase == MAX_RATE && rows[j].kind == r->kind &&
			    !memcmp(&rows[j].co, &r->co, sizeof(r->co)))
				mx = &rows[j];
		labels[k] = r->kind == RAW ? "raw eventfd" : r->co.adaptive ? "adaptive"
					 : r->co.frames ? "frames 32" : r->co.usecs ? "usecs 50" : "off";
		line_wps[k] = wakeups_per_event(r) * eps(r);
		line_eps[k] = eps(r);
		max_wps[k] = mx ? wakeups_per_event(mx) * eps(mx) : 0;
		max_eps[k] = mx ? eps(mx) : 0;
		k++;
	}
	struct svg_series w[2] = { { .name = "at 1,488,095 events/s", .n = k, .y = line_wps },
				   { .name = "at the maximum rate", .n = k, .y = max_wps } };
	struct svg_chart c = { .title = "Wake-ups per second by coalescing mode",
			       .y_label = "wake-ups per second (log scale)", .log_y = true,
			       .n_series = 2, .series = w };
	FILE *f = open_out(dir, "wakeups.svg");
	if (f) {
		svg_bar_chart(f, &c, k, labels);
		fclose(f);
	}
	struct svg_series e[2] = { { .name = "at 1,488,095 events/s offered", .n = k, .y = line_eps },
				   { .name = "at the maximum rate", .n = k, .y = max_eps } };
	struct svg_chart d = { .title = "Delivered events per second by coalescing mode",
			       .y_label = "events per second", .n_series = 2, .series = e };
	if ((f = open_out(dir, "throughput.svg"))) {
		svg_bar_chart(f, &d, k, labels);
		fclose(f);
	}
}

/* Latency and irqd CPU per event against sharers, and against attached lines. */
static void plot_scaling(const char *dir, const struct row *rows, unsigned n, bool lines)
{
	static double x[2][8], y[2][8];
	size_t k = 0;
	for (unsigned i = 0; i < n && k < 8; i++) {
		const struct row *r = &rows[i];
		if (r->phase != LATENCY || r->spread || r->skip ||
		    (lines ? r->kind != LINES : !r->sharers))
			continue;
		x[0][k] = x[1][k] = lines ? r->lines : r->sharers;
		y[0][k] = p_us(r, 50);
		y[1][k] = cpu_us_per_event(r);
		k++;
	}
	struct svg_series s[2] = { { .name = "p50 raise-to-handler latency (us)", .n = k,
				     .x = x[0], .y = y[0] },
				   { .name = "irqd CPU per event (us)", .n = k, .x = x[1], .y = y[1] } };
	struct svg_chart c = { .title = lines ? "Scaling with attached lines (one driver)"
					      : "Scaling with sharers of one level line",
			       .x_label = lines ? "attached lines (log scale)" : "sharers (log scale)",
			       .y_label = "microseconds (log scale)", .log_x = true, .log_y = true,
			       .n_series = 2, .series = s };
	FILE *f = open_out(dir, lines ? "scaling-lines.svg" : "scaling-sharers.svg");
	if (f) {
		svg_line_chart(f, &c);
		fclose(f);
	}
}

/* ---- main ----------------------------------------------------------------------------------- */

#define LAT(n, ...) { .name = n, .phase = LATENCY, __VA_ARGS__ }
#define SHARED(n, k, ...) LAT(n, .kind = SIM, .line = "sim0", .sharers = k, __VA_ARGS__)
#define EDGE(n, ph, ...) { .name = n, .phase = ph, .kind = SIM, .line = "sim2", __VA_ARGS__ }

static struct row rows[] = {
	LAT("raw eventfd (no server)", .kind = RAW),
	LAT("busy polling the device register (floor)", .kind = POLL),
	LAT("irqd exclusive direct", .kind = SIM, .line = "sim1",
	    .flags = IRQD_ATTACH_EXCLUSIVE | IRQD_ATTACH_DIRECT),
	SHARED("irqd shared level, 1 sharer", 1),
	SHARED("irqd shared level, 2 sharers", 2),
	SHARED("irqd shared level, 8 sharers", 8),
	SHARED("irqd shared level, 64 sharers", 64),
	LAT("classic Omega0, request per interrupt", .kind = CLASSIC),
	SHARED("irqd shared level, 1 sharer, CPUs spread", 1, .spread = true),
	SHARED("irqd shared level, 1 sharer, during a storm on another line", 1, .storm = true),
	SHARED("irqd shared level, 1 sharer, while another client floods requests", 1, .flood = true),
	LAT("irqd control request (a line lookup) round trip", .kind = CONTROL),
	LAT("irqd control request round trip, while another client floods requests", .kind = CONTROL,
	    .flood = true),
	LAT("irqd, 1 attached line", .kind = LINES, .lines = 1),
	LAT("irqd, 64 attached lines", .kind = LINES, .lines = 64),
	LAT("irqd, 1024 attached lines", .kind = LINES, .lines = 1024),
	{ .name = "raw eventfd (no server)", .kind = RAW, .phase = MAX_RATE, .spread = true },
	EDGE("irqd edge, coalescing off", MAX_RATE, .spread = true),
	EDGE("irqd edge, frames 32", MAX_RATE, .spread = true, .co = { .frames = 32 }),
	EDGE("irqd edge, usecs 50", MAX_RATE, .spread = true, .co = { .usecs = 50 }),
	EDGE("irqd edge, adaptive", MAX_RATE, .spread = true, .co = { .adaptive = 1 }),
	{ .name = "raw eventfd (no server)", .kind = RAW, .phase = LINE_RATE_PHASE, .spread = true },
	EDGE("irqd edge, coalescing off", LINE_RATE_PHASE, .spread = true),
	EDGE("irqd edge, frames 32", LINE_RATE_PHASE, .spread = true, .co = { .frames = 32 }),
	EDGE("irqd edge, usecs 50", LINE_RATE_PHASE, .spread = true, .co = { .usecs = 50 }),
	EDGE("irqd edge, adaptive", LINE_RATE_PHASE, .spread = true, .co = { .adaptive = 1 }),
};

/* Is name `only` without its leading '=', or does it contain one of its comma-separated words? */
static bool selected(const char *name, const char *only)
{
	if (only[0] == '=')
		return !strcmp(name, only + 1);
	char words[256];
	snprintf(words, sizeof(words), "%s", only);
	for (char *save, *w = strtok_r(words, ",", &save); w; w = strtok_r(NULL, ",", &save))
		if (strstr(name, w))
			return true;
	return false;
}

static void target(struct target *t, unsigned *k, const char *what, double figure, double limit,
		   const char *unit)
{
	t[*k] = (struct target){ .what = what, .figure = figure, .limit = limit, .unit = unit,
				 .holds = figure <= limit, .note = "" };
	(*k)++;
}

/* The median over rounds of a's round median divided by b's in the same round, with its 95%
 * interval (report/stats.h). */
static double paired_ratio(const struct row *a, const struct row *b, double *lo, double *hi)
{
	unsigned n = a->n_rounds < b->n_rounds ? a->n_rounds : b->n_rounds;
	return stats_paired_ratio(a->round_p50, b->round_p50, n, lo, hi);
}

/* A latency ratio target: the paired ratio decides, its interval and the pooled p50 ratio are
 * shown beside it (an interval across the limit: the machine's noise could tip it either way). */
static void ratio_target(struct target *t, unsigned *k, const char *what, const struct row *a,
			 const struct row *b, double limit)
{
	double lo, hi;
	target(t, k, what, paired_ratio(a, b, &lo, &hi), limit, "x");
	char ratio[160];
	stats_ratio_note(ratio, sizeof(ratio), a->n_rounds, lo, hi, limit);
	snprintf(t[*k - 1].note, sizeof(t[*k - 1].note), "%s; pooled p50s: %.2fx", ratio,
		 p_us(a, 50) / p_us(b, 50));
}

static unsigned evaluate(const struct row *r, unsigned n, struct target *t)
{
	const struct row *raw = &r[0], *direct = find(r, n, "irqd exclusive direct"),
			 *shared = find(r, n, "irqd shared level, 1 sharer"),
			 *classic = find(r, n, "classic Omega0, request per interrupt"),
			 *big = find(r, n, "irqd, 1024 attached lines"), *adaptive = NULL;
	for (unsigned i = 0; i < n; i++)
		if (r[i].phase == LINE_RATE_PHASE && r[i].co.adaptive)
			adaptive = &r[i];
	unsigned k = 0;
	ratio_target(t, &k, "irqd exclusive direct p50 / raw eventfd p50", direct, raw, 1.1);
	ratio_target(t, &k, "irqd shared (1 sharer) p50 / raw eventfd p50", shared, raw, 2.2);
	ratio_target(t, &k, "irqd shared (1 sharer) p50 / classic Omega0 p50", shared, classic, 1.0);
	target(t, &k, "adaptive at 1,488,095/s: events lost or invented",
	       fabs((double)n_burst - (double)adaptive->events), 0, "events");
	target(t, &k, "adaptive at 1,488,095/s: wake-ups per second",
	       wakeups_per_event(adaptive) * eps(adaptive), 20000, "1/s");
	const struct row *storm = find(r, n, "irqd shared level, 1 sharer, during a storm on another line");
	ratio_target(t, &k, "shared (1 sharer) p50 during a storm on another line / without", storm,
		     shared, 2.0);
	snprintf(t[k - 1].note + strlen(t[k - 1].note), sizeof(t[k - 1].note) - strlen(t[k - 1].note),
		 "; storm: %llu occurrences during the rows; run to its end, disabled %llux after "
		 "%llu occurrences in %.1f s",
		 (unsigned long long)storm->storm_occurrences,
		 (unsigned long long)storm->storm_final_disables,
		 (unsigned long long)storm->storm_final_occurrences, storm->storm_final_s);
	const struct row *flood = find(r, n, "irqd shared level, 1 sharer, while another client floods "
					  "requests");
	ratio_target(t, &k, "shared (1 sharer) p50 while another client floods / without", flood,
		     shared, 2.0);
	snprintf(t[k - 1].note + strlen(t[k - 1].note), sizeof(t[k - 1].note) - strlen(t[k - 1].note),
		 "; the flooder got %llu requests answered (%.0f/s: throttled)",
		 (unsigned long long)flood->flood_requests,
		 flood->secs > 0 ? (double)flood->flood_requests / flood->secs : 0.0);
	ratio_target(t, &k, "control request p50 while another client floods / without",
		     find(r, n, "irqd control request round trip, while another client floods requests"),
		     find(r, n, "irqd control request (a line lookup) round trip"), 1.25);
	/* at most linear in sharers: irqd's CPU per event per sharer does not grow */
	double worst = 0;
	for (unsigned i = 0; i < n; i++)
		if (r[i].sharers > 1 && !r[i].spread) {
			double f = cpu_us_per_event(&r[i]) / (r[i].sharers * cpu_us_per_event(shared));
			worst = f > worst ? f : worst;
		}
	target(t, &k, "irqd CPU per event with N sharers / (N x with 1 sharer), worst N", worst,
	       1.0, "x");
	target(t, &k, "irqd memory per attached line (RSS growth / 1024 lines)",
	       big->bytes_per_line, 4096, "bytes");
	return k;
}

int main(int argc, char **argv)
{
	const char *irqd = "build/bin/irqd", *out = "build/bench", *only = NULL;
	for (int i = 1; i + 1 < argc; i += 2) {
		if (!strcmp(argv[i], "--irqd"))
			irqd = argv[i + 1];
		else if (!strcmp(argv[i], "--out"))
			out = argv[i + 1];
		else if (!strcmp(argv[i], "--events"))
			n_lat = strtoull(argv[i + 1], NULL, 10);
		else if (!strcmp(argv[i], "--burst"))
			n_burst = strtoull(argv[i + 1], NULL, 10);
		else if (!strcmp(argv[i], "--rounds"))
			rounds = (unsigned)strtoul(argv[i + 1], NULL, 10);
		else if (!strcmp(argv[i], "--only"))
			only = argv[i + 1];
		else if (!strcmp(argv[i], "--slice-us"))
			slice_us = (unsigned)strtoul(argv[i + 1], NULL, 10);
		else {
			fprintf(stderr, "usage: bench_irqd --irqd PATH [--out DIR] [--events N] "
					"[--burst M] [--rounds R] [--only TEXT] [--slice-us US]\n");
			return 2;
		}
	}
	if (n_lat < 100 || n_burst < 1000 || rounds < 1 || rounds > MAX_ROUNDS ||
	    n_lat / rounds < 20) {
		fprintf(stderr, "bench_irqd: --events >= 100, --burst >= 1000, --rounds 1 to %d with "
				"at least 20 events per round\n", MAX_ROUNDS);
		return 2;
	}
	ncpus = (int)sysconf(_SC_NPROCESSORS_ONLN);
	sh = mmap(NULL, sizeof(*sh) + n_lat * sizeof(uint64_t), PROT_READ | PROT_WRITE,
		  MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (sh == MAP_FAILED)
		die("mmap");
	const unsigned n = sizeof(rows) / sizeof(rows[0]);
	unsigned n_selected = 0;
	for (unsigned i = 0; i < n; i++) {
		hist_snapshot_init(&rows[i].lat);
		rows[i].skip = only && !selected(rows[i].name, only);
		n_selected += !rows[i].skip;
	}
	if (n_selected == 0) {
		fprintf(stderr, "bench_irqd: --only \"%s\" names no row; the rows:\n", only);
		for (unsigned i = 0; i < n; i++)
			fprintf(stderr, "  %s (%s)\n", rows[i].name, phase_name[rows[i].phase]);
		return 2;
	}
	bench_pid = getpid();
	if (!mkdtemp(dir))
		die("mkdtemp");
	snprintf(sock, sizeof(sock), "%s/irqd.sock", dir);
	snprintf(conf, sizeof(conf), "%s/irqd.conf", dir);
	FILE *f = fopen(conf, "w");
	if (!f)
		die(conf);
	/* 64 sharers, 1024 lines, a device: more clients and descriptors than the defaults */
	fputs("line sim1 trigger=edge\nline sim2 trigger=edge\nmax-clients 1024\n", f);
	fprintf(f, "slice-us %u\n", slice_us);
	fclose(f);
	irqd_pid = fork();
	if (irqd_pid == 0) {
		execl(irqd, irqd, "--socket", sock, "--sim", "4", "--config", conf, "--foreground",
		      (char *)NULL);
		_exit(127);
	}
	struct irqd_client *probe = NULL;
	for (int i = 0; i < 5000 && irqd_connect(sock, &probe) < 0; i++)
		usleep(1000);
	if (!probe)
		die("irqd did not start");
	irqd_disconnect(probe);

	/* Latency rows in interleaved rounds: a noisy moment of the machine falls on every row
	 * alike instead of on whichever row ran then. */
	run_events = n_lat / rounds;
	unsigned order[sizeof(rows) / sizeof(rows[0])], n_order = 0;
	for (unsigned i = 0; i < n; i++)
		if (rows[i].phase == LATENCY && !rows[i].skip)
			order[n_order++] = i;
	/* memory first: the largest line table on a fresh irqd, before any row frees lines that
	 * the allocator would reuse (a warm-up run whose latency is not kept) */
	for (unsigned i = 0; i < n; i++)
		if (rows[i].kind == LINES && rows[i].lines == MAX_LINES && !rows[i].skip) {
			struct row warm = rows[i];
			run_row(&warm);
			rows[i].bytes_per_line = warm.bytes_per_line;
		}
	uint64_t seed = 0x9e3779b97f4a7c15ull;
	for (unsigned round = 0; round < rounds; round++) {
		/* and in a new order each round (fixed seed): what a row leaves behind (a spinning
		 * CPU, 1,024 lines to free) weighs on every row in turn */
		stats_shuffle(order, n_order, &seed);
		for (unsigned i = 0; i < n_order; i++)
			run_row(&rows[order[i]]);
		fprintf(stderr, "  latency round %u of %u done\n", round + 1, rounds);
	}
	/* and one storm to its end: the storm rule disables the line */
	struct row *storm = NULL;
	for (unsigned i = 0; i < n; i++)
		if (rows[i].storm && !rows[i].skip)
			storm = &rows[i];
	if (storm) {
		memset(sh, 0, sizeof(*sh));
		sh->storm_to_the_end = true;
		waitpid(child(body_storm, NULL), NULL, 0);
		storm->storm_final_occurrences = sh->storm_occurrences;
		storm->storm_final_disables = sh->storm_disables;
		storm->storm_final_s = (double)sh->storm_ns / 1e9;
	}
	run_events = n_burst;
	for (unsigned i = 0; i < n; i++) {
		if (rows[i].phase == LATENCY || rows[i].skip)
			continue;
		run_row(&rows[i]);
		fprintf(stderr, "  measured: %s, %s\n", rows[i].name, phase_name[rows[i].phase]);
	}
	stop_irqd();

	struct target t[16];
	unsigned nt = only ? 0 : evaluate(rows, n, t);
	mkdir(out, 0755);
	print_table(stdout, rows, n);
	FILE *md = open_out(out, "results.md");
	if (md)
		print_table(md, rows, n);
	if (slice_us)
		printf("\nWaiters (drivers, the classic server, irqd's delivery thread) ran with a %u us "
		       "scheduler slice%s\n", slice_us, slice_refused ? ", but this kernel refused it "
		       "(custom slices need Linux 6.12+): the kernel's default slice" : "");
	printf(only ? "\nTargets: not evaluated (--only)\n" : "\nTargets:\n");
	for (unsigned i = 0; i < nt; i++) {
		char line[512];
		snprintf(line, sizeof(line), "- %s: %.3f %s (target <= %.4g): %s%s%s%s\n", t[i].what,
			 t[i].figure, t[i].unit, t[i].limit, t[i].holds ? "holds" : "MISSED",
			 *t[i].note ? " (" : "", t[i].note, *t[i].note ? ")" : "");
		fputs(line, stdout);
		if (md)
			fputs(line, md);
	}
	if (md)
		fclose(md);
	char machine[256] = "unknown";
	FILE *ci = fopen("/proc/cpuinfo", "r");
	char l[256];
	while (ci && fgets(l, sizeof(l), ci))
		if (!strncmp(l, "model name", 10) && strchr(l, ':')) {
			snprintf(machine, sizeof(machine), "%s", strchr(l, ':') + 2);
			machine[strcspn(machine, "\n")] = 0;
			break;
		}
	if (ci)
		fclose(ci);
	char path[512];
	snprintf(path, sizeof(path), "%s/results.json", out);
	write_json(path, rows, n, t, nt, machine);
	plot_latency(out, rows, n);
	plot_throughput(out, rows, n);
	plot_scaling(out, rows, n, false);
	plot_scaling(out, rows, n, true);
	bool lost = false;
	for (unsigned i = 0; i < n; i++)
		lost |= rows[i].lost;
	return lost ? 1 : 0;
}
