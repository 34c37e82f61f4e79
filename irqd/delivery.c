/*
 * delivery.c - the delivery thread: the interrupt path from a source to the clients' mailboxes.
 *
 * One epoll set holds every line's eventfd, every session's doorbell, the command eventfd and a
 * timerfd. An event runs the pure flow (core/) and coalescing (coalesce/) and applies what they
 * decide: mask/unmask at the source, a batch into a client's shared-memory slot, at most one
 * wake-up per sleeping client. Attachments are found through the line's RCU list; nothing here
 * takes a lock.
 */
#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include <urcu/urcu-memb.h>
#include <urcu/rculist.h>

#include "config.h"
#include "irqd.h"
#include "probes.h"
#include "util/sched_slice.h"

enum ep_tag { TAG_LINE = 0, TAG_SESSION = 1, TAG_CMD = 2, TAG_TIMER = 3 };

static struct delivery {
	struct server *srv;
	pthread_t thread;
	int ep, timer_fd;
	uint64_t timer_armed;           /* absolute deadline the timerfd is set to, 0 = none */
	struct timer **heap;
	int heap_n, heap_cap;
	struct cds_list_head sessions;  /* sessions known to delivery */
	struct cds_list_head recheck;   /* unmasked lines to look at again */
	_Atomic int stop;               /* set by delivery_stop, after the control thread is done */
} D;

/* ---- timer heap (min-heap on `when`, each timer knows its index) ------------------------- */

static void heap_swap(int i, int j)
{
	struct timer *t = D.heap[i];
	D.heap[i] = D.heap[j];
	D.heap[j] = t;
	D.heap[i]->idx = i;
	D.heap[j]->idx = j;
}

static void heap_fix(int i)
{
	while (i > 0 && D.heap[(i - 1) / 2]->when > D.heap[i]->when) {
		heap_swap(i, (i - 1) / 2);
		i = (i - 1) / 2;
	}
	for (;;) {
		int l = 2 * i + 1, r = l + 1, m = i;
		if (l < D.heap_n && D.heap[l]->when < D.heap[m]->when)
			m = l;
		if (r < D.heap_n && D.heap[r]->when < D.heap[m]->when)
			m = r;
		if (m == i)
			return;
		heap_swap(i, m);
		i = m;
	}
}

static void timer_cancel(struct timer *t)
{
	if (t->idx < 0)
		return;
	int i = t->idx;
	heap_swap(i, --D.heap_n);
	t->idx = -1;
	if (i < D.heap_n)
		heap_fix(i);
}

static void timer_set(struct timer *t, uint64_t when)
{
	if (when == UINT64_MAX) {
		timer_cancel(t);
		return;
	}
	t->when = when;
	if (t->idx >= 0) {
		heap_fix(t->idx);
		return;
	}
	if (D.heap_n == D.heap_cap) {
		int cap = D.heap_cap ? 2 * D.heap_cap : 64;
		struct timer **h = realloc(D.heap, cap * sizeof(*h));
		if (!h)
			abort(); /* cannot keep a deadline: better to restart than to leave a line masked */
		D.heap = h;
		D.heap_cap = cap;
	}
	t->idx = D.heap_n;
	D.heap[D.heap_n++] = t;
	heap_fix(t->idx);
}

/* Armed lazily: a deadline later than the armed one, or none, leaves the timerfd alone (it
 * fires early, finds nothing due and is armed again then). Per interrupt a level line sets and
 * cancels its ack deadline; this keeps that from costing a system call each time. */
static void timerfd_update(void)
{
	uint64_t want = D.heap_n ? D.heap[0]->when : 0;
	if (!want || (D.timer_armed && D.timer_armed <= want))
		return;
	struct itimerspec its = { 0 };
	if (want) {
		its.it_value.tv_sec = want / 1000000000ull;
		its.it_value.tv_nsec = want % 1000000000ull;
		if (!its.it_value.tv_sec && !its.it_value.tv_nsec)
			its.it_value.tv_nsec = 1;
	}
	timerfd_settime(D.timer_fd, TFD_TIMER_ABSTIME, &its, NULL);
	D.timer_armed = want;
}

