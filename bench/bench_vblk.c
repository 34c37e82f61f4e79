/*
 * bench_vblk.c - the disk benchmark: the virtio-blk driver against qemu-storage-daemon
 * (vhost-user-blk, a raw image), 4 KiB random reads, the interrupt taken through irqd versus a
 * polling front end, in one run.
 *
 *   QD1   latency of one read at a time, p50/p99, and where the time of an interrupt-mode read
 *         goes: submit -> irqd sees the device's signal -> irqd publishes -> driver wakes -> done
 *   QD32  reads per second with 32 in flight, --seconds per mode in all, and the CPU it took:
 *         the driver, irqd, and the device (qemu-storage-daemon), per second of run
 *   disk  QD1 again with the device reading past the host's page cache (O_DIRECT), on a device
 *         ten times slower: what an interrupt costs is the same microseconds, a smaller ratio
 * Both run in --rounds interleaved rounds: every mode in every round, a new order each round.
 * A ratio to polling is the median of the per-round ratios with its 95% interval
 * (report/stats.h): the device's speed drifts by a third over a minute on a VM, and a ratio
 * of two figures taken a second apart cancels most of that.
 *
 * Targets (issue 4): QD1 p50 (irqd) within 1.15x of polling; QD32 IOPS (irqd) at least 0.95x of
 * polling with at most half of its CPU (driver + irqd against the polling driver). Beside them,
 * the machine's floor: what the raw eventfd achieves, and one wake-up's cost in the same run.
 */
#include <errno.h>
#include <sched.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "core/hist.h"
#include "irqd/client.h"
#include "peers/peer.h"
#include "stats.h"
#include "vhost-user/vhost_user.h"
#include "virtio-blk/virtio_blk.h"

#define IMAGE_MB 256
#define IO_BYTES 4096u
#define QD_MAX 32
#define MODES 5
#define MAX_ROUNDS 100
#define SPIN_US 50
#define DEFER_US 25
#define STR_(x) #x
#define STR(x) STR_(x)

/* The front ends compared: interrupt through irqd, sleeping at once or adaptive (the driver's
 * waiting policy: a queue of depth <= VBLK_SPIN_MAX_DEPTH polled up to SPIN_US before
 * sleeping, a deeper one with the device's interrupts left off while completions keep coming,
 * looked at again every DEFER_US), DIRECT, the raw eventfd, and pure polling. */
static const enum virtio_irq_mode modes[MODES] = { VIRTIO_IRQ_IRQD, VIRTIO_IRQ_IRQD,
						   VIRTIO_IRQ_DIRECT, VIRTIO_IRQ_EVENTFD,
						   VIRTIO_IRQ_POLL };
static const bool adaptive[MODES] = { false, true, false, false, false };
static const char *const mode_label[MODES] = {
	"irqd",
	"irqd, adaptive (depth <= " STR(VBLK_SPIN_MAX_DEPTH) ": poll " STR(SPIN_US)
	" us, then sleep; deeper: interrupts deferred " STR(DEFER_US) " us while busy)",
	"direct", "eventfd", "poll" };
enum { HOP_DEVICE, HOP_IRQD, HOP_WAKE, HOP_DONE, HOPS };
static const char *const hop_name[HOPS] = {
	"submit -> irqd sees the signal (device)", "irqd sees -> irqd publishes",
	"irqd publishes -> driver wakes", "driver wakes -> request done" };

struct result {
	struct hist_snapshot qd1;
	struct hist qd1_hist;
	double qd1_s, qd1_cpu_s;
	uint64_t qd32_ios;
	double qd32_s, driver_cpu_s, irqd_cpu_s, device_cpu_s;
	uint64_t wakeups, interrupts, rekicks, kicks, deferred_polls, predicted_sleeps;
	double round_p50[MAX_ROUNDS], round_iops[MAX_ROUNDS];   /* QD1 p50 ns, QD32 reads/s */
};

