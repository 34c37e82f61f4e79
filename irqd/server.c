/*
 * server.c - the control thread: the socket, sessions, requests, the line table's writer.
 *
 * Every request is checked before it touches anything: size exact for its type, handle owned
 * by the sender, line allowed by the policy. A bad request gets an IRQD_MSG_ERROR with a
 * one-line reason; a client that keeps sending malformed messages, or floods, is throttled and
 * then disconnected. Other clients never notice.
 */
#include <errno.h>
#include <sys/mman.h>
#include <sys/eventfd.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <urcu/urcu-memb.h>
#include <urcu/rculist.h>

#include "config.h"
#include "irqd.h"

#define RATE_PER_SEC 20000.0   /* sustained requests per second per client */
#define RATE_BURST 2000.0
#define BAD_MESSAGES_MAX 64    /* malformed requests before disconnection */

uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int ep;   /* the control thread's epoll set */

/* ---- replies ----------------------------------------------------------------------------------- */

static int reply_error(struct session *s, uint32_t req_id, int err, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static int reply_error(struct session *s, uint32_t req_id, int err, const char *fmt, ...)
{
	struct irqd_error e = { .hdr = { .type = IRQD_MSG_ERROR, .len = sizeof(e),
					 .req_id = req_id } };
	e.err = err;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(e.msg, sizeof(e.msg), fmt, ap);
	va_end(ap);
	atomic_fetch_add_explicit(&s->n.errors, 1, memory_order_relaxed);
	session_send_fds(s, &e, sizeof(e), NULL, 0);
	return -err;
}

/* The end of an enumeration: -ENOENT to the client, but not an error in its statistics. */
static int reply_end(struct session *s, uint32_t req_id, const char *what)
{
	int r = reply_error(s, req_id, ENOENT, "%s", what);
	atomic_fetch_sub_explicit(&s->n.errors, 1, memory_order_relaxed);
	return r;
}

static int reply(struct session *s, const struct irqd_msg_hdr *req, void *msg, size_t len,
		 const int *fds, int nfds)
{
	struct irqd_msg_hdr *h = msg;
	h->type = req->type | IRQD_MSG_REPLY;
	h->len = (uint32_t)len;
	h->req_id = req->req_id;
	return session_send_fds(s, msg, len, fds, nfds);
}

static int reply_empty(struct session *s, const struct irqd_msg_hdr *req)
{
	struct irqd_msg_hdr h = { 0 };
	return reply(s, req, &h, sizeof(h), NULL, 0);
}

/* ---- lines ------------------------------------------------------------------------------------ */

static struct server *S;

static struct line *line_by_name(const char *name)
{
	for (uint32_t i = 0; i < IRQD_LINES_MAX; i++)
		if (S->lines[i] && !strcmp(S->lines[i]->name, name))
			return S->lines[i];
	return NULL;
}

/* Resolve a query; on failure reply with the error and return NULL. */
static struct line *resolve(struct session *s, const struct irqd_msg_hdr *req,
			    const struct irqd_line_query *q)
{
	if (q->flags & ~IRQD_QUERY_NEXT) {
		reply_error(s, req->req_id, EINVAL, "unknown query flags 0x%x", q->flags);
		return NULL;
	}
	if (q->flags & IRQD_QUERY_NEXT) {
		uint32_t from = q->id == IRQD_LINE_FIRST ? 0 : q->id + 1;
		for (uint32_t i = from; i < IRQD_LINES_MAX; i++)
			if (S->lines[i])
				return S->lines[i];
		reply_end(s, req->req_id, "no more lines");
		return NULL;
	}
	if (q->id == IRQD_LINE_BY_NAME) {
		if (!memchr(q->name, 0, sizeof(q->name))) {
			reply_error(s, req->req_id, EINVAL, "line name is not NUL-terminated");
			return NULL;
		}
		struct line *l = line_by_name(q->name);
		if (!l)
			reply_error(s, req->req_id, ENOENT, "no line named '%s'", q->name);
		return l;
	}
	if (q->id >= IRQD_LINES_MAX || !S->lines[q->id]) {
		reply_error(s, req->req_id, ENOENT, "no line with id %u", q->id);
		return NULL;
	}
	return S->lines[q->id];
}

static bool allowed(struct session *s, const struct line *l, bool admin)
{
	return policy_allows(S->cfg, S->self_uid, s->uid, s->gids, s->ngids, l->name, admin);
}

static void fill_info(const struct line *l, struct irqd_line_info *info)
{
	info->id = l->id;
	info->trigger = l->trigger;
	info->attachments = l->n_attached;
	info->flags = l->exclusive ? IRQD_LINE_EXCLUSIVE : 0;
	snprintf(info->name, sizeof(info->name), "%s", l->name);
	snprintf(info->source, sizeof(info->source), "%s", l->ops->name);
}

static struct line *line_new(const char *name, enum irqd_trigger trigger, uint32_t deadline_ms)
{
	uint32_t id = 0;
	while (id < IRQD_LINES_MAX && S->lines[id])
		id++;
	if (id == IRQD_LINES_MAX)
		return NULL;
	struct line *l = calloc(1, sizeof(*l));
	if (!l)
		return NULL;
	l->id = id;
	snprintf(l->name, sizeof(l->name), "%s", name);
	l->trigger = trigger;
	l->fd = -1;
	CDS_INIT_LIST_HEAD(&l->attachments);
	irqcore_line_init(&l->core, trigger == IRQD_LEVEL ? IRQCORE_LEVEL : IRQCORE_EDGE,
			  (uint64_t)(deadline_ms ? deadline_ms : S->cfg->ack_deadline_ms) * 1000000ull);
	return l;
}

static void line_publish(struct line *l)
{
	if (S->cfg->profile)
		profile_start(S, l);   /* a user for ever; without memory it is simply not profiled */
	rcu_assign_pointer(S->lines[l->id], l);
	S->n_lines++;
	struct cmd c = { .kind = CMD_LINE_ADD, .line = l };
	delivery_call(S, &c);
}

struct line *server_line_add(struct server *srv, const char *name, enum irqd_trigger trigger)
{
	S = srv;
	const struct config_line *cl = config_line(srv->cfg, name);
	if (cl)
		trigger = cl->level ? IRQD_LEVEL : IRQD_EDGE;
	struct line *l = line_new(name, trigger, cl ? cl->ack_deadline_ms : 0);
	if (!l)
		return NULL;
	if (source_sim_create(l, trigger == IRQD_LEVEL, NULL) < 0) {
		free(l);
		return NULL;
	}
	line_publish(l);
	return l;
}

/* ---- attachments --------------------------------------------------------------------------- */

static void free_attachment(struct rcu_head *h)
{
	struct attachment *a = caa_container_of(h, struct attachment, rcu);
	HANDOFF_ACQUIRE(a);
	session_unref(a->session);
	free(atomic_load(&a->prof));
	free(a);
}

static void drop_tokens(struct attachment *a)
{
	for (unsigned i = 0; i < sizeof(S->tokens) / sizeof(S->tokens[0]); i++)
		if (S->tokens[i].att == a)
			S->tokens[i] = (struct pass_token){ 0 };
}

static void detach(struct attachment *a)
{
	struct line *l = a->line;
	struct session *s = a->session;
	while (a->mask_refs) {
		a->mask_refs--;
		struct cmd c = { .kind = CMD_UNMASK, .line = l };
		delivery_call(S, &c);
	}
	drop_tokens(a);
	irqd_list_del_rcu(&a->node);
	struct cmd c = { .kind = CMD_DETACH, .att = a };
	delivery_call(S, &c);
	s->handles[a->slot] = NULL;
	s->n_attached--;
	l->n_attached--;
	if (l->n_attached == 0)
		l->exclusive = false;
	HANDOFF_RELEASE(a);
	urcu_memb_call_rcu(&a->rcu, free_attachment);
}

static int free_handle(struct session *s)
{
	for (uint32_t i = 0; i < IRQD_SLOTS; i++)
		if (!s->handles[i])
			return (int)i;
	return -1;
}

static struct attachment *own(struct session *s, const struct irqd_msg_hdr *req, uint32_t h)
{
	if (h >= IRQD_SLOTS || !s->handles[h]) {
		reply_error(s, req->req_id, EBADF, "no attachment with handle %u on this connection", h);
		return NULL;
	}
	return s->handles[h];
}

static int check_coalesce(struct session *s, const struct irqd_msg_hdr *req,
			  const struct irqd_coalesce_params *p, struct coalesce_params *out)
{
	*out = (struct coalesce_params){ .usecs = p->usecs, .frames = p->frames,
					 .adaptive = p->adaptive != 0 };
	if (p->adaptive > 1 || p->reserved || coalesce_check_params(out))
		return reply_error(s, req->req_id, EINVAL,
				   "coalescing out of range (usecs <= %u, frames <= %u, adaptive 0|1)",
				   COALESCE_MAX_USECS, COALESCE_MAX_FRAMES);
	return 0;
}

static int do_attach(struct session *s, const struct irqd_attach_req *r)
{
	struct line *l = resolve(s, &r->hdr, &r->line);
	if (!l)
		return -ENOENT;
	if (!allowed(s, l, false))
		return reply_error(s, r->hdr.req_id, EACCES,
				   "uid %u may not attach line %s (see irqd's allow rules)", s->uid,
				   l->name);
	uint32_t f = r->flags;
	if (f & ~(IRQD_ATTACH_EXCLUSIVE | IRQD_ATTACH_DIRECT))
		return reply_error(s, r->hdr.req_id, EINVAL, "unknown attach flags 0x%x", f);
	if (r->want_handle > IRQD_SLOTS)
		return reply_error(s, r->hdr.req_id, EINVAL, "no handle %u (handles are 0 to %u)",
				   r->want_handle - 1, IRQD_SLOTS - 1);
	if ((f & IRQD_ATTACH_DIRECT) &&
	    (!(f & IRQD_ATTACH_EXCLUSIVE) || l->trigger != IRQD_EDGE))
		return reply_error(s, r->hdr.req_id, EINVAL,
				   "direct delivery needs an exclusive attachment to an edge line");
	if (l->exclusive || ((f & IRQD_ATTACH_EXCLUSIVE) && l->n_attached))
		return reply_error(s, r->hdr.req_id, EBUSY, "line %s is %s", l->name,
				   l->exclusive ? "held exclusively" : "shared by other clients");
	struct coalesce_params cp;
	bool given = r->coalesce.usecs || r->coalesce.frames || r->coalesce.adaptive;
	if (given ? check_coalesce(s, &r->hdr, &r->coalesce, &cp) : 0)
		return -EINVAL;
	if (!given)
		cp = l->default_coalesce;
	int h = r->want_handle ? (int)r->want_handle - 1 : free_handle(s);
	if (h < 0)
		return reply_error(s, r->hdr.req_id, ENOSPC, "this connection has %u attachments already",
				   IRQD_SLOTS);
	if (s->handles[h])
		return reply_error(s, r->hdr.req_id, EBUSY, "handle %d is in use", h);
	struct attachment *a = calloc(1, sizeof(*a));
	struct profile *prof = atomic_load(&l->prof) ? profile_new() : NULL;
	if (!a || (atomic_load(&l->prof) && !prof)) {
		free(a);
		free(prof);
		return reply_error(s, r->hdr.req_id, ENOMEM, "out of memory");
	}
	atomic_init(&a->prof, prof);
	a->line = l;
	a->flags = f;
	a->session = s;
	a->slot = (uint32_t)h;
	atomic_fetch_add(&s->refs, 1);
	s->handles[h] = a;
	s->n_attached++;
	l->n_attached++;
	l->exclusive = f & IRQD_ATTACH_EXCLUSIVE;
	/* Flow state is complete before the delivery thread can see the attachment; it must be on
	 * the list before CMD_ATTACH, which may unmask an orphaned line that fires at once. */
	a->co_timer = (struct timer){ .idx = -1, .kind = TIMER_COALESCE };
	coalesce_init(&a->co, &cp, now_ns());
	irqcore_sharer_init(&a->sharer);
	irqd_list_add_tail_rcu(&a->node, &l->attachments);
	struct cmd c = { .kind = CMD_ATTACH, .att = a };
	delivery_call(S, &c);
	struct irqd_attach_reply rep = { .handle = (uint32_t)h, .line = l->id, .trigger = l->trigger,
					 .flags = f };
	return reply(s, &r->hdr, &rep, sizeof(rep), &l->fd, (f & IRQD_ATTACH_DIRECT) ? 1 : 0);
}

static int do_accept(struct session *s, const struct irqd_accept_req *r)
{
	struct pass_token *t = NULL;
	for (unsigned i = 0; i < sizeof(S->tokens) / sizeof(S->tokens[0]); i++)
		if (S->tokens[i].att && S->tokens[i].token == r->token)
			t = &S->tokens[i];
	if (!t || r->token == 0)
		return reply_error(s, r->hdr.req_id, ENOENT, "no attachment was passed with that token");
	int h = free_handle(s);
	if (h < 0)
		return reply_error(s, r->hdr.req_id, ENOSPC, "this connection has %u attachments already",
				   IRQD_SLOTS);
	struct attachment *a = t->att;
	*t = (struct pass_token){ 0 };
	struct session *from = a->session;
	from->handles[a->slot] = NULL;
	from->n_attached--;
	atomic_fetch_add(&s->refs, 1);
	struct cmd c = { .kind = CMD_PASS, .att = a, .session = s, .slot = (uint32_t)h };
	delivery_call(S, &c);
	s->handles[h] = a;
	s->n_attached++;
	session_unref(from);
	struct irqd_attach_reply rep = { .handle = (uint32_t)h, .line = a->line->id,
					 .trigger = a->line->trigger, .flags = a->flags };
	return reply(s, &r->hdr, &rep, sizeof(rep), &a->line->fd,
		     (a->flags & IRQD_ATTACH_DIRECT) ? 1 : 0);
}

static int do_pass(struct session *s, const struct irqd_handle_req *r)
{
	struct attachment *a = own(s, &r->hdr, r->handle);
	if (!a)
		return -EBADF;
	/* the holder of a DIRECT attachment reads the source eventfd itself and cannot be made
	 * to stop: its events would be lost to the new holder */
	if (a->flags & IRQD_ATTACH_DIRECT)
		return reply_error(s, r->hdr.req_id, EINVAL,
				   "a direct attachment cannot be passed: detach it and let the "
				   "other client attach");
	struct pass_token *free_t = NULL;
	for (unsigned i = 0; i < sizeof(S->tokens) / sizeof(S->tokens[0]); i++) {
		if (S->tokens[i].att == a)
			free_t = &S->tokens[i]; /* passing again replaces the old token */
		else if (!free_t && !S->tokens[i].att)
			free_t = &S->tokens[i];
	}
	if (!free_t)
		return reply_error(s, r->hdr.req_id, EAGAIN, "too many passes outstanding");
	uint64_t token = 0;
	while (token == 0)
		if (getrandom(&token, sizeof(token), 0) != sizeof(token))
			return reply_error(s, r->hdr.req_id, EIO, "no randomness for a token");
	*free_t = (struct pass_token){ .token = token, .att = a };
	struct irqd_pass_reply rep = { .token = token };
	return reply(s, &r->hdr, &rep, sizeof(rep), NULL, 0);
}

static int do_coalesce(struct session *s, const struct irqd_coalesce_req *r)
{
	struct coalesce_params cp;
	if (check_coalesce(s, &r->hdr, &r->params, &cp))
		return -EINVAL;
	if (r->handle != IRQD_HANDLE_LINE) {
		struct attachment *a = own(s, &r->hdr, r->handle);
		if (!a)
			return -EBADF;
		struct cmd c = { .kind = CMD_COALESCE, .att = a, .params = cp };
		delivery_call(S, &c);
		return reply_empty(s, &r->hdr);
	}
	struct line *l = resolve(s, &r->hdr, &r->line);
	if (!l)
		return -ENOENT;
	if (!allowed(s, l, true))
		return reply_error(s, r->hdr.req_id, EACCES, "uid %u may not administer line %s",
				   s->uid, l->name);
	l->default_coalesce = cp;
	struct attachment *a;
	cds_list_for_each_entry(a, &l->attachments, node) {
		struct cmd c = { .kind = CMD_COALESCE, .att = a, .params = cp };
		delivery_call(S, &c);
	}
	return reply_empty(s, &r->hdr);
}

static int do_mask(struct session *s, const struct irqd_handle_req *r, bool mask)
{
	struct attachment *a = own(s, &r->hdr, r->handle);
	if (!a)
		return -EBADF;
	if (!mask && a->mask_refs == 0)
		return reply_error(s, r->hdr.req_id, EPERM, "handle %u holds no mask on line %s",
				   r->handle, a->line->name);
	a->mask_refs += mask ? 1 : -1;
	struct cmd c = { .kind = mask ? CMD_MASK : CMD_UNMASK, .line = a->line };
	delivery_call(S, &c);
	return reply_empty(s, &r->hdr);
}

/* ---- lines made from a client's eventfd -------------------------------------------------------- */

static bool is_eventfd(int fd)
{
	char path[64], target[64];
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	ssize_t n = readlink(path, target, sizeof(target) - 1);
	if (n < 0)
		return false;
	target[n] = 0;
	return !strcmp(target, "anon_inode:[eventfd]");
}

static bool valid_name(const char *name)
{
	if (!*name)
		return false;
	for (const char *p = name; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		      (*p >= '0' && *p <= '9') || strchr("_.:/-+", *p)))
			return false;
	return true;
}

