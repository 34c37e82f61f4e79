/*
 * test_soak.c - load and soak: 64 client processes on 256 lines (half edge, half level, four
 * sharers each), device processes raising events on every line, with exact accounting per line
 * and per client at the end and irqd's memory flat from the first sampling window to the last.
 *
 * Edge lines: every sharer receives every event (no coalescing here), so each attachment's count
 * equals the line's raised count. Level lines: the line's first sharer owns the device (services
 * it, answers HANDLED), the others answer NOT_MINE; the owner's serviced total equals what the
 * device raised, and irqd's handled count equals its occurrences.
 *
 * Size: SOAK_EVENTS events in all (default 1,000,000 in `make check`; `make soak` sets 10^9),
 * memory sampled every second; "flat" means the largest resident size of the last window
 * exceeds that of the first by less than 2 MiB (allocator noise; a leak of a few bytes per event
 * would show as megabytes). Windows are SOAK_WINDOW_S seconds (default: a fifth of the run).
 */
#include <errno.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

enum { CLIENTS = 64, LINES = 256, SHARERS = 4, PER_CLIENT = LINES * SHARERS / CLIENTS,
       DEVICES = 4 };

/* Shared with the client and device processes. */
struct soak {
	_Atomic unsigned attached, devices_done;
	_Atomic int stop;
	uint64_t per_device;                   /* events each device raises */
	_Atomic uint64_t raised[LINES];        /* by the devices */
	_Atomic uint64_t got[CLIENTS][PER_CLIENT];     /* events per attachment (edge) */
	_Atomic uint64_t serviced[LINES];      /* level: by the owner */
	_Atomic uint64_t errors;
	char err[256];
};
static struct soak *S;

static bool is_level(unsigned line)
{
	return line % 2 == 1;
}

/* Client k's j-th line: four clients per line, spread so that each client has both kinds. */
static unsigned line_of(unsigned k, unsigned j)
{
	return (k * PER_CLIENT + j) % LINES;
}

/* The owner of a level line is its first sharer: the client with the smallest k. */
static bool owns(unsigned k, unsigned line)
{
	for (unsigned c = 0; c < k; c++)
		for (unsigned j = 0; j < PER_CLIENT; j++)
			if (line_of(c, j) == line)
				return false;
	return true;
}

static int client_main(const struct irqd_proc *p, void *arg)
{
	unsigned k = (unsigned)(uintptr_t)arg;
	struct irqd_client *c;
	if (irqd_connect(p->sock, &c) < 0) {
		NOTE_ERROR(S, "client %u: connect: %s", k, irqd_last_error());
		return 1;
	}
	struct irqd_simdev *dev[PER_CLIENT] = { 0 };
	uint32_t handle_to_j[IRQD_SLOTS];
	for (unsigned j = 0; j < PER_CLIENT; j++) {
		char name[16];
		unsigned line = line_of(k, j);
		snprintf(name, sizeof(name), "sim%u", line);
		uint32_t h;
		if (irqd_attach(c, name, IRQD_ATTACH_SHARED, NULL, &h) < 0 ||
		    (is_level(line) && owns(k, line) && irqd_simdev_open(c, name, &dev[j]) < 0)) {
			NOTE_ERROR(S, "client %u: attach %s: %s", k, name, irqd_last_error());
			return 1;
		}
		handle_to_j[h] = j;
	}
	atomic_fetch_add(&S->attached, 1);
	while (!atomic_load(&S->stop)) {
		struct irqd_event ev[64];
		int n = irqd_wait(c, ev, 64, 100);
		if (n < 0) {
			NOTE_ERROR(S, "client %u: wait: %s", k, irqd_last_error());
			return 1;
		}
		for (int i = 0; i < n; i++) {
			unsigned j = handle_to_j[ev[i].handle], line = line_of(k, j);
			if (!ev[i].occurrence) {
				atomic_fetch_add(&S->got[k][j], ev[i].count);
				continue;
			}
			uint64_t mine = dev[j] ? irqd_simdev_service(dev[j]) : 0;
			atomic_fetch_add(&S->serviced[line], mine);
			if (irqd_answer(c, ev[i].handle, ev[i].occurrence,
					dev[j] ? IRQD_HANDLED : IRQD_NOT_MINE) < 0) {
				NOTE_ERROR(S, "client %u: answer: %s", k, irqd_last_error());
				return 1;
			}
		}
	}
	for (unsigned j = 0; j < PER_CLIENT; j++)
		irqd_simdev_close(dev[j]);
	irqd_disconnect(c);
	return 0;
}

