/*
 * virtio/transport.h - what a virtio driver needs from the bus underneath (virtio 1.x §4):
 * feature negotiation, the device configuration, DMA memory, queue setup, the doorbell and the
 * queue's interrupt eventfd. Transports: vhost-user (drivers/vhost-user). virtio-net and
 * virtio-blk use only this interface, so the same driver code runs on every transport.
 *
 * DMA memory is one arena per device, mapped by the transport so that a device address equals
 * the driver's virtual address; virtio_dma_alloc hands out pieces of it.
 */
#ifndef VIRTIO_TRANSPORT_H
#define VIRTIO_TRANSPORT_H

#include <stddef.h>
#include <stdint.h>

#include "virtqueue.h"

struct virtio_dev;

struct virtio_transport_ops {
	const char *name;
	/* §3.1.1 steps 1-6: reset, offer `wanted`, keep what the device also offers in
	 * dev->features. -ENOTSUP if a feature in `required` is missing. */
	int (*negotiate)(struct virtio_dev *d, uint64_t wanted, uint64_t required);
	/* Device-specific configuration space (§4.1.4.6 / vhost-user GET_CONFIG), bytes 0..len. */
	int (*read_config)(struct virtio_dev *d, void *buf, uint32_t len);
	/* Tells the device about an initialised virtqueue and its call (interrupt) eventfd, and
	 * enables it. */
	int (*queue_start)(struct virtio_dev *d, struct virtq *vq, int call_fd);
	/* §2.7.13.4 / §4.1.5.2: the doorbell. */
	void (*notify)(struct virtio_dev *d, struct virtq *vq);
	/* §3.1.1 step 8: DRIVER_OK, after every queue is started. */
	int (*driver_ok)(struct virtio_dev *d);
	/* An fd that becomes readable (or hangs up) when the device goes away; -1 if the
	 * transport has none. */
	int (*watch_fd)(struct virtio_dev *d);
	/* After the device went away: drops the connection and connects again (retrying for up to
	 * timeout_ms). The arena survives; the driver then negotiates and starts its queues again. */
	int (*reconnect)(struct virtio_dev *d, int timeout_ms);
	/* Before the driver takes back the buffers of requests still in flight: stops the
	 * device's use of every started queue, so that on return it neither reads nor writes the
	 * rings or the buffers they held (vhost-user: GET_VRING_BASE per ring; PCI: a reset,
	 * §2.4). A device that cannot be asked is disconnected. Call it through virtio_stop. */
	void (*stop)(struct virtio_dev *d);
	void (*close)(struct virtio_dev *d);
	/* Optional (NULL: every queue has an edge interrupt of its own, its call eventfd). When the
	 * device's interrupt is one level line for all queues (PCI INTx), irq_unmask_fd gives the
	 * eventfd that unmasks it (irqd writes it after the answer), and irq_ack tells whether the
	 * interrupt is the device's, deasserting it (§4.1.4.5: reading the ISR status clears it). */
	int (*irq_unmask_fd)(struct virtio_dev *d);
	int (*irq_ack)(struct virtio_dev *d);
};

struct virtio_dev {
	const struct virtio_transport_ops *ops;
	uint64_t features;           /* negotiated */
	char *arena;                 /* DMA memory */
	size_t arena_size, arena_used;
	char name[64];               /* for line names and messages, e.g. "vu:blk0" */
	char error[200];             /* the last error, one line */
};

static inline int virtio_has(const struct virtio_dev *d, unsigned bit)
{
	return (d->features >> bit) & 1;
}

/* A zeroed piece of the arena, aligned to `align` (a power of two); NULL when full. */
void *virtio_dma_alloc(struct virtio_dev *d, size_t size, size_t align);
/* ops->stop, keeping the reason the driver stops (d->error) over whatever stopping says. */
void virtio_stop(struct virtio_dev *d);
/* Formats d->error and returns err (a negative errno value), for one-line error returns. */
int virtio_fail(struct virtio_dev *d, int err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#endif
