/*
 * client.c - the irqd client library (see irqd/client.h and irqd/proto.h).
 *
 * Two locks, never on the interrupt path of another client: `rpc_lock` serialises control
 * requests on the socket, `ev_lock` guards the handle table and the scan of the mailboxes.
 */
#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "irqd/client.h"
#include "irqd/simdev.h"
#include "internal.h"
#include "util/unixmsg.h"

#define WAKE_TAG UINT32_MAX   /* the wake-up eventfd's epoll tag; DIRECT sources carry their handle */

struct handle_state {
	bool attached;
	bool direct;
	int direct_fd;
	uint32_t line;
	uint64_t delivered_occ; /* latest level occurrence delivered */
	uint64_t answered_occ;  /* latest one answered */
	uint64_t direct_seq;
};

struct irqd_client {
	int sock;
	int ep;                 /* wake eventfd + DIRECT source eventfds: what irqd_fd() returns */
	int wake_fd, bell_fd;
	struct irqd_shm *shm;
	const struct irqd_status *status;
	pthread_mutex_t rpc_lock, ev_lock;
	uint32_t next_req;
	struct handle_state h[IRQD_SLOTS];
	uint32_t direct[IRQD_SLOTS];   /* the DIRECT handles, in no order */
	unsigned n_direct;
	char notice[IRQD_ERRMSG_MAX];
};

static __thread char last_error[IRQD_ERRMSG_MAX];

const char *irqd_last_error(void)
{
	return last_error;
}

int irqdc_fail(int err, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(last_error, sizeof(last_error), fmt, ap);
	va_end(ap);
	return -err;
}

static uint64_t mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* ---- control requests -------------------------------------------------------------------------- */

/* Notices that arrive while waiting for a reply are kept. */
int irqdc_rpc(struct irqd_client *c, void *req, size_t len, int send_fd, void *rep,
	       size_t replen, int *fds, int maxfds)
{
	struct irqd_msg_hdr *h = req;
	pthread_mutex_lock(&c->rpc_lock);
	h->len = (uint32_t)len;
	h->req_id = ++c->next_req;
	int r = unixmsg_send(c->sock, req, len, &send_fd, send_fd >= 0, 0);
	if (r < 0) {
		int err = -r;
		/* irqd may have refused the connection and closed it already (max-clients): its
		 * reason (an error with req_id 0) is still queued; report it, not "broken pipe" */
		union {
			struct irqd_error e;
			char b[IRQD_MSG_MAX];
		} q;
		ssize_t n;
		do /* a reset is reported (once) before what is queued */
			n = recv(c->sock, q.b, sizeof(q.b), MSG_DONTWAIT);
		while ((n < 0 && errno == ECONNRESET) ||
		       (n > 0 && !((size_t)n >= sizeof(q.e) && q.e.hdr.type == IRQD_MSG_ERROR &&
				   q.e.hdr.req_id == 0)));
		if (n > 0) {
			q.e.msg[sizeof(q.e.msg) - 1] = 0;
			r = irqdc_fail(q.e.err > 0 ? q.e.err : EIO, "%s", q.e.msg);
		} else {
			r = irqdc_fail(err, "irqd: cannot send request: %s", strerror(err));
		}
		goto out;
	}
	bool reset = false;
	for (;;) {
		union {
			struct irqd_msg_hdr h;
			struct irqd_error e;
			char b[IRQD_MSG_MAX];
		} buf;
		int got, rfds[4];
		ssize_t n = unixmsg_recv(c->sock, buf.b, sizeof(buf.b), rfds, &got, 4, 0);
		if (n == -ECONNRESET && !reset) {
			/* irqd closed with our request unread (it refused us): the kernel reports
			 * the reset once, before the messages irqd sent; read those */
			reset = true;
			continue;
		}
		if (n <= 0) {
			r = irqdc_fail(n ? (int)-n : ECONNRESET, "irqd: connection lost: %s",
				 n ? strerror((int)-n) : "closed by irqd");
			goto out;
		}
		if ((size_t)n < sizeof(buf.h)) {
			r = irqdc_fail(EPROTO, "irqd: short message from the server");
			goto out;
		}
		if (buf.h.type == IRQD_MSG_NOTICE) {
			if ((size_t)n >= sizeof(buf.e))
				snprintf(c->notice, sizeof(c->notice), "%.*s", IRQD_ERRMSG_MAX - 1,
					 buf.e.msg);
			continue;
		}
		/* req_id 0: an error irqd sends before reading any request (the connection is
		 * refused) or as it disconnects us; it answers whatever we asked */
		if (buf.h.req_id != h->req_id &&
		    !(buf.h.type == IRQD_MSG_ERROR && buf.h.req_id == 0)) {
			for (int i = 0; i < got; i++)
				close(rfds[i]);
			continue; /* a reply to a request that timed out earlier: not ours */
		}
		if (buf.h.type == IRQD_MSG_ERROR) {
			for (int i = 0; i < got; i++)
				close(rfds[i]);
			if ((size_t)n < sizeof(buf.e)) {
				r = irqdc_fail(EPROTO, "irqd: short error message");
				goto out;
			}
			buf.e.msg[sizeof(buf.e.msg) - 1] = 0;
			r = irqdc_fail(buf.e.err > 0 ? buf.e.err : EIO, "%s", buf.e.msg);
			goto out;
		}
		if (buf.h.type != (h->type | IRQD_MSG_REPLY) || (size_t)n != replen || got > maxfds) {
			for (int i = 0; i < got; i++)
				close(rfds[i]);
			r = irqdc_fail(EPROTO, "irqd: unexpected reply type %u, %zd bytes", buf.h.type, n);
			goto out;
		}
		memcpy(rep, buf.b, replen);
		for (int i = 0; i < maxfds; i++)
			fds[i] = i < got ? rfds[i] : -1;
		r = got;
		break;
	}
out:
	pthread_mutex_unlock(&c->rpc_lock);
	return r;
}

