/*
 * netgen - a vhost-user network device with a rate cap, on DPDK's librte_vhost: the traffic
 * generator of the gigabit packet benchmark (testpmd's txonly cannot cap its rate on a vhost
 * port).
 *
 *   netgen --socket PATH --prefix NAME [--rate PPS] [--size 64] [--seconds S]
 *          [--mode tx|rx|both] [--burst 32] [--lcore N] [--warmup-ms N]
 *
 * It is the vhost-user server: it creates PATH and waits for a driver (a front end). tx: frames
 * of --size bytes into the driver's receive queue (virtio queue 0), paced by the TSC so that
 * exactly PPS are offered per second (0: as fast as possible); what the driver's ring had no
 * room for is counted as dropped (offered = enqueued + dropped). Each frame carries a 64-bit
 * sequence number right after its 14-byte Ethernet header. rx: frames the driver sends (queue
 * 1) are counted, and gaps in their sequence numbers. librte_vhost signals the driver's call
 * eventfd itself, honouring EVENT_IDX.
 *
 * Generation runs while a driver is connected and ready (after --warmup-ms more, so that the
 * driver is in its loop), for --seconds of that time; then one
 * JSON line goes to stdout: {"offered":N,"enqueued":N,"dropped":N,"received":N,"rx_gaps":N,
 * "seconds":F,"rate_pps":F} and netgen exits (closing the socket). SIGINT/SIGTERM end it early
 * with the same report. One line of running totals per second before that.
 */
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_mbuf.h>
#include <rte_vhost.h>

#define VIRTIO_RXQ 0 /* the driver's receive queue: we enqueue into it */
#define VIRTIO_TXQ 1 /* the driver's transmit queue: we dequeue from it */
#define MAX_BURST 256

static volatile int vid = -1;            /* the connected device, -1 when none */
static volatile bool rx_ready, tx_ready; /* the driver enabled both rings */
static volatile sig_atomic_t stop;

static int new_device(int id)
{
	vid = id;
	return 0;
}

static void destroy_device(int id)
{
	(void)id;
	rx_ready = tx_ready = false;
	vid = -1;
}

static int vring_state_changed(int id, uint16_t queue, int enable)
{
	(void)id;
	if (queue == VIRTIO_RXQ)
		rx_ready = enable;
	else if (queue == VIRTIO_TXQ)
		tx_ready = enable;
	return 0;
}

