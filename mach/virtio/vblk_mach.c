/*
 * vblk_mach.c - virtio-blk on GNU Mach (see vblk_mach.h). Section numbers: virtio 1.2.
 */
#include "vblk_mach.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdatomic.h>
#include <irqd/client.h>
#include <mrt/mrt.h>

#include "virtio.h"
#include "virtio_pci_mach.h"

#define VBLK_WANTED                                                                        \
	((1ull << VIRTIO_F_VERSION_1) | (1ull << VIRTIO_F_EVENT_IDX) |                     \
	 (1ull << VIRTIO_BLK_F_BLK_SIZE) | (1ull << VIRTIO_BLK_F_FLUSH) |                  \
	 (1ull << VIRTIO_BLK_F_RO))
#define VBLK_REQUIRED (1ull << VIRTIO_F_VERSION_1)

/* Per request: the header the device reads and the status byte it writes (§5.2.6). What the
 * driver must know of the request itself stays in private memory (vblk.sent). */
struct vblk_slot {
	struct virtio_blk_req_hdr hdr;
	uint8_t status;
} __attribute__((aligned(32)));

static int fail(struct vblk *b, int err, const char *what)
{
	snprintf(b->error, sizeof b->error, "%s", what);
	return err;
}

int vblk_open(struct vblk *b, enum vblk_mode mode, int index, size_t extra_arena)
{
	char why[200];
	int r;
	memset(b, 0, sizeof *b);
	b->mode = mode;
	size_t arena = virtq_ring_bytes(VBLK_QUEUE) + VIRTQ_RING_ALIGN +
		       VBLK_SLOTS * sizeof(struct vblk_slot) + VBLK_BOUNCE + extra_arena + 8192;
	if ((r = vpm_open(0x1af4, 0x1042, index, arena, &b->dev, why, sizeof why)) < 0)
		return fail(b, r, why);
	struct virtio_dev *d = b->dev;
	if ((r = d->ops->negotiate(d, VBLK_WANTED, VBLK_REQUIRED)) < 0)
		return fail(b, r, d->error);
	if (virtio_has(d, VIRTIO_F_ACCESS_PLATFORM))
		return fail(b, -EPROTO, "ACCESS_PLATFORM negotiated");
	struct virtio_blk_config cfg;
	if ((r = d->ops->read_config(d, &cfg, sizeof cfg)) < 0)
		return fail(b, r, d->error);
	b->capacity = cfg.capacity;
	b->flush = virtio_has(d, VIRTIO_BLK_F_FLUSH);
	b->read_only = virtio_has(d, VIRTIO_BLK_F_RO);
	if (virtio_has(d, VIRTIO_BLK_F_BLK_SIZE) && cfg.blk_size != VIRTIO_BLK_SECTOR_SIZE)
		return fail(b, -EOPNOTSUPP, "block size other than 512");

	void *ring = virtio_dma_alloc(d, virtq_ring_bytes(VBLK_QUEUE), VIRTQ_RING_ALIGN);
	b->slot = virtio_dma_alloc(d, VBLK_SLOTS * sizeof(struct vblk_slot), 64);
	b->bounce = virtio_dma_alloc(d, VBLK_BOUNCE, 4096);
	if (!ring || !b->slot || !b->bounce)
		return fail(b, -ENOMEM, "arena too small");
	if ((r = virtq_init(&b->vq, 0, VBLK_QUEUE, ring, virtio_has(d, VIRTIO_F_EVENT_IDX))) < 0)
		return fail(b, r, "virtq_init");
	for (unsigned i = 0; i < VBLK_SLOTS; i++)
		b->free_slot[i] = (uint16_t)(VBLK_SLOTS - 1 - i);
	b->nfree = VBLK_SLOTS;

	if (mode == VBLK_IRQD) {
		if ((r = irqd_connect(NULL, &b->irqd)) < 0) {
			snprintf(why, sizeof why, "irqd_connect: %s", irqd_last_error());
			return fail(b, r, why);
		}
		if ((r = irqd_attach(b->irqd, "vblk", IRQD_ATTACH_SHARED, NULL, &b->handle)) < 0) {
			snprintf(why, sizeof why, "irqd_attach vblk: %s", irqd_last_error());
			return fail(b, r, why);
		}
		(void)virtq_enable_interrupts(&b->vq);
	} else {
		virtq_disable_interrupts(&b->vq);
		vpm_intx(d, 0);
	}
	if ((r = d->ops->queue_start(d, &b->vq, -1)) < 0 || (r = d->ops->driver_ok(d)) < 0)
		return fail(b, r, d->error);
	return 0;
}

void *vblk_buf(struct vblk *b, size_t size)
{
	return virtio_dma_alloc(b->dev, size, 512);
}

