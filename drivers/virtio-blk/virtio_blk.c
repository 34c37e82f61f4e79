/*
 * virtio-blk/virtio_blk.c - virtio block driver, virtio 1.x §5.2.
 */
#include "virtio_blk.h"

#include <errno.h>
#include <stdarg.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define VBLK_WANTED                                                                        \
	((1ull << VIRTIO_F_VERSION_1) | (1ull << VIRTIO_F_EVENT_IDX) |                     \
	 (1ull << VIRTIO_BLK_F_BLK_SIZE) | (1ull << VIRTIO_BLK_F_FLUSH) |                  \
	 (1ull << VIRTIO_BLK_F_RO) | (1ull << VIRTIO_BLK_F_SEG_MAX) |                      \
	 (1ull << VIRTIO_BLK_F_SIZE_MAX))
#define VBLK_REQUIRED (1ull << VIRTIO_F_VERSION_1)
#define VBLK_ID_BYTES 20 /* §5.2.6: GET_ID returns a 20-byte serial */

/* Per request: the header the device reads and the status byte it writes (§5.2.6). The
 * request itself is remembered in private memory (vblk.req): the device can write here. */
struct vblk_slot {
	struct virtio_blk_req_hdr hdr;
	uint8_t status;
} __attribute__((aligned(32)));

struct vblk {
	struct virtio_dev *dev;
	struct vblk_options opt;
	struct virtq vq;
	struct virtio_irq irq;
	struct vblk_info info;
	struct vblk_slot *slot;      /* DMA */
	struct vblk_req **req;       /* per slot: its request (NULL: free) */
	uint16_t *free_slot;         /* stack of free slot numbers */
	unsigned nfree;
	char *buffers;               /* DMA, queue_size * max_io */
	bool connected;
	bool interrupts_off;         /* vblk_process left the device's interrupts off (the policy) */
	bool deferred;               /* ... after completions, with a deep queue: look again later */
	uint64_t progress_ns;        /* last completion or first submission into an idle queue */
	/* Hybrid waiting on a shallow queue (spin_us) learns what the device takes for a request
	 * and how late a timed sleep ends, so that on a slow device it sleeps through most of a
	 * request, interrupts off, and polls from just before the completion is due. */
	uint64_t service_ns;         /* a request's submit-to-completion time (0: none seen) */
	uint64_t sleep_late_ns;      /* how much later than asked a timed sleep ends */
	uint64_t sleep_until_ns;     /* a predicted sleep is under way, until then (0: none) */
	enum found {                 /* how the completions about to be drained were found: */
		FOUND_BY_LOOK,       /*   at a look (after an interrupt, or with others) */
		FOUND_POLLING,       /*   arriving while polling: the device timed exactly */
		FOUND_AFTER_SLEEP,   /*   at the first look after a predicted sleep: overslept */
	} found;
	bool learning;               /* ... from a shallow queue: they teach service_ns */
	unsigned oversleeps_in_a_row;
	struct vblk_stats st;
};

/* A timed sleep ends this much before the completion is due, beyond its learned lateness
 * (the lateness varies); a shorter sleep than HYBRID_MIN_SLEEP_NS is not worth a timer. */
#define HYBRID_MARGIN_NS 10000u
#define HYBRID_MIN_SLEEP_NS 10000u

static void apply_defaults(struct vblk_options *o)
{
	if (o->queue_size == 0)
		o->queue_size = 128;
	if (o->max_io == 0)
		o->max_io = 128 * 1024;
	if (o->watchdog_us == 0)
		o->watchdog_us = 1000;
}

size_t vblk_arena_size(const struct vblk_options *opts)
{
	struct vblk_options o = *opts;
	apply_defaults(&o);
	return virtq_ring_bytes(o.queue_size) + VIRTQ_RING_ALIGN +
	       (size_t)o.queue_size * (sizeof(struct vblk_slot) + o.max_io) + 2 * 4096;
}

