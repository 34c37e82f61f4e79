/*
 * irqd/client.h - the irqd client API: register for interrupt lines and receive batched
 * notifications through shared memory.
 *
 * A typical driver:
 *
 *	struct irqd_client *c;
 *	uint32_t h;
 *	irqd_connect(NULL, &c);                        // $IRQD_SOCKET or IRQD_DEFAULT_SOCKET
 *	irqd_attach(c, "sim3", IRQD_ATTACH_SHARED, NULL, &h);
 *	for (;;) {
 *		struct irqd_event ev[16];
 *		int n = irqd_wait(c, ev, 16, -1);       // one wake-up, every pending batch
 *		for (int i = 0; i < n; i++) {
 *			bool mine = my_device_had_an_interrupt();
 *			if (ev[i].occurrence)           // level line: irqd waits for this answer
 *				irqd_answer(c, ev[i].handle, ev[i].occurrence,
 *					    mine ? IRQD_HANDLED : IRQD_NOT_MINE);
 *		}
 *	}
 *
 * Steady state costs no system call per interrupt unless a side sleeps: notifications and
 * answers are shared-memory writes; a wake-up (one eventfd write) happens only when the waiting
 * side is asleep. Every function returns 0 (or a count) on success and a negative errno value on
 * failure; irqd_last_error() then gives irqd's one-line explanation. All functions are
 * thread-safe; events are handed to whichever thread calls irqd_wait/irqd_poll.
 *
 * If irqd ends (killed, crashed, restarted) the library carries on by itself, unless
 * $IRQD_RECONNECT is "0":
 *  - it notices at once in epoll (irqd_fd() becomes readable: call irqd_poll), within 500 ms
 *    in irqd_wait's futex sleep, or at the next request;
 *  - each attachment gets one notification with seq 0: its count is what irqd had taken from
 *    the source for it and not yet delivered (held by coalescing), 0 for a level line or a
 *    DIRECT attachment. Treat it as an interrupt: look at the device. It is the one spurious
 *    notification a restart may cause; occurrences not yet answered need no answer any more;
 *  - it connects again (retrying after 10 ms, doubling to 1 s; irqd_fd() becomes readable
 *    when an attempt is due), makes again the lines this client made (same eventfd, same
 *    sim device), and re-attaches every attachment under the same handle with the same flags,
 *    coalescing and masks; a line another client made is re-attached once it is back;
 *  - requests in flight are asked again of the new irqd; while irqd is away they fail with
 *    -ENOTCONN or -ECONNREFUSED.
 * Edge counts stay exact: events raised while irqd was away wait in the line's eventfd and are
 * delivered after the restart. Not carried over: attachments passed to or from another client,
 * per-attachment coalescing set by an admin for the line, profiling. A client irqd cut off
 * (it says why, an error with req_id 0) is not reconnected: its calls fail with that reason.
 */
#ifndef IRQD_CLIENT_H
#define IRQD_CLIENT_H

#include <stdint.h>
#include <irqd/proto.h>

