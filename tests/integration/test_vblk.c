/*
 * test_vblk.c - the virtio-blk driver on vhost-user against a real qemu-storage-daemon, its
 * interrupt (the call eventfd) taken through a real irqd: data written through the driver is
 * read back and found in the image file on the host, in every interrupt mode; the device is
 * killed with requests in flight and restarted, and the driver reconnects.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "peers/peer.h"
#include "vhost-user/vhost_user.h"
#include "virtio-blk/virtio_blk.h"

#define IMAGE_MB 64
#define SECTORS (IMAGE_MB * 2048ull)

static const struct peer *current_qsd; /* for failure messages */

struct bed {
	struct irqd_proc irqd;
	struct irqd_client *c;
	struct peer qsd;
	char image[160];
	struct vblk *b;
};

static void make_image(struct bed *t)
{
	snprintf(t->image, sizeof t->image, "%s/disk.img", t->qsd.dir);
	int fd = open(t->image, O_RDWR | O_CREAT | O_TRUNC, 0644);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, IMAGE_MB << 20), 0);
	close(fd);
}

/* The driver with the test's options (irq mode, waiting policy) on a 128-entry ring. */
static void open_driver(struct bed *t, struct vblk_options o)
{
	o.queue_size = 128;
	o.max_io = 64 * 1024;
	o.irqd = t->c;
	struct virtio_dev *dev;
	char err[200];
	if (vhost_user_open(t->qsd.sock, "blk0", vblk_arena_size(&o), 10000, &dev, err, sizeof err) < 0)
		fail_msg("vhost_user_open: %s; qsd log: %s", err, peer_log_tail(&t->qsd));
	if (vblk_open(dev, &o, &t->b, err, sizeof err) < 0)
		fail_msg("vblk_open: %s", err);
}

static void bed_up(struct bed *t, struct vblk_options o)
{
	memset(t, 0, sizeof *t);
	irqd_start(&t->irqd, 0, NULL);
	t->c = client(&t->irqd);
	assert_int_equal(peer_init(&t->qsd, "qsd"), 0);
	make_image(t);
	int r = peer_start_qsd(&t->qsd, t->image, false);
	if (r < 0)
		fail_msg("qemu-storage-daemon: %s; log: %s", strerror(-r), peer_log_tail(&t->qsd));
	open_driver(t, o);
	current_qsd = &t->qsd;
}

static void bed_down(struct bed *t)
{
	if (t->b)
		vblk_close(t->b);
	irqd_disconnect(t->c);
	assert_int_equal(peer_stop(&t->qsd), 0);
	irqd_stop(&t->irqd);
}

/* A pattern that names its sector and generation: any misplaced or stale sector shows. */
static void fill(void *buf, uint64_t sector, uint32_t len, uint64_t gen)
{
	uint64_t *w = buf;
	for (uint32_t i = 0; i < len / 8; i++)
		w[i] = ((sector + i / 64) << 20) ^ (gen << 4) ^ (i % 64) ^ 0x5a5a000000000000ull;
}

struct io {
	struct vblk_req r;
	int done;
};

static void on_done(struct vblk_req *r)
{
	((struct io *)r->ctx)->done++;
}

/* Runs the requests (up to queue depth at once) to completion; asserts each completes once. */
static void run_all(struct vblk *b, struct io *io, int n)
{
	int next = 0, completed = 0;
	while (completed < n) {
		while (next < n) {
			io[next].r.done = on_done;
			io[next].r.ctx = &io[next];
			int r = vblk_queue(b, &io[next].r);
			if (r == -EAGAIN)
				break;
			if (r < 0)
				fail_msg("vblk_queue: %s", vblk_error(b));
			next++;
		}
		vblk_kick(b);
		int got = vblk_wait(b, 10000);
		if (got <= 0)
			fail_msg("vblk_wait: %d (%s) with %d of %d done; device log: %s", got, vblk_error(b),
				 completed, n, current_qsd ? peer_log_tail(current_qsd) : "");
		completed += got;
	}
	for (int i = 0; i < n; i++) {
		assert_int_equal(io[i].done, 1);
		if (io[i].r.status != 0)
			fail_msg("request %d (type %u sector %llu): status %d", i, io[i].r.type,
				 (unsigned long long)io[i].r.sector, io[i].r.status);
	}
}

/* Writes `n` requests of random size at random sectors (non-overlapping), flushes, reads them
 * back into other buffers and compares, then compares the image file itself. */