/* §3.1.1: negotiate, read the configuration, start the queue, DRIVER_OK. */
static int start_device(struct vblk *b)
{
	struct virtio_dev *d = b->dev;
	int r;
	if ((r = d->ops->negotiate(d, VBLK_WANTED, VBLK_REQUIRED)) < 0)
		return r; /* the transport said why, in d->error */
	struct virtio_blk_config cfg;
	if ((r = d->ops->read_config(d, &cfg, sizeof cfg)) < 0)
		return r; /* the transport said why, in d->error */
	b->info = (struct vblk_info){
		.capacity = cfg.capacity,
		.blk_size = virtio_has(d, VIRTIO_BLK_F_BLK_SIZE) ? cfg.blk_size : VIRTIO_BLK_SECTOR_SIZE,
		.read_only = virtio_has(d, VIRTIO_BLK_F_RO),
		.flush = virtio_has(d, VIRTIO_BLK_F_FLUSH),
		.features = d->features,
	};
	b->vq.event_idx = virtio_has(d, VIRTIO_F_EVENT_IDX);
	if (b->opt.irq == VIRTIO_IRQ_POLL)
		virtq_disable_interrupts(&b->vq);
	if ((r = d->ops->queue_start(d, &b->vq, b->irq.call_fd)) < 0 ||
	    (r = d->ops->driver_ok(d)) < 0)
		return r; /* the transport said why, in d->error */
	b->connected = true;
	return 0;
}

int vblk_open(struct virtio_dev *dev, const struct vblk_options *o, struct vblk **out,
	      char *err, size_t errlen)
{
	*out = NULL;
	struct vblk *b = calloc(1, sizeof *b);
	if (b == NULL)
		return -ENOMEM;
	b->dev = dev;
	b->opt = *o;
	apply_defaults(&b->opt);
	uint16_t n = b->opt.queue_size;
	char line[80];
	snprintf(line, sizeof line, "%.60s/q0", dev->name);
	void *ring = virtio_dma_alloc(dev, virtq_ring_bytes(n), VIRTQ_RING_ALIGN);
	b->slot = virtio_dma_alloc(dev, n * sizeof *b->slot, 64);
	b->buffers = virtio_dma_alloc(dev, (size_t)n * b->opt.max_io, 4096);
	b->free_slot = calloc(n, sizeof *b->free_slot);
	b->req = calloc(n, sizeof *b->req);
	int r;
	if (ring == NULL || b->slot == NULL || b->buffers == NULL) {
		r = virtio_fail(b->dev, -ENOMEM, "%s: DMA arena of %zu bytes too small (needs %zu)", dev->name,
			 dev->arena_size, vblk_arena_size(&b->opt));
		goto out;
	}
	if (b->free_slot == NULL || b->req == NULL || (r = virtq_init(&b->vq, 0, n, ring, false)) < 0) {
		r = virtio_fail(b->dev, -EINVAL, "%s: queue size %u must be a power of two up to 32768",
			 dev->name, n);
		goto out;
	}
	for (unsigned i = 0; i < n; i++)
		b->free_slot[b->nfree++] = (uint16_t)(n - 1 - i);
	char e[160];
	if ((r = virtio_irq_open(&b->irq, dev, b->opt.irq, b->opt.irqd,
				 b->opt.line ? b->opt.line : line, b->opt.coalesce, e, sizeof e)) < 0) {
		virtio_fail(dev, r, "%s", e);
		goto out;
	}
	r = start_device(b);
out:
	if (r < 0) {
		snprintf(err, errlen, "%s", dev->error);
		vblk_close(b);
		return r;
	}
	*out = b;
	return 0;
}

/* A completion seen arriving while polling times the device exactly: the estimate moves an
 * eighth of the way to it. One already there when a predicted sleep ended says the sleep was
 * too long, by an unknown amount: the estimate drops half a poll's length below what was
 * seen, so that the next sleep ends while polling can still see the completion arrive. From
 * the third oversleep in a row the drop doubles each time: after a slow spell, or a slow
 * first request that taught a wrong time, the estimate comes down in a few requests, while a
 * lone oversleep (a late timer) costs little. One found later than the estimate at any other
 * look (polling ran out and the interrupt came) raises it a quarter of the way, by one poll's
 * length at most: a lone slow request must not make the next ones oversleep. */
static void learn_service_time(struct vblk *b, uint64_t t)
{
	uint64_t est = b->service_ns, half_poll = b->opt.spin_us * 500ull;
	if (b->found != FOUND_AFTER_SLEEP)
		b->oversleeps_in_a_row = 0;
	if (est == 0) {
		est = t;
	} else if (b->found == FOUND_POLLING) {
		est = est + ((int64_t)t - (int64_t)est) / 8;
	} else if (b->found == FOUND_AFTER_SLEEP) {
		unsigned row = b->oversleeps_in_a_row < 32 ? b->oversleeps_in_a_row++ : 32;
		uint64_t seen = t < est ? t : est, cut = half_poll << (row > 2 ? row - 2 : 0);
		est = seen > 2 * cut ? seen - cut : seen / 2;
	} else if (t > est) {
		est = est + ((t - est) / 4 < 2 * half_poll ? (t - est) / 4 : 2 * half_poll);
	}
	b->service_ns = est;
}

