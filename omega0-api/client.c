/*
 * client.c - the irqd client library (see irqd/client.h and irqd/proto.h).
 *
 * Two locks, never on the interrupt path of another client: `rpc_lock` serialises control
 * requests on the socket, `ev_lock` guards the handle table and the scan of the mailboxes.
 */
#include <errno.h>
#include <fcntl.h>
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
#include <sys/timerfd.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "irqd/client.h"
#include "irqd/simdev.h"
#include "internal.h"
#include "util/sched_slice.h"
#include "util/unixmsg.h"

/* epoll tags in irqd_fd()'s set; DIRECT sources carry their handle */
#define WAKE_TAG UINT32_MAX         /* irqd's wake-up eventfd */
#define SOCK_TAG (UINT32_MAX - 1)   /* the socket: hangs up when irqd ends */
#define RETRY_TAG (UINT32_MAX - 2)  /* timer: time to try reconnecting */

/* Reconnection (see irqd/client.h): a futex sleeper looks at the socket this often; attempts
 * back off from the first to the last delay. */
#define LIVENESS_MS 500
#define POLL_LOOK_MS 10         /* irqd_poll looks at the socket at most this often */
#define RETRY_FIRST_MS 10
#define RETRY_LAST_MS 1000

struct handle_state {
	bool attached;
	bool direct;
	bool lost;              /* irqd restarted and this attachment is not back yet */
	int direct_fd;
	uint32_t line;
	uint32_t flags;         /* IRQD_ATTACH_* it was made with */
	uint32_t trigger;
	uint32_t masks;         /* masks it holds: re-applied after a restart */
	char *name;             /* its line, to attach again after a restart */
	struct irqd_coalesce_params coalesce;
	uint64_t delivered_occ; /* latest level occurrence delivered */
	uint64_t answered_occ;  /* latest one answered */
	uint64_t direct_seq;
	uint64_t taken_events;  /* edge events taken from the slot: what irqd owes is the rest */
};

/* A line this client made: made again, from the same descriptors, after irqd restarts. */
struct made_line {
	struct irqd_line_create_req req;
	int fds[2];
	int nfds;
};

/* One connection's resources: replaced as a whole when irqd restarts. */
struct conn {
	int sock;
	int wake_fd, bell_fd;
	struct irqd_shm *shm;
	const struct irqd_status *status;
};