static void line_remove(struct line *l)
{
	while (!cds_list_empty(&l->attachments)) {
		struct attachment *a = cds_list_first_entry(&l->attachments, struct attachment, node);
		struct session *owner = a->session;
		uint32_t h = a->slot;
		detach(a);
		struct irqd_error e = { .hdr = { .type = IRQD_MSG_NOTICE, .len = sizeof(e) },
					.err = ENOENT };
		snprintf(e.msg, sizeof(e.msg), "line %s was deleted: handle %u detached", l->name, h);
		session_send_fds(owner, &e, sizeof(e), NULL, 0);
	}
	struct session *s;
	cds_list_for_each_entry(s, &S->sessions, node)
		s->profiling[l->id / 64] &= ~(1ull << (l->id % 64));
	rcu_assign_pointer(S->lines[l->id], NULL);
	S->n_lines--;
	struct cmd c = { .kind = CMD_LINE_DEL, .line = l };
	delivery_call(S, &c);
}

/* fds: the eventfd, and for a sim line the device page after it. Every descriptor passed is
 * either kept by the new line or closed. */
static int do_line_create(struct session *s, const struct irqd_line_create_req *r, int fds[2])
{
	bool sim = r->source == IRQD_CREATE_SIM, resample = r->source == IRQD_CREATE_RESAMPLE;
	int err = EINVAL;
	char why[IRQD_ERRMSG_MAX] = "", name[IRQD_NAME_MAX];
	struct line *l = NULL;
	if (r->source > IRQD_CREATE_RESAMPLE || r->trigger > IRQD_LEVEL ||
	    (r->source == IRQD_CREATE_EVENTFD && r->trigger != IRQD_EDGE) ||
	    (resample && r->trigger != IRQD_LEVEL))
		snprintf(why, sizeof(why), "unknown line source %u or trigger %u", r->source, r->trigger);
	else if (fds[0] < 0)
		snprintf(why, sizeof(why), "line create needs an eventfd attached");
	else if (!is_eventfd(fds[0]))
		snprintf(why, sizeof(why), "the descriptor passed is not an eventfd");
	else if ((sim || resample) != (fds[1] >= 0))
		snprintf(why, sizeof(why), sim ? "a sim line needs its device page after the eventfd"
				       : resample ? "a resample line needs its unmask eventfd second"
						  : "an eventfd line takes one descriptor");
	else if (resample && !is_eventfd(fds[1]))
		snprintf(why, sizeof(why), "the unmask descriptor is not an eventfd");
	else if (!memchr(r->name, 0, sizeof(r->name)) || (r->name[0] && !valid_name(r->name)))
		snprintf(why, sizeof(why), "line names use letters, digits and _.:/-+ (at most %u bytes)",
			 IRQD_NAME_MAX - 1);
	if (why[0])
		goto refuse;
	if (r->name[0]) {
		snprintf(name, sizeof(name), "%s", r->name);
	} else {
		for (unsigned i = 0;; i++) {
			snprintf(name, sizeof(name), "efd%u", i);
			if (!line_by_name(name))
				break;
		}
	}
	if (line_by_name(name)) {
		err = EEXIST;
		snprintf(why, sizeof(why), "a line named '%s' exists", name);
		goto refuse;
	}
	l = line_new(name, (enum irqd_trigger)r->trigger, 0);
	if (!l) {
		err = ENOSPC;
		snprintf(why, sizeof(why), "line table full (%u lines)", IRQD_LINES_MAX);
		goto refuse;
	}
	if (!allowed(s, l, false)) {
		err = EACCES;
		snprintf(why, sizeof(why), "uid %u may not create line %s", s->uid, name);
		goto refuse;
	}
	int e = sim ? source_sim_create(l, r->trigger == IRQD_LEVEL, fds)
		    : source_eventfd_create(l, fds[0], resample ? fds[1] : -1);
	if (e) {
		err = -e;
		snprintf(why, sizeof(why), "cannot use that %s: %s", sim ? "device" : "eventfd",
			 strerror(-e));
		goto refuse;
	}
	l->creator = s;
	/* Its maker attaches next (or, after irqd restarted, a driver re-attaches): what the
	 * source counted meanwhile is theirs, not dropped for want of a listener. */
	l->unclaimed = true;
	line_publish(l);
	struct irqd_line_info info = { 0 };
	fill_info(l, &info);
	return reply(s, &r->hdr, &info, sizeof(info), NULL, 0);
refuse:
	free(l);
	for (int i = 0; i < 2; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	return reply_error(s, r->hdr.req_id, err, "%s", why);
}

/* ---- the request dispatcher -------------------------------------------------------------------- */

static const size_t request_size[IRQD_MSG_TYPE_END] = {
	[IRQD_MSG_HELLO] = sizeof(struct irqd_hello),
	[IRQD_MSG_LINE_INFO] = sizeof(struct irqd_line_query),
	[IRQD_MSG_ATTACH] = sizeof(struct irqd_attach_req),
	[IRQD_MSG_DETACH] = sizeof(struct irqd_handle_req),
	[IRQD_MSG_MASK] = sizeof(struct irqd_handle_req),
	[IRQD_MSG_UNMASK] = sizeof(struct irqd_handle_req),
	[IRQD_MSG_PASS] = sizeof(struct irqd_handle_req),
	[IRQD_MSG_ACCEPT] = sizeof(struct irqd_accept_req),
	[IRQD_MSG_COALESCE] = sizeof(struct irqd_coalesce_req),
	[IRQD_MSG_ENABLE] = sizeof(struct irqd_line_query),
	[IRQD_MSG_LINE_STATS] = sizeof(struct irqd_line_query),
	[IRQD_MSG_CLIENT_STATS] = sizeof(struct irqd_client_query),
	[IRQD_MSG_SIM_OPEN] = sizeof(struct irqd_line_query),
	[IRQD_MSG_LINE_CREATE] = sizeof(struct irqd_line_create_req),
	[IRQD_MSG_LINE_DELETE] = sizeof(struct irqd_line_query),
	[IRQD_MSG_PROFILE] = sizeof(struct irqd_profile_req),
	[IRQD_MSG_SERVER_STATS] = sizeof(struct irqd_msg_hdr),
};

/* The line's counters; kind CMD_PROFILE also reads the handler stamps owed. */
static void line_stats(struct line *l, struct irqd_line_stats *st, enum cmd_kind kind)
{
	struct cmd c = { .kind = kind, .line = l, .stats = st };
	delivery_call(S, &c);
	st->id = l->id;
	st->trigger = l->trigger;
	st->attachments = l->n_attached;
	st->flags |= l->exclusive ? IRQD_LINE_EXCLUSIVE : 0;
	snprintf(st->name, sizeof(st->name), "%s", l->name);
}

static int do_profile(struct session *s, const struct irqd_profile_req *r)
{
	struct line *l = resolve(s, &r->hdr, &r->line);
	if (!l)
		return -ENOENT;
	if (!allowed(s, l, false))
		return reply_error(s, r->hdr.req_id, EACCES, "uid %u may not profile line %s",
				   s->uid, l->name);
	uint64_t *word = &s->profiling[l->id / 64], bit = 1ull << (l->id % 64);
	switch (r->reserved ? 0 : r->op) {
	case IRQD_PROFILE_START:
		if (!(*word & bit)) {
			if (profile_start(S, l) < 0)
				return reply_error(s, r->hdr.req_id, ENOMEM,
						   "out of memory for the histograms of line %s",
						   l->name);
			*word |= bit;
		}
		return reply_empty(s, &r->hdr);
	case IRQD_PROFILE_STOP:
		if (!(*word & bit))
			return reply_error(s, r->hdr.req_id, EINVAL,
					   "this connection is not profiling line %s", l->name);
		*word &= ~bit;
		profile_stop(S, l);
		return reply_empty(s, &r->hdr);
	case IRQD_PROFILE_READ: {
		if (!atomic_load(&l->prof))
			return reply_error(s, r->hdr.req_id, ENODATA,
					   "line %s is not being profiled (start it first)", l->name);
		struct irqd_line_stats st = { 0 };
		line_stats(l, &st, CMD_PROFILE);
		int fd = profile_dump(S, l, &st);
		if (fd < 0)
			return reply_error(s, r->hdr.req_id, -fd, "cannot make the profile of %s: %s",
					   l->name, strerror(-fd));
		struct irqd_msg_hdr h = { 0 };
		int err = reply(s, &r->hdr, &h, sizeof(h), &fd, 1);
		close(fd);
		return err;
	}
	default:
		return reply_error(s, r->hdr.req_id, EINVAL, "unknown profile operation %u (or reserved field set)", r->op);
	}
}

void server_cpu(struct server *srv, uint64_t *control_ns, uint64_t *delivery_ns)
{
	(void)srv;
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);   /* called by the control thread */
	*control_ns = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
	*delivery_ns = delivery_cpu_ns();
}

