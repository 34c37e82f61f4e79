/*
 * virtio-blk/blkq.c - the shared-memory queue between blkd and its clients: the rings (both
 * sides) and the client library.
 */
#include "blkq.h"

#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "util/unixmsg.h"

const char *const blkq_hop_name[BLKQ_HOPS] = {
	"client submit -> blkd picks it up", "blkd -> device (submitted)",
	"device -> irqd reads the signal", "irqd reads -> irqd publishes",
	"irqd publishes -> blkd takes it", "blkd takes it -> completion posted",
	"posted -> client has it", "total: submit -> client has it",
};

size_t blkq_data_offset(void)
{
	return (sizeof(struct blkq_shared) + 4095) & ~(size_t)4095;
}

size_t blkq_shared_bytes(void)
{
	return blkq_data_offset() + (size_t)BLKQ_SLOTS * BLKQ_SLOT_BYTES;
}

/* After news for a ring's consumer (an entry, or room for its answers), looks at its
 * `sleeping` word (a full barrier between, pairing with the one in blkq_prepare_sleep) and
 * takes the word: 1 if the caller owes it an eventfd write, one per sleep. */
static int take_sleeper(struct blkq_ring_hdr *h)
{
	atomic_thread_fence(memory_order_seq_cst);
	return atomic_load_explicit(&h->sleeping, memory_order_relaxed) &&
	       atomic_exchange_explicit(&h->sleeping, 0, memory_order_relaxed);
}

static uint32_t entries(const struct blkq_ring_hdr *h)
{
	return atomic_load_explicit(&h->tail, memory_order_acquire) -
	       atomic_load_explicit(&h->head, memory_order_acquire);
}

/* Single producer, single consumer; indexes run free, entries at index % BLKQ_DEPTH. */
static int push(struct blkq_ring_hdr *h, void *ring, size_t size, const void *e, int *wake)
{
	uint32_t tail = atomic_load_explicit(&h->tail, memory_order_relaxed);
	if (tail - atomic_load_explicit(&h->head, memory_order_acquire) >= BLKQ_DEPTH)
		return -EAGAIN;
	memcpy((char *)ring + (tail % BLKQ_DEPTH) * size, e, size);
	atomic_store_explicit(&h->tail, tail + 1, memory_order_release);
	*wake = take_sleeper(h);
	return 0;
}

static int pop(struct blkq_ring_hdr *h, const void *ring, size_t size, void *e)
{
	uint32_t head = atomic_load_explicit(&h->head, memory_order_relaxed);
	if (head == atomic_load_explicit(&h->tail, memory_order_acquire))
		return 0;
	memcpy(e, (const char *)ring + (head % BLKQ_DEPTH) * size, size);
	atomic_store_explicit(&h->head, head + 1, memory_order_release);
	return 1;
}

int blkq_push_sqe(struct blkq_shared *s, const struct blkq_sqe *e, int *wake)
{
	return push(&s->sq_hdr, s->sq, sizeof *e, e, wake);
}
int blkq_pop_sqe(struct blkq_shared *s, struct blkq_sqe *e)
{
	return pop(&s->sq_hdr, s->sq, sizeof *e, e);
}
int blkq_push_cqe(struct blkq_shared *s, const struct blkq_cqe *e, int *wake)
{
	return push(&s->cq_hdr, s->cq, sizeof *e, e, wake);
}
int blkq_pop_cqe(struct blkq_shared *s, struct blkq_cqe *e)
{
	return pop(&s->cq_hdr, s->cq, sizeof *e, e);
}

uint32_t blkq_cq_unread(const struct blkq_shared *s)
{
	return entries(&s->cq_hdr);
}

int blkq_prepare_sleep(struct blkq_ring_hdr *h)
{
	atomic_store_explicit(&h->sleeping, 1, memory_order_relaxed);
	atomic_thread_fence(memory_order_seq_cst);
	return atomic_load_explicit(&h->head, memory_order_relaxed) !=
	       atomic_load_explicit(&h->tail, memory_order_acquire);
}

