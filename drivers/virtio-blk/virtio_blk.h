/*
 * virtio-blk/virtio_blk.h - the virtio block driver (virtio 1.x §5.2) on any transport.
 *
 *	struct virtio_dev *dev;  vhost_user_open(sock, "blk0", VBLK_ARENA_SIZE(&o), 5000, &dev, ...);
 *	struct vblk *b;          vblk_open(dev, &o, &b, err, sizeof err);
 *	struct vblk_req r = { .type = VIRTIO_BLK_T_IN, .sector = 8, .len = 4096,
 *			      .data = vblk_buffer(b, 0), .done = on_done };
 *	vblk_submit(b, &r);      // on_done(&r) runs from vblk_process / vblk_wait
 *	vblk_wait(b, -1);
 *
 * Request headers and status bytes live in per-slot DMA memory the driver owns; data buffers
 * must lie in the device's DMA arena: vblk_buffer(b, i) is slot i's buffer of o.max_io bytes.
 * A request completes exactly once: with the device's status, or with -ECONNRESET when the
 * device went away while holding it (vblk_reconnect), or -EPROTO when the device answered
 * something impossible.
 */
#ifndef VIRTIO_BLK_H
#define VIRTIO_BLK_H

#include <stdbool.h>
#include <stdint.h>

#include "../virtio/irq.h"
#include "../virtio/transport.h"

struct vblk;

struct vblk_options {
	uint16_t queue_size;         /* ring entries (default 128) */
	uint32_t max_io;             /* bytes per data buffer (default 128 KiB) */
	enum virtio_irq_mode irq;
	struct irqd_client *irqd;    /* IRQD and DIRECT modes */
	const char *line;            /* irqd line name (default "<dev name>/q0") */
	const struct irqd_coalesce_params *coalesce;
	/* Requests in flight and nothing completed for this long: notify the device again
	 * (default 1 ms; a notification is always allowed, §2.7.13.4). qemu-storage-daemon 7.2
	 * sometimes leaves a finished request unreported until its next notification. */
	uint32_t watchdog_us;
	/* Hybrid waiting: with at most VBLK_SPIN_MAX_DEPTH requests in flight the driver
	 * (vblk_idle) polls the used ring this long before it sleeps on the interrupt (0: sleep at
	 * once). A wake-up costs more than a fast device's service time on some machines; polling
	 * a few microseconds first keeps shallow queues fast. On a device slower than a wake-up it
	 * first sleeps, the device's interrupts off, until just before the request is due (it
	 * learns the device's time and the timer's lateness), then polls: the latency of polling
	 * for a fraction of its CPU (Linux's hybrid polling). */
	uint32_t spin_us;
	/* Deferred interrupts (Linux's napi_defer_hard_irqs): with more than VBLK_SPIN_MAX_DEPTH
	 * requests in flight, a wait that took completions leaves the device's interrupts off and
	 * the next one sleeps defer_us and looks at the ring again; only a look that finds nothing
	 * turns them back on (0: re-arm at once). A busy device then signals almost never: on a VM
	 * its eventfd write to a sleeping CPU is its dearest step, and the timer wakes only us. */
	uint32_t defer_us;
};
/* Deeper queues keep the device busy through the driver's wake-up and gain more from batched
 * interrupts (§2.7.10) than from polling: they sleep at once. */
#define VBLK_SPIN_MAX_DEPTH 2
/* The DMA arena a device needs for these options. */
size_t vblk_arena_size(const struct vblk_options *o);

struct vblk_req {
	uint32_t type;               /* VIRTIO_BLK_T_IN, _OUT, _FLUSH, _GET_ID */
	uint64_t sector;             /* in 512-byte sectors */
	void *data;                  /* in the arena */
	uint32_t len;                /* a multiple of 512 (20 for GET_ID) */
	void (*done)(struct vblk_req *r);
	void *ctx;
	/* results */
	int status;                  /* 0, -EIO, -ENOTSUP, -ECONNRESET, -EPROTO */
	uint64_t submitted_ns, completed_ns;
	uint64_t raised_ns, delivered_ns, woken_ns; /* the interrupt that completed it (0: none,
						      * found by looking at the ring) */
};