static void complete(struct vblk *b, struct vblk_slot *s, int status)
{
	uint16_t k = (uint16_t)(s - b->slot);
	struct vblk_req *r = b->req[k];
	b->req[k] = NULL;
	b->free_slot[b->nfree++] = k;
	r->status = status;
	r->completed_ns = virtio_now_ns();
	/* the interrupt's times only if it came after the request: a completion found by looking
	 * at the ring has none (the last interrupt belonged to an earlier request) */
	bool fresh = b->irq.woken_ns >= r->submitted_ns;
	r->woken_ns = fresh ? b->irq.woken_ns : 0;
	r->raised_ns = fresh && b->irq.raised_ns >= r->submitted_ns ? b->irq.raised_ns : 0;
	r->delivered_ns = r->raised_ns ? b->irq.delivered_ns : 0;
	b->st.completed++;
	if (status != 0)
		b->st.failed++;
	if (b->learning && status == 0)
		learn_service_time(b, r->completed_ns - r->submitted_ns);
	if (r->done)
		r->done(r);
}

struct reclaim_ctx {
	struct vblk *b;
	int status;
};

static void reclaim_one(void *token, void *arg)
{
	struct reclaim_ctx *c = arg;
	complete(c->b, token, c->status);
}

/* Every in-flight request fails with `status`, once the device has stopped using their
 * buffers; the ring is empty again. */
static void fail_in_flight(struct vblk *b, int status)
{
	virtio_stop(b->dev);
	b->connected = false;
	b->sleep_until_ns = 0;
	struct reclaim_ctx c = { b, status };
	virtq_reclaim(&b->vq, reclaim_one, &c);
}

void vblk_close(struct vblk *b)
{
	if (b->vq.entry)
		fail_in_flight(b, -ECONNRESET);
	virtio_irq_close(&b->irq);
	virtq_destroy(&b->vq);
	free(b->free_slot);
	free(b->req);
	b->dev->ops->close(b->dev);
	free(b);
}

const struct vblk_info *vblk_info(const struct vblk *b) { return &b->info; }
void *vblk_buffer(struct vblk *b, unsigned slot) { return b->buffers + (size_t)slot * b->opt.max_io; }
unsigned vblk_queue_size(const struct vblk *b) { return b->opt.queue_size; }
const char *vblk_error(const struct vblk *b) { return b->dev->error; }
int vblk_irq_fd(const struct vblk *b) { return virtio_irq_fd(&b->irq); }
int vblk_watch_fd(const struct vblk *b) { return b->dev->ops->watch_fd(b->dev); }

void vblk_stats(const struct vblk *b, struct vblk_stats *st)
{
	*st = b->st;
	st->vq = b->vq.stats;
	st->wakeups = b->irq.wakeups;
	st->interrupts = b->irq.interrupts;
}

static bool in_arena(const struct virtio_dev *d, const void *p, size_t len)
{
	const char *c = p;
	return c >= d->arena && len <= d->arena_size && c - d->arena <= (ptrdiff_t)(d->arena_size - len);
}