static int do_server_stats(struct session *s, const struct irqd_msg_hdr *h)
{
	struct irqd_server_stats st = { .uptime_ns = now_ns() - S->start_ns, .lines = S->n_lines,
					.clients = S->n_sessions };
	server_cpu(S, &st.cpu_control_ns, &st.cpu_delivery_ns);
	for (uint32_t i = 0; i < IRQD_LINES_MAX; i++)
		if (S->lines[i] && atomic_load(&S->lines[i]->prof))
			st.profiled_lines++;
	return reply(s, h, &st, sizeof(st), NULL, 0);
}

static int do_hello(struct session *s, const struct irqd_hello *r)
{
	if (s->hello)
		return reply_error(s, r->hdr.req_id, EALREADY, "HELLO was already done");
	if (r->version != IRQD_PROTO_VERSION)
		return reply_error(s, r->hdr.req_id, EPROTONOSUPPORT,
				   "protocol version %u not supported (irqd speaks %u)", r->version,
				   IRQD_PROTO_VERSION);
	s->hello = true;
	struct irqd_hello_reply rep = { .version = IRQD_PROTO_VERSION, .slots = IRQD_SLOTS,
					.shm_size = sizeof(struct irqd_shm),
					.status_size = sizeof(struct irqd_status) };
	int fds[4] = { s->shm_fd, S->status_fd, s->wake_fd, s->bell_fd };
	return reply(s, &r->hdr, &rep, sizeof(rep), fds, 4);
}