/* One configuration of the device: every mode's figures and the hops of a QD1 read through
 * irqd. */
struct disk_run {
	struct result res[MODES];
	struct hist hops[HOPS];
};

static struct disk_run cached, direct_io;
static struct peer irqd_peer, qsd;
static struct irqd_client *irqd;
static char image[160];
static uint64_t seed = 0x2545f4914f6cdd1dull;

static void die(const char *fmt, const char *what)
{
	fprintf(stderr, "bench_vblk: %s: %s\n", fmt, what);
	peer_stop_all();
	exit(1);
}

#define DRIVER_CPU 0
#define DEVICE_CPU 1

static struct vblk *open_driver(unsigned m)
{
	struct vblk_options o = { .queue_size = 128, .max_io = IO_BYTES, .irq = modes[m],
				  .irqd = irqd, .spin_us = adaptive[m] ? SPIN_US : 0,
				  .defer_us = adaptive[m] ? DEFER_US : 0 };
	struct virtio_dev *dev;
	struct vblk *b;
	char err[200];
	if (vhost_user_open(qsd.sock, "blk0", vblk_arena_size(&o), 10000, &dev, err, sizeof err) < 0 ||
	    vblk_open(dev, &o, &b, err, sizeof err) < 0)
		die("driver", err);
	return b;
}

static void disk_run_init(struct disk_run *d)
{
	for (unsigned i = 0; i < HOPS; i++)
		hist_init(&d->hops[i]);
	for (unsigned m = 0; m < MODES; m++)
		hist_init(&d->res[m].qd1_hist);
}

/* A random 4 KiB-aligned sector below `sectors`. */
static uint64_t random_sector(uint64_t sectors)
{
	return (stats_xorshift(&seed) % sectors) & ~7ull;
}

static void add_stats(struct result *r, struct vblk *b)
{
	struct vblk_stats st;
	vblk_stats(b, &st);
	r->wakeups += st.wakeups;
	r->interrupts += st.interrupts;
	r->rekicks += st.rekicks;
	r->kicks += st.vq.notifies + st.rekicks;
	r->deferred_polls += st.deferred_polls;
	r->predicted_sleeps += st.predicted_sleeps;
}

static void wait_one(struct vblk *b)
{
	int n = vblk_wait(b, 10000);
	if (n <= 0)
		die("vblk_wait", n == 0 ? "no completion within 10 s" : vblk_error(b));
}

/* n reads one at a time; every latency into the mode's histogram and this round's p50 into
 * round_p50[round], interrupt-mode hops into the breakdown, and the driver's CPU (round < 0:
 * a warm-up, nothing kept), all into d. */
static void qd1(struct disk_run *d, unsigned m, unsigned n, int round)
{
	bool keep = round >= 0;
	struct result *x = &d->res[m];
	static struct hist_snapshot before, after, this_round;
	hist_snapshot(&x->qd1_hist, &before);
	struct vblk *b = open_driver(m);
	double cpu0 = peer_cpu_seconds(0);
	uint64_t t0 = virtio_now_ns();
	uint64_t sectors = vblk_info(b)->capacity - IO_BYTES / 512;
	struct vblk_req r;
	for (unsigned i = 0; i < n; i++) {
		r = (struct vblk_req){ .type = VIRTIO_BLK_T_IN, .len = IO_BYTES, .data = vblk_buffer(b, 0),
				       .sector = random_sector(sectors) };
		if (vblk_submit(b, &r) < 0)
			die("submit", vblk_error(b));
		while (r.completed_ns == 0)
			wait_one(b);
		if (r.status != 0)
			die("read", strerror(-r.status));
		if (!keep)
			continue;
		hist_record(&x->qd1_hist, r.completed_ns - r.submitted_ns);
		if (m == 0 && r.raised_ns >= r.submitted_ns &&
		    r.delivered_ns >= r.raised_ns && r.woken_ns >= r.delivered_ns) {
			hist_record(&d->hops[HOP_DEVICE], r.raised_ns - r.submitted_ns);
			hist_record(&d->hops[HOP_IRQD], r.delivered_ns - r.raised_ns);
			hist_record(&d->hops[HOP_WAKE], r.woken_ns - r.delivered_ns);
			hist_record(&d->hops[HOP_DONE], r.completed_ns - r.woken_ns);
		}
	}
	if (keep) {
		hist_snapshot(&x->qd1_hist, &after);
		hist_subtract(&this_round, &after, &before);
		x->round_p50[round] = (double)hist_percentile(&this_round, 50);
		x->qd1_cpu_s += peer_cpu_seconds(0) - cpu0;
		x->qd1_s += (double)(virtio_now_ns() - t0) / 1e9;
		add_stats(x, b);
	}
	vblk_close(b);
}

