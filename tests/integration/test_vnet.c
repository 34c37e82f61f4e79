/*
 * test_vnet.c - the virtio-net driver on vhost-user against DPDK's vhost PMD (dpdk-testpmd in
 * io mode, which sends every frame back): frames numbered by the driver come back exactly once
 * and in order, in every interrupt mode; irqd delivered exactly the device's signals.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "peers/peer.h"
#include "vhost-user/vhost_user.h"
#include "virtio-net/virtio_net.h"

#define FRAME_LEN 64u
#define WINDOW 64

struct bed {
	struct irqd_proc irqd;
	struct irqd_client *c;
	struct peer pmd;
	struct vnet *n;
};

struct rx {
	uint64_t next, count, bad;
};

static void on_frame(void *ctx, const uint8_t *f, uint32_t len)
{
	struct rx *r = ctx;
	uint64_t seq;
	memcpy(&seq, f + 14, sizeof seq);
	r->count++;
	if (len != FRAME_LEN || f[12] != 0x88 || f[13] != 0xb5 || seq != r->next)
		r->bad++;
	r->next = seq + 1;
}

static void bed_up(struct bed *t, enum virtio_irq_mode mode)
{
	memset(t, 0, sizeof *t);
	irqd_start(&t->irqd, 0, NULL);
	t->c = client(&t->irqd);
	assert_int_equal(peer_init(&t->pmd, "testpmd"), 0);
	int r = peer_start_testpmd(&t->pmd, "net_vhost0,iface=@SOCK@,queues=1,client=0", "io", 1, 1);
	if (r < 0)
		fail_msg("dpdk-testpmd: %s; log: %s", strerror(-r), peer_log_tail(&t->pmd));
	struct vnet_options o = { .irq = mode, .irqd = t->c };
	struct virtio_dev *dev;
	char err[200];
	if (vhost_user_open(t->pmd.sock, "net0", vnet_arena_size(&o), 20000, &dev, err, sizeof err) < 0 ||
	    vnet_open(dev, &o, &t->n, err, sizeof err) < 0)
		fail_msg("%s; testpmd log: %s", err, peer_log_tail(&t->pmd));
}

static void bed_down(struct bed *t)
{
	vnet_close(t->n);
	irqd_disconnect(t->c);
	assert_int_equal(peer_stop(&t->pmd), 0);
	irqd_stop(&t->irqd);
}

/* Sends `total` numbered frames in windows and takes every echo; exact counts, counted from
 * the statistics in *base. */
static void echo_more(struct bed *t, uint64_t total, const struct vnet_stats *base)
{
	uint8_t frames[WINDOW][FRAME_LEN];
	const uint8_t *fp[WINDOW];
	uint32_t lens[WINDOW];
	struct rx r = { 0 };
	uint64_t sent = 0;
	for (int i = 0; i < WINDOW; i++) {
		memset(frames[i], 0xff, 6);                       /* broadcast */
		memcpy(frames[i] + 6, "\x02\x00\x00\x00\x00\x01", 6); /* locally administered */
		frames[i][12] = 0x88, frames[i][13] = 0xb5;       /* local experimental ethertype */
		memset(frames[i] + 22, 0xa5, FRAME_LEN - 22);
		fp[i] = frames[i];
		lens[i] = FRAME_LEN;
	}
	while (sent < total) {
		int k = (int)(total - sent < WINDOW ? total - sent : WINDOW);
		for (int i = 0; i < k; i++) {
			uint64_t seq = sent + (uint64_t)i;
			memcpy(frames[i] + 14, &seq, sizeof seq);
		}
		int q = vnet_tx(t->n, fp, lens, k);
		assert_int_equal(q, k);
		sent += (uint64_t)k;
		uint64_t deadline = mono_ns() + 10000000000ull;
		while (r.count < sent) {
			int got = vnet_poll(t->n, 256, on_frame, &r);
			assert_true(got >= 0);
			if (got == 0)
				vnet_wait(t->n, 100);
			if (mono_ns() > deadline)
				fail_msg("%llu of %llu frames came back; testpmd log: %s",
					 (unsigned long long)r.count, (unsigned long long)sent,
					 peer_log_tail(&t->pmd));
		}
	}
	assert_int_equal(r.count, total);
	assert_int_equal(r.bad, 0);
	struct vnet_stats st;
	vnet_stats(t->n, &st);
	assert_int_equal(st.tx_frames - base->tx_frames, total);
	assert_int_equal(st.rx_frames - base->rx_frames, total);
	assert_int_equal(st.tx_full - base->tx_full, 0);
	assert_int_equal(st.rx_errors, 0);
}

