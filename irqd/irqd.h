/*
 * irqd.h - the server's shared state: lines, attachments, sessions, and the hand-off between
 * the control thread (sockets, requests, the line table's writer) and the delivery thread (the
 * interrupt path: sources, shared memory, timers).
 *
 * Ownership, so that delivery takes no lock:
 *   - the line table and each line's attachment list are published with RCU; the control thread
 *     is their only writer, the delivery thread reads them inside rcu_read_lock();
 *   - everything that changes per interrupt (core flow state, coalescing, timers, the batch being
 *     built) belongs to the delivery thread alone;
 *   - the control thread asks the delivery thread to act through a wait-free queue of commands
 *     and waits for each to complete (commands are rare: attach, detach, mask, pass, stats).
 */
#ifndef IRQD_IRQD_H
#define IRQD_IRQD_H

#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <urcu/list.h>
#include <urcu/rculist.h>
#include <urcu/wfcqueue.h>
#include <urcu/urcu-memb.h>

#include "coalesce.h"
#include "core/hist.h"
#include "core/line.h"
#include "irqd/proto.h"
#include "source.h"

struct session;

/*
 * liburcu orders its hand-offs (rcu_assign_pointer, wfcqueue, call_rcu) with its own barriers,
 * which ThreadSanitizer cannot see. At each hand-off irqd states the happens-before edge that
 * liburcu provides, so that the TSan build checks everything else.
 */
#if defined(__SANITIZE_THREAD__)
#include <sanitizer/tsan_interface.h>
#define HANDOFF_RELEASE(p) __tsan_release((void *)(p))
#define HANDOFF_ACQUIRE(p) __tsan_acquire((void *)(p))
#else
#define HANDOFF_RELEASE(p) ((void)(p))
#define HANDOFF_ACQUIRE(p) ((void)(p))
#endif

/*
 * A line's attachment list is changed by the control thread while the delivery thread walks it.
 * liburcu 0.13 publishes the `next` pointer the walker follows with a fence and a volatile
 * store, and (without _LGPL_SOURCE) its rcu_dereference() reads it with a plain load: to
 * ThreadSanitizer a data race on `next`, and no release/acquire, so every field of a new
 * attachment "races" with the delivery thread that finds it on the list. These are the same
 * list updates and walk with the `next` pointer stored and loaded as C11 atomics (release
 * store, consume load), which is what RCU publication means; plain loads and stores on x86.
 */
static inline void irqd_list_add_tail_rcu(struct cds_list_head *newp, struct cds_list_head *head)
{
	newp->next = head;
	newp->prev = head->prev;
	__atomic_store_n(&head->prev->next, newp, __ATOMIC_RELEASE);
	head->prev = newp;
}

static inline void irqd_list_del_rcu(struct cds_list_head *elem)
{
	elem->next->prev = elem->prev;
	__atomic_store_n(&elem->prev->next, elem->next, __ATOMIC_RELEASE);
}

#define irqd_list_for_each_entry_rcu(pos, head, member)                                        \
	for (pos = cds_list_entry(__atomic_load_n(&(head)->next, __ATOMIC_CONSUME),             \
				  __typeof__(*(pos)), member);                                   \
	     &(pos)->member != (head);                                                          \
	     pos = cds_list_entry(__atomic_load_n(&(pos)->member.next, __ATOMIC_CONSUME),       \
				  __typeof__(*(pos)), member))

/* A profiled line's or attachment's latency histograms, one per enum irqd_stage. */
struct profile {
	struct hist stage[IRQD_STAGES];
};

/* A deadline in the delivery thread's timer heap. */
enum timer_kind { TIMER_ACK, TIMER_COALESCE };
struct timer {
	uint64_t when;
	int idx;          /* position in the heap, -1 when not scheduled */
	enum timer_kind kind;
};

struct line {
	uint32_t id;
	char name[IRQD_NAME_MAX];
	enum irqd_trigger trigger;

	/* source */
	const struct source_ops *ops;
	int fd;                       /* eventfd the delivery thread reads */
	void *src;                    /* source-private */
	struct session *creator;      /* eventfd lines die with their creator */

	/* control thread */
	struct cds_list_head attachments;  /* RCU list of struct attachment */
	uint32_t n_attached;
	bool exclusive;
	struct attachment *direct;    /* the DIRECT attachment, if any */
	struct coalesce_params default_coalesce;
	uint32_t prof_users;          /* clients profiling it (+1 if `profile on`) */
	uint64_t prof_since_ns;
	_Atomic(struct profile *) prof;  /* published by the control thread while profiled */

	/* delivery thread */
	struct irqcore_line core;
	bool fd_in_epoll;
	struct timer ack_timer;
	uint64_t wakeups, direct_events;
	bool recheck;                 /* unmasked: look whether it is still asserted (level) or
				       * what was counted meanwhile (edge) */
	bool unclaimed;               /* a client's line nobody has attached to yet: its source
				       * is not read (the events wait there for the first one; set
				       * by the control thread before the line is published) */
	struct cds_list_head recheck_node;

	struct rcu_head rcu;
};

struct attachment {
	struct cds_list_head node;    /* in line->attachments (RCU) */
	struct line *line;
	uint32_t flags;               /* IRQD_ATTACH_* */