/* ---- the source side ----------------------------------------------------------------------- */

static void ep_set(int fd, uint64_t tagged, uint32_t events, int op)
{
	struct epoll_event ev = { .events = events, .data.u64 = tagged };
	if (epoll_ctl(D.ep, op, fd, &ev) < 0)
		fprintf(stderr, "irqd: epoll_ctl(%d) on fd %d: %s\n", op, fd, strerror(errno));
}

static uint64_t tag(void *p, enum ep_tag t)
{
	return (uint64_t)(uintptr_t)p | t;
}

/* Is the line's eventfd to be read by us now? Not while masked, not while a DIRECT client
 * reads it. */
/*
 * A line's eventfd is in the epoll set, edge-triggered, unless a DIRECT client reads it. Masking
 * costs no system call: a masked line's readiness is simply not acted on (line_ready), and the
 * line is looked at again when unmasked (process_rechecks), which reads what accumulated.
 */
static void line_update_fd(struct line *l)
{
	bool want_in_epoll = !l->direct;
	if (want_in_epoll == l->fd_in_epoll)
		return;
	if (want_in_epoll)
		ep_set(l->fd, tag(l, TAG_LINE), EPOLLIN | EPOLLET, EPOLL_CTL_ADD);
	else
		epoll_ctl(D.ep, EPOLL_CTL_DEL, l->fd, NULL);
	l->fd_in_epoll = want_in_epoll;
}

static void apply(struct line *l, unsigned act)
{
	if (act & IRQCORE_ACT_MASK)
		IRQD_PROBE1(mask, l->id);
	if (act & IRQCORE_ACT_UNMASK) {
		IRQD_PROBE1(unmask, l->id);
		if (l->ops->unmask)
			l->ops->unmask(l);
		/* a level line unmasked while its device still asserts must fire again; an edge
		 * line has the events counted while it was masked */
		if (!l->recheck) {
			l->recheck = true;
			cds_list_add_tail(&l->recheck_node, &D.recheck);
		}
	}
	if (act & IRQCORE_ACT_COMPLETE)
		timer_cancel(&l->ack_timer);
	if (act & IRQCORE_ACT_DISABLED)
		fprintf(stderr, "irqd: line %s disabled: more than %u of the last %u occurrences "
			"unhandled (interrupt storm); re-arm with `irqctl enable %s`\n",
			l->name, IRQCORE_STORM_UNHANDLED, IRQCORE_STORM_WINDOW, l->name);
}

/* ---- the client side ------------------------------------------------------------------------- */

/* An unsolicited message: IRQD_MSG_NOTICE, or IRQD_MSG_ERROR (req_id 0) when irqd cuts the
 * client off, so that its library knows not to reconnect. */