static int do_client_stats(struct session *s, const struct irqd_client_query *r)
{
	bool all = s->uid == 0 || s->uid == S->self_uid;
	struct session *t;
	cds_list_for_each_entry(t, &S->sessions, node) {
		if (t->index < r->index || (!all && t != s))
			continue;
		struct irqd_client_stats st = { .index = t->index, .pid = (uint32_t)t->pid,
						.uid = t->uid, .gid = t->gid,
						.attachments = t->n_attached };
#define GET(f) st.f = atomic_load_explicit(&t->n.f, memory_order_relaxed)
		GET(notifications);
		GET(events);
		GET(wakeups);
		GET(answers);
		GET(bad_answers);
		GET(requests);
		GET(errors);
#undef GET
		return reply(s, &r->hdr, &st, sizeof(st), NULL, 0);
	}
	return reply_end(s, r->hdr.req_id, "no more clients");
}

/* fds: up to two descriptors that came with the request (-1: none) */
static int dispatch(struct session *s, const void *buf, size_t len, int fds[2])
{
	const struct irqd_msg_hdr *h = buf;
	struct line *l;
	if (h->type >= IRQD_MSG_TYPE_END || !request_size[h->type]) {
		s->bad_messages++;
		return reply_error(s, h->req_id, EBADMSG, "unknown request type %u", h->type);
	}
	if (len != request_size[h->type] || h->len != len) {
		s->bad_messages++;
		return reply_error(s, h->req_id, EBADMSG,
				   "request type %u must be %zu bytes, got %zu (header says %u)",
				   h->type, request_size[h->type], len, h->len);
	}
	if (fds[0] >= 0 && h->type != IRQD_MSG_LINE_CREATE) {
		for (int i = 0; i < 2; i++)
			if (fds[i] >= 0)
				close(fds[i]);
		s->bad_messages++;
		return reply_error(s, h->req_id, EBADMSG, "request type %u takes no descriptor",
				   h->type);
	}
	if (h->type != IRQD_MSG_HELLO && !s->hello)
		return reply_error(s, h->req_id, EPROTO, "HELLO first");
	switch ((enum irqd_msg_type)h->type) {
	case IRQD_MSG_HELLO:
		return do_hello(s, buf);
	case IRQD_MSG_LINE_INFO: {
		if (!(l = resolve(s, h, buf)))
			return -ENOENT;
		struct irqd_line_info info = { 0 };
		fill_info(l, &info);
		return reply(s, h, &info, sizeof(info), NULL, 0);
	}
	case IRQD_MSG_ATTACH:
		return do_attach(s, buf);
	case IRQD_MSG_DETACH: {
		struct attachment *a = own(s, h, ((const struct irqd_handle_req *)buf)->handle);
		if (!a)
			return -EBADF;
		detach(a);
		return reply_empty(s, h);
	}
	case IRQD_MSG_MASK:
	case IRQD_MSG_UNMASK:
		return do_mask(s, buf, h->type == IRQD_MSG_MASK);
	case IRQD_MSG_PASS:
		return do_pass(s, buf);
	case IRQD_MSG_ACCEPT:
		return do_accept(s, buf);
	case IRQD_MSG_COALESCE:
		return do_coalesce(s, buf);
	case IRQD_MSG_ENABLE:
		if (!(l = resolve(s, h, buf)))
			return -ENOENT;
		if (!allowed(s, l, true))
			return reply_error(s, h->req_id, EACCES, "uid %u may not administer line %s",
					   s->uid, l->name);
		{
			struct cmd c = { .kind = CMD_ENABLE, .line = l };
			delivery_call(S, &c);
		}
		return reply_empty(s, h);
	case IRQD_MSG_LINE_STATS: {
		if (!(l = resolve(s, h, buf)))
			return -ENOENT;
		struct irqd_line_stats st = { 0 };
		line_stats(l, &st, CMD_STATS);
		return reply(s, h, &st, sizeof(st), NULL, 0);
	}
	case IRQD_MSG_PROFILE:
		return do_profile(s, buf);
	case IRQD_MSG_SERVER_STATS:
		return do_server_stats(s, h);
	case IRQD_MSG_CLIENT_STATS:
		return do_client_stats(s, buf);
	case IRQD_MSG_SIM_OPEN: {
		if (!(l = resolve(s, h, buf)))
			return -ENOENT;
		if (source_sim_memfd(l) < 0)
			return reply_error(s, h->req_id, ENODEV, "line %s is not a simulated line",
					   l->name);
		if (!allowed(s, l, true))
			return reply_error(s, h->req_id, EACCES,
					   "uid %u may not drive the device of line %s", s->uid,
					   l->name);
		struct irqd_line_info info = { 0 };
		fill_info(l, &info);
		int fds[2] = { source_sim_memfd(l), l->fd };
		return reply(s, h, &info, sizeof(info), fds, 2);
	}
	case IRQD_MSG_LINE_CREATE:
		return do_line_create(s, buf, fds);
	case IRQD_MSG_LINE_DELETE:
		if (!(l = resolve(s, h, buf)))
			return -ENOENT;
		if (l->creator != s && !allowed(s, l, true))
			return reply_error(s, h->req_id, EACCES,
					   "line %s was created by another client", l->name);
		if (!l->creator)
			return reply_error(s, h->req_id, EPERM, "line %s is not a client's line",
					   l->name);
		line_remove(l);
		return reply_empty(s, h);
	default:
		return reply_error(s, h->req_id, EBADMSG, "unknown request type %u", h->type);
	}
}