#ifdef __cplusplus
extern "C" {
#endif

struct irqd_client;

/* One batch of one attachment. */
struct irqd_event {
	uint32_t handle;        /* the attachment */
	uint32_t line;          /* the line id */
	uint64_t count;         /* events in the batch (edge); 1 for a level occurrence */
	uint64_t first_ns;      /* raise time of the first and last event (CLOCK_MONOTONIC ns) */
	uint64_t last_ns;
	uint64_t delivered_ns;  /* when irqd published the batch */
	uint64_t seq;           /* per-attachment notification sequence number: 1, 2, 3, ... */
	uint64_t occurrence;    /* level line: answer this with irqd_answer(); 0: no answer owed */
};

struct irqd_line_desc {
	uint32_t id;
	enum irqd_trigger trigger;
	uint32_t attachments;
	uint32_t flags;         /* IRQD_LINE_* */
	char name[IRQD_NAME_MAX];
	char source[16];
};

/* Connects to irqd at socket_path (NULL: $IRQD_SOCKET, else IRQD_DEFAULT_SOCKET). */
int irqd_connect(const char *socket_path, struct irqd_client **out);
/* Closes the connection: irqd detaches every attachment (pending answers count as given). */
void irqd_disconnect(struct irqd_client *c);

/* The last error irqd (or the library) gave this client, one line; "" if none. Per thread. */
const char *irqd_last_error(void);

/* Lines: look up by name, or enumerate (Omega0 first/next): irqd_line_next(c, NULL, d) gives
 * the first, irqd_line_next(c, d, d) the one after d. -ENOENT after the last. */
int irqd_line_lookup(struct irqd_client *c, const char *name, struct irqd_line_desc *d);
int irqd_line_next(struct irqd_client *c, const struct irqd_line_desc *prev,
		   struct irqd_line_desc *d);

/* Attach to a line by name (or "#<id>"). flags: IRQD_ATTACH_SHARED or _EXCLUSIVE, optionally
 * | IRQD_ATTACH_DIRECT for an exclusive edge line (the client then reads the source eventfd
 * itself, no server hop; irqd keeps the counters from what the library reports). coalesce may
 * be NULL (off). */
int irqd_attach(struct irqd_client *c, const char *line, uint32_t flags,
		const struct irqd_coalesce_params *coalesce, uint32_t *handle);
int irqd_detach(struct irqd_client *c, uint32_t handle);

/* Wait up to timeout_ms (-1: forever) for batches; returns how many were stored (0 on
 * timeout). irqd_poll never blocks. When irqd_poll returns 0, irqd_fd(c) is armed: it becomes
 * readable (poll/epoll) when a new batch is pending; call irqd_poll again then. */
int irqd_wait(struct irqd_client *c, struct irqd_event *ev, int max, int timeout_ms);
int irqd_poll(struct irqd_client *c, struct irqd_event *ev, int max);
/* What is pending, taken without arming any wake-up and, with no DIRECT attachment, without a
 * system call: for a driver that polls between sleeps (it sleeps with irqd_wait, which arms). */
int irqd_try(struct irqd_client *c, struct irqd_event *ev, int max);
int irqd_fd(struct irqd_client *c);
/* Give the calling thread, the one that waits for interrupts, a scheduler slice of slice_us
 * microseconds (100 to 100000; 0: the kernel's default). Linux 6.12+ (EEVDF) then lets it
 * preempt ordinary work on its CPU as soon as it wakes, instead of after that work's slice, as
 * irqd's delivery thread does (its `slice-us`, 100 by default). No privilege needed. 0,
 * -EINVAL, or -EOPNOTSUPP where the kernel has no custom slices. */
int irqd_thread_slice(uint32_t slice_us);

/* Answer a level occurrence: irqd unmasks the line when every sharer has answered.
 * -EINVAL for an occurrence this attachment was not given, -EALREADY for a second answer. */
int irqd_answer(struct irqd_client *c, uint32_t handle, uint64_t occurrence,
		enum irqd_answer answer);

/* Reference-counted masking: the line stays masked while any client holds a mask. A client
 * unmasks only what it masked (-EPERM otherwise). */
int irqd_mask(struct irqd_client *c, uint32_t handle);
int irqd_unmask(struct irqd_client *c, uint32_t handle);

/* Hand an attachment to another client (Omega0 pass): irqd_pass gives a one-time token; the
 * receiving client presents it to irqd_accept and gets its own handle. Events keep flowing to
 * whoever holds the attachment; none is lost or doubled in the hand-over. */
int irqd_pass(struct irqd_client *c, uint32_t handle, uint64_t *token);
int irqd_accept(struct irqd_client *c, uint64_t token, uint32_t *handle);

/* The line id of one of this client's attachments, or -EBADF. */
int irqd_handle_line(struct irqd_client *c, uint32_t handle);

/* Coalescing of one of this client's attachments. */
int irqd_set_coalesce(struct irqd_client *c, uint32_t handle,
		      const struct irqd_coalesce_params *p);

/* Administration (needs the admin right in irqd's policy). */
int irqd_line_coalesce(struct irqd_client *c, const char *line,
		       const struct irqd_coalesce_params *p);
int irqd_line_enable(struct irqd_client *c, const char *line);
int irqd_line_stats(struct irqd_client *c, const char *line, struct irqd_line_stats *st);
int irqd_client_stats(struct irqd_client *c, uint32_t index, struct irqd_client_stats *st);

/* Make an eventfd (VFIO, vhost-user call, KVM) a line of irqd: an edge line named `name`
 * ("" or NULL: efdN). irqd keeps its own reference to the eventfd. The line lives until
 * irqd_line_delete or until this client disconnects. */
int irqd_line_create_eventfd(struct irqd_client *c, int efd, const char *name,
			     struct irqd_line_desc *d);
/* A level line from an eventfd pair (VFIO INTx, KVM irqfd with resampler): the kernel signals
 * efd and masks the line when it asserts; irqd writes unmask_fd to unmask it once every sharer
 * has answered. */
int irqd_line_create_level_eventfd(struct irqd_client *c, int efd, int unmask_fd,
				   const char *name, struct irqd_line_desc *d);
int irqd_line_delete(struct irqd_client *c, const char *name);

#ifdef __cplusplus
}
#endif
#endif
