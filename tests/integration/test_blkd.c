/*
 * test_blkd.c - blkd, the block driver as a server, end to end: a real irqd, a real
 * qemu-storage-daemon, blkd as its own process, clients as processes. Data written by several
 * clients at once is read back and found in the image file; vblkctl writes and reads through
 * it; a client killed mid-I/O leaves blkd and the others unaffected; a client with more
 * requests out than its completion ring holds loses none; a client that breaks its own ring
 * stalls only itself; the device is killed and
 * restarted under a busy client, which sees every request complete exactly once; the latency
 * breakdown covers every hop.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "peers/peer.h"
#include "util/unixmsg.h"
#include "virtio-blk/blkq.h"

#define IMAGE_MB 64
#define CLIENTS 4

struct bed {
	struct irqd_proc irqd;
	struct peer qsd, blkd;
	char image[160];
};

/* adaptive: the driver's waiting policy on (poll shallow queues, defer interrupts while busy) */
static void start_blkd(struct bed *t, bool adaptive)
{
	char *const argv[] = { (char *)build_bin("blkd"), "--device", t->qsd.sock, "--listen", "@SOCK@",
			       "--irqd", t->irqd.sock, "--reconnect-ms", "20000",
			       adaptive ? "--spin-us" : NULL, /* (NULL: the list ends here) */
			       "50", "--defer-us", "25", NULL };
	int r = peer_start(&t->blkd, argv, 1);
	if (r < 0)
		fail_msg("blkd: %s; log: %s", strerror(-r), peer_log_tail(&t->blkd));
}

static void bed_up(struct bed *t, bool adaptive)
{
	memset(t, 0, sizeof *t);
	irqd_start(&t->irqd, 0, NULL);
	assert_int_equal(peer_init(&t->qsd, "qsd"), 0);
	assert_int_equal(peer_init(&t->blkd, "blkd"), 0);
	snprintf(t->image, sizeof t->image, "%s/disk.img", t->qsd.dir);
	int fd = open(t->image, O_RDWR | O_CREAT | O_TRUNC, 0644);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, IMAGE_MB << 20), 0);
	close(fd);
	int r = peer_start_qsd(&t->qsd, t->image, false);
	if (r < 0)
		fail_msg("qemu-storage-daemon: %s; log: %s", strerror(-r), peer_log_tail(&t->qsd));
	start_blkd(t, adaptive);
}

static void bed_down(struct bed *t)
{
	char log[1024];
	snprintf(log, sizeof log, "%s", peer_log_tail(&t->blkd));
	int rc = peer_stop(&t->blkd);
	if (rc != 0)
		fail_msg("blkd exited with %d; log: %s", rc, log);
	assert_int_equal(peer_stop(&t->qsd), 0);
	irqd_stop(&t->irqd);
}

static void fill(void *buf, uint64_t sector, uint32_t len, uint64_t gen)
{
	uint64_t *w = buf;
	for (uint32_t i = 0; i < len / 8; i++)
		w[i] = ((sector + i / 64) << 24) ^ (gen << 8) ^ (i % 64) ^ 0xb10c000000000000ull;
}

/* A client process: in its own 8 MiB region, writes 48 requests (QD up to 16) of random size,
 * flushes, reads them back, compares. Exit 0, or 1 with the reason on stderr. */
struct job {
	const char *sock;
	unsigned id;
	uint64_t gen;
};

static int wait_all(struct blkq *q, int want, int *statuses)
{
	int got = 0;
	while (got < want) {
		struct blkq_cqe c[BLKQ_DEPTH];
		int n = blkq_wait(q, c, BLKQ_DEPTH, 20000);
		if (n <= 0)
			return -1;
		for (int i = 0; i < n; i++)
			statuses[c[i].tag] = c[i].status;
		got += n;
	}
	return 0;
}