/* ---- sessions ---------------------------------------------------------------------------------- */

static void session_close(struct session *s)
{
	for (uint32_t i = 0; i < IRQD_LINES_MAX; i++)
		if (s->profiling[i / 64] & (1ull << (i % 64)))
			profile_stop(S, S->lines[i]);
	for (uint32_t i = 0; i < IRQD_SLOTS; i++)
		if (s->handles[i])
			detach(s->handles[i]);
	for (uint32_t i = 0; i < IRQD_LINES_MAX; i++)
		if (S->lines[i] && S->lines[i]->creator == s)
			line_remove(S->lines[i]);
	struct cmd c = { .kind = CMD_SESSION_DEL, .session = s };
	delivery_call(S, &c);
	epoll_ctl(ep, EPOLL_CTL_DEL, s->sock, NULL);
	close(s->sock);
	cds_list_del(&s->node);
	S->n_sessions--;
	session_unref(s);
}

static void session_accept(void)
{
	int fd = accept4(S->listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
	if (fd < 0)
		return;
	if (S->n_sessions >= S->cfg->max_clients) {
		struct irqd_error e = { .hdr = { .type = IRQD_MSG_ERROR, .len = sizeof(e) },
					.err = EUSERS };
		snprintf(e.msg, sizeof(e.msg), "irqd has %u clients, the configured maximum",
			 S->cfg->max_clients);
		send(fd, &e, sizeof(e), MSG_DONTWAIT | MSG_NOSIGNAL);
		close(fd);
		return;
	}
	struct session *s = session_new(S, fd);
	if (!s) {
		close(fd);
		return;
	}
	s->index = S->next_session_index++;
	s->tokens = RATE_BURST;
	s->tokens_ns = now_ns();
	cds_list_add_tail(&s->node, &S->sessions);
	S->n_sessions++;
	struct cmd c = { .kind = CMD_SESSION_ADD, .session = s };
	delivery_call(S, &c);
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = s };
	epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
}

