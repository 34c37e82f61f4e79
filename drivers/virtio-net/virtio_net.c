/*
 * virtio-net/virtio_net.c - virtio network driver, virtio 1.x §5.1.
 */
#include "virtio_net.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#define VNET_WANTED                                                                        \
	((1ull << VIRTIO_F_VERSION_1) | (1ull << VIRTIO_F_EVENT_IDX) | (1ull << VIRTIO_NET_F_MAC))
#define VNET_REQUIRED (1ull << VIRTIO_F_VERSION_1)
#define HDR_LEN ((uint32_t)sizeof(struct virtio_net_hdr)) /* §5.1.6: 12 bytes with VERSION_1 */
#define BUF_LEN 2048u

struct vnet {
	struct virtio_dev *dev;
	struct vnet_options opt;
	struct virtq rx, tx;
	struct virtio_irq irq;       /* the receive queue's interrupt */
	int tx_call_fd;              /* the transmit queue's, never armed */
	uint8_t *rxbuf, *txbuf;      /* DMA, queue_size buffers each */
	uint16_t *tx_free;
	unsigned tx_nfree;
	uint8_t mac[6];
	struct vnet_stats st;
};

static void apply_defaults(struct vnet_options *o)
{
	if (o->queue_size == 0)
		o->queue_size = 256;
}

size_t vnet_arena_size(const struct vnet_options *opts)
{
	struct vnet_options o = *opts;
	apply_defaults(&o);
	return 2 * (virtq_ring_bytes(o.queue_size) + VIRTQ_RING_ALIGN) +
	       2 * (size_t)o.queue_size * BUF_LEN + 4096;
}

static void *token_of(unsigned i) { return (void *)(uintptr_t)(i + 1); }
static unsigned index_of(void *token) { return (unsigned)((uintptr_t)token - 1); }

static int post_rx(struct vnet *n, unsigned i)
{
	struct virtq_buf b = { (uintptr_t)(n->rxbuf + (size_t)i * BUF_LEN), BUF_LEN };
	return virtq_add_nopublish(&n->rx, &b, 0, 1, token_of(i));
}

static void kick(struct vnet *n, struct virtq *vq)
{
	if (virtq_publish(vq) > 0)
		n->dev->ops->notify(n->dev, vq);
}

/* §5.1.5 Device initialization: features, MAC, receive buffers, both queues, DRIVER_OK. */
static int start_device(struct vnet *n)
{
	struct virtio_dev *d = n->dev;
	int r;
	if ((r = d->ops->negotiate(d, VNET_WANTED, VNET_REQUIRED)) < 0)
		return r; /* the transport said why, in d->error */
	struct virtio_net_config cfg;
	if (virtio_has(d, VIRTIO_NET_F_MAC) && d->ops->read_config(d, &cfg, sizeof cfg.mac) == 0)
		memcpy(n->mac, cfg.mac, 6);
	n->rx.event_idx = n->tx.event_idx = virtio_has(d, VIRTIO_F_EVENT_IDX);
	for (unsigned i = 0; i < n->opt.queue_size; i++)
		post_rx(n, i);
	virtq_publish(&n->rx);
	virtq_disable_interrupts(&n->tx);
	if (n->opt.irq == VIRTIO_IRQ_POLL)
		virtq_disable_interrupts(&n->rx);
	if ((r = d->ops->queue_start(d, &n->rx, n->irq.call_fd)) < 0 ||
	    (r = d->ops->queue_start(d, &n->tx, n->tx_call_fd)) < 0 || (r = d->ops->driver_ok(d)) < 0)
		return r; /* the transport said why, in d->error */
	return 0;
}

int vnet_open(struct virtio_dev *dev, const struct vnet_options *o, struct vnet **out, char *err,
	      size_t errlen)
{
	*out = NULL;
	struct vnet *n = calloc(1, sizeof *n);
	if (n == NULL)
		return -ENOMEM;
	n->dev = dev;
	n->opt = *o;
	apply_defaults(&n->opt);
	n->tx_call_fd = -1;
	uint16_t q = n->opt.queue_size;
	void *rxring = virtio_dma_alloc(dev, virtq_ring_bytes(q), VIRTQ_RING_ALIGN);
	void *txring = virtio_dma_alloc(dev, virtq_ring_bytes(q), VIRTQ_RING_ALIGN);
	n->rxbuf = virtio_dma_alloc(dev, (size_t)q * BUF_LEN, 64);
	n->txbuf = virtio_dma_alloc(dev, (size_t)q * BUF_LEN, 64);
	n->tx_free = calloc(q, sizeof *n->tx_free);
	char line[80], e[160];
	snprintf(line, sizeof line, "%.60s/rx", dev->name);
	int r;
	if (!rxring || !txring || !n->rxbuf || !n->txbuf || !n->tx_free) {
		r = virtio_fail(n->dev, -ENOMEM, "DMA arena too small for these options");
		goto out;
	}
	if ((r = virtq_init(&n->rx, 0, q, rxring, false)) < 0 ||
	    (r = virtq_init(&n->tx, 1, q, txring, false)) < 0) {
		virtio_fail(n->dev, r, "queue size must be a power of two up to 32768");
		goto out;
	}
	for (unsigned i = 0; i < q; i++)
		n->tx_free[n->tx_nfree++] = (uint16_t)i;
	n->tx_call_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if ((r = virtio_irq_open(&n->irq, dev, n->opt.irq, n->opt.irqd,
				 n->opt.line ? n->opt.line : line, n->opt.coalesce, e, sizeof e)) < 0) {
		virtio_fail(dev, r, "%s", e);
		goto out;
	}
	r = start_device(n);
out:
	if (r < 0) {
		snprintf(err, errlen, "%s", dev->error);
		vnet_close(n);
		return r;
	}
	*out = n;
	return 0;
}