struct qd32_io {
	struct vblk_req r;
	uint64_t *sectors;
	int *done;
};

static void requeue(struct vblk_req *r)
{
	struct qd32_io *io = r->ctx;
	(*io->done)++;
}

/* QD_MAX reads in flight for `seconds` on the page-cached image, adding up completions and
 * CPU; the rate into round_iops[round]. */
static void qd32(unsigned m, double seconds, unsigned round)
{
	struct vblk *b = open_driver(m);
	uint64_t sectors = vblk_info(b)->capacity - IO_BYTES / 512;
	struct qd32_io io[QD_MAX];
	int done = 0;
	double cpu0 = peer_cpu_seconds(0), irqd0 = peer_cpu_seconds(irqd_peer.pid), dev0 = peer_cpu_seconds(qsd.pid);
	uint64_t t0 = virtio_now_ns(), end = t0 + (uint64_t)(seconds * 1e9), ios = 0;
	for (unsigned i = 0; i < QD_MAX; i++) {
		io[i] = (struct qd32_io){ .r = { .type = VIRTIO_BLK_T_IN, .len = IO_BYTES,
						 .data = vblk_buffer(b, i), .done = requeue, .ctx = &io[i],
						 .sector = random_sector(sectors) }, .done = &done };
		if (vblk_queue(b, &io[i].r) < 0)
			die("queue", vblk_error(b));
	}
	vblk_kick(b);
	uint64_t now;
	while ((now = virtio_now_ns()) < end) {
		wait_one(b);
		/* resubmit what completed (the callbacks only counted, so the queue is not
		 * re-entered from inside the driver) */
		for (unsigned i = 0; i < QD_MAX && done > 0; i++)
			if (io[i].r.completed_ns) {
				if (io[i].r.status != 0)
					die("read", strerror(-io[i].r.status));
				ios++;
				done--;
				io[i].r.completed_ns = 0;
				io[i].r.sector = random_sector(sectors);
				if (vblk_queue(b, &io[i].r) < 0)
					die("queue", vblk_error(b));
			}
		vblk_kick(b);
	}
	double s = (double)(now - t0) / 1e9;
	struct result *x = &cached.res[m];
	x->round_iops[round] = (double)ios / s;
	x->qd32_s += s;
	x->qd32_ios += ios;
	x->driver_cpu_s += peer_cpu_seconds(0) - cpu0;
	x->irqd_cpu_s += peer_cpu_seconds(irqd_peer.pid) - irqd0;
	x->device_cpu_s += peer_cpu_seconds(qsd.pid) - dev0;
	add_stats(x, b);
	vblk_close(b);
}

static void make_image(void)
{
	snprintf(image, sizeof image, "%s/disk.img", qsd.dir);
	int fd = open(image, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0)
		die("image", strerror(errno));
	static char chunk[1 << 20];
	for (unsigned i = 0; i < IMAGE_MB; i++) {
		for (unsigned k = 0; k < sizeof chunk / 8; k++)
			((uint64_t *)chunk)[k] = stats_xorshift(&seed);
		if (write(fd, chunk, sizeof chunk) != (ssize_t)sizeof chunk)
			die("image", strerror(errno));
	}
	close(fd);
}