static int client_main(const struct irqd_proc *p, void *arg)
{
	(void)p;
	const struct job *j = arg;
	struct blkq *q;
	if (blkq_connect(j->sock, &q) < 0) {
		fprintf(stderr, "client %u: %s\n", j->id, blkq_last_error());
		return 1;
	}
	uint64_t seed = 0x1234567ull + j->id, base = (uint64_t)j->id * 16384;
	uint64_t sector[48];
	uint32_t len[48];
	int status[48];
	for (int round = 0; round < 3; round++)
		for (int i = 0; i < 16; i++) {
			int k = round * 16 + i;
			len[k] = (uint32_t)(1 + xorshift(&seed) % 32) * 512;
			sector[k] = base + (uint64_t)k * 128;
			fill(blkq_slot(q, (unsigned)i), sector[k], len[k], j->gen);
			struct blkq_sqe e = { .op = BLKQ_WRITE, .slot = (unsigned)i, .sector = sector[k],
					      .len = len[k], .tag = (unsigned)k };
			if (blkq_submit(q, &e) < 0)
				return 1;
			if (i == 15 && wait_all(q, 16, status) < 0)
				return 1;
		}
	struct blkq_sqe fl = { .op = BLKQ_FLUSH, .tag = 0 };
	if (blkq_submit(q, &fl) < 0 || wait_all(q, 1, status) < 0 || status[0] != 0)
		return 1;
	char *want = malloc(BLKQ_SLOT_BYTES);
	for (int round = 0; round < 3; round++) {
		for (int i = 0; i < 16; i++) {
			int k = round * 16 + i;
			struct blkq_sqe e = { .op = BLKQ_READ, .slot = (unsigned)i, .sector = sector[k],
					      .len = len[k], .tag = (unsigned)k };
			memset(blkq_slot(q, (unsigned)i), 0, len[k]);
			if (blkq_submit(q, &e) < 0)
				return 1;
		}
		if (wait_all(q, 16, status) < 0)
			return 1;
		for (int i = 0; i < 16; i++) {
			int k = round * 16 + i;
			fill(want, sector[k], len[k], j->gen);
			if (status[k] != 0 || memcmp(blkq_slot(q, (unsigned)i), want, len[k]) != 0) {
				fprintf(stderr, "client %u: request %d: status %d or data differs\n", j->id, k,
					status[k]);
				return 1;
			}
		}
	}
	free(want);
	blkq_close(q);
	return 0;
}

static void check_image(const struct bed *t, unsigned id, uint64_t gen)
{
	/* the first request of each round has a known sector; its length is the client's secret,
	 * but the first 512 bytes are always written */
	int fd = open(t->image, O_RDONLY);
	assert_true(fd >= 0);
	char got[512], want[512];
	for (int k = 0; k < 48; k++) {
		uint64_t sector = (uint64_t)id * 16384 + (uint64_t)k * 128;
		assert_int_equal(pread(fd, got, 512, (off_t)sector * 512), 512);
		fill(want, sector, 512, gen);
		if (memcmp(got, want, 512) != 0)
			fail_msg("client %u request %d: the image file differs at sector %llu", id, k,
				 (unsigned long long)sector);
	}
	close(fd);
}

/* Clients write and read back through blkd at once; the image holds what they wrote. */
static void clients_integrity(bool adaptive)
{
	struct bed t;
	bed_up(&t, adaptive);
	struct job jobs[CLIENTS];
	pid_t pid[CLIENTS];
	for (unsigned i = 0; i < CLIENTS; i++) {
		jobs[i] = (struct job){ t.blkd.sock, i, 7 };
		pid[i] = spawn(client_main, &t.irqd, &jobs[i]);
	}
	for (unsigned i = 0; i < CLIENTS; i++)
		assert_int_equal(reap_within(pid[i], 60000), 0);
	for (unsigned i = 0; i < CLIENTS; i++)
		check_image(&t, i, 7);
	/* the device's interrupts went through irqd: its line exists and delivered (the
	 * adaptive policy may have found every completion by polling) */
	struct irqd_client *c = client(&t.irqd);
	struct irqd_line_stats ls = line_stats(c, "blk0/q0");
	assert_true(adaptive || ls.delivered > 0);
	irqd_disconnect(c);
	bed_down(&t);
}

