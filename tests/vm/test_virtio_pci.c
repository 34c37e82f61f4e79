/*
 * test_virtio_pci.c - the reference drivers on real (emulated) PCI devices inside the QEMU
 * guest (vm/): virtio-blk-pci at 00:05.0 (MSI-X) and 00:09.0 (no MSI-X: INTx) and virtio-net-pci at
 * 00:06.0, bound to vfio-pci, through the virtio-pci transport. Their queue interrupts are MSI-X vectors whose eventfds the drivers
 * hand to irqd as lines, exactly as on vhost-user: only the transport differs.
 *
 * The disk: sectors written here are checked in the image file by the host after the guest is
 * gone (tests/vm/check-disk, make check-vm). The network: QEMU sends every frame the device
 * transmits back to it (a datagram socket that talks to itself).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "drivers/virtio-blk/virtio_blk.h"
#include "drivers/virtio-net/virtio_net.h"
#include "drivers/virtio-pci/virtio_pci.h"
#include "tests/integration/harness.h"

#define BLK_BDF "0000:00:05.0"
#define NET_BDF "0000:00:06.0"
#define BLK_INTX_BDF "0000:00:09.0"
/* What check-disk looks for: DISK_SECTORS sectors from DISK_FIRST, each "irqd virtio-blk-pci
 * sector N" padded with dots to 511 bytes and a newline. */
#define DISK_FIRST 2048
#define DISK_SECTORS 64

static void sector_text(char *s, uint64_t n)
{
	memset(s, '.', 511);
	s[511] = '\n';
	int k = snprintf(s, 512, "irqd virtio-blk-pci sector %llu", (unsigned long long)n);
	s[k] = ' ';
}

static int done_count;
static void on_done(struct vblk_req *r)
{
	(void)r;
	done_count++;
}

/* One request at a time, its completion through irqd. */
static int blk_do(struct vblk *b, uint32_t type, uint64_t sector, void *data, uint32_t len)
{
	struct vblk_req r = { .type = type, .sector = sector, .data = data, .len = len,
			      .done = on_done };
	int before = done_count;
	int e = vblk_submit(b, &r);
	if (e < 0)
		return e;
	uint64_t end = mono_ns() + 10000000000ull;
	while (done_count == before && mono_ns() < end)
		vblk_wait(b, 1000);
	return done_count == before ? -ETIMEDOUT : r.status;
}

/* Write, flush and read back DISK_SECTORS sectors on the disk at bdf, every completion through
 * irqd; the queue's line must be `trigger` (MSI-X: edge; INTx: level, answered per occurrence). */
static void blk_run(const char *bdf, enum irqd_trigger trigger)
{
	struct irqd_proc p;
	irqd_start(&p, 0, NULL);
	struct irqd_client *c = client(&p);
	struct vblk_options o = { .queue_size = 64, .max_io = 64 * 1024, .irq = VIRTIO_IRQ_IRQD,
				  .irqd = c };
	char err[256];
	struct virtio_dev *dev;
	if (virtio_pci_open(bdf, vblk_arena_size(&o), &dev, err, sizeof(err)) < 0)
		fail_msg("%s", err);
	struct vblk *b;
	if (vblk_open(dev, &o, &b, err, sizeof(err)) < 0)
		fail_msg("%s", err);
	printf("  %s: %llu sectors\n", bdf, (unsigned long long)vblk_info(b)->capacity);
	char *buf = vblk_buffer(b, 0);
	int before = done_count;
	/* written in 4 KiB requests, flushed, read back in one */
	for (unsigned s = 0; s < DISK_SECTORS; s += 8) {
		for (unsigned k = 0; k < 8; k++)
			sector_text(buf + k * 512, DISK_FIRST + s + k);
		assert_int_equal(blk_do(b, VIRTIO_BLK_T_OUT, DISK_FIRST + s, buf, 4096), 0);
	}
	assert_int_equal(blk_do(b, VIRTIO_BLK_T_FLUSH, 0, NULL, 0), 0);
	memset(buf, 0, DISK_SECTORS * 512);
	assert_int_equal(blk_do(b, VIRTIO_BLK_T_IN, DISK_FIRST, buf, DISK_SECTORS * 512), 0);
	for (unsigned s = 0; s < DISK_SECTORS; s++) {
		char want[512];
		sector_text(want, DISK_FIRST + s);
		if (memcmp(buf + s * 512, want, 512))
			fail_msg("sector %u reads back different", DISK_FIRST + s);
	}
	/* every completion came through irqd, on the queue's interrupt */
	char line[64];
	snprintf(line, sizeof(line), "vfio:%s/q0", bdf);
	struct irqd_line_desc d;
	assert_int_equal(irqd_line_lookup(c, line, &d), 0);
	assert_int_equal(d.trigger, trigger);
	struct irqd_line_stats st;
	/* level: the last occurrence may reach the driver after the ring told it everything was
	 * done, and its answer goes through shared memory: take it as the driver's next wait
	 * would */
	assert_true(WAIT_UNTIL(vblk_process(b) >= 0 && irqd_line_stats(c, line, &st) == 0 &&
				       (trigger != IRQD_LEVEL || st.handled + st.not_mine == st.raised),
			       10000));
	printf("  %d requests, %llu interrupts on %s (%s, %s) through irqd, %llu answered "
	       "handled\n", done_count - before, (unsigned long long)st.raised, line,
	       trigger == IRQD_LEVEL ? "level: INTx" : "edge: MSI-X", d.source,
	       (unsigned long long)st.handled);
	assert_true(st.raised >= 1 && st.raised <= (uint64_t)(done_count - before));
	if (trigger == IRQD_LEVEL)
		assert_int_equal(st.handled, st.raised);
	vblk_close(b);
	irqd_disconnect(c);
	irqd_stop(&p);
}

