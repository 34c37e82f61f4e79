/*
 * virtio/irq.h - how a driver learns that the device used buffers: the queue's call eventfd
 * (the device's interrupt) taken through irqd, read directly, or not at all (polling).
 *
 *   VIRTIO_IRQ_IRQD     the eventfd becomes an irqd line (irqd_line_create_eventfd) and the
 *                       driver attaches to it: irqd counts, coalesces, profiles and wakes it
 *   VIRTIO_IRQ_DIRECT   an irqd line too, attached DIRECT: the library reads the eventfd itself
 *                       (no server hop), irqd still keeps the counts
 *   VIRTIO_IRQ_EVENTFD  the driver reads the eventfd itself, irqd not involved (the raw floor)
 *   VIRTIO_IRQ_POLL     no interrupts: the driver spins on the used ring
 */
#ifndef VIRTIO_IRQ_H
#define VIRTIO_IRQ_H

#include <stddef.h>
#include <stdint.h>

#include <irqd/client.h>

#include "transport.h"

enum virtio_irq_mode { VIRTIO_IRQ_IRQD, VIRTIO_IRQ_DIRECT, VIRTIO_IRQ_EVENTFD, VIRTIO_IRQ_POLL };

struct virtio_irq {
	enum virtio_irq_mode mode;
	int call_fd;                 /* given to the device; kept across reconnects */
	struct irqd_client *irqd;    /* IRQD, DIRECT */
	uint32_t handle;
	char line[64];
	struct virtio_dev *dev;      /* a level interrupt (PCI INTx) is acknowledged through it */
	int unmask_fd;               /* level: the eventfd that unmasks it; -1 for an edge one */
	uint64_t wakeups;            /* waits that returned with an interrupt */
	uint64_t interrupts;         /* device signals counted (irqd's count, or eventfd value) */
	/* The last notification: when irqd saw the first signal and when it published the
	 * batch (0 in EVENTFD and POLL modes), and when the driver got it. */
	uint64_t raised_ns, delivered_ns, woken_ns;
};

/* Parses "irqd", "direct", "eventfd", "poll"; -EINVAL otherwise. */
int virtio_irq_mode_parse(const char *s, enum virtio_irq_mode *mode);
const char *virtio_irq_mode_name(enum virtio_irq_mode mode);

/* Creates the call eventfd and, in IRQD and DIRECT modes, the irqd line `line` over it and an
 * exclusive attachment with `coalesce` (NULL: off). c is the driver's irqd connection. When
 * dev's interrupt is a level line (PCI INTx), the line is a level one that irqd unmasks after
 * the answer this layer gives (HANDLED when the device says the interrupt was its own); DIRECT
 * needs an edge interrupt. */
int virtio_irq_open(struct virtio_irq *q, struct virtio_dev *dev, enum virtio_irq_mode mode,
		    struct irqd_client *c, const char *line,
		    const struct irqd_coalesce_params *coalesce, char *err, size_t errlen);
void virtio_irq_close(struct virtio_irq *q);

/* An fd that is readable when an interrupt is pending (for epoll loops); -1 in POLL mode. */
int virtio_irq_fd(const struct virtio_irq *q);
/* Takes pending interrupts without blocking or arming a wake-up (no system call through irqd
 * without DIRECT): 1 if there were any, 0 if not. */
int virtio_irq_take(struct virtio_irq *q);
/* Before sleeping in epoll on virtio_irq_fd: arms it; 1 if an interrupt was pending after all
 * (taken: do not sleep), 0 if the caller may sleep. */
int virtio_irq_arm(struct virtio_irq *q);
/* Blocks up to timeout_ms for an interrupt (also returning early, with 0, when watch_fd, the
 * transport's fd, becomes readable). 1: interrupt, 0: timeout or watch_fd. POLL mode: 0. */
int virtio_irq_wait(struct virtio_irq *q, int watch_fd, int timeout_ms);

uint64_t virtio_now_ns(void);

#endif