static void test_clients_integrity(void **state)
{
	(void)state;
	clients_integrity(false);
}

static void test_clients_integrity_adaptive(void **state)
{
	(void)state;
	clients_integrity(true);
}

static int run_vblkctl(char *out, size_t len, const char *sock, const char *a, const char *b,
		       const char *c)
{
	char *const argv[] = { (char *)build_bin("vblkctl"), (char *)sock, (char *)a, (char *)b,
			       (char *)c, NULL };
	return run_capture(out, len, argv);
}

static void test_vblkctl(void **state)
{
	(void)state;
	struct bed t;
	bed_up(&t, false);
	char out[8192], file[200];
	assert_int_equal(run_vblkctl(out, sizeof out, t.blkd.sock, "info", NULL, NULL), 0);
	assert_non_null(strstr(out, "capacity 131072 sectors"));
	snprintf(file, sizeof file, "%s/in.txt", t.qsd.dir);
	FILE *f = fopen(file, "w");
	fputs("written by vblkctl through blkd, virtio-blk and irqd\n", f);
	fclose(f);
	assert_int_equal(run_vblkctl(out, sizeof out, t.blkd.sock, "write", "4096", file), 0);
	assert_int_equal(run_vblkctl(out, sizeof out, t.blkd.sock, "flush", NULL, NULL), 0);
	assert_int_equal(run_vblkctl(out, sizeof out, t.blkd.sock, "read", "4096", "512"), 0);
	assert_memory_equal(out, "written by vblkctl through blkd", 31);
	/* out of range: a clear error, and blkd keeps serving */
	assert_int_equal(run_vblkctl(out, sizeof out, t.blkd.sock, "read", "131071", "4096"), 1);
	assert_int_equal(run_vblkctl(out, sizeof out, t.blkd.sock, "bogus", NULL, NULL), 2);
	/* the breakdown: every hop measured for every read (plus the info request for the first),
	 * except the interrupt's three, which exist only for reads whose completion came with an
	 * interrupt (blkd also finds completions by looking at the ring): those agree, and some */
	assert_int_equal(run_vblkctl(out, sizeof out, t.blkd.sock, "latency", "300", "1"), 0);
	unsigned long long count[BLKQ_HOPS];
	for (int i = 0; i < BLKQ_HOPS; i++) {
		char *line = strstr(out, blkq_hop_name[i]);
		if (line == NULL)
			fail_msg("no line for hop \"%s\" in:\n%s", blkq_hop_name[i], out);
		char one[200];
		snprintf(one, sizeof one, "%.*s", (int)strcspn(line, "\n"), line);
		count[i] = strtoull(strrchr(one, ' '), NULL, 10);
	}
	int irq_hops[] = { BLKQ_HOP_DEVICE, BLKQ_HOP_IRQD, BLKQ_HOP_WAKE };
	for (int i = 0; i < BLKQ_HOPS; i++) {
		bool irq = i == BLKQ_HOP_DEVICE || i == BLKQ_HOP_IRQD || i == BLKQ_HOP_WAKE;
		if (!irq && count[i] < 300)
			fail_msg("hop \"%s\": %llu of 300 requests:\n%s", blkq_hop_name[i], count[i], out);
	}
	assert_true(count[BLKQ_HOP_DEVICE] > 0);
	for (int i = 1; i < 3; i++)
		if (count[irq_hops[i]] != count[irq_hops[0]])
			fail_msg("interrupt hops disagree:\n%s", out);
	bed_down(&t);
}

/* A client that is killed with requests in flight; another keeps working. */
static int busy_main(const struct irqd_proc *p, void *arg)
{
	(void)p;
	const struct job *j = arg;
	struct blkq *q;
	if (blkq_connect(j->sock, &q) < 0)
		return 1;
	for (uint32_t tag = 0;; tag++) {
		struct blkq_sqe e = { .op = BLKQ_READ, .slot = tag % 32, .sector = (tag % 1000) * 8,
				      .len = 4096, .tag = tag };
		while (blkq_submit(q, &e) == -EAGAIN) {
			struct blkq_cqe c[BLKQ_DEPTH];
			if (blkq_wait(q, c, BLKQ_DEPTH, 20000) <= 0)
				return 1;
		}
	}
}