static void test_blk_msix(void **state)
{
	(void)state;
	blk_run(BLK_BDF, IRQD_EDGE);
}

/* The same disk driver on a device without MSI-X (QEMU vectors=0): INTx as a resample line. */
static void test_blk_intx(void **state)
{
	(void)state;
	blk_run(BLK_INTX_BDF, IRQD_LEVEL);
}

struct rx {
	uint32_t next, bad;
};

static void on_frame(void *ctx, const uint8_t *frame, uint32_t len)
{
	struct rx *r = ctx;
	uint32_t n;
	if (len < 64 || memcmp(frame + 14, "irqd", 4))
		return; /* not ours */
	memcpy(&n, frame + 18, sizeof(n));
	if (n != r->next)
		r->bad++;
	r->next = n + 1;
}

static void test_net(void **state)
{
	(void)state;
	enum { N = 2000 };
	struct irqd_proc p;
	irqd_start(&p, 0, NULL);
	struct irqd_client *c = client(&p);
	struct vnet_options o = { .queue_size = 256, .irq = VIRTIO_IRQ_IRQD, .irqd = c };
	char err[256];
	struct virtio_dev *dev;
	if (virtio_pci_open(NET_BDF, vnet_arena_size(&o), &dev, err, sizeof(err)) < 0)
		fail_msg("%s", err);
	struct vnet *n;
	if (vnet_open(dev, &o, &n, err, sizeof(err)) < 0)
		fail_msg("%s", err);
	const uint8_t *mac = vnet_mac(n);
	struct rx r = { 0 };
	uint32_t sent = 0;
	uint64_t end = mono_ns() + 60000000000ull;
	while (r.next < N && mono_ns() < end) {
		/* a few frames in flight at a time: the loop back has no room for a flood */
		while (sent < N && sent < r.next + 32) {
			uint8_t f[64] = { 0 };
			memcpy(f, mac, 6);        /* to ourselves */
			memcpy(f + 6, mac, 6);
			f[12] = 0x88, f[13] = 0xb5; /* local experimental ethertype */
			memcpy(f + 14, "irqd", 4);
			memcpy(f + 18, &sent, sizeof(sent));
			const uint8_t *fp = f;
			uint32_t len = sizeof(f);
			if (vnet_tx(n, &fp, &len, 1) != 1)
				break;
			sent++;
		}
		if (vnet_poll(n, 64, on_frame, &r) == 0)
			vnet_wait(n, 100);
	}
	struct vnet_stats st;
	vnet_stats(n, &st);
	printf("  %s: %u frames sent, %u came back in order (%u out of order), %llu wake-ups\n",
	       NET_BDF, sent, r.next, r.bad, (unsigned long long)st.wakeups);
	assert_int_equal(r.next, N);
	assert_int_equal(r.bad, 0);
	vnet_close(n);
	irqd_disconnect(c);
	irqd_stop(&p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_blk_msix, harness_teardown),
		cmocka_unit_test_teardown(test_blk_intx, harness_teardown),
		cmocka_unit_test_teardown(test_net, harness_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