	/* owner: changed only by the delivery thread while executing a PASS command */
	struct session *session;
	uint32_t slot;

	/* control thread */
	uint32_t mask_refs;           /* masks this attachment holds */
	_Atomic(struct profile *) prof;  /* published by the control thread while profiled */
	struct profile *prof_old;     /* being unpublished */

	/* delivery thread */
	struct irqcore_sharer sharer;
	struct coalesce co;
	uint64_t seq;                 /* batches published */
	uint64_t pend_first_ns, pend_last_ns, pend_occ;
	bool held;                    /* due, but the slot was still full */
	struct cds_list_head held_node;
	struct timer co_timer;
	uint64_t delivered_ns;        /* the last batch published */
	bool stamp_owed;              /* profiling: its handler stamp is still to be read */

	struct rcu_head rcu;
};

/* Per-client counters: written by either thread with relaxed atomics, read by stats. */
struct session_counters {
	_Atomic uint64_t notifications, events, wakeups, answers, bad_answers, requests, errors;
};

struct session {
	int sock;
	pid_t pid;
	uid_t uid;
	gid_t gid;
	gid_t gids[33];               /* supplementary groups (SO_PEERGROUPS) and the primary one */
	int ngids;
	bool hello;                   /* HELLO done: the session may make requests */
	uint32_t bad_messages;        /* malformed requests; too many and it is disconnected */
	uint32_t index;               /* for client stats enumeration */
	_Atomic int refs;             /* the control thread's, plus one per attachment */

	struct irqd_shm *shm;
	int shm_fd, wake_fd, bell_fd;

	/* control thread */
	struct attachment *handles[IRQD_SLOTS];
	uint32_t n_attached;
	double tokens;                /* request rate limiter */
	uint64_t tokens_ns;
	bool throttled;
	struct cds_list_head node;    /* server's session list */
	uint64_t profiling[IRQD_LINES_MAX / 64];  /* lines this client started profiling */

	/* delivery thread */
	struct attachment *dslot[IRQD_SLOTS];
	struct cds_list_head held;    /* attachments with a held batch */
	struct cds_list_head dnode;   /* delivery's session list */
	bool cut_off;                 /* too many bad answers: its shared memory is ignored */

	struct session_counters n;
};

/* Commands from the control thread to the delivery thread. */
enum cmd_kind {
	CMD_LINE_ADD, CMD_LINE_DEL, CMD_SESSION_ADD, CMD_SESSION_DEL,
	CMD_ATTACH, CMD_DETACH, CMD_MASK, CMD_UNMASK, CMD_ENABLE, CMD_COALESCE, CMD_PASS,
	CMD_STATS,
	CMD_PROFILE,    /* read the handler stamps owed (and fill stats, if given) */
};

struct cmd {
	struct cds_wfcq_node qnode;
	enum cmd_kind kind;
	struct line *line;
	struct attachment *att;
	struct session *session;      /* SESSION_*, PASS: the receiving session */
	uint32_t slot;                /* PASS: the receiving slot */
	struct coalesce_params params;
	struct irqd_line_stats *stats;
	int result;
	_Atomic int done;
};

struct config;

struct server {
	const struct config *cfg;
	int listen_fd;
	uid_t self_uid;

	/* line table: RCU-published pointers; written by the control thread */
	struct line *lines[IRQD_LINES_MAX];
	uint32_t n_lines;

	struct cds_list_head sessions;   /* control thread */
	uint32_t n_sessions, next_session_index;

	/* pass tokens (control thread) */
	struct pass_token {
		uint64_t token;
		struct attachment *att;
	} tokens[64];

	/* delivery thread hand-off */
	struct cds_wfcq_head cmd_head;
	struct cds_wfcq_tail cmd_tail;
	int cmd_fd;                      /* eventfd: commands queued */
	int done_fd;                     /* eventfd: a command completed */
	int status_fd;
	struct irqd_status *status;
	uint64_t start_ns;
	_Atomic int stop;
};

uint64_t now_ns(void);

/* delivery.c */
int delivery_start(struct server *srv);
void delivery_stop(struct server *srv);
int delivery_call(struct server *srv, struct cmd *c);  /* queue, wait, return c->result */
uint64_t delivery_cpu_ns(void);

/* profile.c (control thread) */
struct profile *profile_new(void);
int profile_start(struct server *srv, struct line *l);
void profile_stop(struct server *srv, struct line *l);
int profile_dump(struct server *srv, struct line *l, const struct irqd_line_stats *st);

/* session.c */
struct session *session_new(struct server *srv, int sock);
void session_unref(struct session *s);
int session_send_fds(struct session *s, const void *msg, size_t len, const int *fds, int nfds);

/* server.c */
int server_init(struct server *srv, const struct config *cfg);  /* fields, eventfds, status page */
int server_listen(const char *path, const struct config *cfg);  /* the control socket, or -1 */
/* The sim lines and the devices' lines of the configuration; -1 after saying why. */
int server_add_lines(struct server *srv);
int server_run(struct server *srv);
struct line *server_line_add(struct server *srv, const char *name, enum irqd_trigger trigger);
void server_cpu(struct server *srv, uint64_t *control_ns, uint64_t *delivery_ns);

#endif