/* Token bucket: a client over its rate is not read until it has tokens again (its sends
 * block or fail, nobody else waits). */
static bool session_take_token(struct session *s, uint64_t now)
{
	s->tokens += (double)(now - s->tokens_ns) * RATE_PER_SEC / 1e9;
	if (s->tokens > RATE_BURST)
		s->tokens = RATE_BURST;
	s->tokens_ns = now;
	if (s->tokens >= 1.0) {
		s->tokens -= 1.0;
		return true;
	}
	return false;
}

static void session_throttle(struct session *s, bool on)
{
	struct epoll_event ev = { .events = on ? 0 : EPOLLIN, .data.ptr = s };
	epoll_ctl(ep, EPOLL_CTL_MOD, s->sock, &ev);
	s->throttled = on;
}

/* Read and serve one request of the client. Returns false when the session must be closed. */
static bool session_serve_one(struct session *s, uint64_t now)
{
	if (!session_take_token(s, now)) {
		session_throttle(s, true);
		return true;
	}
	union {
		struct irqd_msg_hdr h;
		char b[IRQD_MSG_MAX];
	} buf;
	union {
		char b[CMSG_SPACE(4 * sizeof(int))];
		struct cmsghdr align;
	} cbuf;
	struct iovec iov = { .iov_base = buf.b, .iov_len = sizeof(buf.b) };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf.b,
			     .msg_controllen = sizeof(cbuf.b) };
	ssize_t n = recvmsg(s->sock, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
	if (n < 0) {
		s->tokens += 1.0; /* nothing was read after all */
		return errno == EAGAIN || errno == EINTR;
	}
	if (n == 0)
		return false;
	atomic_fetch_add_explicit(&s->n.requests, 1, memory_order_relaxed);
	int fd[2] = { -1, -1 }, nfd = 0, extra = 0;
	for (struct cmsghdr *cm = CMSG_FIRSTHDR(&mh); cm; cm = CMSG_NXTHDR(&mh, cm)) {
		if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
			continue;
		int nf = (int)((cm->cmsg_len - CMSG_LEN(0)) / sizeof(int));
		int fds[4];
		memcpy(fds, CMSG_DATA(cm), nf * sizeof(int));
		for (int i = 0; i < nf; i++) {
			if (nfd < 2)
				fd[nfd++] = fds[i];
			else {
				close(fds[i]);
				extra++;
			}
		}
	}
	if ((mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) || extra ||
	    (size_t)n < sizeof(struct irqd_msg_hdr)) {
		for (int i = 0; i < nfd; i++)
			close(fd[i]);
		s->bad_messages++;
		reply_error(s, (size_t)n >= sizeof(buf.h) ? buf.h.req_id : 0, EBADMSG,
			    "malformed message (%zd bytes%s%s)", n,
			    (mh.msg_flags & MSG_TRUNC) ? ", too long" : "",
			    extra ? ", too many descriptors" : "");
	} else {
		dispatch(s, buf.b, (size_t)n, fd);
	}
	if (s->bad_messages > BAD_MESSAGES_MAX) {
		reply_error(s, 0, EPROTO, "too many malformed requests: disconnected");
		return false;
	}
	return true;
}