/* Device d raises on lines d, d + DEVICES, ...: bursts of 1 to 8 events, round robin. */
static int device_main(const struct irqd_proc *p, void *arg)
{
	unsigned d = (unsigned)(uintptr_t)arg;
	struct irqd_client *c;
	static struct irqd_simdev *dev[LINES / DEVICES];
	if (irqd_connect(p->sock, &c) < 0)
		return 1;
	for (unsigned i = 0; i < LINES / DEVICES; i++) {
		char name[16];
		snprintf(name, sizeof(name), "sim%u", d + i * DEVICES);
		if (irqd_simdev_open(c, name, &dev[i]) < 0)
			return 1;
	}
	uint64_t seed = 0x1234567ull + d, done = 0;
	for (unsigned i = 0; done < S->per_device; i = (i + 1) % (LINES / DEVICES)) {
		uint64_t n = 1 + xorshift(&seed) % 8;
		if (n > S->per_device - done)
			n = S->per_device - done;
		if (irqd_simdev_raise(dev[i], n) < 0)
			return 2;
		atomic_fetch_add(&S->raised[d + i * DEVICES], n);
		done += n;
	}
	for (unsigned i = 0; i < LINES / DEVICES; i++)
		irqd_simdev_close(dev[i]);
	irqd_disconnect(c);
	atomic_fetch_add(&S->devices_done, 1);
	return 0;
}

static uint64_t rss_kb(pid_t pid)
{
	char path[64], line[256];
	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	FILE *f = fopen(path, "r");
	uint64_t kb = 0;
	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "VmRSS: %lu", &kb) == 1)
			break;
	if (f)
		fclose(f);
	return kb;
}

/* Everything raised was received: every edge attachment has its line's count, every level
 * line's owner serviced what was raised. */
static bool all_accounted(void)
{
	for (unsigned k = 0; k < CLIENTS; k++)
		for (unsigned j = 0; j < PER_CLIENT; j++) {
			unsigned line = line_of(k, j);
			if (!is_level(line) && atomic_load(&S->got[k][j]) != atomic_load(&S->raised[line]))
				return false;
		}
	for (unsigned line = 1; line < LINES; line += 2)
		if (atomic_load(&S->serviced[line]) != atomic_load(&S->raised[line]))
			return false;
	return true;
}