static const struct rte_vhost_device_ops ops = {
	.new_device = new_device,
	.destroy_device = destroy_device,
	.vring_state_changed = vring_state_changed,
};

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static void usage(void)
{
	fprintf(stderr, "usage: netgen --socket PATH --prefix NAME [--rate PPS] [--size BYTES] "
			"[--seconds S] [--mode tx|rx|both] [--burst N] [--lcore N] [--warmup-ms N]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	const char *sock = NULL, *prefix = NULL, *mode = "tx";
	double seconds = 10;
	uint64_t rate = 0;
	unsigned size = 64, burst = 32, lcore = 1, warmup_ms = 0;
	static const struct option opts[] = {
		{ "socket", 1, 0, 's' }, { "prefix", 1, 0, 'p' }, { "rate", 1, 0, 'r' },
		{ "size", 1, 0, 'z' },   { "seconds", 1, 0, 't' }, { "mode", 1, 0, 'm' },
		{ "burst", 1, 0, 'b' },  { "lcore", 1, 0, 'l' },   { "warmup-ms", 1, 0, 'w' },
		{ 0, 0, 0, 0 },
	};
	for (int c; (c = getopt_long(argc, argv, "", opts, NULL)) != -1;) {
		switch (c) {
		case 's': sock = optarg; break;
		case 'p': prefix = optarg; break;
		case 'r': rate = strtoull(optarg, NULL, 10); break;
		case 'z': size = (unsigned)strtoul(optarg, NULL, 10); break;
		case 't': seconds = strtod(optarg, NULL); break;
		case 'm': mode = optarg; break;
		case 'b': burst = (unsigned)strtoul(optarg, NULL, 10); break;
		case 'l': lcore = (unsigned)strtoul(optarg, NULL, 10); break;
		case 'w': warmup_ms = (unsigned)strtoul(optarg, NULL, 10); break;
		default: usage();
		}
	}
	bool do_tx = !strcmp(mode, "tx") || !strcmp(mode, "both");
	bool do_rx = !strcmp(mode, "rx") || !strcmp(mode, "both");
	if (!sock || !prefix || (!do_tx && !do_rx) || size < 60 || size > 1514 || burst < 1 ||
	    burst > MAX_BURST || seconds <= 0)
		usage();

	/* No hugepages, no PCI: memory from the heap, runtime files under /var/run/dpdk/PREFIX. */
	char core[16], file_prefix[128];
	snprintf(core, sizeof core, "%u", lcore);
	snprintf(file_prefix, sizeof file_prefix, "--file-prefix=%s", prefix);
	char *eal[] = { argv[0], "--no-huge", "-m", "256", "--no-pci", "-l", core, file_prefix,
			"--log-level=lib.eal:error", NULL };
	if (rte_eal_init(9, eal) < 0) {
		fprintf(stderr, "netgen: rte_eal_init failed\n");
		return 1;
	}
	struct rte_mempool *pool = rte_pktmbuf_pool_create("netgen", 8191, 256, 0,
							   RTE_MBUF_DEFAULT_BUF_SIZE, rte_socket_id());
	if (pool == NULL || rte_vhost_driver_register(sock, 0) != 0 ||
	    rte_vhost_driver_callback_register(sock, &ops) != 0 || rte_vhost_driver_start(sock) != 0) {
		fprintf(stderr, "netgen: cannot serve vhost-user on %s\n", sock);
		return 1;
	}
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);

	/* One template frame: broadcast, a locally administered source, ethertype 0x88b5 (local
	 * experimental), the sequence number, a fill pattern. */
	uint8_t frame[1514];
	memset(frame, 0xff, 6);
	memcpy(frame + 6, "\x02\x00\x00\x00\x00\x02", 6);
	frame[12] = 0x88, frame[13] = 0xb5;
	memset(frame + 22, 0x5a, size - 22);

	const uint64_t hz = rte_get_tsc_hz();
	uint64_t offered = 0, enqueued = 0, dropped = 0, received = 0, rx_gaps = 0, rx_next = 0;
	uint64_t seq = 0, active = 0, next_due = 0, last = 0, next_print = 0;
	const uint64_t budget = (uint64_t)(seconds * (double)hz);
	struct rte_mbuf *m[MAX_BURST];
	while (!stop && active < budget) {
		uint64_t now = rte_rdtsc();
		if (vid < 0 || (do_tx && !rx_ready) || (do_rx && !tx_ready)) {
			last = 0; /* the time without a driver does not count */
			usleep(1000);
			continue;
		}
		if (last == 0) {
			usleep(warmup_ms * 1000);
			now = rte_rdtsc();
			last = next_due = next_print = now;
		}
		active += now - last;
		last = now;
		if (do_tx && (rate == 0 || now >= next_due)) {
			unsigned n = burst;
			if (rte_pktmbuf_alloc_bulk(pool, m, n) == 0) {
				for (unsigned i = 0; i < n; i++, seq++) {
					uint8_t *p = rte_pktmbuf_mtod(m[i], uint8_t *);
					memcpy(p, frame, size);
					memcpy(p + 14, &seq, sizeof seq);
					m[i]->data_len = m[i]->pkt_len = (uint16_t)size;
				}
				uint16_t k = rte_vhost_enqueue_burst(vid, VIRTIO_RXQ, m, (uint16_t)n);
				rte_pktmbuf_free_bulk(m, n); /* enqueue copies */
				offered += n;
				enqueued += k;
				dropped += n - k;
				/* the schedule, not the clock, sets the next burst: the rate is exact */
				if (rate)
					next_due += burst * hz / rate;
			}
		}
		if (do_rx) {
			uint16_t k = rte_vhost_dequeue_burst(vid, VIRTIO_TXQ, pool, m, MAX_BURST);
			for (uint16_t i = 0; i < k; i++) {
				uint64_t s;
				if (m[i]->data_len >= 22) {
					memcpy(&s, rte_pktmbuf_mtod(m[i], uint8_t *) + 14, sizeof s);
					rx_gaps += s != rx_next;
					rx_next = s + 1;
				}
			}
			received += k;
			rte_pktmbuf_free_bulk(m, k);
		}
		if (now >= next_print) {
			printf("netgen: t=%.0f offered=%" PRIu64 " enqueued=%" PRIu64 " dropped=%" PRIu64
			       " received=%" PRIu64 "\n", (double)active / hz, offered, enqueued, dropped,
			       received);
			fflush(stdout);
			next_print += hz;
		}
	}
	double secs = (double)active / (double)hz;
	printf("{\"offered\":%" PRIu64 ",\"enqueued\":%" PRIu64 ",\"dropped\":%" PRIu64
	       ",\"received\":%" PRIu64 ",\"rx_gaps\":%" PRIu64 ",\"seconds\":%.6f,\"rate_pps\":%.1f}\n",
	       offered, enqueued, dropped, received, rx_gaps, secs, secs > 0 ? offered / secs : 0);
	fflush(stdout);
	rte_vhost_driver_unregister(sock);
	rte_eal_cleanup();
	return 0;
}