void blkq_awake(struct blkq_ring_hdr *h)
{
	atomic_store_explicit(&h->sleeping, 0, memory_order_relaxed);
}

/* ---- client ------------------------------------------------------------------------------ */

struct blkq {
	int sock, doorbell, wake;    /* blkd's doorbell, our eventfd */
	struct blkq_shared *sh;
	struct hist hops[BLKQ_HOPS];
};

static __thread char last_error[200];

const char *blkq_last_error(void)
{
	return last_error;
}

static int fail(int err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(int err, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(last_error, sizeof last_error, fmt, ap);
	va_end(ap);
	return err;
}

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

int blkq_connect(const char *path, struct blkq **out)
{
	*out = NULL;
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	if (strlen(path) >= sizeof sa.sun_path)
		return fail(-ENAMETOOLONG, "blkd socket path too long: %s", path);
	strcpy(sa.sun_path, path);
	struct blkq *q = calloc(1, sizeof *q);
	if (q == NULL)
		return fail(-ENOMEM, "out of memory");
	q->doorbell = q->wake = -1;
	q->sock = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (q->sock < 0 || connect(q->sock, (struct sockaddr *)&sa, sizeof sa) < 0) {
		int err = errno;
		if (q->sock >= 0)
			close(q->sock);
		free(q);
		return fail(-err, "cannot connect to blkd at %s: %s", path, strerror(err));
	}
	/* blkd's greeting: its version, or an error text, with the memfd and two eventfds */
	char msg[200];
	int fds[3], nfds;
	ssize_t n = unixmsg_recv(q->sock, msg, sizeof msg - 1, fds, &nfds, 3, 0);
	int r;
	if (n <= 0 || nfds != 3) {
		msg[n > 0 ? n : 0] = 0;
		r = fail(-ECONNREFUSED, "blkd refused the connection: %s", n > 0 ? msg : "closed");
		for (int i = 0; i < nfds; i++)
			close(fds[i]);
		goto out;
	}
	q->doorbell = fds[1];
	q->wake = fds[2];
	q->sh = mmap(NULL, blkq_shared_bytes(), PROT_READ | PROT_WRITE, MAP_SHARED, fds[0], 0);
	close(fds[0]);
	if (q->sh == MAP_FAILED) {
		q->sh = NULL;
		r = fail(-errno, "mmap of blkd's queue: %s", strerror(errno));
		goto out;
	}
	if (q->sh->version != BLKQ_VERSION || q->sh->depth != BLKQ_DEPTH ||
	    q->sh->slots != BLKQ_SLOTS || q->sh->slot_bytes != BLKQ_SLOT_BYTES) {
		r = fail(-EPROTO, "blkd speaks queue version %u (we %u)", q->sh->version, BLKQ_VERSION);
		goto out;
	}
	for (int i = 0; i < BLKQ_HOPS; i++)
		hist_init(&q->hops[i]);
	*out = q;
	return 0;
out:
	blkq_close(q);
	return r;
}

void blkq_close(struct blkq *q)
{
	if (q->sh)
		munmap(q->sh, blkq_shared_bytes());
	if (q->doorbell >= 0)
		close(q->doorbell);
	if (q->wake >= 0)
		close(q->wake);
	close(q->sock);
	free(q);
}

void *blkq_slot(struct blkq *q, unsigned slot)
{
	return slot < BLKQ_SLOTS ? (char *)q->sh + blkq_data_offset() + (size_t)slot * BLKQ_SLOT_BYTES
				 : NULL;
}

const struct hist *blkq_hops(const struct blkq *q)
{
	return q->hops;
}

/* blkd went to sleep and has news from us (take_sleeper said so). */
static int ring_doorbell(struct blkq *q)
{
	uint64_t one = 1;
	if (write(q->doorbell, &one, sizeof one) < 0 && errno != EAGAIN)
		return fail(-errno, "doorbell: %s", strerror(errno));
	return 0;
}

int blkq_submit(struct blkq *q, struct blkq_sqe *e)
{
	if ((e->op == BLKQ_READ || e->op == BLKQ_WRITE) &&
	    (e->slot >= BLKQ_SLOTS || e->len > BLKQ_SLOT_BYTES))
		return fail(-EINVAL, "slot %u or length %u out of range (%d slots of %d bytes)", e->slot,
			    e->len, BLKQ_SLOTS, BLKQ_SLOT_BYTES);
	e->submit_ns = now_ns();
	int wake;
	if (blkq_push_sqe(q->sh, e, &wake) < 0)
		return -EAGAIN;
	return wake ? ring_doorbell(q) : 0;
}

static void record(struct blkq *q, const struct blkq_cqe *c, uint64_t submit_ns, uint64_t seen)
{
	const uint64_t *t = c->t;
	const uint64_t at[BLKQ_HOPS][2] = {
		{ submit_ns, t[BLKQ_T_PICKED] },       { t[BLKQ_T_PICKED], t[BLKQ_T_SUBMITTED] },
		{ t[BLKQ_T_SUBMITTED], t[BLKQ_T_RAISED] }, { t[BLKQ_T_RAISED], t[BLKQ_T_DELIVERED] },
		{ t[BLKQ_T_DELIVERED], t[BLKQ_T_WOKEN] }, { t[BLKQ_T_WOKEN], t[BLKQ_T_POSTED] },
		{ t[BLKQ_T_POSTED], seen },            { submit_ns, seen },
	};
	for (int i = 0; i < BLKQ_HOPS; i++)
		if (at[i][0] && at[i][1] >= at[i][0])
			hist_record(&q->hops[i], at[i][1] - at[i][0]);
}

int blkq_wait(struct blkq *q, struct blkq_cqe *c, int max, int timeout_ms)
{
	for (;;) {
		int n = 0;
		while (n < max && blkq_pop_cqe(q->sh, &c[n])) {
			record(q, &c[n], c[n].submit_ns, now_ns());
			n++;
		}
		if (n) {
			/* blkd leaves requests waiting while their answers would not fit, and may
			 * have gone to sleep: the room just made is news to it */
			int r = 0;
			if (entries(&q->sh->sq_hdr) && take_sleeper(&q->sh->sq_hdr))
				r = ring_doorbell(q);
			return r < 0 ? r : n;
		}
		if (blkq_prepare_sleep(&q->sh->cq_hdr)) {
			blkq_awake(&q->sh->cq_hdr);
			continue;
		}
		struct pollfd p[2] = { { .fd = q->wake, .events = POLLIN },
				       { .fd = q->sock, .events = POLLIN } };
		int r = poll(p, 2, timeout_ms);
		blkq_awake(&q->sh->cq_hdr);
		if (r < 0 && errno != EINTR)
			return fail(-errno, "poll: %s", strerror(errno));
		if (p[1].revents)
			return fail(-ECONNRESET, "blkd closed the connection");
		if (p[0].revents & POLLIN) {
			uint64_t v;
			if (read(q->wake, &v, sizeof v) < 0 && errno != EAGAIN)
				return fail(-errno, "wake eventfd: %s", strerror(errno));
		}
		if (r == 0)
			return 0;
	}
}

int blkq_info(struct blkq *q, uint64_t *capacity, int *read_only)
{
	struct blkq_sqe e = { .op = BLKQ_INFO, .tag = UINT32_MAX };
	int r = blkq_submit(q, &e);
	if (r < 0)
		return r;
	struct blkq_cqe c;
	if ((r = blkq_wait(q, &c, 1, 10000)) <= 0)
		return r ? r : fail(-ETIMEDOUT, "blkd did not answer within 10 s");
	if (c.tag != UINT32_MAX || c.status < 0)
		return fail(c.status < 0 ? c.status : -EPROTO, "blkd: info failed");
	*capacity = c.info[0];
	*read_only = (int)c.info[1];
	return 0;
}