struct vblk_info {
	uint64_t capacity;           /* sectors */
	uint32_t blk_size;
	int read_only, flush;
	uint64_t features;
};

struct vblk_stats {
	uint64_t submitted, completed, failed, reconnects;
	uint64_t rekicks;            /* watchdog notifications (device stalls) */
	uint64_t spin_hits;          /* waits ended by polling, before sleeping */
	uint64_t predicted_sleeps;   /* sleeps until just before a shallow queue's request is due */
	uint64_t overslept;          /* ... that ended with the completion already there */
	uint64_t deferred_polls;     /* looks at the ring defer_us after completions */
	struct virtq_stats vq;
	uint64_t wakeups, interrupts;
};

int vblk_open(struct virtio_dev *dev, const struct vblk_options *o, struct vblk **out,
	      char *err, size_t errlen);
/* Fails what is in flight (-ECONNRESET), closes the transport too. */
void vblk_close(struct vblk *b);
const struct vblk_info *vblk_info(const struct vblk *b);
void vblk_stats(const struct vblk *b, struct vblk_stats *st);
void *vblk_buffer(struct vblk *b, unsigned slot);
unsigned vblk_queue_size(const struct vblk *b);
/* The one-line reason of the last failure. */
const char *vblk_error(const struct vblk *b);

/* Validates and queues one request; vblk_submit also tells the device. 0, -EAGAIN (ring full),
 * -EINVAL (range, alignment, size), -EROFS, -ENOTCONN (device gone: vblk_reconnect first). */
int vblk_queue(struct vblk *b, struct vblk_req *r);
void vblk_kick(struct vblk *b);
int vblk_submit(struct vblk *b, struct vblk_req *r);

/* Completes what the device finished (runs the done callbacks): takes the interrupt, drains
 * the ring with interrupts off, re-arms them and rechecks (unless the waiting policy keeps
 * them off: see vblk_idle). Returns requests completed. */
int vblk_process(struct vblk *b);
/* vblk_process, sleeping up to timeout_ms for the interrupt when nothing is done yet (POLL
 * mode spins). Returns requests completed, or -ECONNRESET when the device went away. */
int vblk_wait(struct vblk *b, int timeout_ms);
/* The waiting policy (spin_us, defer_us), for a caller with nothing else to do (vblk_wait
 * does this itself; an epoll loop calls it before vblk_arm). It may poll the ring up to
 * spin_us (a shallow queue). true: completions are there, call vblk_process. false: sleep,
 * either *after_us microseconds with the device's interrupts still off and then call
 * vblk_process (a busy deep queue, defer_us, or a shallow one's request not yet due), or
 * (*after_us == 0) until the interrupt, which is on and rechecked. Not in POLL mode. */
bool vblk_idle(struct vblk *b, uint32_t *after_us);
/* Before an epoll loop sleeps on vblk_irq_fd: arms it; 1 if completions are pending after all
 * (call vblk_process instead of sleeping). */
int vblk_arm(struct vblk *b);
/* fds for an epoll loop: the interrupt (-1 when polling) and the device's (readable or hung
 * up when it went away). */
int vblk_irq_fd(const struct vblk *b);
int vblk_watch_fd(const struct vblk *b);
/* For epoll loops (vblk_wait does this itself): notifies the device again if requests have
 * waited watchdog_us with none completing; returns the ms until it should be called again,
 * -1 when nothing is in flight. */
int vblk_watchdog(struct vblk *b);
/* The device went away: fail every in-flight request with -ECONNRESET, connect again (up to
 * timeout_ms), renegotiate and restart the queue. */
int vblk_reconnect(struct vblk *b, int timeout_ms);
/* The device is gone (its fd hung up). */
int vblk_device_gone(const struct vblk *b);

#endif