int vblk_queue(struct vblk *b, struct vblk_req *r)
{
	if (!b->connected)
		return virtio_fail(b->dev, -ENOTCONN, "%s: device disconnected", b->dev->name);
	switch (r->type) {
	case VIRTIO_BLK_T_IN:
	case VIRTIO_BLK_T_OUT:
		if (r->len == 0 || r->len % VIRTIO_BLK_SECTOR_SIZE != 0)
			return virtio_fail(b->dev, -EINVAL, "length %u is not a positive multiple of 512", r->len);
		if (r->sector > b->info.capacity ||
		    r->len / VIRTIO_BLK_SECTOR_SIZE > b->info.capacity - r->sector)
			return virtio_fail(b->dev, -EINVAL, "sectors %llu+%u beyond the disk's %llu",
				    (unsigned long long)r->sector, r->len / VIRTIO_BLK_SECTOR_SIZE,
				    (unsigned long long)b->info.capacity);
		if (r->type == VIRTIO_BLK_T_OUT && b->info.read_only)
			return virtio_fail(b->dev, -EROFS, "%s is read-only", b->dev->name);
		break;
	case VIRTIO_BLK_T_FLUSH:
		if (!b->info.flush)
			return virtio_fail(b->dev, -ENOTSUP, "%s has no flush (VIRTIO_BLK_F_FLUSH)", b->dev->name);
		r->len = 0;
		break;
	case VIRTIO_BLK_T_GET_ID:
		if (r->len < VBLK_ID_BYTES)
			return virtio_fail(b->dev, -EINVAL, "GET_ID needs a %d-byte buffer", VBLK_ID_BYTES);
		r->len = VBLK_ID_BYTES;
		break;
	default:
		return virtio_fail(b->dev, -EINVAL, "unknown request type %u", r->type);
	}
	if (r->len && !in_arena(b->dev, r->data, r->len))
		return virtio_fail(b->dev, -EINVAL, "data buffer outside the DMA arena");
	unsigned ndesc = r->len ? 3 : 2;
	if (b->nfree == 0 || b->vq.num_free < ndesc)
		return -EAGAIN;
	uint16_t k = b->free_slot[--b->nfree];
	struct vblk_slot *s = &b->slot[k];
	s->hdr = (struct virtio_blk_req_hdr){ .type = r->type, .sector = r->sector };
	s->status = 0xff;
	b->req[k] = r;
	/* §5.2.6: header (device-readable), data (readable for OUT, writable for IN and GET_ID),
	 * status (writable). */
	struct virtq_buf buf[3];
	unsigned nb = 0, n_out;
	buf[nb++] = (struct virtq_buf){ (uintptr_t)&s->hdr, sizeof s->hdr };
	if (r->len)
		buf[nb++] = (struct virtq_buf){ (uintptr_t)r->data, r->len };
	n_out = r->type == VIRTIO_BLK_T_OUT ? 2 : 1;
	buf[nb++] = (struct virtq_buf){ (uintptr_t)&s->status, 1 };
	r->status = 0;
	r->submitted_ns = virtio_now_ns();
	if (virtq_in_flight(&b->vq) == 0)
		b->progress_ns = r->submitted_ns;
	virtq_add_nopublish(&b->vq, buf, n_out, nb - n_out, s);
	b->st.submitted++;
	return 0;
}

void vblk_kick(struct vblk *b)
{
	if (virtq_publish(&b->vq) > 0)
		b->dev->ops->notify(b->dev, &b->vq);
}

int vblk_submit(struct vblk *b, struct vblk_req *r)
{
	int rc = vblk_queue(b, r);
	if (rc == 0)
		vblk_kick(b);
	return rc;
}

static int status_of(const struct vblk_slot *s, uint32_t len)
{
	if (len < 1)
		return -EPROTO;
	switch (s->status) {
	case VIRTIO_BLK_S_OK:
		return 0;
	case VIRTIO_BLK_S_IOERR:
		return -EIO;
	case VIRTIO_BLK_S_UNSUPP:
		return -ENOTSUP;
	default:
		return -EPROTO;
	}
}

/* Completes everything used. A device that returns an impossible used entry cannot be trusted
 * with the rest: everything in flight fails with -EPROTO until vblk_reconnect. */
static int drain(struct vblk *b)
{
	int n = 0, err;
	uint32_t len;
	struct vblk_slot *s;
	while ((s = virtq_get(&b->vq, &len, &err)) != NULL) {
		complete(b, s, status_of(s, len));
		n++;
	}
	if (n)
		b->progress_ns = virtio_now_ns();
	if (err) {
		virtio_fail(b->dev, err, "%s: device returned an invalid used entry (id or length out of range); "
			     "requests in flight failed", b->dev->name);
		fail_in_flight(b, -EPROTO);
		return err;
	}
	return n;
}

static unsigned requests_in_flight(const struct vblk *b)
{
	return virtq_in_flight(&b->vq) / 3; /* descriptors per request: 3 */
}

/* §2.7.10: with EVENT_IDX the device may be asked to signal only after several completions.
 * With many requests in flight, one signal per half of them saves the device most of its
 * eventfd writes (each wakes a sleeping CPU: on a VM the device's dearest step) and the driver
 * most of its wake-ups, at the price of some completions waiting for their batch; the other
 * half keeps the device busy while the driver wakes and refills. A lone request still signals
 * at once. (Against qemu-storage-daemon at QD32: a quarter 0.89x of polling's rate, a half
 * 0.92-0.94x, three quarters 0.87x, all of them 0.71x: the device then starves.) */
static uint16_t interrupt_batch(const struct vblk *b)
{
	unsigned k = requests_in_flight(b) / 2;
	return (uint16_t)(k ? k : 1);
}