struct irqd_client {
	struct conn k;
	int ep;                 /* wake eventfd, socket, retry timer, DIRECT source eventfds */
	int timer_fd;
	pthread_mutex_t rpc_lock, ev_lock;
	uint32_t next_req;
	char *path;
	bool reconnect;         /* $IRQD_RECONNECT=0 turns it off */
	/* written holding both locks (or atomically), read holding either */
	_Atomic bool down;      /* irqd ended: reconnecting */
	_Atomic unsigned n_lost;/* attachments waiting for their line to come back */
	_Atomic uint64_t retry_ns; /* next attempt */
	_Atomic bool cut_off;   /* irqd cut us off (why: severed): no reconnecting */
	unsigned retry_ms;
	uint64_t next_look_ns;  /* irqd_poll's next look at the socket (ev_lock) */
	char severed[IRQD_ERRMSG_MAX];
	struct conn *retired;   /* old connections' shared memory, unmapped at disconnect (a
				 * thread may still be asleep on its futex word) */
	unsigned n_retired;
	struct made_line *made;
	unsigned n_made;
	struct irqd_event *owed;/* what a dead irqd owed, one per attachment: handed out first */
	unsigned n_owed;
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

/* Why a request failed with the connection: irqd said why it cut us off (an error with req_id 0:
 * kept in c->severed), or it ended without a word (*gone: irqd died or stopped). */
static int conn_lost(struct irqd_client *c, int sock, int err, bool *gone)
{
	union {
		struct irqd_error e;
		char b[IRQD_MSG_MAX];
	} q;
	ssize_t n;
	do /* a reset is reported (once) before what is queued */
		n = recv(sock, q.b, sizeof(q.b), MSG_DONTWAIT);
	while ((n < 0 && errno == ECONNRESET) ||
	       (n > 0 && !((size_t)n >= sizeof(q.e) && q.e.hdr.type == IRQD_MSG_ERROR &&
			   q.e.hdr.req_id == 0)));
	if (n > 0) {
		q.e.msg[sizeof(q.e.msg) - 1] = 0;
		snprintf(c->severed, sizeof(c->severed), "%s", q.e.msg);
		c->cut_off = true;
		return irqdc_fail(q.e.err > 0 ? q.e.err : EIO, "%s", q.e.msg);
	}
	*gone = true;
	return irqdc_fail(err, "irqd: connection lost: %s", strerror(err));
}

/* One request and its reply on sock (caller holds rpc_lock). Notices that arrive meanwhile are
 * kept. *gone is set if irqd ended. */
static int rpc_on(struct irqd_client *c, int sock, void *req, size_t len, const int *send_fds,
		  int nsend, void *rep, size_t replen, int *fds, int maxfds, bool *gone)
{
	struct irqd_msg_hdr *h = req;
	h->len = (uint32_t)len;
	h->req_id = ++c->next_req;
	int r = unixmsg_send(sock, req, len, send_fds, nsend, 0);
	if (r < 0)
		return conn_lost(c, sock, -r, gone);
	bool reset = false;
	for (;;) {
		union {
			struct irqd_msg_hdr h;
			struct irqd_error e;
			char b[IRQD_MSG_MAX];
		} buf;
		int got, rfds[4];
		ssize_t n = unixmsg_recv(sock, buf.b, sizeof(buf.b), rfds, &got, 4, 0);
		if (n == -ECONNRESET && !reset) {
			/* irqd closed with our request unread (it refused us): the kernel reports
			 * the reset once, before the messages irqd sent; read those */
			reset = true;
			continue;
		}
		if (n <= 0) {
			*gone = true;
			return irqdc_fail(n ? (int)-n : ECONNRESET, "irqd: connection lost: %s",
					  n ? strerror((int)-n) : "closed by irqd");
		}
		if ((size_t)n < sizeof(buf.h))
			return irqdc_fail(EPROTO, "irqd: short message from the server");
		if (buf.h.type == IRQD_MSG_NOTICE) {
			if ((size_t)n >= sizeof(buf.e))
				snprintf(c->notice, sizeof(c->notice), "%.*s", IRQD_ERRMSG_MAX - 1,
					 buf.e.msg);
			continue;
		}
		/* req_id 0: an error irqd sends before reading any request (the connection is
		 * refused) or as it disconnects us; it answers whatever we asked */
		bool severed = buf.h.type == IRQD_MSG_ERROR && buf.h.req_id == 0;
		if (buf.h.req_id != h->req_id && !severed) {
			for (int i = 0; i < got; i++)
				close(rfds[i]);
			continue; /* a reply to a request that timed out earlier: not ours */
		}
		if (buf.h.type == IRQD_MSG_ERROR) {
			for (int i = 0; i < got; i++)
				close(rfds[i]);
			if ((size_t)n < sizeof(buf.e))
				return irqdc_fail(EPROTO, "irqd: short error message");
			buf.e.msg[sizeof(buf.e.msg) - 1] = 0;
			if (severed) {
				snprintf(c->severed, sizeof(c->severed), "%s", buf.e.msg);
				c->cut_off = true;
			}
			return irqdc_fail(buf.e.err > 0 ? buf.e.err : EIO, "%s", buf.e.msg);
		}
		if (buf.h.type != (h->type | IRQD_MSG_REPLY) || (size_t)n != replen || got > maxfds) {
			for (int i = 0; i < got; i++)
				close(rfds[i]);
			return irqdc_fail(EPROTO, "irqd: unexpected reply type %u, %zd bytes", buf.h.type,
					  n);
		}
		memcpy(rep, buf.b, replen);
		for (int i = 0; i < maxfds; i++)
			fds[i] = i < got ? rfds[i] : -1;
		return got;
	}
}

static int revive(struct irqd_client *c);
static void conn_ended(struct irqd_client *c);

/* A request on the connection; if irqd ended, the library reconnects (see irqd/client.h) and
 * asks the new irqd once more. */
int irqdc_rpc(struct irqd_client *c, void *req, size_t len, const int *send_fds, int nsend,
	      void *rep, size_t replen, int *fds, int maxfds)
{
	pthread_mutex_lock(&c->rpc_lock);
	bool gone = false;
	int r = c->down ? irqdc_fail(ENOTCONN, "irqd: %s",
				     c->cut_off ? c->severed : "connection lost")
			: rpc_on(c, c->k.sock, req, len, send_fds, nsend, rep, replen, fds, maxfds,
				 &gone);
	if (gone)
		conn_ended(c);
	if (c->down && c->reconnect && !c->cut_off) {
		int v = revive(c);
		gone = false;
		r = v < 0 ? v
			  : rpc_on(c, c->k.sock, req, len, send_fds, nsend, rep, replen, fds, maxfds,
				   &gone);
		if (gone)
			conn_ended(c);
	}
	pthread_mutex_unlock(&c->rpc_lock);
	return r;
}

static void conn_close(struct conn *k)
{
	if (k->shm)
		munmap(k->shm, sizeof(struct irqd_shm));
	if (k->status)
		munmap((void *)k->status, sizeof(struct irqd_status));
	if (k->sock >= 0)
		close(k->sock);
	if (k->wake_fd >= 0)
		close(k->wake_fd);
	if (k->bell_fd >= 0)
		close(k->bell_fd);
	*k = (struct conn){ .sock = -1, .wake_fd = -1, .bell_fd = -1 };
}

/* Connect to irqd and say HELLO: its shared memory and eventfds for this connection. */
static int conn_open(struct irqd_client *c, struct conn *k)
{
	*k = (struct conn){ .sock = -1, .wake_fd = -1, .bell_fd = -1 };
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", c->path);
	k->sock = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (k->sock < 0 || connect(k->sock, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int r = irqdc_fail(errno, "irqd: cannot connect to %s: %s", c->path, strerror(errno));
		conn_close(k);
		return r;
	}
	struct irqd_hello hello = { .hdr.type = IRQD_MSG_HELLO, .version = IRQD_PROTO_VERSION };
	struct irqd_hello_reply rep;
	int fds[4];
	bool gone = false;
	int r = rpc_on(c, k->sock, &hello, sizeof(hello), NULL, 0, &rep, sizeof(rep), fds, 4, &gone);
	if (r < 0)
		goto fail;
	if (r != 4 || rep.shm_size != sizeof(struct irqd_shm) || rep.slots != IRQD_SLOTS) {
		for (int i = 0; i < r; i++)
			close(fds[i]);
		r = irqdc_fail(EPROTO, "irqd: server speaks another shared-memory layout");
		goto fail;
	}
	void *shm = mmap(NULL, sizeof(struct irqd_shm), PROT_READ | PROT_WRITE, MAP_SHARED, fds[0], 0);
	void *st = mmap(NULL, sizeof(struct irqd_status), PROT_READ, MAP_SHARED, fds[1], 0);
	close(fds[0]);
	close(fds[1]);
	k->wake_fd = fds[2];
	k->bell_fd = fds[3];
	k->shm = shm == MAP_FAILED ? NULL : shm;
	k->status = st == MAP_FAILED ? NULL : st;
	if (!k->shm || !k->status || k->shm->magic != IRQD_SHM_MAGIC) {
		r = irqdc_fail(EPROTO, "irqd: cannot map the session's shared memory");
		goto fail;
	}
	return 0;
fail:
	conn_close(k);
	return r;
}

/* The connection's descriptors join irqd_fd()'s set: the wake-up eventfd edge-triggered
 * (irqd_wait goes from the wake-up to the mailboxes without reading the counter; irqd_poll
 * drains it, so that irqd_fd() is readable only while there is something new), the socket for
 * its hang-up only (irqd's notices must not wake anyone). */
static int conn_watch(struct irqd_client *c)
{
	struct epoll_event w = { .events = EPOLLIN | EPOLLET, .data.u32 = WAKE_TAG };
	struct epoll_event s = { .events = EPOLLRDHUP, .data.u32 = SOCK_TAG };
	if (epoll_ctl(c->ep, EPOLL_CTL_ADD, c->k.wake_fd, &w) < 0 ||
	    epoll_ctl(c->ep, EPOLL_CTL_ADD, c->k.sock, &s) < 0)
		return irqdc_fail(errno, "irqd: epoll: %s", strerror(errno));
	return 0;
}

int irqd_connect(const char *path, struct irqd_client **out)
{
	last_error[0] = 0;
	if (!path)
		path = getenv(IRQD_SOCKET_ENV);
	if (!path)
		path = IRQD_DEFAULT_SOCKET;
	if (strlen(path) >= sizeof(((struct sockaddr_un *)0)->sun_path))
		return irqdc_fail(ENAMETOOLONG, "irqd: socket path too long: %s", path);
	struct irqd_client *c = calloc(1, sizeof(*c));
	if (!c)
		return irqdc_fail(ENOMEM, "irqd: out of memory");
	pthread_mutex_init(&c->rpc_lock, NULL);
	pthread_mutex_init(&c->ev_lock, NULL);
	c->k = (struct conn){ .sock = -1, .wake_fd = -1, .bell_fd = -1 };
	c->ep = epoll_create1(EPOLL_CLOEXEC);
	c->timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	const char *rc = getenv(IRQD_RECONNECT_ENV);
	c->reconnect = !rc || strcmp(rc, "0") != 0;
	c->path = strdup(path);
	int r;
	struct epoll_event t = { .events = EPOLLIN, .data.u32 = RETRY_TAG };
	if (!c->path || c->ep < 0 || c->timer_fd < 0 ||
	    epoll_ctl(c->ep, EPOLL_CTL_ADD, c->timer_fd, &t) < 0) {
		r = irqdc_fail(errno ? errno : ENOMEM, "irqd: cannot set up a client: %s",
			       strerror(errno ? errno : ENOMEM));
		goto fail;
	}
	pthread_mutex_lock(&c->rpc_lock);
	r = conn_open(c, &c->k);
	pthread_mutex_unlock(&c->rpc_lock);
	if (r < 0 || (r = conn_watch(c)) < 0)
		goto fail;
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
	for (unsigned i = 0; i < IRQD_SLOTS; i++) {
		if (c->h[i].direct)
			close(c->h[i].direct_fd);
		free(c->h[i].name);
	}
	for (unsigned i = 0; i < c->n_made; i++)
		for (int j = 0; j < c->made[i].nfds; j++)
			close(c->made[i].fds[j]);
	free(c->made);
	for (unsigned i = 0; i < c->n_retired; i++)
		conn_close(&c->retired[i]);
	free(c->retired);
	free(c->owed);
	conn_close(&c->k);
	if (c->ep >= 0)
		close(c->ep);
	if (c->timer_fd >= 0)
		close(c->timer_fd);
	free(c->path);
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
	int r = irqdc_rpc(c, q, sizeof(*q), NULL, 0, &info, sizeof(info), fds, maxfds);
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
	int r = irqdc_rpc(c, req, len, NULL, 0, &rep, sizeof(rep), NULL, 0);
	return r < 0 ? r : 0;
}

int irqd_line_enable(struct irqd_client *c, const char *line)
{
	struct irqd_line_query q = { .hdr.type = IRQD_MSG_ENABLE };
	int r = irqdc_query_init(&q, line);
	return r < 0 ? r : empty_rpc(c, &q, sizeof(q));
}


int irqd_line_stats(struct irqd_client *c, const char *line, struct irqd_line_stats *st)
{
	struct irqd_line_query q = { .hdr.type = IRQD_MSG_LINE_STATS };
	int r = irqdc_query_init(&q, line);
	if (r < 0)
		return r;
	r = irqdc_rpc(c, &q, sizeof(q), NULL, 0, st, sizeof(*st), NULL, 0);
	st->name[sizeof(st->name) - 1] = 0;
	return r < 0 ? r : 0;
}

int irqd_client_stats(struct irqd_client *c, uint32_t index, struct irqd_client_stats *st)
{
	struct irqd_client_query q = { .hdr.type = IRQD_MSG_CLIENT_STATS, .index = index };
	int r = irqdc_rpc(c, &q, sizeof(q), NULL, 0, st, sizeof(*st), NULL, 0);
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

/* Forget a made line (caller holds rpc_lock). */
static void made_forget(struct irqd_client *c, const char *name)
{
	for (unsigned i = 0; i < c->n_made; i++) {
		if (strcmp(c->made[i].req.name, name))
			continue;
		for (int j = 0; j < c->made[i].nfds; j++)
			close(c->made[i].fds[j]);
		c->made[i] = c->made[--c->n_made];
		return;
	}
}

int irqdc_line_create(struct irqd_client *c, struct irqd_line_create_req *q, const int *fds,
		      int nfds, struct irqd_line_desc *d)
{
	q->hdr.type = IRQD_MSG_LINE_CREATE;
	struct irqd_line_info info;
	int r = irqdc_rpc(c, q, sizeof(*q), fds, nfds, &info, sizeof(info), NULL, 0);
	if (r < 0)
		return r;
	if (d)
		desc_from(&info, d);
	/* remembered under the name irqd gave it, with descriptors of our own */
	pthread_mutex_lock(&c->rpc_lock);
	struct made_line *m = realloc(c->made, (c->n_made + 1) * sizeof(*m));
	if (m) {
		c->made = m;
		m = &c->made[c->n_made];
		*m = (struct made_line){ .req = *q, .nfds = nfds };
		snprintf(m->req.name, sizeof(m->req.name), "%.*s", IRQD_NAME_MAX - 1, info.name);
		for (int i = 0; i < nfds; i++)
			m->fds[i] = fcntl(fds[i], F_DUPFD_CLOEXEC, 0);
		c->n_made++;
	}
	pthread_mutex_unlock(&c->rpc_lock);
	return m ? 0 : irqdc_fail(ENOMEM, "irqd: out of memory (the line will not survive a restart)");
}

/* An eventfd line, edge (unmask_fd -1) or resample (level). */
static int eventfd_line(struct irqd_client *c, int efd, int unmask_fd, const char *name,
			struct irqd_line_desc *d)
{
	struct irqd_line_create_req q = {
		.source = unmask_fd >= 0 ? IRQD_CREATE_RESAMPLE : IRQD_CREATE_EVENTFD,
		.trigger = unmask_fd >= 0 ? IRQD_LEVEL : IRQD_EDGE };
	if (name && strlen(name) >= sizeof(q.name))
		return irqdc_fail(ENAMETOOLONG, "irqd: line name too long: %s", name);
	if (name)
		strcpy(q.name, name);
	int fds[2] = { efd, unmask_fd };
	return irqdc_line_create(c, &q, fds, unmask_fd >= 0 ? 2 : 1, d);
}

int irqd_line_create_eventfd(struct irqd_client *c, int efd, const char *name,
			     struct irqd_line_desc *d)
{
	return eventfd_line(c, efd, -1, name, d);
}

int irqd_line_create_level_eventfd(struct irqd_client *c, int efd, int unmask_fd,
				   const char *name, struct irqd_line_desc *d)
{
	return unmask_fd < 0 ? irqdc_fail(EBADF, "irqd: no unmask eventfd")
			     : eventfd_line(c, efd, unmask_fd, name, d);
}

int irqd_line_delete(struct irqd_client *c, const char *line)
{
	struct irqd_line_query q = { .hdr.type = IRQD_MSG_LINE_DELETE };
	int r = irqdc_query_init(&q, line);
	if (r == 0)
		r = empty_rpc(c, &q, sizeof(q));
	if (r == 0) {
		pthread_mutex_lock(&c->rpc_lock);
		made_forget(c, line);
		pthread_mutex_unlock(&c->rpc_lock);
	}
	return r;
}

/* ---- attachments --------------------------------------------------------------------------------- */

/* Move futex sleepers to epoll (a DIRECT source appeared: only epoll sees it). */
static void wake_futex_sleepers(struct irqd_client *c)
{
	atomic_fetch_add(&c->k.shm->wake_seq, 1);
	syscall(SYS_futex, &c->k.shm->wake_seq, FUTEX_WAKE, INT_MAX, NULL, NULL, 0);
}

/* A DIRECT attachment's source eventfd joins (fd >= 0) or leaves (-1) the wait set; caller
 * holds ev_lock. */
static void direct_set(struct irqd_client *c, uint32_t handle, int fd)
{
	struct handle_state *h = &c->h[handle];
	if (h->direct) {
		epoll_ctl(c->ep, EPOLL_CTL_DEL, h->direct_fd, NULL);
		close(h->direct_fd);
		for (unsigned i = 0; i < c->n_direct; i++)
			if (c->direct[i] == handle)
				c->direct[i] = c->direct[--c->n_direct];
	}
	h->direct = fd >= 0;
	h->direct_fd = fd;
	if (fd >= 0) {
		c->direct[c->n_direct++] = handle;
		wake_futex_sleepers(c);
		struct epoll_event ev = { .events = EPOLLIN, .data.u32 = handle };
		epoll_ctl(c->ep, EPOLL_CTL_ADD, fd, &ev);
	}
}

/* The line's name, to attach to it again after a restart ("#<id>" is asked for: ids are not
 * kept across restarts). */
static char *line_name(struct irqd_client *c, const char *line, uint32_t id)
{
	struct irqd_line_desc d;
	char q[16];
	snprintf(q, sizeof(q), "#%u", id);
	if (line[0] != '#' || irqd_line_lookup(c, q, &d) < 0)
		return strdup(line);
	return strdup(d.name);
}

/* Record a new attachment; with DIRECT, its source eventfd joins the wait set. */
static int handle_add(struct irqd_client *c, const struct irqd_attach_reply *rep, int fd,
		      char *name, const struct irqd_coalesce_params *co)
{
	if (rep->handle >= IRQD_SLOTS) {
		if (fd >= 0)
			close(fd);
		free(name);
		return irqdc_fail(EPROTO, "irqd: handle %u out of range", rep->handle);
	}
	pthread_mutex_lock(&c->ev_lock);
	struct handle_state *h = &c->h[rep->handle];
	direct_set(c, rep->handle, -1);
	free(h->name);
	*h = (struct handle_state){ .attached = true, .line = rep->line, .direct_fd = -1,
				    .flags = rep->flags, .trigger = rep->trigger, .name = name,
				    .coalesce = co ? *co : (struct irqd_coalesce_params){ 0 } };
	direct_set(c, rep->handle, fd);
	pthread_mutex_unlock(&c->ev_lock);
	return 0;
}

static void handle_drop(struct irqd_client *c, uint32_t handle)
{
	pthread_mutex_lock(&c->ev_lock);
	struct handle_state *h = &c->h[handle];
	direct_set(c, handle, -1);
	if (h->lost)
		c->n_lost--;
	free(h->name);
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
	r = irqdc_rpc(c, &q, sizeof(q), NULL, 0, &rep, sizeof(rep), &fd, 1);
	if (r < 0)
		return r;
	r = handle_add(c, &rep, fd, line_name(c, line, rep.line), co);
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

/* The masks a handle holds are counted, to hold them again after a restart. */
static int mask_rpc(struct irqd_client *c, enum irqd_msg_type type, uint32_t handle)
{
	int r = handle_rpc(c, type, handle);
	if (r == 0 && handle < IRQD_SLOTS) {
		pthread_mutex_lock(&c->ev_lock);
		c->h[handle].masks += type == IRQD_MSG_MASK ? 1 : -1;
		pthread_mutex_unlock(&c->ev_lock);
	}
	return r;
}

int irqd_mask(struct irqd_client *c, uint32_t handle)
{
	return mask_rpc(c, IRQD_MSG_MASK, handle);
}

int irqd_unmask(struct irqd_client *c, uint32_t handle)
{
	return mask_rpc(c, IRQD_MSG_UNMASK, handle);
}

int irqd_pass(struct irqd_client *c, uint32_t handle, uint64_t *token)
{
	struct irqd_handle_req q = { .hdr.type = IRQD_MSG_PASS, .handle = handle };
	struct irqd_pass_reply rep;
	int r = irqdc_rpc(c, &q, sizeof(q), NULL, 0, &rep, sizeof(rep), NULL, 0);
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
	int r = irqdc_rpc(c, &q, sizeof(q), NULL, 0, &rep, sizeof(rep), &fd, 1);
	if (r < 0)
		return r;
	char id[16];
	snprintf(id, sizeof(id), "#%u", rep.line);
	r = handle_add(c, &rep, fd, line_name(c, id, rep.line), NULL);
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
	int r = empty_rpc(c, &q, sizeof(q));
	if (r == 0 && handle < IRQD_SLOTS) {
		pthread_mutex_lock(&c->ev_lock);
		c->h[handle].coalesce = *p;
		pthread_mutex_unlock(&c->ev_lock);
	}
	return r;
}

/* ---- events ------------------------------------------------------------------------------------ */

static void ring_if_server_sleeps(struct irqd_client *c)
{
	atomic_store(&c->k.shm->doorbell_pending, 1);
	if (atomic_load(&c->k.status->server_waiting)) {
		uint64_t one = 1;
		if (write(c->k.bell_fd, &one, sizeof(one)) < 0)
			(void)0; /* the counter is saturated: irqd is awake already */
	}
}

/* Take one published batch from slot i into ev. Returns false if there was none (stale bit,
 * or irqd claimed it back for a pass). Caller holds ev_lock. */
static bool take_slot(struct irqd_client *c, unsigned i, struct irqd_event *ev)
{
	struct irqd_shm_slot *s = &c->k.shm->slot[i];
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
	struct handle_state *h = &c->h[i];
	if (ev->occurrence)
		h->delivered_occ = ev->occurrence;
	else
		h->taken_events += ev->count;
	return true;
}

/* What a dead irqd owed, handed out before anything else; caller holds ev_lock. */
static int take_owed(struct irqd_client *c, struct irqd_event *ev, int max)
{
	int n = 0;
	while (c->n_owed && n < max)
		ev[n++] = c->owed[--c->n_owed];
	return n;
}

/* Collect up to max batches; caller holds ev_lock. */
static int scan(struct irqd_client *c, struct irqd_event *ev, int max)
{
	int n = take_owed(c, ev, max);
	for (unsigned w = 0; w < IRQD_SLOTS / 64 && n < max; w++) {
		if (!atomic_load_explicit(&c->k.shm->ready[w], memory_order_relaxed))
			continue;
		uint64_t bits = atomic_exchange(&c->k.shm->ready[w], 0);
		while (bits && n < max) {
			unsigned i = w * 64 + __builtin_ctzll(bits);
			bits &= bits - 1;
			if (c->h[i].attached && take_slot(c, i, &ev[n]))
				n++;
		}
		if (bits) /* no room: leave the rest for the next call */
			atomic_fetch_or(&c->k.shm->ready[w], bits);
	}
	return n;
}

/* ---- irqd restarted ------------------------------------------------------------------------------
 * irqd ended (the socket hung up without a word, see proto.h's IRQD_MSG_ERROR): what it owed
 * every attachment, from the shared memory it left behind, becomes one notification each
 * (seq 0): a batch it had published and the events it had taken but not yet published
 * (coalescing) as the count. Then the library connects again, makes its lines again and
 * re-attaches each attachment under the same handle, holding the same masks. */

static bool hung_up(int sock)
{
	struct pollfd p = { .fd = sock, .events = POLLRDHUP };
	return poll(&p, 1, 0) == 1 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR));
}

/* Caller holds rpc_lock; irqd's last words (why it cut us off, if it did) are read first. */
static void conn_ended(struct irqd_client *c)
{
	bool gone = false;
	conn_lost(c, c->k.sock, ECONNRESET, &gone);
	pthread_mutex_lock(&c->ev_lock);
	epoll_ctl(c->ep, EPOLL_CTL_DEL, c->k.sock, NULL); /* its hang-up would wake for ever */
	unsigned n = 0;
	for (unsigned i = 0; i < IRQD_SLOTS; i++)
		n += c->h[i].attached;
	struct irqd_event *owed = realloc(c->owed, 2 * n * sizeof(*owed) + 1);
	if (owed) {
		c->owed = owed;
		c->n_owed = 0;
		uint64_t now = mono_ns();
		/* stored last first: take_owed hands them out from the end */
		for (unsigned i = IRQD_SLOTS; i-- > 0;) {
			struct handle_state *h = &c->h[i];
			if (!h->attached)
				continue;
			uint64_t accepted = atomic_load(&c->k.shm->slot[i].accepted), count = 0;
			struct irqd_event batch;
			bool published = take_slot(c, i, &batch);
			if (h->trigger == IRQD_EDGE && !h->direct && accepted > h->taken_events)
				count = accepted - h->taken_events;
			owed[c->n_owed++] = (struct irqd_event){ .handle = i, .line = h->line,
								 .count = count, .first_ns = now,
								 .last_ns = now, .delivered_ns = now };
			if (published)
				owed[c->n_owed++] = batch;
			/* the answers owed to the old irqd are void */
			h->delivered_occ = h->answered_occ = h->taken_events = 0;
		}
	}
	c->down = true;
	wake_futex_sleepers(c); /* a sleeper has something to take */
	pthread_mutex_unlock(&c->ev_lock);
}

/* The next attempt, later each time (caller holds rpc_lock). irqd_fd() becomes readable then. */
static void retry_later(struct irqd_client *c)
{
	c->retry_ms = c->retry_ms ? c->retry_ms * 2 : RETRY_FIRST_MS;
	if (c->retry_ms > RETRY_LAST_MS)
		c->retry_ms = RETRY_LAST_MS;
	c->retry_ns = mono_ns() + c->retry_ms * 1000000ull;
	struct itimerspec t = { .it_value = { .tv_sec = c->retry_ms / 1000,
					      .tv_nsec = (long)(c->retry_ms % 1000) * 1000000 } };
	timerfd_settime(c->timer_fd, 0, &t, NULL);
}

/* Attach again what is not back (caller holds rpc_lock): under the same handle, with the same
 * flags, coalescing and masks. A line not there yet (its maker has not reconnected) is tried
 * again later. */
static void reattach(struct irqd_client *c)
{
	for (uint32_t i = 0; i < IRQD_SLOTS && c->n_lost; i++) {
		struct handle_state *h = &c->h[i];
		/* what to ask for, copied: another thread may attach or detach meanwhile */
		pthread_mutex_lock(&c->ev_lock);
		bool lost = h->lost;
		struct irqd_attach_req q = { .hdr.type = IRQD_MSG_ATTACH, .flags = h->flags,
					     .want_handle = i + 1, .coalesce = h->coalesce };
		uint32_t masks = h->masks;
		int bad = lost ? irqdc_query_init(&q.line, h->name) : 0;
		pthread_mutex_unlock(&c->ev_lock);
		if (!lost || bad)
			continue;
		struct irqd_attach_reply rep;
		int fd = -1;
		bool gone = false;
		if (rpc_on(c, c->k.sock, &q, sizeof(q), NULL, 0, &rep, sizeof(rep), &fd, 1, &gone) < 0) {
			if (!gone)
				continue;
			conn_ended(c);
			return;
		}
		for (uint32_t m = 0; m < masks; m++) {
			struct irqd_handle_req mq = { .hdr.type = IRQD_MSG_MASK, .handle = i };
			struct irqd_msg_hdr mr;
			rpc_on(c, c->k.sock, &mq, sizeof(mq), NULL, 0, &mr, sizeof(mr), NULL, 0, &gone);
		}
		pthread_mutex_lock(&c->ev_lock);
		bool still = h->lost;
		if (still) {
			h->line = rep.line;
			direct_set(c, i, fd);
			h->lost = false;
			c->n_lost--;
		}
		pthread_mutex_unlock(&c->ev_lock);
		if (!still) { /* detached meanwhile */
			struct irqd_handle_req dq = { .hdr.type = IRQD_MSG_DETACH, .handle = i };
			struct irqd_msg_hdr dr;
			rpc_on(c, c->k.sock, &dq, sizeof(dq), NULL, 0, &dr, sizeof(dr), NULL, 0, &gone);
			if (fd >= 0)
				close(fd);
		}
	}
	if (c->n_lost)
		retry_later(c);
	else
		c->retry_ms = 0;
}

/* Connect to the new irqd, make our lines and attach again (caller holds rpc_lock). */
static int revive(struct irqd_client *c)
{
	if (!c->reconnect || c->cut_off)
		return irqdc_fail(ECONNRESET, "irqd: %s", c->cut_off ? c->severed : "connection lost");
	struct conn k;
	int r = conn_open(c, &k);
	if (r < 0) {
		retry_later(c);
		return r;
	}
	struct conn *old = realloc(c->retired, (c->n_retired + 1) * sizeof(*old));
	if (!old) {
		conn_close(&k);
		retry_later(c);
		return irqdc_fail(ENOMEM, "irqd: out of memory");
	}
	c->retired = old;
	pthread_mutex_lock(&c->ev_lock);
	wake_futex_sleepers(c); /* asleep on the old futex word: look at the new one */
	epoll_ctl(c->ep, EPOLL_CTL_DEL, c->k.wake_fd, NULL);
	close(c->k.sock);
	close(c->k.wake_fd);
	close(c->k.bell_fd);
	c->retired[c->n_retired++] = (struct conn){ .sock = -1, .wake_fd = -1, .bell_fd = -1,
						     .shm = c->k.shm, .status = c->k.status };
	c->k = k;
	conn_watch(c);
	c->down = false;
	c->n_lost = 0;
	for (unsigned i = 0; i < IRQD_SLOTS; i++)
		if ((c->h[i].lost = c->h[i].attached))
			c->n_lost++;
	pthread_mutex_unlock(&c->ev_lock);
	for (unsigned i = 0; i < c->n_made; i++) {
		struct irqd_line_info info;
		bool gone = false;
		rpc_on(c, c->k.sock, &c->made[i].req, sizeof(c->made[i].req), c->made[i].fds,
		       c->made[i].nfds, &info, sizeof(info), NULL, 0, &gone);
	}
	reattach(c);
	return c->down ? -ECONNRESET : 0;
}

/* A sleeper saw the socket hang up, the retry time come, or its slice end: look, and act. */
static void recover(struct irqd_client *c)
{
	pthread_mutex_lock(&c->rpc_lock);
	pthread_mutex_lock(&c->ev_lock);
	bool ended = !c->down && hung_up(c->k.sock);
	pthread_mutex_unlock(&c->ev_lock);
	if (ended)
		conn_ended(c);
	if ((c->down || c->n_lost) && mono_ns() >= c->retry_ns) {
		uint64_t v;
		if (read(c->timer_fd, &v, sizeof(v)) < 0)
			v = 0; /* not expired: nothing to clear */
		if (c->down)
			revive(c);
		else
			reattach(c);
	}
	pthread_mutex_unlock(&c->rpc_lock);
}

/* Is there anything for recover() to do now? (caller holds ev_lock) Looking at the socket is
 * a system call: irqd_poll, often called to arm with nothing to take, does it at most every
 * POLL_LOOK_MS (irqd_fd() stays readable on a hang-up until then). */
static bool recovery_due(struct irqd_client *c)
{
	uint64_t now = mono_ns();
	if (c->down || c->n_lost)
		return c->reconnect && !c->cut_off && now >= c->retry_ns;
	if (now < c->next_look_ns)
		return false;
	c->next_look_ns = now + POLL_LOOK_MS * 1000000ull;
	return hung_up(c->k.sock);
}

/* The connection is gone for good (no reconnecting): the error to return once what irqd owed
 * was handed out. Caller holds ev_lock. */
static int ended_for_good(struct irqd_client *c)
{
	if (!c->down || (c->reconnect && !c->cut_off))
		return 0;
	return irqdc_fail(ECONNRESET, "irqd: %s", c->cut_off ? c->severed : "connection lost");
}

/* ---- taking events ----------------------------------------------------------------------------- */

/* DIRECT attachments: read the source eventfds ourselves; irqd learns the count from the slot. */
/* Read DIRECT handle i's source eventfd into ev; false if it had nothing. */
static bool take_direct(struct irqd_client *c, uint32_t i, struct irqd_event *ev)
{
	struct handle_state *h = &c->h[i];
	uint64_t v;
	if (i >= IRQD_SLOTS || !h->direct || read(h->direct_fd, &v, sizeof(v)) != sizeof(v))
		return false;
	uint64_t now = mono_ns();
	atomic_fetch_add_explicit(&c->k.shm->slot[i].direct_events, v, memory_order_relaxed);
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
		atomic_fetch_or(&c->k.shm->client_waiting, how);
		n = scan(c, ev, max);
	}
	return n;
}

/*
 * The interrupt path of a sleeping driver, kept to what a raw eventfd reader does. With no
 * DIRECT attachment the driver sleeps on the futex irqd bumps (one system call each way, no
 * epoll), in slices of LIVENESS_MS to notice irqd ending; otherwise in epoll, and goes straight
 * to what woke it: a wake-up from irqd needs no read (the eventfd is edge-triggered), a DIRECT
 * source is read as a raw eventfd would be, the socket's hang-up and the retry timer go to
 * recover().
 */
int irqd_wait(struct irqd_client *c, struct irqd_event *ev, int max, int timeout_ms)
{
	if (max <= 0)
		return irqdc_fail(EINVAL, "irqd: room for no event");
	uint64_t end = timeout_ms < 0 ? UINT64_MAX : mono_ns() + (uint64_t)timeout_ms * 1000000ull;
	int n = 0, k = 0;
	struct epoll_event e[8];
	for (;;) {
		bool recovering = false;
		pthread_mutex_lock(&c->ev_lock);
		for (int j = 0; j < k && n < max; j++) {
			if (e[j].data.u32 == SOCK_TAG || e[j].data.u32 == RETRY_TAG)
				recovering = true;
			else if (e[j].data.u32 != WAKE_TAG)
				n += take_direct(c, e[j].data.u32, &ev[n]);
		}
		bool futex = c->n_direct == 0;
		/* the futex value before arming: a wake-up after it changes it, so none is missed */
		_Atomic uint32_t *word = &c->k.shm->wake_seq;
		uint32_t seq = atomic_load(word);
		/* arm only to sleep: with a DIRECT source's events in hand the caller returns */
		n += n ? scan(c, ev + n, max - n)
		       : scan_armed(c, ev, max, futex ? IRQD_WAITING_FUTEX : IRQD_WAITING_EVENTFD);
		int err = n ? 0 : ended_for_good(c);
		uint64_t retry_ns = c->down || c->n_lost ? c->retry_ns : UINT64_MAX;
		pthread_mutex_unlock(&c->ev_lock);
		if (n || err)
			return n ? n : err;
		if (recovering) {
			recover(c);
			k = 0;
			continue;
		}
		uint64_t now = mono_ns();
		if (now >= end)
			return 0;
		k = 0;
		if (futex) {
			/* a slice: to the deadline, the retry time, or LIVENESS_MS */
			uint64_t until = end < retry_ns ? end : retry_ns;
			uint64_t slice = until > now ? until - now : 0;
			if (slice > LIVENESS_MS * 1000000ull)
				slice = LIVENESS_MS * 1000000ull;
			struct timespec ts = { .tv_sec = (time_t)(slice / 1000000000ull),
					       .tv_nsec = (long)(slice % 1000000000ull) };
			if (syscall(SYS_futex, word, FUTEX_WAIT, seq, &ts, NULL, 0) < 0) {
				if (errno == ETIMEDOUT)
					recover(c);
				else if (errno != EAGAIN && errno != EINTR)
					return irqdc_fail(errno, "irqd: futex: %s", strerror(errno));
			}
		} else {
			int wait_ms = end == UINT64_MAX ? -1 : (int)((end - now + 999999) / 1000000);
			if ((k = epoll_wait(c->ep, e, 8, wait_ms)) < 0) {
				if (errno != EINTR)
					return irqdc_fail(errno, "irqd: epoll_wait: %s", strerror(errno));
				k = 0;
			}
		}
	}
}

/* What irqd_poll takes: the wake-up cleared, DIRECT sources read, the mailboxes armed. */
static int poll_once(struct irqd_client *c, struct irqd_event *ev, int max, bool *recovery)
{
	pthread_mutex_lock(&c->ev_lock);
	uint64_t v;
	if (read(c->k.wake_fd, &v, sizeof(v)) < 0)
		v = 0; /* nothing to clear: irqd_fd() is not readable for it any more either way */
	int n = scan_direct(c, ev, max);
	n += scan_armed(c, ev + n, max - n, IRQD_WAITING_EVENTFD);
	if (n == 0) {
		*recovery = recovery_due(c);
		n = ended_for_good(c);
	}
	pthread_mutex_unlock(&c->ev_lock);
	return n;
}

int irqd_poll(struct irqd_client *c, struct irqd_event *ev, int max)
{
	if (max <= 0)
		return irqdc_fail(EINVAL, "irqd: room for no event");
	bool recovery = false;
	int n = poll_once(c, ev, max, &recovery);
	if (recovery) {
		recover(c);
		n = poll_once(c, ev, max, &recovery);
	}
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

int irqd_thread_slice(uint32_t slice_us)
{
	int err = sched_slice_set(slice_us);
	if (err == -EOPNOTSUPP)
		return irqdc_fail(EOPNOTSUPP, "irqd: this kernel has no custom scheduler slices "
					      "(Linux 6.12+)");
	if (err == -EINVAL)
		return irqdc_fail(EINVAL, "irqd: a slice is 0 (the kernel's default) or %u to %u µs",
				  SCHED_SLICE_MIN_US, SCHED_SLICE_MAX_US);
	return err ? irqdc_fail(-err, "irqd: sched_setattr: %s", strerror(-err)) : 0;
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
		atomic_store(&c->k.shm->slot[handle].answer, (occ << 2) | (uint64_t)answer);
		atomic_fetch_or(&c->k.shm->answered[handle / 64], 1ull << (handle % 64));
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