int irqd_connect(const char *path, struct irqd_client **out)
{
	last_error[0] = 0;
	if (!path)
		path = getenv(IRQD_SOCKET_ENV);
	if (!path)
		path = IRQD_DEFAULT_SOCKET;
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	if (strlen(path) >= sizeof(sa.sun_path))
		return irqdc_fail(ENAMETOOLONG, "irqd: socket path too long: %s", path);
	strcpy(sa.sun_path, path);
	struct irqd_client *c = calloc(1, sizeof(*c));
	if (!c)
		return irqdc_fail(ENOMEM, "irqd: out of memory");
	pthread_mutex_init(&c->rpc_lock, NULL);
	pthread_mutex_init(&c->ev_lock, NULL);
	c->wake_fd = c->bell_fd = c->ep = -1;
	c->sock = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	int r;
	if (c->sock < 0 || connect(c->sock, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		r = irqdc_fail(errno, "irqd: cannot connect to %s: %s", path, strerror(errno));
		goto fail;
	}
	struct irqd_hello hello = { .hdr.type = IRQD_MSG_HELLO, .version = IRQD_PROTO_VERSION };
	struct irqd_hello_reply rep;
	int fds[4];
	r = irqdc_rpc(c, &hello, sizeof(hello), -1, &rep, sizeof(rep), fds, 4);
	if (r < 0)
		goto fail;
	if (r != 4 || rep.shm_size != sizeof(struct irqd_shm) || rep.slots != IRQD_SLOTS) {
		for (int i = 0; i < r; i++)
			close(fds[i]);
		r = irqdc_fail(EPROTO, "irqd: server speaks another shared-memory layout");
		goto fail;
	}
	c->shm = mmap(NULL, sizeof(struct irqd_shm), PROT_READ | PROT_WRITE, MAP_SHARED, fds[0], 0);
	void *st = mmap(NULL, sizeof(struct irqd_status), PROT_READ, MAP_SHARED, fds[1], 0);
	close(fds[0]);
	close(fds[1]);
	c->wake_fd = fds[2];
	c->bell_fd = fds[3];
	if (c->shm == MAP_FAILED || st == MAP_FAILED || c->shm->magic != IRQD_SHM_MAGIC) {
		if (st != MAP_FAILED)
			munmap(st, sizeof(struct irqd_status));
		if (c->shm == MAP_FAILED)
			c->shm = NULL;
		r = irqdc_fail(EPROTO, "irqd: cannot map the session's shared memory");
		goto fail;
	}
	c->status = st;
	c->ep = epoll_create1(EPOLL_CLOEXEC);
	/* Edge-triggered: irqd_wait goes from the wake-up to the mailboxes without reading the
	 * counter (each write is an edge); irqd_poll drains it, so that irqd_fd() is readable
	 * only while there is something new. */
	struct epoll_event ev = { .events = EPOLLIN | EPOLLET, .data.u32 = WAKE_TAG };
	if (c->ep < 0 || epoll_ctl(c->ep, EPOLL_CTL_ADD, c->wake_fd, &ev) < 0) {
		r = irqdc_fail(errno, "irqd: epoll: %s", strerror(errno));
		goto fail;
	}
	*out = c;
	return 0;
fail:
	irqd_disconnect(c);
	return r;
}

void irqd_disconnect(struct irqd_client *c)
{
	if (!c)
		return;
	for (unsigned i = 0; i < IRQD_SLOTS; i++)
		if (c->h[i].direct)
			close(c->h[i].direct_fd);
	if (c->shm)
		munmap(c->shm, sizeof(struct irqd_shm));
	if (c->status)
		munmap((void *)c->status, sizeof(struct irqd_status));
	if (c->sock >= 0)
		close(c->sock);
	if (c->ep >= 0)
		close(c->ep);
	if (c->wake_fd >= 0)
		close(c->wake_fd);
	if (c->bell_fd >= 0)
		close(c->bell_fd);
	pthread_mutex_destroy(&c->rpc_lock);
	pthread_mutex_destroy(&c->ev_lock);
	free(c);
}

/* ---- lines ------------------------------------------------------------------------------------- */

int irqdc_query_init(struct irqd_line_query *q, const char *name)
{
	if (name[0] == '#') {
		char *end;
		unsigned long id = strtoul(name + 1, &end, 10);
		if (*end || end == name + 1 || id >= IRQD_LINES_MAX)
			return irqdc_fail(EINVAL, "irqd: bad line number '%s'", name);
		q->id = (uint32_t)id;
		return 0;
	}
	if (strlen(name) >= sizeof(q->name))
		return irqdc_fail(ENAMETOOLONG, "irqd: line name too long: %s", name);
	q->id = IRQD_LINE_BY_NAME;
	strcpy(q->name, name);
	return 0;
}

static void desc_from(const struct irqd_line_info *i, struct irqd_line_desc *d)
{
	d->id = i->id;
	d->trigger = (enum irqd_trigger)i->trigger;
	d->attachments = i->attachments;
	d->flags = i->flags;
	snprintf(d->name, sizeof(d->name), "%.*s", IRQD_NAME_MAX - 1, i->name);
	snprintf(d->source, sizeof(d->source), "%.*s", 15, i->source);
}

static int line_rpc(struct irqd_client *c, enum irqd_msg_type type, struct irqd_line_query *q,
		    struct irqd_line_desc *d, int *fds, int maxfds)
{
	q->hdr.type = (uint16_t)type;
	struct irqd_line_info info;
	int r = irqdc_rpc(c, q, sizeof(*q), -1, &info, sizeof(info), fds, maxfds);
	if (r >= 0 && d)
		desc_from(&info, d);
	return r;
}

int irqd_line_lookup(struct irqd_client *c, const char *name, struct irqd_line_desc *d)
{
	struct irqd_line_query q = { 0 };
	int r = irqdc_query_init(&q, name);
	return r < 0 ? r : line_rpc(c, IRQD_MSG_LINE_INFO, &q, d, NULL, 0);
}

int irqd_line_next(struct irqd_client *c, const struct irqd_line_desc *prev,
		   struct irqd_line_desc *d)
{
	struct irqd_line_query q = { .id = prev ? prev->id : IRQD_LINE_FIRST,
				     .flags = IRQD_QUERY_NEXT };
	return line_rpc(c, IRQD_MSG_LINE_INFO, &q, d, NULL, 0);
}

static int empty_rpc(struct irqd_client *c, void *req, size_t len)
{
	struct irqd_msg_hdr rep;
	int r = irqdc_rpc(c, req, len, -1, &rep, sizeof(rep), NULL, 0);
	return r < 0 ? r : 0;
}

int irqd_line_enable(struct irqd_client *c, const char *line)
{
	struct irqd_line_query q = { .hdr.type = IRQD_MSG_ENABLE };
	int r = irqdc_query_init(&q, line);
	return r < 0 ? r : empty_rpc(c, &q, sizeof(q));
}

int irqd_line_delete(struct irqd_client *c, const char *line)
{
	struct irqd_line_query q = { .hdr.type = IRQD_MSG_LINE_DELETE };
	int r = irqdc_query_init(&q, line);
	return r < 0 ? r : empty_rpc(c, &q, sizeof(q));
}

int irqd_line_stats(struct irqd_client *c, const char *line, struct irqd_line_stats *st)
{
	struct irqd_line_query q = { .hdr.type = IRQD_MSG_LINE_STATS };
	int r = irqdc_query_init(&q, line);
	if (r < 0)
		return r;
	r = irqdc_rpc(c, &q, sizeof(q), -1, st, sizeof(*st), NULL, 0);
	st->name[sizeof(st->name) - 1] = 0;
	return r < 0 ? r : 0;
}

int irqd_client_stats(struct irqd_client *c, uint32_t index, struct irqd_client_stats *st)
{
	struct irqd_client_query q = { .hdr.type = IRQD_MSG_CLIENT_STATS, .index = index };
	int r = irqdc_rpc(c, &q, sizeof(q), -1, st, sizeof(*st), NULL, 0);
	return r < 0 ? r : 0;
}

int irqd_line_coalesce(struct irqd_client *c, const char *line,
		       const struct irqd_coalesce_params *p)
{
	struct irqd_coalesce_req q = { .hdr.type = IRQD_MSG_COALESCE, .handle = IRQD_HANDLE_LINE,
				       .params = *p };
	int r = irqdc_query_init(&q.line, line);
	return r < 0 ? r : empty_rpc(c, &q, sizeof(q));
}

int irqd_line_create_eventfd(struct irqd_client *c, int efd, const char *name,
			     struct irqd_line_desc *d)
{
	struct irqd_line_create_req q = { .hdr.type = IRQD_MSG_LINE_CREATE };
	if (name && strlen(name) >= sizeof(q.name))
		return irqdc_fail(ENAMETOOLONG, "irqd: line name too long: %s", name);
	if (name)
		strcpy(q.name, name);
	struct irqd_line_info info;
	int r = irqdc_rpc(c, &q, sizeof(q), efd, &info, sizeof(info), NULL, 0);
	if (r >= 0 && d)
		desc_from(&info, d);
	return r < 0 ? r : 0;
}

/* ---- attachments --------------------------------------------------------------------------------- */

/* Move futex sleepers to epoll (a DIRECT source appeared: only epoll sees it). */
static void wake_futex_sleepers(struct irqd_client *c)
{
	atomic_fetch_add(&c->shm->wake_seq, 1);
	syscall(SYS_futex, &c->shm->wake_seq, FUTEX_WAKE, INT_MAX, NULL, NULL, 0);
}

/* Record a new attachment; with DIRECT, its source eventfd joins the wait set. */
static int handle_add(struct irqd_client *c, const struct irqd_attach_reply *rep, int fd)
{
	if (rep->handle >= IRQD_SLOTS) {
		if (fd >= 0)
			close(fd);
		return irqdc_fail(EPROTO, "irqd: handle %u out of range", rep->handle);
	}
	pthread_mutex_lock(&c->ev_lock);
	struct handle_state *h = &c->h[rep->handle];
	*h = (struct handle_state){ .attached = true, .line = rep->line, .direct_fd = -1 };
	if (fd >= 0) {
		h->direct = true;
		h->direct_fd = fd;
		c->direct[c->n_direct++] = rep->handle;
		wake_futex_sleepers(c);
		struct epoll_event ev = { .events = EPOLLIN, .data.u32 = rep->handle };
		epoll_ctl(c->ep, EPOLL_CTL_ADD, fd, &ev);
	}
	pthread_mutex_unlock(&c->ev_lock);
	return 0;
}

static void handle_drop(struct irqd_client *c, uint32_t handle)
{
	pthread_mutex_lock(&c->ev_lock);
	struct handle_state *h = &c->h[handle];
	if (h->direct) {
		epoll_ctl(c->ep, EPOLL_CTL_DEL, h->direct_fd, NULL);
		close(h->direct_fd);
		for (unsigned i = 0; i < c->n_direct; i++)
			if (c->direct[i] == handle)
				c->direct[i] = c->direct[--c->n_direct];
	}
	*h = (struct handle_state){ .direct_fd = -1 };
	pthread_mutex_unlock(&c->ev_lock);
}

int irqd_attach(struct irqd_client *c, const char *line, uint32_t flags,
		const struct irqd_coalesce_params *co, uint32_t *handle)
{
	struct irqd_attach_req q = { .hdr.type = IRQD_MSG_ATTACH, .flags = flags };
	int r = irqdc_query_init(&q.line, line);
	if (r < 0)
		return r;
	if (co)
		q.coalesce = *co;
	struct irqd_attach_reply rep;
	int fd = -1;
	r = irqdc_rpc(c, &q, sizeof(q), -1, &rep, sizeof(rep), &fd, 1);
	if (r < 0)
		return r;
	r = handle_add(c, &rep, fd);
	if (r == 0 && handle)
		*handle = rep.handle;
	return r;
}

static int handle_rpc(struct irqd_client *c, enum irqd_msg_type type, uint32_t handle)
{
	struct irqd_handle_req q = { .hdr.type = (uint16_t)type, .handle = handle };
	return empty_rpc(c, &q, sizeof(q));
}

int irqd_detach(struct irqd_client *c, uint32_t handle)
{
	int r = handle_rpc(c, IRQD_MSG_DETACH, handle);
	if (r == 0)
		handle_drop(c, handle);
	return r;
}

int irqd_mask(struct irqd_client *c, uint32_t handle)
{
	return handle_rpc(c, IRQD_MSG_MASK, handle);
}

int irqd_unmask(struct irqd_client *c, uint32_t handle)
{
	return handle_rpc(c, IRQD_MSG_UNMASK, handle);
}

int irqd_pass(struct irqd_client *c, uint32_t handle, uint64_t *token)
{
	struct irqd_handle_req q = { .hdr.type = IRQD_MSG_PASS, .handle = handle };
	struct irqd_pass_reply rep;
	int r = irqdc_rpc(c, &q, sizeof(q), -1, &rep, sizeof(rep), NULL, 0);
	if (r < 0)
		return r;
	*token = rep.token;
	return 0;
}

int irqd_accept(struct irqd_client *c, uint64_t token, uint32_t *handle)
{
	struct irqd_accept_req q = { .hdr.type = IRQD_MSG_ACCEPT, .token = token };
	struct irqd_attach_reply rep;
	int fd = -1;
	int r = irqdc_rpc(c, &q, sizeof(q), -1, &rep, sizeof(rep), &fd, 1);
	if (r < 0)
		return r;
	r = handle_add(c, &rep, fd);
	if (r == 0 && handle)
		*handle = rep.handle;
	return r;
}

int irqd_handle_line(struct irqd_client *c, uint32_t handle)
{
	if (handle >= IRQD_SLOTS)
		return -EBADF;
	pthread_mutex_lock(&c->ev_lock);
	int r = c->h[handle].attached ? (int)c->h[handle].line : -EBADF;
	pthread_mutex_unlock(&c->ev_lock);
	return r;
}

int irqd_set_coalesce(struct irqd_client *c, uint32_t handle, const struct irqd_coalesce_params *p)
{
	struct irqd_coalesce_req q = { .hdr.type = IRQD_MSG_COALESCE, .handle = handle,
				       .params = *p };
	return empty_rpc(c, &q, sizeof(q));
}

/* ---- events ------------------------------------------------------------------------------------ */

static void ring_if_server_sleeps(struct irqd_client *c)
{
	atomic_store(&c->shm->doorbell_pending, 1);
	if (atomic_load(&c->status->server_waiting)) {
		uint64_t one = 1;
		if (write(c->bell_fd, &one, sizeof(one)) < 0)
			(void)0; /* the counter is saturated: irqd is awake already */
	}
}

/* Take one published batch from slot i into ev. Returns false if there was none (stale bit,
 * or irqd claimed it back for a pass). */
static bool take_slot(struct irqd_client *c, unsigned i, struct irqd_event *ev)
{
	struct irqd_shm_slot *s = &c->shm->slot[i];
	uint64_t pub = atomic_load_explicit(&s->published, memory_order_acquire);
	uint64_t taken = atomic_load_explicit(&s->taken, memory_order_acquire);
	if (pub == taken)
		return false;
	*ev = (struct irqd_event){ .handle = i, .line = s->line, .count = s->count,
				   .first_ns = s->first_ns, .last_ns = s->last_ns,
				   .delivered_ns = s->delivered_ns, .seq = s->seq,
				   .occurrence = s->occurrence };
	/* the stamp first: irqd reads it once it sees the batch taken (profiling) */
	atomic_store_explicit(&s->handler_ns, mono_ns(), memory_order_relaxed);
	if (!atomic_compare_exchange_strong(&s->taken, &taken, pub))
		return false;
	if (atomic_load(&s->held))
		ring_if_server_sleeps(c);
	return true;
}

/* Collect up to max batches; caller holds ev_lock. */
static int scan(struct irqd_client *c, struct irqd_event *ev, int max)
{
	int n = 0;
	for (unsigned w = 0; w < IRQD_SLOTS / 64 && n < max; w++) {
		if (!atomic_load_explicit(&c->shm->ready[w], memory_order_relaxed))
			continue;
		uint64_t bits = atomic_exchange(&c->shm->ready[w], 0);
		while (bits && n < max) {
			unsigned i = w * 64 + __builtin_ctzll(bits);
			bits &= bits - 1;
			if (!c->h[i].attached || !take_slot(c, i, &ev[n]))
				continue;
			if (ev[n].occurrence)
				c->h[i].delivered_occ = ev[n].occurrence;
			n++;
		}
		if (bits) /* no room: leave the rest for the next call */
			atomic_fetch_or(&c->shm->ready[w], bits);
	}
	return n;
}

/* DIRECT attachments: read the source eventfds ourselves; irqd learns the count from the slot. */
/* Read DIRECT handle i's source eventfd into ev; false if it had nothing. */
static bool take_direct(struct irqd_client *c, uint32_t i, struct irqd_event *ev)
{
	struct handle_state *h = &c->h[i];
	uint64_t v;
	if (i >= IRQD_SLOTS || !h->direct || read(h->direct_fd, &v, sizeof(v)) != sizeof(v))
		return false;
	uint64_t now = mono_ns();
	atomic_fetch_add_explicit(&c->shm->slot[i].direct_events, v, memory_order_relaxed);
	*ev = (struct irqd_event){ .handle = i, .line = h->line, .count = v, .first_ns = now,
				   .last_ns = now, .delivered_ns = now, .seq = ++h->direct_seq };
	return true;
}

static int scan_direct(struct irqd_client *c, struct irqd_event *ev, int max)
{
	int n = 0;
	for (unsigned i = 0; i < c->n_direct && n < max; i++)
		n += take_direct(c, c->direct[i], &ev[n]);
	return n;
}

/* The mailboxes only, armed for a wake-up the way the caller will sleep (IRQD_WAITING_*) if
 * they are empty: no system call. The DIRECT sources need no look here, epoll reports them
 * (level-triggered). */
static int scan_armed(struct irqd_client *c, struct irqd_event *ev, int max, uint32_t how)
{
	int n = scan(c, ev, max);
	if (n == 0) {
		/* arm, then look again: a batch published before the flag was seen is found now */
		atomic_fetch_or(&c->shm->client_waiting, how);
		n = scan(c, ev, max);
	}
	return n;
}

/*
 * The interrupt path of a sleeping driver, kept to what a raw eventfd reader does. With no
 * DIRECT attachment the driver sleeps on the futex irqd bumps (one system call each way, no
 * epoll); otherwise in epoll, and goes straight to what woke it: a wake-up from irqd needs no
 * read (the eventfd is edge-triggered), a DIRECT source is read as a raw eventfd would be.
 */
int irqd_wait(struct irqd_client *c, struct irqd_event *ev, int max, int timeout_ms)
{
	if (max <= 0)
		return irqdc_fail(EINVAL, "irqd: room for no event");
	uint64_t end = timeout_ms < 0 ? UINT64_MAX : mono_ns() + (uint64_t)timeout_ms * 1000000ull;
	int n = 0, k = 0;
	struct epoll_event e[8];
	for (;;) {
		pthread_mutex_lock(&c->ev_lock);
		for (int j = 0; j < k && n < max; j++)
			if (e[j].data.u32 != WAKE_TAG)
				n += take_direct(c, e[j].data.u32, &ev[n]);
		bool futex = c->n_direct == 0;
		/* the futex value before arming: a wake-up after it changes it, so none is missed */
		uint32_t seq = atomic_load(&c->shm->wake_seq);
		n += scan_armed(c, ev + n, max - n, futex ? IRQD_WAITING_FUTEX : IRQD_WAITING_EVENTFD);
		pthread_mutex_unlock(&c->ev_lock);
		if (n)
			return n;
		int wait_ms = -1;
		if (end != UINT64_MAX) {
			uint64_t now = mono_ns();
			if (now >= end)
				return 0;
			wait_ms = (int)((end - now + 999999) / 1000000);
		}
		k = 0;
		if (futex) {
			struct timespec ts = { .tv_sec = wait_ms / 1000,
					       .tv_nsec = (long)(wait_ms % 1000) * 1000000 };
			if (syscall(SYS_futex, &c->shm->wake_seq, FUTEX_WAIT, seq,
				    wait_ms < 0 ? NULL : &ts, NULL, 0) < 0 &&
			    errno != EAGAIN && errno != EINTR && errno != ETIMEDOUT)
				return irqdc_fail(errno, "irqd: futex: %s", strerror(errno));
		} else if ((k = epoll_wait(c->ep, e, 8, wait_ms)) < 0) {
			if (errno != EINTR)
				return irqdc_fail(errno, "irqd: epoll_wait: %s", strerror(errno));
			k = 0;
		}
	}
}

int irqd_poll(struct irqd_client *c, struct irqd_event *ev, int max)
{
	if (max <= 0)
		return irqdc_fail(EINVAL, "irqd: room for no event");
	pthread_mutex_lock(&c->ev_lock);
	uint64_t v;
	if (read(c->wake_fd, &v, sizeof(v)) < 0)
		v = 0; /* nothing to clear: irqd_fd() is not readable for it any more either way */
	int n = scan_direct(c, ev, max);
	n += scan_armed(c, ev + n, max - n, IRQD_WAITING_EVENTFD);
	pthread_mutex_unlock(&c->ev_lock);
	return n;
}

int irqd_try(struct irqd_client *c, struct irqd_event *ev, int max)
{
	if (max <= 0)
		return irqdc_fail(EINVAL, "irqd: room for no event");
	pthread_mutex_lock(&c->ev_lock);
	int n = scan_direct(c, ev, max);
	n += scan(c, ev + n, max - n);
	pthread_mutex_unlock(&c->ev_lock);
	return n;
}

int irqd_fd(struct irqd_client *c)
{
	return c->ep;
}

int irqd_answer(struct irqd_client *c, uint32_t handle, uint64_t occ, enum irqd_answer answer)
{
	if (handle >= IRQD_SLOTS || (answer != IRQD_HANDLED && answer != IRQD_NOT_MINE))
		return irqdc_fail(EINVAL, "irqd: bad handle %u or answer %d", handle, answer);
	pthread_mutex_lock(&c->ev_lock);
	struct handle_state *h = &c->h[handle];
	int r = 0;
	if (!h->attached)
		r = irqdc_fail(EBADF, "irqd: no attachment with handle %u", handle);
	else if (occ == 0 || occ > h->delivered_occ)
		r = irqdc_fail(EINVAL, "irqd: occurrence %llu was not delivered to handle %u",
			 (unsigned long long)occ, handle);
	else if (occ <= h->answered_occ)
		r = irqdc_fail(EALREADY, "irqd: occurrence %llu of handle %u is answered already",
			 (unsigned long long)occ, handle);
	else if (occ < h->delivered_occ)
		r = irqdc_fail(EINVAL, "irqd: occurrence %llu of handle %u is no longer owed (now %llu)",
			 (unsigned long long)occ, handle, (unsigned long long)h->delivered_occ);
	if (r == 0) {
		h->answered_occ = occ;
		atomic_store(&c->shm->slot[handle].answer, (occ << 2) | (uint64_t)answer);
		atomic_fetch_or(&c->shm->answered[handle / 64], 1ull << (handle % 64));
		ring_if_server_sleeps(c);
	}
	pthread_mutex_unlock(&c->ev_lock);
	return r;
}

/* For simdev.c: SIM_OPEN gives the device page and the line's eventfd. */
int irqd__sim_open(struct irqd_client *c, const char *line, int fds[2])
{
	struct irqd_line_query q = { 0 };
	int r = irqdc_query_init(&q, line);
	if (r < 0)
		return r;
	r = line_rpc(c, IRQD_MSG_SIM_OPEN, &q, NULL, fds, 2);
	if (r >= 0 && r != 2) {
		for (int i = 0; i < r; i++)
			close(fds[i]);
		return irqdc_fail(EPROTO, "irqd: SIM_OPEN gave %d descriptors", r);
	}
	return r < 0 ? r : 0;
}