static void echo(struct bed *t, uint64_t total)
{
	struct vnet_stats base;
	vnet_stats(t->n, &base);
	echo_more(t, total, &base);
}

static void test_echo_irqd(void **state)
{
	(void)state;
	struct bed t;
	bed_up(&t, VIRTIO_IRQ_IRQD);
	echo(&t, 200000);
	struct vnet_stats st;
	struct irqd_line_stats ls;
	bool settled = WAIT_UNTIL((vnet_poll(t.n, 256, on_frame, &(struct rx){ 0 }), vnet_stats(t.n, &st),
				   ls = line_stats(t.c, "net0/rx"),
				   ls.raised == ls.delivered && st.interrupts == ls.delivered), 5000);
	if (!settled)
		fail_msg("irqd raised %llu, delivered %llu; the driver counted %llu",
			 (unsigned long long)ls.raised, (unsigned long long)ls.delivered,
			 (unsigned long long)st.interrupts);
	assert_true(st.wakeups > 0);
	assert_true(st.rearms > 0);
	bed_down(&t);
}

static void test_echo_modes(void **state)
{
	(void)state;
	enum virtio_irq_mode modes[] = { VIRTIO_IRQ_DIRECT, VIRTIO_IRQ_EVENTFD, VIRTIO_IRQ_POLL };
	for (unsigned m = 0; m < 3; m++) {
		struct bed t;
		bed_up(&t, modes[m]);
		echo(&t, 50000);
		struct vnet_stats st;
		vnet_stats(t.n, &st);
		if (modes[m] == VIRTIO_IRQ_POLL)
			assert_int_equal(st.wakeups, 0);
		bed_down(&t);
	}
}

/* testpmd is killed and started again: the driver notices, reconnects on its own socket, and
 * the same irqd line carries the interrupts of the new device. */
static void test_reconnect(void **state)
{
	(void)state;
	struct bed t;
	bed_up(&t, VIRTIO_IRQ_IRQD);
	echo(&t, 10000);
	for (int round = 0; round < 2; round++) {
		peer_kill(&t.pmd);
		assert_true(WAIT_UNTIL(vnet_device_gone(t.n), 5000));
		int r = peer_start_testpmd(&t.pmd, "net_vhost0,iface=@SOCK@,queues=1,client=0", "io", 1, 1);
		if (r < 0)
			fail_msg("restart: %s; log: %s", strerror(-r), peer_log_tail(&t.pmd));
		if (vnet_reconnect(t.n, 20000) < 0)
			fail_msg("vnet_reconnect: %s", vnet_error(t.n));
		struct vnet_stats before;
		vnet_stats(t.n, &before);
		echo_more(&t, 10000, &before);
	}
	struct vnet_stats st;
	vnet_stats(t.n, &st);
	assert_int_equal(st.reconnects, 2);
	bed_down(&t);
}

int main(void)
{
	if (peer_which("dpdk-testpmd") == NULL) {
		fprintf(stderr, "test_vnet: dpdk-testpmd is not installed (make deps)\n");
		return 1;
	}
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_echo_irqd, harness_teardown),
		cmocka_unit_test_teardown(test_echo_modes, harness_teardown),
		cmocka_unit_test_teardown(test_reconnect, harness_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