static void test_client_killed(void **state)
{
	(void)state;
	struct bed t;
	bed_up(&t, false);
	struct job busy = { t.blkd.sock, 9, 0 }, good = { t.blkd.sock, 1, 8 };
	for (int i = 0; i < 5; i++) {
		pid_t b = spawn(busy_main, &t.irqd, &busy);
		pid_t g = spawn(client_main, &t.irqd, &good);
		usleep(20000 * (unsigned)i);
		kill(b, SIGKILL);
		assert_int_equal(reap(b), 128 + SIGKILL);
		assert_int_equal(reap_within(g, 60000), 0);
	}
	check_image(&t, 1, 8);
	assert_int_equal(kill(t.blkd.pid, 0), 0);
	bed_down(&t);
}

/* Takes the answers to requests tagged 0 .. n-1, whose status entries start at 1 (none yet):
 * each tag answered exactly once, its status recorded; fails with blkd's log if blkd is
 * silent for timeout_ms. */
static void answers_once(const struct bed *t, struct blkq *q, int *status, unsigned n,
			 int timeout_ms)
{
	for (unsigned got = 0; got < n;) {
		struct blkq_cqe c[BLKQ_DEPTH];
		int k = blkq_wait(q, c, BLKQ_DEPTH, timeout_ms);
		if (k <= 0)
			fail_msg("%u of %u answered; blkd log: %s", got, n, peer_log_tail(&t->blkd));
		for (int i = 0; i < k; i++) {
			assert_true(c[i].tag < n);
			assert_int_equal(status[c[i].tag], 1); /* once */
			status[c[i].tag] = c[i].status;
		}
		got += (unsigned)k;
	}
}

/* A client that submits more reads than its completion ring holds before it reads any
 * answer: blkd takes only as many as it can answer (the rest wait in the submission ring) and,
 * once the client has read, the rest; every read the client got in is answered exactly once. */
static void test_more_than_a_ring_unread(void **state)
{
	(void)state;
	struct bed t;
	bed_up(&t, false);
	struct blkq *q;
	if (blkq_connect(t.blkd.sock, &q) < 0)
		fail_msg("%s", blkq_last_error());
	enum { MAX = 3 * BLKQ_DEPTH };
	int status[MAX];
	unsigned accepted = 0;
	/* submit until blkd stops making room in the submission ring (two rings' worth here) */
	while (accepted < MAX) {
		struct blkq_sqe e = { .op = BLKQ_READ, .slot = accepted % BLKQ_SLOTS,
				      .sector = (uint64_t)accepted * 8, .len = 4096, .tag = accepted };
		if (!WAIT_UNTIL(blkq_submit(q, &e) == 0, 2000))
			break;
		status[accepted++] = 1;
	}
	printf("  %u reads submitted before any answer was read (a ring holds %d)\n", accepted,
	       BLKQ_DEPTH);
	assert_true(accepted >= 2 * BLKQ_DEPTH);
	answers_once(&t, q, status, accepted, 10000);
	for (unsigned i = 0; i < accepted; i++)
		assert_int_equal(status[i], 0);
	blkq_close(q);
	bed_down(&t);
}

/* A client that writes nonsense into its own queue: its submission ring's tail two billion
 * entries ahead. blkd answers what it can and stops there; another client's writes and reads
 * go on meanwhile, and blkd is alive afterwards. */