static void integrity(struct bed *t, int n, uint64_t gen)
{
	struct vblk *b = t->b;
	assert_true(n <= 64);
	struct io w[64], rd[64];
	uint64_t seed = 0x9e3779b97f4a7c15ull ^ gen;
	memset(w, 0, sizeof w);
	memset(rd, 0, sizeof rd);
	for (int i = 0; i < n; i++) {
		uint32_t len = (uint32_t)(1 + xorshift(&seed) % 128) * 512; /* 512 B .. 64 KiB */
		uint64_t sector = (uint64_t)i * (SECTORS / 64) + xorshift(&seed) % 1024;
		w[i].r = (struct vblk_req){ .type = VIRTIO_BLK_T_OUT, .sector = sector, .len = len,
					    .data = vblk_buffer(b, (unsigned)i) };
		fill(w[i].r.data, sector, len, gen);
	}
	run_all(b, w, n);
	struct io fl = { .r = { .type = VIRTIO_BLK_T_FLUSH } };
	run_all(b, &fl, 1);
	for (int i = 0; i < n; i++) {
		rd[i].r = (struct vblk_req){ .type = VIRTIO_BLK_T_IN, .sector = w[i].r.sector,
					     .len = w[i].r.len, .data = vblk_buffer(b, (unsigned)(64 + i)) };
		memset(rd[i].r.data, 0, rd[i].r.len);
	}
	run_all(b, rd, n);
	int fd = open(t->image, O_RDONLY);
	assert_true(fd >= 0);
	char *file = malloc(64 * 1024), *want = malloc(64 * 1024);
	for (int i = 0; i < n; i++) {
		fill(want, w[i].r.sector, w[i].r.len, gen);
		if (memcmp(rd[i].r.data, want, w[i].r.len) != 0)
			fail_msg("request %d: read back differs from what was written", i);
		assert_int_equal(pread(fd, file, w[i].r.len, (off_t)(w[i].r.sector * 512)), w[i].r.len);
		if (memcmp(file, want, w[i].r.len) != 0)
			fail_msg("request %d: the image file differs at sector %llu", i,
				 (unsigned long long)w[i].r.sector);
	}
	free(file);
	free(want);
	close(fd);
}

/* The driver's side of signals_counted_once (harness.h). */
static uint64_t vblk_take_count(void *driver)
{
	struct vblk_stats st;
	vblk_process(driver);
	vblk_stats(driver, &st);
	return st.interrupts;
}

/* Every signal counted once (harness.h); returns the driver's statistics then. */
static struct vblk_stats counted_once(struct bed *t)
{
	signals_counted_once(t->c, "blk0/q0", vblk_take_count, t->b);
	struct vblk_stats st;
	vblk_stats(t->b, &st);
	return st;
}

static void test_integrity_irqd(void **state)
{
	(void)state;
	struct bed t;
	bed_up(&t, (struct vblk_options){ .irq = VIRTIO_IRQ_IRQD });
	const struct vblk_info *in = vblk_info(t.b);
	assert_int_equal(in->capacity, SECTORS);
	assert_true(in->flush);
	integrity(&t, 64, 1);
	struct vblk_stats st = counted_once(&t);
	assert_true(st.interrupts > 0);
	assert_int_equal(st.completed, 64 + 1 + 64);
	assert_int_equal(st.failed, 0);
	bed_down(&t);
}

/* The adaptive waiting policy through irqd: lone requests (the flush) polled before sleeping,
 * deep queues with the device's interrupts left off while completions keep coming and looked
 * at again on a timer. The deferred looks happen, the data is intact, and every signal the
 * device still sent went through irqd and was counted once. */
static void test_integrity_adaptive(void **state)
{
	(void)state;
	struct bed t;
	bed_up(&t, (struct vblk_options){ .irq = VIRTIO_IRQ_IRQD, .spin_us = 50, .defer_us = 25 });
	integrity(&t, 64, 2);
	struct vblk_stats st = counted_once(&t);
	assert_true(st.deferred_polls > 0);
	assert_int_equal(st.completed, 64 + 1 + 64);
	assert_int_equal(st.failed, 0);
	bed_down(&t);
}

static void test_integrity_modes(void **state)
{
	(void)state;
	enum virtio_irq_mode modes[] = { VIRTIO_IRQ_DIRECT, VIRTIO_IRQ_EVENTFD, VIRTIO_IRQ_POLL };
	for (unsigned m = 0; m < 3; m++) {
		struct bed t;
		bed_up(&t, (struct vblk_options){ .irq = modes[m] });
		integrity(&t, 32, 10 + m);
		struct vblk_stats st;
		vblk_stats(t.b, &st);
		if (modes[m] == VIRTIO_IRQ_POLL)
			assert_int_equal(st.wakeups, 0);
		else
			assert_true(st.wakeups > 0);
		bed_down(&t);
	}
}

/* Reads of the whole first region, to have many requests in flight at once. */
static void queue_reads(struct vblk *b, struct io *io, int n)
{
	for (int i = 0; i < n; i++) {
		io[i] = (struct io){ .r = { .type = VIRTIO_BLK_T_IN, .sector = (uint64_t)i * 128,
					    .len = 64 * 1024, .data = vblk_buffer(b, (unsigned)i),
					    .done = on_done, .ctx = &io[i] } };
		assert_int_equal(vblk_queue(b, &io[i].r), 0);
	}
	vblk_kick(b);
}