int vblk_queue(struct vblk *b, uint32_t type, uint64_t sector, void *buf, uint32_t len)
{
	if (b->nfree == 0)
		return -ENOSPC;
	if (type == VIRTIO_BLK_T_FLUSH ? (buf || len) : (!buf || !len || len % 512))
		return -EINVAL;
	uint16_t s = b->free_slot[--b->nfree];
	struct vblk_slot *sl = &b->slot[s];
	sl->hdr = (struct virtio_blk_req_hdr){ .type = type, .sector = sector };
	sl->status = 0xff;
	b->sent[s].type = type;
	b->sent[s].len = len;
	struct virtq_buf v[3];
	unsigned n = 0, n_out;
	v[n++] = (struct virtq_buf){ vpm_phys(b->dev, &sl->hdr), sizeof sl->hdr };
	if (type == VIRTIO_BLK_T_OUT)
		v[n++] = (struct virtq_buf){ vpm_phys(b->dev, buf), len };
	n_out = n;
	if (type == VIRTIO_BLK_T_IN)
		v[n++] = (struct virtq_buf){ vpm_phys(b->dev, buf), len };
	v[n++] = (struct virtq_buf){ vpm_phys(b->dev, &sl->status), 1 };
	for (unsigned i = 0; i < n; i++)
		if (v[i].addr == 0) {
			b->free_slot[b->nfree++] = s;
			return -EINVAL; /* not arena memory */
		}
	int r = virtq_add_nopublish(&b->vq, v, n_out, n - n_out, sl);
	if (r < 0) {
		b->free_slot[b->nfree++] = s;
		return r;
	}
	b->st.requests++;
	return 0;
}

void vblk_kick(struct vblk *b)
{
	if (virtq_publish(&b->vq) == 1)
		b->dev->ops->notify(b->dev, &b->vq);
}

/* Takes every completed request off the used ring; how many, or -EPROTO. */
static int drain(struct vblk *b)
{
	int n = 0, err;
	uint32_t len;
	struct vblk_slot *sl;
	while ((sl = virtq_get(&b->vq, &len, &err)) != NULL) {
		uint16_t s = (uint16_t)(sl - b->slot);
		if (sl->status != VIRTIO_BLK_S_OK)
			b->errors++;
		else if (b->sent[s].type == VIRTIO_BLK_T_OUT)
			b->st.sectors_written += b->sent[s].len / 512;
		else if (b->sent[s].type == VIRTIO_BLK_T_IN)
			b->st.sectors_read += b->sent[s].len / 512;
		else
			b->st.flushes++;
		b->free_slot[b->nfree++] = s;
		n++;
	}
	return err ? err : n;
}

int vblk_wait_all(struct vblk *b, unsigned timeout_ms)
{
	unsigned errors = b->errors;
	uint64_t end = mrt_uptime_ns() + (uint64_t)timeout_ms * 1000000ull;
	while (virtq_in_flight(&b->vq) > 0) {
		int n;
		if (b->mode == VBLK_POLL) {
			if ((n = drain(b)) < 0)
				return n;
			if (n == 0) {
				b->st.polls++;
				mrt_cpu_relax();
				if ((b->st.polls & 1023) == 0 && mrt_uptime_ns() > end)
					return -ETIMEDOUT;
			}
			virtq_disable_interrupts(&b->vq); /* keep used_event behind (EVENT_IDX) */
			continue;
		}
		/* VBLK_IRQD: sleep until the device's line fires, read the ISR status (it deasserts
		 * INTx), answer, then take what the used ring holds and re-arm (§2.7.10). */
		struct irqd_event ev;
		uint64_t now = mrt_uptime_ns();
		if (now > end)
			return -ETIMEDOUT;
		n = irqd_wait(b->irqd, &ev, 1, (int)((end - now) / 1000000ull) + 1);
		if (n < 0)
			return n;
		if (n == 0)
			return -ETIMEDOUT;
		b->st.occurrences++;
		int isr = b->dev->ops->irq_ack(b->dev);
		if (isr == 0)
			b->st.isr_empty++;
		int r = irqd_answer(b->irqd, ev.handle, ev.occurrence,
				    isr ? IRQD_HANDLED : IRQD_NOT_MINE);
		if (r < 0)
			return r;
		int got = 0;
		do {
			if ((n = drain(b)) < 0)
				return n;
			got += n;
		} while (virtq_enable_interrupts(&b->vq));
		if (got == 0)
			b->st.no_progress++;
	}
	return b->errors != errors ? -EIO : 0;
}

int vblk_sync(struct vblk *b, uint32_t type, uint64_t sector, uint32_t len)
{
	if (len > VBLK_BOUNCE)
		return -EINVAL;
	int r = vblk_queue(b, type, sector, type == VIRTIO_BLK_T_FLUSH ? NULL : b->bounce, len);
	if (r < 0)
		return r;
	vblk_kick(b);
	return vblk_wait_all(b, 5000);
}