/* Fullest token bucket first: a client within its rate is served before one at its limit. */
static int by_tokens_desc(const void *x, const void *y)
{
	const struct epoll_event *a = x, *b = y;
	const struct session *sa = a->data.ptr, *sb = b->data.ptr;
	double ta = sa ? sa->tokens : 1e30, tb = sb ? sb->tokens : 1e30; /* the listener first */
	return (ta < tb) - (ta > tb);
}

/*
 * The control loop. Fairness between clients: the epoll set is level-triggered and each round
 * serves at most one request of each ready client, fullest bucket first, so a flooding client
 * delays another one's request by one request at most.
 */
int server_run(struct server *srv)
{
	S = srv;
	ep = epoll_create1(EPOLL_CLOEXEC);
	if (ep < 0)
		return -errno;
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = NULL };
	epoll_ctl(ep, EPOLL_CTL_ADD, srv->listen_fd, &ev);
	urcu_memb_register_thread();
	/* The interrupt path first: where this thread and the delivery thread want the same CPU
	 * (a client flooding requests), the delivery thread has most of it (nice +5: a quarter of
	 * the CPU for this one while both run). Lowering one's own priority needs no privilege. */
	errno = 0;
	int nice_now = getpriority(PRIO_PROCESS, (id_t)gettid());
	if (errno == 0)
		setpriority(PRIO_PROCESS, (id_t)gettid(), nice_now + 5);
	/* SIGTERM/SIGINT are blocked except during the wait (main.c): one that came while a
	 * request was served interrupts the next wait, and the loop sees srv->stop. */
	sigset_t waitmask;
	pthread_sigmask(SIG_SETMASK, NULL, &waitmask);
	sigdelset(&waitmask, SIGTERM);
	sigdelset(&waitmask, SIGINT);
	struct session *s, *tmp;
	while (!atomic_load(&srv->stop)) {
		/* a throttled client is looked at again when it would have a token */
		int timeout = -1;
		cds_list_for_each_entry(s, &srv->sessions, node)
			if (s->throttled)
				timeout = 1;
		struct epoll_event evs[32];
		int n = epoll_pwait(ep, evs, 32, timeout, &waitmask);
		if (n < 0 && errno != EINTR)
			break;
		if (n > 1)
			qsort(evs, n, sizeof(evs[0]), by_tokens_desc);
		uint64_t now = now_ns();
		for (int i = 0; i < n; i++) {
			if (!evs[i].data.ptr) {
				session_accept();
				continue;
			}
			s = evs[i].data.ptr;
			bool keep = (evs[i].events & EPOLLIN) ? session_serve_one(s, now)
							      : !(evs[i].events & (EPOLLHUP | EPOLLERR));
			if (!keep)
				session_close(s);
		}
		now = now_ns();
		cds_list_for_each_entry_safe(s, tmp, &srv->sessions, node)
			if (s->throttled && session_take_token(s, now)) {
				s->tokens += 1.0;
				session_throttle(s, false);
			}
	}
	cds_list_for_each_entry_safe(s, tmp, &srv->sessions, node)
		session_close(s);
	urcu_memb_unregister_thread();
	close(ep);
	return 0;
}