static void test_soak(void **state)
{
	(void)state;
	const char *e = getenv("SOAK_EVENTS");
	uint64_t events = e ? strtoull(e, NULL, 10) : 1000000;
	S = shared_page(sizeof(*S));
	S->per_device = events / DEVICES;
	char config[LINES * 32 + 64];
	size_t off = (size_t)snprintf(config, sizeof(config), "max-clients 128\n");
	for (unsigned l = 0; l < LINES; l += 2)
		off += (size_t)snprintf(config + off, sizeof(config) - off, "line sim%u trigger=edge\n", l);
	struct irqd_proc p;
	irqd_start(&p, LINES, config);
	pid_t clients[CLIENTS], devices[DEVICES];
	for (unsigned k = 0; k < CLIENTS; k++)
		clients[k] = spawn(client_main, &p, (void *)(uintptr_t)k);
	if (!WAIT_UNTIL(atomic_load(&S->attached) == CLIENTS || atomic_load(&S->errors), 60000))
		fail_msg("%u of %u clients attached", atomic_load(&S->attached), CLIENTS);
	if (atomic_load(&S->errors))
		fail_msg("%s", S->err);
	uint64_t start = mono_ns();
	for (unsigned d = 0; d < DEVICES; d++)
		devices[d] = spawn(device_main, &p, (void *)(uintptr_t)d);

	/* memory every second while the devices raise; then every event must arrive */
	enum { MAX_SAMPLES = 100000 };
	static uint64_t rss[MAX_SAMPLES];
	unsigned n_rss = 0;
	do {
		usleep(1000000);   /* the sampling period, not a wait for anything */
		if (n_rss < MAX_SAMPLES)
			rss[n_rss++] = rss_kb(p.pid);
	} while (atomic_load(&S->devices_done) < DEVICES && !atomic_load(&S->errors) &&
		 mono_ns() - start < 3600ull * 1000000000ull);
	for (unsigned d = 0; d < DEVICES; d++)
		assert_int_equal(reap(devices[d]), 0);
	if (!WAIT_UNTIL(all_accounted() || atomic_load(&S->errors), 120000))
		fail_msg("not every event arrived (errors: %s)", S->err);
	double secs = (double)(mono_ns() - start) / 1e9;
	atomic_store(&S->stop, 1);
	for (unsigned k = 0; k < CLIENTS; k++)
		assert_int_equal(reap_within(clients[k], 30000), 0);
	assert_int_equal(atomic_load(&S->errors), 0);

	/* irqd's own books agree: per line raised, delivered, handled */
	struct irqd_client *c = client(&p);
	uint64_t total = 0;
	for (unsigned line = 0; line < LINES; line++) {
		char name[16];
		snprintf(name, sizeof(name), "sim%u", line);
		struct irqd_line_stats st = line_stats(c, name);
		uint64_t raised = atomic_load(&S->raised[line]);
		total += raised;
		if (is_level(line)) {
			/* an occurrence stands for every event pending when it fired */
			assert_true(st.raised <= raised);
			assert_int_equal(st.handled, st.raised);
			assert_int_equal(st.not_mine, (SHARERS - 1) * st.raised);
			assert_int_equal(st.unhandled, 0);
			assert_int_equal(st.delivered, SHARERS * st.raised);
		} else {
			assert_int_equal(st.raised, raised);
			assert_int_equal(st.delivered, SHARERS * raised);
			assert_int_equal(st.dropped, 0);
		}
		assert_int_equal(st.stalls, 0);
	}
	assert_int_equal(total, S->per_device * DEVICES);
	/* and per client: what irqd says it handed out is what each client counted */
	struct irqd_client_stats cs;
	for (uint32_t i = 0; irqd_client_stats(c, i, &cs) == 0; i = cs.index + 1)
		assert_int_equal(cs.errors, 0);
	irqd_disconnect(c);

	/* flat memory: the largest resident size of the last window against the first's */
	const char *w = getenv("SOAK_WINDOW_S");
	unsigned window = w ? (unsigned)atoi(w) : (n_rss / 5 ? n_rss / 5 : 1);
	if (window > n_rss / 2)
		window = n_rss / 2 ? n_rss / 2 : 1;
	uint64_t first = 0, last = 0;
	for (unsigned i = 0; i < window && i < n_rss; i++)
		first = rss[i] > first ? rss[i] : first;
	for (unsigned i = n_rss > window ? n_rss - window : 0; i < n_rss; i++)
		last = rss[i] > last ? rss[i] : last;
	printf("  soak: %llu events on %u lines to %u clients in %.1f s (%.0f events/s); irqd "
	       "resident %llu KiB in the first %u s, %llu KiB in the last %u s\n",
	       (unsigned long long)total, LINES, CLIENTS, secs, (double)total / secs,
	       (unsigned long long)first, window, (unsigned long long)last, window);
	assert_true(last < first + 2048);
	irqd_stop(&p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_soak, harness_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