static void session_say(struct session *s, uint16_t type, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void session_say(struct session *s, uint16_t type, const char *fmt, ...)
{
	struct irqd_error e = { .hdr = { .type = type, .len = sizeof(e) } };
	e.err = EPROTO;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(e.msg, sizeof(e.msg), fmt, ap);
	va_end(ap);
	/* never block the interrupt path on a client that does not read its socket */
	send(s->sock, &e, sizeof(e), MSG_DONTWAIT | MSG_NOSIGNAL);
}

/* Wake the client the way it sleeps. FUTEX_WAKE never blocks, whatever the client wrote into
 * its page; the eventfd write is non-blocking. */
static void wake(struct session *s, struct line *l)
{
	uint32_t how = atomic_exchange(&s->shm->client_waiting, 0);
	bool woke = false;
	if (how & IRQD_WAITING_FUTEX) {
		atomic_fetch_add(&s->shm->wake_seq, 1);
		woke = syscall(SYS_futex, &s->shm->wake_seq, FUTEX_WAKE, INT_MAX, NULL, NULL, 0) >= 0;
	}
	uint64_t one = 1;
	if (how & IRQD_WAITING_EVENTFD)
		woke |= write(s->wake_fd, &one, sizeof(one)) == sizeof(one);
	if (woke) {
		atomic_fetch_add_explicit(&s->n.wakeups, 1, memory_order_relaxed);
		l->wakeups++;
	}
}

static bool slot_busy(struct irqd_shm_slot *slot)
{
	return atomic_load_explicit(&slot->published, memory_order_acquire) !=
	       atomic_load_explicit(&slot->taken, memory_order_acquire);
}

static void unhold(struct attachment *a, struct irqd_shm_slot *slot)
{
	if (!a->held)
		return;
	a->held = false;
	cds_list_del(&a->held_node);
	atomic_store(&slot->held, 0);
}

/* ---- profiling: into the attachment's and its line's histograms while the line is profiled */

static uint64_t elapsed(uint64_t from, uint64_t to)
{
	return to > from ? to - from : 0;
}

static void prof_record(struct attachment *a, enum irqd_stage stage, uint64_t ns)
{
	struct profile *p = atomic_load_explicit(&a->prof, memory_order_acquire);
	if (p)
		hist_record(&p->stage[stage], ns);
	p = atomic_load_explicit(&a->line->prof, memory_order_acquire);
	if (p)
		hist_record(&p->stage[stage], ns);
}

/* The client library stamps handler entry into the slot before it takes a batch; once the
 * batch is taken the stamp is read, once. A stamp outside [published, now] is not this
 * batch's (or a lie) and is not recorded. */
static void collect_handler_stamp(struct attachment *a, struct irqd_shm_slot *slot)
{
	if (!a->stamp_owed || slot_busy(slot))
		return;
	a->stamp_owed = false;
	uint64_t h = atomic_load_explicit(&slot->handler_ns, memory_order_relaxed);
	if (h >= a->delivered_ns && h <= now_ns())
		prof_record(a, IRQD_STAGE_DELIVER_HANDLER, elapsed(a->delivered_ns, h));
}

/* Hand the pending batch to the client, or hold it if the client has not taken the last one. */
static void flush(struct attachment *a, uint64_t now)
{
	struct session *s = a->session;
	struct irqd_shm_slot *slot = &s->shm->slot[a->slot];
	timer_cancel(&a->co_timer);
	if (slot_busy(slot)) {
		if (!a->held) {
			a->held = true;
			cds_list_add_tail(&a->held_node, &s->held);
			/* held first, then look again: the client takes, then looks at held */
			atomic_store(&slot->held, 1);
			if (slot_busy(slot))
				return;
		} else {
			return;
		}
	}
	unhold(a, slot);
	uint64_t n = coalesce_take(&a->co, now);
	if (n == 0 && !a->pend_occ)
		return;
	collect_handler_stamp(a, slot);
	if (atomic_load_explicit(&a->prof, memory_order_relaxed)) {
		prof_record(a, IRQD_STAGE_RAISE_DELIVER, elapsed(a->pend_first_ns, now));
		a->stamp_owed = true;
	}
	a->delivered_ns = now;
	slot->count = n;
	slot->first_ns = a->pend_first_ns;
	slot->last_ns = a->pend_last_ns;
	slot->delivered_ns = now;
	slot->occurrence = a->pend_occ;
	slot->seq = ++a->seq;
	slot->line = a->line->id;
	a->pend_occ = 0;
	atomic_store_explicit(&slot->published, atomic_load(&slot->published) + 1,
			      memory_order_release);
	atomic_fetch_or(&s->shm->ready[a->slot / 64], 1ull << (a->slot % 64));
	atomic_fetch_add_explicit(&s->n.notifications, 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&s->n.events, n, memory_order_relaxed);
	IRQD_PROBE3(deliver, a->line->id, a->slot, n);
	wake(s, a->line);
}

/* n events (or one level occurrence) for attachment a. */
static void queue_events(struct attachment *a, uint64_t n, uint64_t first, uint64_t last,
			 uint64_t occ, uint64_t now)
{
	if (a->co.pending == 0 && !a->pend_occ)
		a->pend_first_ns = first;
	a->pend_last_ns = last;
	if (!occ) { /* counted before it can be published: see irqd_shm_slot.accepted */
		_Atomic uint64_t *acc = &a->session->shm->slot[a->slot].accepted;
		atomic_store_explicit(acc, atomic_load_explicit(acc, memory_order_relaxed) + n,
				      memory_order_release);
	}
	bool due = coalesce_add(&a->co, n, now);
	if (occ) {
		/* a level occurrence is owed an answer while the line is masked: never delay it */
		a->pend_occ = occ;
		due = true;
	}
	if (due)
		flush(a, now);
	else
		timer_set(&a->co_timer, coalesce_deadline(&a->co));
}

static void fire(struct line *l, uint64_t events, uint64_t now)
{
	uint64_t first, last;
	l->ops->stamp(l, events, now, &first, &last);
	IRQD_PROBE2(raise, l->id, events);
	apply(l, irqcore_fire_begin(&l->core, events, now));
	bool level = l->trigger == IRQD_LEVEL;
	unsigned notified = 0;
	struct attachment *a;
	urcu_memb_read_lock();
	/* the sharer that handled the line last first (its wake-up is the first the scheduler
	 * sees), then the others; answers are taken on this thread, so the order holds */
	for (int owner_pass = 1; owner_pass >= 0; owner_pass--)
		irqd_list_for_each_entry_rcu(a, &l->attachments, node) {
			if (irqcore_likely_owner(&l->core, &a->sharer) != owner_pass ||
			    !irqcore_notify(&l->core, &a->sharer))
				continue;
			notified++;
			queue_events(a, level ? 1 : events, first, last,
				     level ? l->core.occurrence : 0, now);
		}
	urcu_memb_read_unlock();
	apply(l, irqcore_fire_end(&l->core, notified, events, now));
	if (level)
		timer_set(&l->ack_timer, irqcore_deadline(&l->core));
}

/* Read (and so reset) a line's eventfd counter: the events since the last read. */
static uint64_t line_drain(struct line *l)
{
	uint64_t n;
	return read(l->fd, &n, sizeof(n)) == sizeof(n) ? n : 0;
}

/*
 * The line's eventfd was signalled. Masked, nothing happens now: an edge line's events wait in
 * the counter and a level line is looked at again when unmasked. A level line's counter means
 * nothing (the source says whether it asserts), so it is not read before the notification:
 * the fd is edge-triggered and every signal is an edge; it is drained when the line is
 * unmasked, off the interrupt path.
 */
static void line_ready(struct line *l)
{
	if (l->core.masked || l->unclaimed)
		return;
	if (l->trigger == IRQD_LEVEL) {
		if (l->ops->asserted(l))
			fire(l, 1, now_ns());
	} else {
		uint64_t n = line_drain(l);
		if (n)
			fire(l, n, now_ns());
	}
}

static void process_rechecks(void)
{
	while (!cds_list_empty(&D.recheck)) {
		struct line *l = cds_list_first_entry(&D.recheck, struct line, recheck_node);
		cds_list_del(&l->recheck_node);
		l->recheck = false;
		if (l->core.masked || l->direct)
			continue;
		if (l->trigger == IRQD_LEVEL && !l->ops->unmask)
			line_drain(l);      /* the signals of the occurrence just completed */
		line_ready(l);          /* still asserted (level), or counted while masked (edge) */
	}
}

/* A hostile or broken client must not make the interrupt path work for it without end: its
 * first bad answers are explained, and past BAD_ANSWERS_MAX it is disconnected (the control
 * thread sees the socket shut down and detaches it; its pending answers count as given). */
#define BAD_ANSWER_NOTICES 16
#define BAD_ANSWERS_MAX 256

static void bad_answer(struct session *s, unsigned slot, uint64_t ans)
{
	uint64_t n = atomic_fetch_add_explicit(&s->n.bad_answers, 1, memory_order_relaxed) + 1;
	if (n <= BAD_ANSWER_NOTICES)
		session_say(s, IRQD_MSG_NOTICE, "answer %llu for occurrence %llu on handle %u rejected: "
			       "not owed, already given or unknown",
			       (unsigned long long)(ans & 3), (unsigned long long)(ans >> 2), slot);
	if (n > BAD_ANSWERS_MAX) {
		session_say(s, IRQD_MSG_ERROR, "more than %u bad answers: disconnected",
			    BAD_ANSWERS_MAX);
		shutdown(s->sock, SHUT_RDWR);
		s->cut_off = true;
	}
}

/* Answers and freed slots a client posted. Returns true if there was anything. */
static bool process_session(struct session *s)
{
	if (!atomic_exchange(&s->shm->doorbell_pending, 0) || s->cut_off)
		return false;
	uint64_t now = now_ns();
	for (unsigned w = 0; w < IRQD_SLOTS / 64; w++) {
		uint64_t bits = atomic_exchange(&s->shm->answered[w], 0);
		while (bits) {
			unsigned i = w * 64 + __builtin_ctzll(bits);
			bits &= bits - 1;
			struct attachment *a = s->dslot[i];
			uint64_t ans = atomic_load(&s->shm->slot[i].answer);
			int act = a ? irqcore_answer(&a->line->core, &a->sharer, ans >> 2,
						     (enum irqcore_answer)(ans & 3), now)
				    : -1;
			if (act < 0) {
				bad_answer(s, i, ans);
				if (s->cut_off)
					return true;
				continue;
			}
			atomic_fetch_add_explicit(&s->n.answers, 1, memory_order_relaxed);
			IRQD_PROBE3(answer, a->line->id, i, ans & 3);
			collect_handler_stamp(a, &s->shm->slot[i]);
			prof_record(a, IRQD_STAGE_DELIVER_ANSWER, elapsed(a->delivered_ns, now));
			apply(a->line, (unsigned)act);
		}
	}
	struct attachment *a, *tmp;
	cds_list_for_each_entry_safe(a, tmp, &s->held, held_node)
		if (!slot_busy(&s->shm->slot[a->slot]))
			flush(a, now);
	return true;
}

static bool process_sessions(void)
{
	bool any = false;
	struct session *s;
	cds_list_for_each_entry(s, &D.sessions, dnode)
		any |= process_session(s);
	return any;
}

static void process_timers(uint64_t now)
{
	while (D.heap_n && D.heap[0]->when <= now) {
		struct timer *t = D.heap[0];
		timer_cancel(t);
		if (t->kind == TIMER_COALESCE) {
			flush(caa_container_of(t, struct attachment, co_timer), now);
			continue;
		}
		struct line *l = caa_container_of(t, struct line, ack_timer);
		struct attachment *a;
		urcu_memb_read_lock();
		irqd_list_for_each_entry_rcu(a, &l->attachments, node)
			if (irqcore_stall(&l->core, &a->sharer))
				session_say(a->session, IRQD_MSG_NOTICE, "handle %u: no answer for occurrence %llu of "
					       "line %s within the ack deadline: marked stalled",
					       a->slot, (unsigned long long)l->core.occurrence, l->name);
		urcu_memb_read_unlock();
		apply(l, irqcore_deadline_end(&l->core, now));
	}
}

/* ---- commands from the control thread -------------------------------------------------------- */

static void slot_bind(struct attachment *a, struct session *s, uint32_t slot)
{
	a->session = s;
	a->slot = slot;
	s->dslot[slot] = a;
	s->shm->slot[slot].line = a->line->id;
	s->shm->slot[slot].attached = 1;
	atomic_store(&s->shm->slot[slot].answer, 0);
	/* a DIRECT attachment that had this slot before was counted into its line at detach */
	atomic_store(&s->shm->slot[slot].direct_events, 0);
	/* what a pass brings along will be published here */
	atomic_store(&s->shm->slot[slot].accepted, a->line->trigger == IRQD_EDGE ? a->co.pending : 0);
}

static void slot_unbind(struct attachment *a)
{
	struct irqd_shm_slot *slot = &a->session->shm->slot[a->slot];
	unhold(a, slot);
	/* A batch the client never took goes with the attachment: claim it back (the client may
	 * race for it with the same compare-and-swap). Left behind, it would be handed to the
	 * next attachment in this slot as its own, or, if the client already dropped its ready
	 * bit, keep the slot full so that the next attachment's batches are held for ever. */
	uint64_t taken = atomic_load(&slot->taken), pub = atomic_load(&slot->published);
	if (pub != taken)
		atomic_compare_exchange_strong(&slot->taken, &taken, pub);
	slot->attached = 0;
	a->session->dslot[a->slot] = NULL;
}

/* PASS: move the attachment to another client's slot. A batch the old client has not taken is
 * claimed back (compare-and-swap on `taken`) and handed to the new holder; an occurrence the old
 * holder took but did not answer is notified again, since its answer is still owed. */
static void do_pass(struct attachment *a, struct session *to, uint32_t to_slot, uint64_t now)
{
	struct irqd_shm_slot *old = &a->session->shm->slot[a->slot];
	uint64_t taken = atomic_load(&old->taken), pub = atomic_load(&old->published);
	if (pub != taken && atomic_compare_exchange_strong(&old->taken, &taken, pub)) {
		/* Back to pending, ahead of anything held behind it. Not queue_events(): its flush
		 * would publish the batch into the old client's slot again (the attachment is still
		 * bound there), overwriting `old` before its occurrence is read. */
		if (!a->co.pending && !a->pend_occ)
			a->pend_last_ns = old->last_ns;
		a->pend_first_ns = old->first_ns;
		if (old->count)
			coalesce_add(&a->co, old->count, now);
		if (old->occurrence)
			a->pend_occ = old->occurrence;
	} else if (a->sharer.awaited && a->line->core.in_service &&
		   a->sharer.notified_occ == a->line->core.occurrence) {
		a->pend_occ = a->sharer.notified_occ;
		/* notified again as it was the first time: one occurrence, count 1 */
		if (!a->co.pending) {
			a->pend_first_ns = old->first_ns;
			a->pend_last_ns = old->last_ns;
			coalesce_add(&a->co, 1, now);
		}
	}
	timer_cancel(&a->co_timer);
	collect_handler_stamp(a, old);
	a->stamp_owed = false;   /* a batch claimed back was never handled */
	slot_unbind(a);
	slot_bind(a, to, to_slot);
	if (a->co.pending || a->pend_occ)
		flush(a, now);
}

static void fill_stats(struct line *l, struct irqd_line_stats *st)
{
	const struct irqcore_counters *n = &l->core.n;
	st->raised = n->raised;
	st->delivered = n->delivered;
	st->handled = n->handled;
	st->not_mine = n->not_mine;
	st->unhandled = n->unhandled;
	st->stalls = n->stalls;
	st->dropped = n->dropped;
	st->disables = n->disables;
	st->masked_now = l->core.masked;
	st->mask_refs = l->core.mask_refs;
	st->wakeups = l->wakeups;
	st->direct_events = l->direct_events;
	if (l->direct)
		st->direct_events += atomic_load(
			&l->direct->session->shm->slot[l->direct->slot].direct_events);
	st->flags = (l->core.masked ? IRQD_LINE_MASKED : 0) |
		    (l->core.disabled ? IRQD_LINE_DISABLED : 0);
}

static void free_line(struct rcu_head *h)
{
	struct line *l = caa_container_of(h, struct line, rcu);
	HANDOFF_ACQUIRE(l);
	l->ops->destroy(l);
	free(atomic_load(&l->prof));
	free(l);
}

static int run_cmd(struct cmd *c)
{
	uint64_t now = now_ns();
	struct attachment *a = c->att;
	struct line *l = c->line ? c->line : (a ? a->line : NULL);
	switch (c->kind) {
	case CMD_LINE_ADD:
		l->ack_timer = (struct timer){ .idx = -1, .kind = TIMER_ACK };
		line_update_fd(l);
		/* an eventfd may have been signalled before irqd got it */
		line_ready(l);
		return 0;
	case CMD_LINE_DEL:
		timer_cancel(&l->ack_timer);
		if (l->recheck)
			cds_list_del(&l->recheck_node);
		if (l->fd_in_epoll)
			epoll_ctl(D.ep, EPOLL_CTL_DEL, l->fd, NULL);
		HANDOFF_RELEASE(l);
		urcu_memb_call_rcu(&l->rcu, free_line);
		return 0;
	case CMD_SESSION_ADD:
		cds_list_add_tail(&c->session->dnode, &D.sessions);
		ep_set(c->session->bell_fd, tag(c->session, TAG_SESSION), EPOLLIN, EPOLL_CTL_ADD);
		return 0;
	case CMD_SESSION_DEL:
		cds_list_del(&c->session->dnode);
		epoll_ctl(D.ep, EPOLL_CTL_DEL, c->session->bell_fd, NULL);
		return 0;
	case CMD_ATTACH: {
		bool claims = l->unclaimed;
		l->unclaimed = false;
		slot_bind(a, a->session, a->slot);
		if (a->flags & IRQD_ATTACH_DIRECT) {
			/* events the server read before are counted already; from now on the client
			 * reads (the first one also what the source counted before it came) */
			if (!claims)
				line_ready(l);
			l->direct = a;
			line_update_fd(l);
		}
		apply(l, irqcore_sharer_added(&l->core));
		if (claims && !l->direct)
			line_ready(l);
		return 0;
	}
	case CMD_DETACH:
		timer_cancel(&a->co_timer);
		if (l->direct == a) {
			l->direct_events += atomic_load(&a->session->shm->slot[a->slot].direct_events);
			l->direct = NULL;
			line_update_fd(l);
		}
		slot_unbind(a);
		apply(l, irqcore_sharer_gone(&l->core, &a->sharer, now));
		return 0;
	case CMD_MASK:
		apply(l, irqcore_mask(&l->core));
		return 0;
	case CMD_UNMASK:
		apply(l, irqcore_unmask(&l->core));
		return 0;
	case CMD_ENABLE:
		apply(l, irqcore_enable(&l->core));
		return 0;
	case CMD_COALESCE:
		coalesce_set_params(&a->co, &c->params, now);
		if (coalesce_due(&a->co, now))
			flush(a, now);
		else
			timer_set(&a->co_timer, coalesce_deadline(&a->co));
		return 0;
	case CMD_PASS:
		do_pass(a, c->session, c->slot, now);
		return 0;
	case CMD_STATS:
		fill_stats(l, c->stats);
		return 0;
	case CMD_PROFILE:
		urcu_memb_read_lock();
		irqd_list_for_each_entry_rcu(a, &l->attachments, node)
			collect_handler_stamp(a, &a->session->shm->slot[a->slot]);
		urcu_memb_read_unlock();
		if (c->stats)
			fill_stats(l, c->stats);
		return 0;
	}
	return -EINVAL;
}

static bool process_commands(void)
{
	bool any = false;
	struct cds_wfcq_node *node;
	while ((node = __cds_wfcq_dequeue_blocking(&D.srv->cmd_head, &D.srv->cmd_tail))) {
		struct cmd *c = caa_container_of(node, struct cmd, qnode);
		HANDOFF_ACQUIRE(c);
		c->result = run_cmd(c);
		atomic_store(&c->done, 1);
		uint64_t one = 1;
		if (write(D.srv->done_fd, &one, sizeof(one)) < 0)
			perror("irqd: done eventfd");
		any = true;
	}
	return any;
}

int delivery_call(struct server *srv, struct cmd *c)
{
	atomic_store(&c->done, 0);
	cds_wfcq_node_init(&c->qnode);
	HANDOFF_RELEASE(c);
	cds_wfcq_enqueue(&srv->cmd_head, &srv->cmd_tail, &c->qnode);
	uint64_t one = 1;
	if (write(srv->cmd_fd, &one, sizeof(one)) < 0)
		return -errno;
	while (!atomic_load(&c->done)) {
		uint64_t v;
		if (read(srv->done_fd, &v, sizeof(v)) < 0 && errno != EINTR)
			return -errno;
	}
	return c->result;
}

/* ---- the loop ---------------------------------------------------------------------------------- */

static void *delivery_main(void *arg)
{
	(void)arg;
	urcu_memb_register_thread();
	uint32_t slice = D.srv->cfg->slice_us;
	int err = D.srv->cfg->rt_priority ? 0 : sched_slice_set(slice);
	if (err)
		fprintf(stderr, "irqd: slice-us %u: %s; the delivery thread keeps the kernel's default "
			"slice\n", slice, err == -EOPNOTSUPP ? "this kernel has no custom slices (Linux "
			"6.12+)" : strerror(-err));
	struct epoll_event evs[64];
	while (!atomic_load(&D.stop)) {
		process_timers(now_ns());
		process_rechecks();
		/* Say we may sleep, then look once more at what clients posted (they post, then look
		 * at server_waiting): an answer is either seen here or rings the doorbell. */
		atomic_store(&D.srv->status->server_waiting, 1);
		bool busy = process_sessions();
		busy |= process_commands();
		busy |= !cds_list_empty(&D.recheck);
		timerfd_update();
		int n = epoll_wait(D.ep, evs, 64, busy ? 0 : -1);
		atomic_store(&D.srv->status->server_waiting, 0);
		for (int i = 0; i < n; i++) {
			uint64_t t = evs[i].data.u64;
			void *p = (void *)(uintptr_t)(t & ~7ull);
			uint64_t v;
			switch ((enum ep_tag)(t & 7)) {
			case TAG_LINE:
				line_ready(p);
				break;
			case TAG_SESSION:
				if (read(((struct session *)p)->bell_fd, &v, sizeof(v)) < 0)
					v = 0;
				process_session(p);
				break;
			case TAG_CMD:
				if (read(D.srv->cmd_fd, &v, sizeof(v)) < 0)
					v = 0;
				/* answers first: a client that answered, then asks (stats, detach),
				 * is served after its answer counted */
				process_sessions();
				process_commands();
				break;
			case TAG_TIMER:
				if (read(D.timer_fd, &v, sizeof(v)) < 0)
					v = 0;
				D.timer_armed = 0;
				break;
			}
		}
	}
	urcu_memb_unregister_thread();
	return NULL;
}

uint64_t delivery_cpu_ns(void)
{
	clockid_t id;
	struct timespec ts;
	if (pthread_getcpuclockid(D.thread, &id) || clock_gettime(id, &ts))
		return 0;
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

int delivery_start(struct server *srv)
{
	D.srv = srv;
	CDS_INIT_LIST_HEAD(&D.sessions);
	CDS_INIT_LIST_HEAD(&D.recheck);
	D.ep = epoll_create1(EPOLL_CLOEXEC);
	D.timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (D.ep < 0 || D.timer_fd < 0)
		return -errno;
	ep_set(srv->cmd_fd, tag(NULL, TAG_CMD), EPOLLIN, EPOLL_CTL_ADD);
	ep_set(D.timer_fd, tag(NULL, TAG_TIMER), EPOLLIN, EPOLL_CTL_ADD);
	int err = pthread_create(&D.thread, NULL, delivery_main, NULL);
	if (err)
		return -err;
	pthread_setname_np(D.thread, "irqd-delivery");
	if (srv->cfg->rt_priority) {
		/* the interrupt path should not wait behind ordinary work, nor pay the fair
		 * scheduler for CPU it spent serving other lines */
		struct sched_param sp = { .sched_priority = (int)srv->cfg->rt_priority };
		err = pthread_setschedparam(D.thread, SCHED_FIFO, &sp);
		if (err)
			fprintf(stderr, "irqd: rt-priority %u: %s; the delivery thread runs "
				"SCHED_OTHER\n", srv->cfg->rt_priority, strerror(err));
	}
	return 0;
}

void delivery_stop(struct server *srv)
{
	atomic_store(&D.stop, 1);
	uint64_t one = 1;
	if (write(srv->cmd_fd, &one, sizeof(one)) < 0)
		perror("irqd: stop");
	pthread_join(D.thread, NULL);
	close(D.ep);
	close(D.timer_fd);
	free(D.heap);
}