/* Takes the interrupt and drains the ring with interrupts off (NAPI style); rearm: turn them
 * back on and recheck (the arm-then-recheck race), else leave them off for a caller that
 * polls next. */
static int process(struct vblk *b, bool rearm)
{
	if (!b->connected)
		return 0;
	virtio_irq_take(&b->irq);
	if (b->opt.irq == VIRTIO_IRQ_POLL)
		return drain(b);
	int total = 0;
	do {
		virtq_disable_interrupts(&b->vq);
		int n = drain(b);
		if (n < 0)
			return n;
		total += n;
	} while (rearm && virtq_enable_interrupts_after(&b->vq, interrupt_batch(b)));
	return total;
}

static bool shallow(unsigned depth)
{
	return depth <= VBLK_SPIN_MAX_DEPTH;
}

/* The first look after a predicted sleep ended learns how late it ended, whatever it finds;
 * true if this is that look. */
static bool end_predicted_sleep(struct vblk *b)
{
	uint64_t until = b->sleep_until_ns, now;
	if (!until || (now = virtio_now_ns()) < until)
		return false;
	/* a caller back much later (busy elsewhere) says nothing of the timer: a sample is at
	 * most a request's time */
	uint64_t late = now - until < b->service_ns ? now - until : b->service_ns;
	if (b->st.predicted_sleeps == 1) /* the first one: nothing to average with */
		b->sleep_late_ns = late;
	else
		b->sleep_late_ns += ((int64_t)late - (int64_t)b->sleep_late_ns) / 8;
	b->sleep_until_ns = 0;
	return true;
}

/* The waiting policy keeps the device's interrupts off for a shallow queue (polled before
 * sleeping, spin_us) and for a deep one while completions keep coming (defer_us); vblk_idle
 * turns them back on when the caller would sleep. */
int vblk_process(struct vblk *b)
{
	if (end_predicted_sleep(b))
		b->found = FOUND_AFTER_SLEEP;
	unsigned depth = requests_in_flight(b);
	bool spin = b->opt.spin_us && depth && shallow(depth);
	bool defer = b->opt.defer_us && !shallow(depth);
	b->interrupts_off = spin || defer;
	b->learning = spin;
	int n = process(b, !b->interrupts_off);
	b->learning = false;
	if (n > 0 && b->found == FOUND_AFTER_SLEEP)
		b->st.overslept++;
	b->found = FOUND_BY_LOOK;
	if (n > 0) {
		b->deferred = defer;
		b->sleep_until_ns = 0; /* what a predicted sleep waited for has come */
	}
	return n;
}

int vblk_arm(struct vblk *b)
{
	return virtio_irq_arm(&b->irq) || virtq_pending(&b->vq);
}

int vblk_device_gone(const struct vblk *b)
{
	int fd = vblk_watch_fd(b);
	struct pollfd p = { .fd = fd, .events = POLLIN | POLLRDHUP };
	return fd >= 0 && poll(&p, 1, 0) == 1;
}

/* Notifies the device again if requests have waited watchdog_us without any completing. */
static void watchdog(struct vblk *b, uint64_t now)
{
	if (virtq_in_flight(&b->vq) && now - b->progress_ns >= b->opt.watchdog_us * 1000ull) {
		b->dev->ops->notify(b->dev, &b->vq);
		b->st.rekicks++;
		b->progress_ns = now;
	}
}

/* Polls the used ring for up to spin_us; true if a completion came (FOUND_POLLING: after a
 * look that found none). */
static bool spin_for_completion(struct vblk *b, uint64_t now)
{
	uint64_t end = now + b->opt.spin_us * 1000ull;
	for (unsigned i = 0;; i++) {
		if (virtq_pending(&b->vq)) {
			b->found = i > 0 ? FOUND_POLLING : FOUND_BY_LOOK;
			return true;
		}
		if ((i & 63) == 63 && virtio_now_ns() >= end)
			return false;
	}
}

int vblk_watchdog(struct vblk *b)
{
	if (!virtq_in_flight(&b->vq))
		return -1;
	uint64_t now = virtio_now_ns();
	watchdog(b, now);
	uint64_t due = b->progress_ns + b->opt.watchdog_us * 1000ull;
	return due > now ? (int)((due - now + 999999) / 1000000) : 0;
}