/* One target line: a paired ratio of mode m's per-round figures to polling's, its interval,
 * and the ratio of the pooled figures beside it. */
static void ratio_line(FILE *f, const char *what, const double *a, const double *b,
		       unsigned rounds, double pooled, double limit, bool at_most)
{
	double lo, hi, r = stats_paired_ratio(a, b, rounds, &lo, &hi);
	bool holds = at_most ? r <= limit : r >= limit;
	char note[160];
	stats_ratio_note(note, sizeof(note), rounds, lo, hi, limit);
	fprintf(f, "- %s = %.2fx (target %s %.2fx): %s; %s; pooled: %.2fx\n", what, r,
		at_most ? "<=" : ">=", limit, holds ? "holds" : "MISSED", note, pooled);
}

static double p_us(const struct hist_snapshot *h, double p)
{
	return (double)hist_percentile(h, p) / 1000.0;
}

/* QD1 of every mode in `rounds` interleaved rounds, after a warm-up round (the first reads of a
 * fresh device and page cache are slow for whoever runs first). */
static void qd1_rounds(struct disk_run *d, unsigned ios, unsigned rounds)
{
	for (unsigned m = 0; m < MODES; m++)
		qd1(d, m, ios / rounds, -1);
	unsigned order[MODES] = { 0, 1, 2, 3, 4 };
	for (unsigned round = 0; round < rounds; round++) {
		stats_shuffle(order, MODES, &seed);
		for (unsigned i = 0; i < MODES; i++)
			qd1(d, order[i], ios / rounds, (int)round);
	}
	for (unsigned m = 0; m < MODES; m++)
		hist_snapshot(&d->res[m].qd1_hist, &d->res[m].qd1);
}

static void print_hops(FILE *f, const struct disk_run *d)
{
	fprintf(f, "\nQD1 read through irqd, where the time goes (p50 / p99 us):\n\n");
	for (unsigned i = 0; i < HOPS; i++) {
		struct hist_snapshot s;
		hist_snapshot(&d->hops[i], &s);
		fprintf(f, "- %s: %.1f / %.1f\n", hop_name[i], p_us(&s, 50), p_us(&s, 99));
	}
}

static void qd1_target_line(FILE *f, const struct disk_run *d, unsigned m, unsigned rounds)
{
	const struct result *x = &d->res[m], *po = &d->res[MODES - 1];
	char what[160];
	snprintf(what, sizeof what, "QD1 p50 %s / polling", mode_label[m]);
	ratio_line(f, what, x->round_p50, po->round_p50, rounds,
		   p_us(&x->qd1, 50) / p_us(&po->qd1, 50), 1.15, true);
}

/* What this machine charges for a wake-up, with nothing of ours in the way: round trips
 * between a thread on DRIVER_CPU and one on DEVICE_CPU, each asleep on an eventfd until the
 * other writes it, against the same turns taken spinning on a shared word. Half the difference
 * is one wake of a thread on an idle CPU (on a VM the IPI to a halted vCPU, paid mostly by the
 * writer). */
#define PINGS 20000
struct ping {
	int to_device, to_driver;
	bool spin;
	unsigned turn; /* spinning: odd when the device's turn, even when the driver's */
};

static void *ping_device(void *arg)
{
	struct ping *p = arg;
	uint64_t v;
	for (unsigned i = 1; i <= PINGS; i++) {
		if (p->spin) {
			while (__atomic_load_n(&p->turn, __ATOMIC_ACQUIRE) != 2 * i - 1)
				;
			__atomic_store_n(&p->turn, 2 * i, __ATOMIC_RELEASE);
		} else if (read(p->to_device, &v, sizeof v) != sizeof v ||
			   write(p->to_driver, &(uint64_t){ 1 }, sizeof v) != sizeof v) {
			break;
		}
	}
	return NULL;
}

