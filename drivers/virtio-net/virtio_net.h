/*
 * virtio-net/virtio_net.h - the virtio network driver (virtio 1.x §5.1) on any transport: one
 * receive and one transmit queue, no offloads, 12-byte headers (VERSION_1).
 *
 * Receiving is NAPI style: vnet_poll drains up to a budget with the device's interrupts off;
 * when the ring runs dry it re-arms them and looks once more (a frame that came in between is
 * taken now, not after the next interrupt). vnet_wait sleeps until the interrupt (through irqd,
 * DIRECT, or the raw eventfd) or, in polling mode, does not sleep at all.
 *
 *	vnet_open(dev, &o, &n, err, sizeof err);
 *	for (;;) {
 *		if (vnet_poll(n, 256, on_frame, ctx) == 0)   // ring dry, interrupts armed
 *			vnet_wait(n, -1);
 *	}
 *
 * Transmit buffers are reclaimed as the device uses them (no transmit interrupts).
 */
#ifndef VIRTIO_NET_H
#define VIRTIO_NET_H

#include <stdint.h>

#include "../virtio/irq.h"
#include "../virtio/transport.h"

struct vnet;

struct vnet_options {
	uint16_t queue_size;         /* per queue (default 256) */
	enum virtio_irq_mode irq;
	struct irqd_client *irqd;
	const char *line;            /* default "<dev name>/rx" */
	const struct irqd_coalesce_params *coalesce;
};
size_t vnet_arena_size(const struct vnet_options *o);

#define VNET_FRAME_MAX 1514u

struct vnet_stats {
	uint64_t rx_frames, rx_bytes, rx_errors;
	uint64_t tx_frames, tx_bytes, tx_full;   /* tx_full: frames refused, ring full */
	uint64_t tx_lost, reconnects;            /* tx_lost: queued when the device went away */
	uint64_t polls, rearms, rearm_races;     /* rearm_races: frames found right after re-arming */
	uint64_t wakeups, interrupts;
	struct virtq_stats rxq, txq;
};

int vnet_open(struct virtio_dev *dev, const struct vnet_options *o, struct vnet **out, char *err,
	      size_t errlen);
void vnet_close(struct vnet *n);
void vnet_stats(const struct vnet *n, struct vnet_stats *st);
const char *vnet_error(const struct vnet *n);
/* The MAC address (from the device if it offers VIRTIO_NET_F_MAC, else 00:00:00:00:00:00). */
const uint8_t *vnet_mac(const struct vnet *n);

typedef void vnet_rx_fn(void *ctx, const uint8_t *frame, uint32_t len);
/* Hands up to `budget` received frames to fn (the frame is valid during the call), reposts
 * their buffers. Returns frames handled; 0 means the ring is dry and interrupts are armed
 * (safe to vnet_wait); -EPROTO if the device returned an invalid entry. */
int vnet_poll(struct vnet *n, int budget, vnet_rx_fn *fn, void *ctx);
/* Sleeps until the receive interrupt or timeout_ms; 1 if woken by it. POLL mode: 0 at once. */
int vnet_wait(struct vnet *n, int timeout_ms);

/* The device went away (its transport fd hung up: vnet_device_gone): frames in flight are
 * dropped (counted in tx_lost), the connection is made again (up to timeout_ms) and both
 * queues restarted, without closing the driver or its irqd line. */
int vnet_reconnect(struct vnet *n, int timeout_ms);
int vnet_device_gone(const struct vnet *n);

/* Queues up to count frames (copied), tells the device once. Returns frames queued (fewer
 * when the ring is full), or -EPROTO when the device returned an impossible transmit entry
 * (vnet_error says which; vnet_reconnect starts over). */
int vnet_tx(struct vnet *n, const uint8_t *const *frames, const uint32_t *lens, int count);

#endif