static void test_client_breaks_its_ring(void **state)
{
	(void)state;
	struct bed t;
	bed_up(&t, false);
	int s = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	assert_true(strlen(t.blkd.sock) < sizeof sa.sun_path);
	memcpy(sa.sun_path, t.blkd.sock, strlen(t.blkd.sock) + 1);
	assert_int_equal(connect(s, (struct sockaddr *)&sa, sizeof sa), 0);
	char msg[64];
	int fds[3], nfds;
	assert_true(unixmsg_recv(s, msg, sizeof msg, fds, &nfds, 3, 0) > 0);
	assert_int_equal(nfds, 3);
	struct blkq_shared *sh = mmap(NULL, blkq_shared_bytes(), PROT_READ | PROT_WRITE, MAP_SHARED,
				      fds[0], 0);
	assert_true(sh != MAP_FAILED);
	for (unsigned i = 0; i < BLKQ_DEPTH; i++)
		sh->sq[i] = (struct blkq_sqe){ .op = BLKQ_INFO, .tag = i };
	atomic_store(&sh->sq_hdr.tail, atomic_load(&sh->sq_hdr.head) + 0x80000000u);
	uint64_t one = 1;
	assert_int_equal(write(fds[1], &one, sizeof one), sizeof one);
	struct job good = { t.blkd.sock, 2, 5 };
	pid_t g = spawn(client_main, &t.irqd, &good);
	assert_int_equal(reap_within(g, 60000), 0);
	check_image(&t, 2, 5);
	/* what blkd answered: no more than the ring holds */
	assert_int_equal(blkq_cq_unread(sh), BLKQ_DEPTH);
	assert_int_equal(kill(t.blkd.pid, 0), 0);
	munmap(sh, blkq_shared_bytes());
	for (int i = 0; i < 3; i++)
		close(fds[i]);
	close(s);
	bed_down(&t);
}

/* The device is killed under a busy client and restarted: every request the client sent is
 * answered once (done, or ECONNRESET), blkd reconnects by itself, and I/O works again. */
static void test_device_restart(void **state)
{
	(void)state;
	struct bed t;
	bed_up(&t, false);
	struct blkq *q;
	if (blkq_connect(t.blkd.sock, &q) < 0)
		fail_msg("%s", blkq_last_error());
	for (int round = 0; round < 2; round++) {
		int status[48];
		for (int i = 0; i < 48; i++) {
			status[i] = 1;
			struct blkq_sqe e = { .op = BLKQ_READ, .slot = (unsigned)i, .sector = (uint64_t)i * 64,
					      .len = 32768, .tag = (unsigned)i };
			assert_int_equal(blkq_submit(q, &e), 0);
		}
		peer_kill(&t.qsd);
		int r = peer_start_qsd(&t.qsd, t.image, false);
		if (r < 0)
			fail_msg("restart: %s", strerror(-r));
		answers_once(&t, q, status, 48, 30000);
		for (int i = 0; i < 48; i++)
			if (status[i] != 0 && status[i] != -ECONNRESET && status[i] != -ENOTCONN)
				fail_msg("request %d: %s", i, strerror(-status[i]));
		/* then it works again (retrying while blkd is still reconnecting) */
		bool ok = WAIT_UNTIL(({
			int st[1] = { 1 };
			struct blkq_sqe e = { .op = BLKQ_READ, .slot = 0, .len = 4096, .tag = 0 };
			blkq_submit(q, &e) == 0 && wait_all(q, 1, st) == 0 && st[0] == 0;
		}), 20000);
		if (!ok)
			fail_msg("no I/O after the restart; blkd log: %s", peer_log_tail(&t.blkd));
	}
	blkq_close(q);
	bed_down(&t);
}

int main(void)
{
	if (peer_which("qemu-storage-daemon") == NULL) {
		fprintf(stderr, "test_blkd: qemu-storage-daemon is not installed (make deps)\n");
		return 1;
	}
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_clients_integrity, harness_teardown),
		cmocka_unit_test_teardown(test_clients_integrity_adaptive, harness_teardown),
		cmocka_unit_test_teardown(test_vblkctl, harness_teardown),
		cmocka_unit_test_teardown(test_client_killed, harness_teardown),
		cmocka_unit_test_teardown(test_more_than_a_ring_unread, harness_teardown),
		cmocka_unit_test_teardown(test_client_breaks_its_ring, harness_teardown),
		cmocka_unit_test_teardown(test_device_restart, harness_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