static double round_trip_p50_us(bool spin)
{
	struct ping p = { eventfd(0, EFD_CLOEXEC), eventfd(0, EFD_CLOEXEC), spin, 0 };
	pthread_t t;
	cpu_set_t device_cpu;
	CPU_ZERO(&device_cpu);
	CPU_SET(DEVICE_CPU, &device_cpu);
	pthread_attr_t a;
	pthread_attr_init(&a);
	pthread_attr_setaffinity_np(&a, sizeof device_cpu, &device_cpu);
	if (p.to_device < 0 || p.to_driver < 0)
		die("wake-up cost: eventfd", strerror(errno));
	int e = pthread_create(&t, &a, ping_device, &p);
	if (e != 0)
		die("wake-up cost: thread", strerror(e));
	pthread_attr_destroy(&a);
	static struct hist h;
	hist_init(&h);
	uint64_t v;
	for (unsigned i = 1; i <= PINGS; i++) {
		uint64_t t0 = virtio_now_ns();
		if (spin) {
			__atomic_store_n(&p.turn, 2 * i - 1, __ATOMIC_RELEASE);
			while (__atomic_load_n(&p.turn, __ATOMIC_ACQUIRE) != 2 * i)
				;
		} else if (write(p.to_device, &(uint64_t){ 1 }, sizeof v) != sizeof v ||
			   read(p.to_driver, &v, sizeof v) != sizeof v) {
			die("wake-up cost", strerror(errno));
		}
		hist_record(&h, virtio_now_ns() - t0);
	}
	pthread_join(t, NULL);
	close(p.to_device);
	close(p.to_driver);
	struct hist_snapshot s;
	hist_snapshot(&h, &s);
	return p_us(&s, 50);
}

static double sleeping_round_trip_us, spinning_round_trip_us;

/* Beside the targets: the raw eventfd (no irqd), and the machine's own wake-up cost against
 * the target's budget. A sleeping front end pays two wakes per back-to-back read: its own, and
 * the device's, whose thread is asleep again by the time the woken driver kicks. */
static void floor_line(FILE *f, const struct disk_run *d, unsigned rounds)
{
	const struct result *ev = &d->res[MODES - 2], *po = &d->res[MODES - 1];
	double lo, hi, r = stats_paired_ratio(ev->round_p50, po->round_p50, rounds, &lo, &hi);
	fprintf(f, "- for comparison, no irqd: QD1 p50 raw eventfd / polling = %.2fx (%.2f-%.2fx)\n",
		r, lo, hi);
	double wake = (sleeping_round_trip_us - spinning_round_trip_us) / 2;
	fprintf(f, "- this machine's floor: one wake of a thread on the idle CPU costs %.1f us (eventfd "
		   "round trip p50 %.1f us asleep, %.1f us spinning); a sleeping front end pays two "
		   "per back-to-back read, %.1f us, against a 1.15x budget of %.1f us\n",
		wake, sleeping_round_trip_us, spinning_round_trip_us, 2 * wake,
		0.15 * p_us(&po->qd1, 50));
}