void vnet_close(struct vnet *n)
{
	virtio_irq_close(&n->irq);
	virtq_destroy(&n->rx);
	virtq_destroy(&n->tx);
	if (n->tx_call_fd >= 0)
		close(n->tx_call_fd);
	free(n->tx_free);
	n->dev->ops->close(n->dev);
	free(n);
}

void vnet_stats(const struct vnet *n, struct vnet_stats *st)
{
	*st = n->st;
	st->rxq = n->rx.stats;
	st->txq = n->tx.stats;
	st->wakeups = n->irq.wakeups;
	st->interrupts = n->irq.interrupts;
}

const char *vnet_error(const struct vnet *n) { return n->dev->error; }
const uint8_t *vnet_mac(const struct vnet *n) { return n->mac; }

int vnet_poll(struct vnet *n, int budget, vnet_rx_fn *fn, void *ctx)
{
	virtio_irq_take(&n->irq);
	n->st.polls++;
	int done = 0, err = 0;
	for (;;) {
		if (n->opt.irq != VIRTIO_IRQ_POLL)
			virtq_disable_interrupts(&n->rx);
		void *tok;
		uint32_t len;
		while (done < budget && (tok = virtq_get(&n->rx, &len, &err)) != NULL) {
			unsigned i = index_of(tok);
			if (len < HDR_LEN || len - HDR_LEN > VNET_FRAME_MAX + 4) {
				n->st.rx_errors++;
			} else {
				n->st.rx_frames++;
				n->st.rx_bytes += len - HDR_LEN;
				fn(ctx, n->rxbuf + (size_t)i * BUF_LEN + HDR_LEN, len - HDR_LEN);
			}
			post_rx(n, i);
			done++;
		}
		kick(n, &n->rx);
		if (err)
			return virtio_fail(n->dev, err, "device returned an invalid receive entry");
		if (done == budget || n->opt.irq == VIRTIO_IRQ_POLL)
			return done;
		/* dry: arm, then look once more (a frame used in between raised no interrupt) */
		n->st.rearms++;
		if (!virtq_enable_interrupts(&n->rx))
			return done;
		n->st.rearm_races++;
	}
}

int vnet_wait(struct vnet *n, int timeout_ms)
{
	return virtio_irq_wait(&n->irq, n->dev->ops->watch_fd(n->dev), timeout_ms);
}

/* Takes back the buffers the device has sent; -EPROTO (with the reason) if it returned an
 * impossible entry: the buffer it stood for is lost to the ring until vnet_reconnect. */
static int reclaim_tx(struct vnet *n)
{
	void *tok;
	uint32_t len;
	int err;
	while ((tok = virtq_get(&n->tx, &len, &err)) != NULL)
		n->tx_free[n->tx_nfree++] = (uint16_t)index_of(tok);
	return err ? virtio_fail(n->dev, err, "device returned an invalid transmit entry") : 0;
}

int vnet_tx(struct vnet *n, const uint8_t *const *frames, const uint32_t *lens, int count)
{
	int r = reclaim_tx(n);
	if (r < 0)
		return r;
	int k = 0;
	for (; k < count; k++) {
		if (n->tx_nfree == 0 || lens[k] > VNET_FRAME_MAX) {
			n->st.tx_full += (uint64_t)(count - k);
			break;
		}
		unsigned i = n->tx_free[--n->tx_nfree];
		uint8_t *b = n->txbuf + (size_t)i * BUF_LEN;
		memset(b, 0, HDR_LEN); /* §5.1.6.2: no checksum or segmentation offload asked */
		memcpy(b + HDR_LEN, frames[k], lens[k]);
		struct virtq_buf vb = { (uintptr_t)b, HDR_LEN + lens[k] };
		virtq_add_nopublish(&n->tx, &vb, 1, 0, token_of(i));
		n->st.tx_frames++;
		n->st.tx_bytes += lens[k];
	}
	kick(n, &n->tx);
	return k;
}

static void drop_rx(void *token, void *arg)
{
	(void)token, (void)arg; /* receive buffers are reposted by start_device */
}

static void drop_tx(void *token, void *arg)
{
	struct vnet *n = arg;
	n->tx_free[n->tx_nfree++] = (uint16_t)index_of(token);
	n->st.tx_lost++;
}

int vnet_device_gone(const struct vnet *n)
{
	struct pollfd p = { .fd = n->dev->ops->watch_fd(n->dev), .events = POLLIN | POLLRDHUP };
	return p.fd >= 0 && poll(&p, 1, 0) == 1;
}

int vnet_reconnect(struct vnet *n, int timeout_ms)
{
	virtio_stop(n->dev); /* before its buffers are reused */
	virtq_reclaim(&n->rx, drop_rx, n);
	virtq_reclaim(&n->tx, drop_tx, n);
	int r = n->dev->ops->reconnect(n->dev, timeout_ms);
	if (r < 0)
		return r;
	n->st.reconnects++;
	return start_device(n);
}