/* ---- setting up ----------------------------------------------------------------------------- */

/* A socket path nobody answers on is stale (a crashed irqd): remove it. A live one is an error. */
int server_listen(const char *path, const struct config *cfg)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	if (strlen(path) >= sizeof(sa.sun_path)) {
		fprintf(stderr, "irqd: socket path too long: %s\n", path);
		return -1;
	}
	strcpy(sa.sun_path, path);
	int probe = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (probe >= 0 && connect(probe, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
		fprintf(stderr, "irqd: another irqd is serving %s\n", path);
		close(probe);
		return -1;
	}
	if (probe >= 0)
		close(probe);
	unlink(path);
	if (!strcmp(path, IRQD_DEFAULT_SOCKET))
		mkdir("/run/irqd", 0755);
	int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	mode_t old = umask(0177); /* never world-writable, even for an instant */
	int r = fd < 0 ? -1 : bind(fd, (struct sockaddr *)&sa, sizeof(sa));
	umask(old);
	if (r < 0 || chmod(path, cfg->socket_mode) < 0 ||
	    (cfg->socket_gid != (gid_t)-1 && chown(path, (uid_t)-1, cfg->socket_gid) < 0) ||
	    listen(fd, 128) < 0) {
		fprintf(stderr, "irqd: cannot serve on %s: %s\n", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

/* The status page clients read to know whether to ring: shared read-only. */
static int status_page(struct server *srv)
{
	int fd = memfd_create("irqd-status", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (fd < 0 || ftruncate(fd, sizeof(struct irqd_status)) < 0)
		return -1;
	srv->status = mmap(NULL, sizeof(struct irqd_status), PROT_READ | PROT_WRITE, MAP_SHARED,
			  fd, 0);
	if (srv->status == MAP_FAILED)
		return -1;
	/* A read-only descriptor is not enough: a client can open /proc/self/fd/N read-write
	 * (a memfd is mode 0777) and clear server_waiting for everybody. From here on only our
	 * own mapping can write the page. */
	if (fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_FUTURE_WRITE | F_SEAL_SEAL) < 0)
		return -1;
	srv->status->magic = IRQD_SHM_MAGIC;
	char path[64];
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	int ro = open(path, O_RDONLY | O_CLOEXEC);
	close(fd);
	return ro;
}

int server_init(struct server *srv, const struct config *cfg)
{
	srv->cfg = cfg;
	srv->self_uid = geteuid();
	srv->start_ns = now_ns();
	CDS_INIT_LIST_HEAD(&srv->sessions);
	cds_wfcq_init(&srv->cmd_head, &srv->cmd_tail);
	srv->cmd_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	srv->done_fd = eventfd(0, EFD_CLOEXEC);
	srv->status_fd = status_page(srv);
	return srv->cmd_fd < 0 || srv->done_fd < 0 || srv->status_fd < 0 ? -1 : 0;
}

/* The configured sim lines sim0..simN-1 (the delivery thread runs already). */
/* A device source's line (source_line_fn): deadlines from `line NAME` directives apply. */
static int device_line_add(void *arg, const char *name, enum irqd_trigger trigger, int fd,
			   const struct source_ops *ops, void *src)
{
	const struct config_line *cl = config_line(((struct server *)arg)->cfg, name);
	struct line *l = line_new(name, trigger, cl ? cl->ack_deadline_ms : 0);
	if (!l)
		return -ENOSPC;
	l->fd = fd;
	l->ops = ops;
	l->src = src;
	line_publish(l);
	return 0;
}

int server_add_lines(struct server *srv)
{
	S = srv;
	int r = 0;
	char why[256];
	urcu_memb_register_thread();
	for (uint32_t i = 0; i < srv->cfg->sim_lines && r == 0; i++) {
		char name[IRQD_NAME_MAX];
		snprintf(name, sizeof(name), "sim%u", i);
		if (!server_line_add(srv, name, IRQD_LEVEL)) {
			fprintf(stderr, "irqd: cannot create line %s\n", name);
			r = -1;
		}
	}
	for (unsigned i = 0; i < srv->cfg->n_devices && r == 0; i++) {
		const struct config_device *d = &srv->cfg->devices[i];
		r = d->vfio ? source_vfio_open(d->bdf, d->irq[0] ? d->irq : NULL, device_line_add,
					       srv, why, sizeof(why))
			    : source_uio_open(d->bdf, device_line_add, srv, why, sizeof(why));
		if (r < 0)
			fprintf(stderr, "irqd: device %s: %s\n", d->bdf, why);
	}
	urcu_memb_unregister_thread();
	return r < 0 ? -1 : 0;
}