int main(int argc, char **argv)
{
	const char *irqd_bin = "build/bin/irqd", *out = "build/bench";
	unsigned ios = 20000, disk_ios = 5000, rounds = 10;
	double seconds = 3;
	for (int i = 1; i + 1 < argc; i += 2) {
		if (!strcmp(argv[i], "--irqd"))
			irqd_bin = argv[i + 1];
		else if (!strcmp(argv[i], "--out"))
			out = argv[i + 1];
		else if (!strcmp(argv[i], "--ios"))
			ios = (unsigned)strtoul(argv[i + 1], NULL, 10);
		else if (!strcmp(argv[i], "--disk-ios"))
			disk_ios = (unsigned)strtoul(argv[i + 1], NULL, 10);
		else if (!strcmp(argv[i], "--rounds"))
			rounds = (unsigned)strtoul(argv[i + 1], NULL, 10);
		else if (!strcmp(argv[i], "--seconds"))
			seconds = strtod(argv[i + 1], NULL);
		else {
			fprintf(stderr, "usage: bench_vblk [--irqd PATH] [--out DIR] [--ios N] "
					"[--disk-ios N] [--rounds R] [--seconds S]\n");
			return 2;
		}
	}
	if (rounds < 1 || rounds > MAX_ROUNDS || ios / rounds < 10 ||
	    (disk_ios > 0 && disk_ios / rounds < 10) || seconds <= 0) {
		fprintf(stderr, "bench_vblk: --rounds 1 to %d with at least 10 --ios (and --disk-ios, "
				"unless 0) per round, --seconds > 0\n", MAX_ROUNDS);
		return 2;
	}
	if (peer_init(&irqd_peer, "irqd") < 0 || peer_init(&qsd, "qsd") < 0)
		die("peer", strerror(errno));
	char *const irqd_argv[] = { (char *)irqd_bin, "--socket", "@SOCK@", "--foreground", NULL };
	if (peer_start(&irqd_peer, irqd_argv, 1) < 0)
		die("irqd", peer_log_tail(&irqd_peer));
	if (irqd_connect(irqd_peer.sock, &irqd) < 0)
		die("irqd", irqd_last_error());
	make_image();
	int r = peer_start_qsd(&qsd, image, false);
	if (r < 0)
		die("qemu-storage-daemon", r == -ENOENT ? "not installed" : peer_log_tail(&qsd));
	/* the driver and irqd share a CPU, the device has the other, in every mode alike */
	peer_pin(getpid(), DRIVER_CPU);
	/* the adaptive mode's deferred looks are short sleeps: the default timer slack (50 us)
	 * would double them */
	prctl(PR_SET_TIMERSLACK, 1000UL);
	peer_pin(irqd_peer.pid, DRIVER_CPU);
	peer_pin(qsd.pid, DEVICE_CPU);
	disk_run_init(&cached);
	disk_run_init(&direct_io);
	qd1_rounds(&cached, ios, rounds);
	unsigned order[MODES] = { 0, 1, 2, 3, 4 };
	for (unsigned round = 0; round < rounds; round++) {
		stats_shuffle(order, MODES, &seed);
		for (unsigned i = 0; i < MODES; i++)
			qd32(order[i], seconds / rounds, round);
	}
	/* the same image, the device started again to read it with O_DIRECT (no driver is
	 * connected, nothing is in flight) */
	bool on_disk = false;
	if (disk_ios > 0) {
		peer_kill(&qsd);
		r = peer_start_qsd(&qsd, image, true);
		if (r < 0)
			fprintf(stderr, "bench_vblk: no QD1 on the disk: qemu-storage-daemon with O_DIRECT: %s\n",
				peer_log_tail(&qsd));
		else {
			peer_pin(qsd.pid, DEVICE_CPU);
			qd1_rounds(&direct_io, disk_ios, rounds);
			on_disk = true;
		}
	}

	sleeping_round_trip_us = round_trip_p50_us(false);
	spinning_round_trip_us = round_trip_p50_us(true);

	char path[256];
	snprintf(path, sizeof path, "%s/vblk.md", out);
	FILE *md = fopen(path, "w");
	FILE *outs[2] = { stdout, md };
	for (int k = 0; k < 2 && outs[k]; k++) {
		FILE *f = outs[k];
		fprintf(f, "\n## virtio-blk on qemu-storage-daemon: 4 KiB random reads (%u QD1 reads and QD%d for %.1f s, in %u rounds)\n\n",
			ios, QD_MAX, seconds, rounds);
		fprintf(f, "The image in the host's page cache (cache.direct=off).\n\n");
		fprintf(f, "| interrupt | QD1 p50 us | QD1 p99 us | QD1 driver CPU | QD32 IOPS | QD32 driver CPU | QD32 irqd CPU | QD32 device CPU | wake-ups/IO | deferred looks/IO | kicks/IO | re-kicks |\n");
		fprintf(f, "|---|---|---|---|---|---|---|---|---|---|---|---|\n");
		for (unsigned m = 0; m < MODES; m++) {
			struct result *x = &cached.res[m];
			double total_ios = (double)(x->qd1.count + x->qd32_ios);
			fprintf(f, "| %s | %.1f | %.1f | %.0f%% | %.0f | %.0f%% | %.0f%% | %.0f%% | %.3f | %.3f | %.3f | %" PRIu64 " |\n",
				mode_label[m], p_us(&x->qd1, 50), p_us(&x->qd1, 99),
				100 * x->qd1_cpu_s / x->qd1_s, x->qd32_ios / x->qd32_s, 100 * x->driver_cpu_s / x->qd32_s,
				100 * x->irqd_cpu_s / x->qd32_s, 100 * x->device_cpu_s / x->qd32_s,
				total_ios ? x->wakeups / total_ios : 0,
				total_ios ? x->deferred_polls / total_ios : 0, total_ios ? x->kicks / total_ios : 0,
				x->rekicks);
		}
		print_hops(f, &cached);
		/* both ways of taking the interrupt through irqd against the polling front end */
		const struct result *po = &cached.res[MODES - 1];
		for (unsigned m = 0; m < 2; m++) {
			const struct result *x = &cached.res[m];
			fprintf(f, "\nTargets, %s:\n", mode_label[m]);
			qd1_target_line(f, &cached, m, rounds);
			char what[160];
			snprintf(what, sizeof what, "QD32 IOPS %s / polling", mode_label[m]);
			ratio_line(f, what, x->round_iops, po->round_iops, rounds,
				   (x->qd32_ios / x->qd32_s) / (po->qd32_ios / po->qd32_s), 0.95, false);
			double cpu = (x->driver_cpu_s + x->irqd_cpu_s) / x->qd32_s /
				     (po->driver_cpu_s / po->qd32_s);
			fprintf(f, "- QD32 CPU (driver + irqd) / polling driver = %.2fx (target <= 0.5x): %s\n",
				cpu, cpu <= 0.5 ? "holds" : "MISSED");
		}
		floor_line(f, &cached, rounds);
		if (!on_disk)
			continue;
		fprintf(f, "\n### QD1 on the disk: the device reads the image with O_DIRECT (cache.direct=on), %u reads in %u rounds\n\n",
			disk_ios, rounds);
		fprintf(f, "| interrupt | QD1 p50 us | QD1 p99 us | QD1 driver CPU | wake-ups/IO | predicted sleeps/IO | re-kicks |\n|---|---|---|---|---|---|---|\n");
		for (unsigned m = 0; m < MODES; m++) {
			struct result *x = &direct_io.res[m];
			double n = x->qd1.count ? (double)x->qd1.count : 1;
			fprintf(f, "| %s | %.1f | %.1f | %.0f%% | %.3f | %.3f | %" PRIu64 " |\n", mode_label[m],
				p_us(&x->qd1, 50), p_us(&x->qd1, 99), 100 * x->qd1_cpu_s / x->qd1_s,
				x->wakeups / n, x->predicted_sleeps / n, x->rekicks);
		}
		print_hops(f, &direct_io);
		fprintf(f, "\nTargets on the disk:\n");
		for (unsigned m = 0; m < 2; m++)
			qd1_target_line(f, &direct_io, m, rounds);
		floor_line(f, &direct_io, rounds);
	}
	if (md)
		fclose(md);
	irqd_disconnect(irqd);
	peer_stop(&qsd);
	peer_stop(&irqd_peer);
	return 0;
}