/* The device is killed (SIGKILL) with requests in flight and started again on the same socket:
 * every request completes exactly once (done before the crash, or -ECONNRESET), the driver
 * reconnects without restarting, the same irqd line keeps working, and data flushed before
 * the crash is still there. */
static void test_reconnect(void **state)
{
	(void)state;
	struct bed t;
	bed_up(&t, (struct vblk_options){ .irq = VIRTIO_IRQ_IRQD });
	integrity(&t, 16, 20);
	for (int round = 0; round < 3; round++) {
		struct io io[40];
		queue_reads(t.b, io, 40);
		peer_kill(&t.qsd);
		int r;
		while ((r = vblk_wait(t.b, 10000)) > 0)
			;
		assert_int_equal(r, -ECONNRESET);
		/* What was still queued fails at reconnect; new requests are refused meanwhile. */
		int r2 = peer_start_qsd(&t.qsd, t.image, false);
		if (r2 < 0)
			fail_msg("restart: %s; log: %s", strerror(-r2), peer_log_tail(&t.qsd));
		if (vblk_reconnect(t.b, 10000) < 0)
			fail_msg("vblk_reconnect: %s", vblk_error(t.b));
		int ok = 0, reset = 0;
		for (int i = 0; i < 40; i++) {
			assert_int_equal(io[i].done, 1);
			if (io[i].r.status == 0)
				ok++;
			else if (io[i].r.status == -ECONNRESET)
				reset++;
			else
				fail_msg("request %d: status %d", i, io[i].r.status);
		}
		assert_int_equal(ok + reset, 40);
		integrity(&t, 16, 21 + (uint64_t)round);
	}
	struct vblk_stats st;
	vblk_stats(t.b, &st);
	assert_int_equal(st.reconnects, 3);
	assert_int_equal(st.submitted, st.completed);
	bed_down(&t);
}

/* Requests the driver must refuse, each with its reason; the driver keeps working. */
static void test_bad_requests(void **state)
{
	(void)state;
	struct bed t;
	bed_up(&t, (struct vblk_options){ .irq = VIRTIO_IRQ_IRQD });
	char outside[512];
	struct {
		struct vblk_req r;
		int err;
		const char *msg;
	} bad[] = {
		{ { .type = VIRTIO_BLK_T_IN, .sector = 0, .len = 100 }, -EINVAL, "multiple of 512" },
		{ { .type = VIRTIO_BLK_T_IN, .sector = SECTORS, .len = 512 }, -EINVAL, "beyond the disk" },
		{ { .type = VIRTIO_BLK_T_OUT, .sector = SECTORS - 1, .len = 1024 }, -EINVAL, "beyond the disk" },
		{ { .type = VIRTIO_BLK_T_IN, .sector = ~0ull, .len = 512 }, -EINVAL, "beyond the disk" },
		{ { .type = VIRTIO_BLK_T_IN, .sector = 0, .len = 512, .data = outside }, -EINVAL, "outside the DMA arena" },
		{ { .type = 77, .sector = 0, .len = 512 }, -EINVAL, "unknown request type" },
		{ { .type = VIRTIO_BLK_T_GET_ID, .len = 8 }, -EINVAL, "GET_ID" },
	};
	for (unsigned i = 0; i < sizeof bad / sizeof *bad; i++) {
		if (bad[i].r.data == NULL)
			bad[i].r.data = vblk_buffer(t.b, 0);
		assert_int_equal(vblk_submit(t.b, &bad[i].r), bad[i].err);
		if (strstr(vblk_error(t.b), bad[i].msg) == NULL)
			fail_msg("case %u: error \"%s\" lacks \"%s\"", i, vblk_error(t.b), bad[i].msg);
	}
	/* GET_ID is supported by qemu-storage-daemon; then the driver still works. */
	struct io id = { .r = { .type = VIRTIO_BLK_T_GET_ID, .len = 20, .data = vblk_buffer(t.b, 1) } };
	run_all(t.b, &id, 1);
	integrity(&t, 8, 30);
	struct vblk_stats st;
	vblk_stats(t.b, &st);
	assert_int_equal(st.submitted, st.completed);
	bed_down(&t);
}

int main(void)
{
	if (peer_which("qemu-storage-daemon") == NULL) {
		fprintf(stderr, "test_vblk: qemu-storage-daemon is not installed (make deps)\n");
		return 1;
	}
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_integrity_irqd, harness_teardown),
		cmocka_unit_test_teardown(test_integrity_adaptive, harness_teardown),
		cmocka_unit_test_teardown(test_integrity_modes, harness_teardown),
		cmocka_unit_test_teardown(test_reconnect, harness_teardown),
		cmocka_unit_test_teardown(test_bad_requests, harness_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