static uint64_t oldest_submission_ns(const struct vblk *b)
{
	uint64_t oldest = UINT64_MAX;
	for (unsigned i = 0; i < b->opt.queue_size; i++)
		if (b->req[i] && b->req[i]->submitted_ns < oldest)
			oldest = b->req[i]->submitted_ns;
	return oldest;
}

/* Hybrid polling on a shallow queue: how long to sleep, interrupts off, before polling, so
 * that polling starts just before the oldest request is due (0: poll now). Woken early (an
 * epoll caller's other work) it sleeps the rest. */
static uint32_t predicted_sleep_us(struct vblk *b, uint64_t now)
{
	uint64_t until = b->sleep_until_ns;
	if (until && now < until)
		return (uint32_t)((until - now + 999) / 1000);
	/* a device faster than the timer's lead: polling at once, without looking for the
	 * oldest request (the due time is at most service_ns away) */
	uint64_t lead = b->sleep_late_ns + HYBRID_MARGIN_NS;
	if (b->service_ns < lead + HYBRID_MIN_SLEEP_NS)
		return 0;
	uint64_t due = oldest_submission_ns(b) + b->service_ns;
	if (due < now + lead + HYBRID_MIN_SLEEP_NS)
		return 0;
	b->sleep_until_ns = due - lead;
	b->st.predicted_sleeps++;
	return (uint32_t)((b->sleep_until_ns - now + 999) / 1000);
}

bool vblk_idle(struct vblk *b, uint32_t *after_us)
{
	*after_us = 0;
	unsigned depth = requests_in_flight(b);
	if (b->deferred && !shallow(depth)) {
		/* busy: look again after defer_us, interrupts still off */
		b->deferred = false;
		b->st.deferred_polls++;
		*after_us = b->opt.defer_us;
		return false;
	}
	b->deferred = false;
	if (b->opt.spin_us && depth && shallow(depth)) {
		uint64_t now = virtio_now_ns();
		if ((*after_us = predicted_sleep_us(b, now)) != 0)
			return false; /* interrupts still off */
		if (spin_for_completion(b, now)) {
			b->st.spin_hits++;
			return true;
		}
	}
	if (!b->interrupts_off)
		return false; /* vblk_process re-armed and rechecked them */
	b->interrupts_off = false;
	return virtq_enable_interrupts_after(&b->vq, interrupt_batch(b));
}

static void sleep_us(uint32_t us)
{
	struct timespec ts = { .tv_sec = us / 1000000, .tv_nsec = (long)(us % 1000000) * 1000 };
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

int vblk_wait(struct vblk *b, int timeout_ms)
{
	uint64_t end = timeout_ms < 0 ? UINT64_MAX : virtio_now_ns() + timeout_ms * 1000000ull;
	for (unsigned spin = 0;; spin++) {
		int n = vblk_process(b);
		if (n != 0)
			return n;
		if (!b->connected)
			return -ECONNRESET;
		uint64_t now;
		if (b->opt.irq == VIRTIO_IRQ_POLL) {
			if ((spin & 1023) != 0)
				continue;
			now = virtio_now_ns();
		} else {
			uint32_t defer;
			if (vblk_idle(b, &defer))
				continue;
			if (defer) {
				/* a predicted sleep can be long: never past the caller's deadline */
				now = virtio_now_ns();
				if (now >= end)
					return vblk_process(b);
				sleep_us(end - now < defer * 1000ull ? (uint32_t)((end - now) / 1000) + 1
								     : defer);
				continue;
			}
			/* sleep until the interrupt, the watchdog or the deadline */
			now = virtio_now_ns();
			uint64_t until = virtq_in_flight(&b->vq)
						 ? b->progress_ns + b->opt.watchdog_us * 1000ull
						 : end;
			if (until > end)
				until = end;
			int ms = until == UINT64_MAX ? -1 /* nothing in flight, no deadline */
				 : until > now ? (int)((until - now + 999999) / 1000000) : 0;
			if (virtio_irq_wait(&b->irq, vblk_watch_fd(b), ms))
				continue;
			now = virtio_now_ns();
		}
		if (vblk_device_gone(b))
			return -ECONNRESET;
		if (now >= end)
			return vblk_process(b);
		watchdog(b, now);
	}
}

int vblk_reconnect(struct vblk *b, int timeout_ms)
{
	fail_in_flight(b, -ECONNRESET);
	struct virtio_dev *d = b->dev;
	int r = d->ops->reconnect(d, timeout_ms);
	if (r < 0)
		return r; /* the transport said why, in d->error */
	b->st.reconnects++;
	return start_device(b);
}
