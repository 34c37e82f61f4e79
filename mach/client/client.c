/*
 * The irqd client API on GNU Mach: the part of omega0-api/include/irqd/client.h (included
 * unchanged) that a driver's interrupt code uses, over the Mach irqd protocol (mach/irqd.defs,
 * mach/irqd_notify.defs) instead of the Linux socket and shared memory.
 *
 *   irqd_connect      the ports irqd registered in this task (mach_ports_lookup: [0] the server
 *                     port, [1] the attach right of the line irqd's client=LINE:TASK named) and
 *                     a new notify port (receive right) where occurrences arrive. The socket
 *                     path is ignored: no name server yet, irqd hands the ports over.
 *   irqd_attach       rpc_irqd_attach with the attach right; the returned handle is a small
 *                     index into this client's table (the Mach handle port behind it, the cookie
 *                     in the notifications index + 1). Shared attachments only, coalescing off:
 *                     IRQD_ATTACH_EXCLUSIVE/DIRECT or coalescing parameters give -EOPNOTSUPP.
 *   irqd_wait/poll/try  irqd_occurrence messages from the notify port, one struct irqd_event
 *                     each (count 1 and an occurrence to answer: irqd on Mach has level lines
 *                     only); the first waits up to timeout_ms (-1 forever, 0 not at all; a
 *                     dropped message restarts the wait), the rest of the queue is taken
 *                     without waiting, up to max. seq is counted here per attachment;
 *                     first_ns, last_ns and delivered_ns are irqd's (its own TSC clock,
 *                     not this task's). Messages for a detached handle are dropped.
 *   irqd_answer       rpc_irqd_answer: -EALREADY for a second answer to the last occurrence
 *                     (seen here), -EINVAL for an unknown answer or an occurrence irqd did not
 *                     give this attachment, -EBADF for an unknown handle.
 *   irqd_mask/unmask  rpc_irqd_mask/unmask; unmask without a mask of this client: -EPERM.
 *   irqd_detach, irqd_disconnect, irqd_line_stats (irqd's counters; no wakeups/dropped/...),
 *   irqd_handle_line, irqd_last_error.
 * The rest of client.h (line lookup, pass/accept, coalescing, administration, eventfd lines,
 * irqd_fd) returns -EOPNOTSUPP. Single-threaded, as the runtime; no reconnection (irqd is a
 * boot task: if it dies, requests give -ENOTCONN).
 */
#include <irqd/client.h>
#include <irqd/client_mach.h>
#include <mrt/mrt.h>
#include <mach/mach_port.h>
#include <mach/mach_interface.h>
#include <mach/mig_errors.h>
#include <errno.h>
#include <stdbool.h>
#include <stdarg.h>
#include <irqd/irqd_types.h>
#include "irqd.h"
#include "irqd_notify_S.h"

/* The MIG demultiplexer (irqd_notifyServer.c; MIG declares no prototype for it). */
boolean_t irqd_notify_server(mach_msg_header_t *in, mach_msg_header_t *out);

#define CLIENT_ATTS 16
#define CLIENT_LINES 8

struct catt {
	bool used;
	mach_port_t port;	/* the attachment's handle port (send right) */
	uint32_t line;		/* index in names[] */
	uint32_t mask_refs;
	uint64_t seq;		/* notifications received */
	uint64_t answered;	/* the last occurrence answered */
};

struct irqd_client {
	mach_port_t server, attach_right, notify;
	struct catt att[CLIENT_ATTS];
	char names[CLIENT_LINES][IRQD_LINE_NAME_MAX];
	unsigned nnames;
};

static char last_error[IRQD_ERRMSG_MAX];

__attribute__((format(printf, 2, 3))) static int fail(int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(last_error, sizeof(last_error), fmt, ap);
	va_end(ap);
	return -err;
}

static int ok(void)
{
	last_error[0] = '\0';
	return 0;
}

/* A failed RPC: transport errors first, then the server's codes. */
static int rpc_fail(kern_return_t kr, int err, const char *what)
{
	if (kr == MACH_SEND_INVALID_DEST || kr == MACH_RCV_PORT_DIED || kr == MIG_SERVER_DIED)
		return fail(ENOTCONN, "%s: irqd is gone (0x%x)", what, kr);
	if (kr == MIG_BAD_ID || kr == MIG_BAD_ARGUMENTS || kr == MIG_TYPE_ERROR)
		return fail(EPROTO, "%s: protocol error 0x%x", what, kr);
	return fail(err, "%s: refused by irqd (0x%x)", what, kr);
}

static struct catt *att_get(struct irqd_client *c, uint32_t handle)
{
	return c && handle < CLIENT_ATTS && c->att[handle].used ? &c->att[handle] : NULL;
}

const char *irqd_last_error(void)
{
	return last_error;
}

int irqd_connect(const char *socket_path, struct irqd_client **out)
{
	mach_port_t *ports = NULL;
	mach_msg_type_number_t n = 0;
	struct irqd_client *c;
	kern_return_t kr;

	(void)socket_path;
	*out = NULL;
	kr = mach_ports_lookup(mach_task_self(), &ports, &n);
	if (kr != KERN_SUCCESS)
		return fail(ENOTCONN, "mach_ports_lookup: 0x%x", kr);
	if (n < 1 || !MACH_PORT_VALID(ports[0])) {
		(void)syscall_vm_deallocate(mach_task_self(), (vm_address_t)ports,
					    n * sizeof(*ports));
		return fail(ENOTCONN, "no irqd server port registered in this task (irqd's "
				      "client=LINE:TASK hands it over)");
	}
	c = calloc(1, sizeof(*c));
	if (c == NULL)
		return fail(ENOMEM, "no memory");
	c->server = ports[0];
	c->attach_right = n > 1 ? ports[1] : MACH_PORT_NULL;
	for (mach_msg_type_number_t i = 2; i < n; i++)
		if (MACH_PORT_VALID(ports[i]))
			(void)mach_port_deallocate(mach_task_self(), ports[i]);
	(void)syscall_vm_deallocate(mach_task_self(), (vm_address_t)ports, n * sizeof(*ports));
	kr = mach_port_allocate(mach_task_self(), MACH_PORT_RIGHT_RECEIVE, &c->notify);
	if (kr != KERN_SUCCESS) {
		free(c);
		return fail(ENOMEM, "notify port: 0x%x", kr);
	}
	*out = c;
	return ok();
}

void irqd_disconnect(struct irqd_client *c)
{
	mach_port_t self = mach_task_self();

	if (c == NULL)
		return;
	for (uint32_t h = 0; h < CLIENT_ATTS; h++)
		if (c->att[h].used)
			(void)irqd_detach(c, h);
	/* irqd also learns it from the dead name of the notify port. */
	(void)mach_port_destroy(self, c->notify);
	(void)mach_port_deallocate(self, c->server);
	if (MACH_PORT_VALID(c->attach_right))
		(void)mach_port_deallocate(self, c->attach_right);
	free(c);
}

int irqd_attach(struct irqd_client *c, const char *line, uint32_t flags,
		const struct irqd_coalesce_params *coalesce, uint32_t *handle)
{
	struct catt *a = NULL;
	uint32_t h, li;
	mach_port_t port;
	kern_return_t kr;

	if (c == NULL || line == NULL || handle == NULL)
		return fail(EINVAL, "irqd_attach: null argument");
	if (flags != IRQD_ATTACH_SHARED)
		return fail(EOPNOTSUPP, "irqd_attach: only shared attachments on GNU Mach yet "
					"(flags 0x%x)", flags);
	if (coalesce && (coalesce->adaptive > 1 || coalesce->reserved))
		return fail(EINVAL, "irqd_attach: bad coalescing parameters");
	if (line[0] == '#')
		return fail(EOPNOTSUPP, "irqd_attach: lines by name only on GNU Mach (%s)", line);
	if (strlen(line) >= IRQD_LINE_NAME_MAX)
		return fail(EINVAL, "irqd_attach: line name too long");
	for (h = 0; h < CLIENT_ATTS; h++)
		if (!c->att[h].used) {
			a = &c->att[h];
			break;
		}
	for (li = 0; li < c->nnames; li++)
		if (strcmp(c->names[li], line) == 0)
			break;
	if (a == NULL || (li == c->nnames && li == CLIENT_LINES))
		return fail(ENOSPC, "irqd_attach: no free attachment slot");
	kr = rpc_irqd_attach(c->server, line, c->attach_right, c->notify, h + 1, 0,
			     coalesce ? coalesce->usecs : 0, coalesce ? coalesce->frames : 0,
			     coalesce ? coalesce->adaptive : 0, &port);
	if (kr == KERN_INVALID_VALUE)
		return fail(EINVAL, "irqd_attach: coalescing parameters out of range");
	if (kr == KERN_NO_ACCESS)
		return fail(EACCES, "irqd_attach: this task holds no attach right for line %s",
			    line);
	if (kr == KERN_INVALID_ARGUMENT)
		return fail(ENOENT, "irqd_attach: no line %s", line);
	if (kr == KERN_RESOURCE_SHORTAGE)
		return fail(ENOSPC, "irqd_attach: irqd has no room for another attachment");
	if (kr != KERN_SUCCESS)
		return rpc_fail(kr, EIO, "irqd_attach");
	if (li == c->nnames)
		strcpy(c->names[c->nnames++], line);
	memset(a, 0, sizeof(*a));
	a->used = true;
	a->port = port;
	a->line = li;
	*handle = h;
	return ok();
}

int irqd_detach(struct irqd_client *c, uint32_t handle)
{
	struct catt *a = att_get(c, handle);
	kern_return_t kr;

	if (a == NULL)
		return fail(EBADF, "irqd_detach: no handle %u", handle);
	kr = rpc_irqd_detach(a->port);
	/* Gone either way: a handle port irqd no longer serves is useless. */
	(void)mach_port_deallocate(mach_task_self(), a->port);
	a->used = false;
	if (kr != KERN_SUCCESS)
		return rpc_fail(kr, EIO, "irqd_detach");
	return ok();
}

/* The batch being filled by do_irqd_occurrence (called from the MIG demultiplexer). */
static struct irqd_client *fill_c;
static struct irqd_event *fill_ev;
static int fill_n, fill_max;

kern_return_t do_irqd_occurrence(mach_port_t port, uint32_t cookie, uint64_t occurrence,
				 uint32_t count, uint64_t first_ns, uint64_t last_ns,
				 uint64_t delivered_ns)
{
	struct catt *a;
	struct irqd_event *e;

	(void)port;
	if (fill_c == NULL || cookie == 0 || (a = att_get(fill_c, cookie - 1)) == NULL ||
	    fill_n >= fill_max)
		return KERN_SUCCESS; /* a message for a handle detached meanwhile */
	e = &fill_ev[fill_n++];
	memset(e, 0, sizeof(*e));
	e->handle = cookie - 1;
	e->line = a->line;
	e->count = count;
	e->seq = ++a->seq;
	e->occurrence = occurrence;
	e->first_ns = first_ns;
	e->last_ns = last_ns;
	e->delivered_ns = delivered_ns;
	return KERN_SUCCESS;
}

/* Receives one message (timeout_ms < 0: no timeout) and turns it into events. 0, or a
 * negative errno value; -ETIMEDOUT when nothing came. */
static int take_one(struct irqd_client *c, int timeout_ms)
{
	union {
		mach_msg_header_t head;
		char space[256];
	} in, out;
	mach_msg_return_t mr;

	mr = mach_msg(&in.head, MACH_RCV_MSG | (timeout_ms >= 0 ? MACH_RCV_TIMEOUT : 0), 0,
		      sizeof(in), c->notify, timeout_ms >= 0 ? (mach_msg_timeout_t)timeout_ms : 0,
		      MACH_PORT_NULL);
	if (mr == MACH_RCV_TIMED_OUT)
		return -ETIMEDOUT;
	if (mr != MACH_MSG_SUCCESS)
		return fail(EIO, "irqd_wait: receive: 0x%x", mr);
	(void)irqd_notify_server(&in.head, &out.head); /* anything else is dropped */
	return 0;
}

int irqd_wait(struct irqd_client *c, struct irqd_event *ev, int max, int timeout_ms)
{
	int r = 0;

	if (c == NULL || ev == NULL || max <= 0)
		return fail(EINVAL, "irqd_wait: bad arguments");
	fill_c = c;
	fill_ev = ev;
	fill_n = 0;
	fill_max = max;
	/* Wait for the first event. A message that gives none (for a handle detached meanwhile)
	 * starts the wait again with the whole timeout: no clock is read on the fast path. */
	do
		r = take_one(c, timeout_ms);
	while (r == 0 && fill_n == 0 && timeout_ms != 0);
	/* Then take what else is queued, without waiting. */
	while (r == 0 && fill_n > 0 && fill_n < max)
		r = take_one(c, 0);
	fill_c = NULL;
	if (r < 0 && r != -ETIMEDOUT && fill_n == 0)
		return r;
	return fill_n;
}

int irqd_poll(struct irqd_client *c, struct irqd_event *ev, int max)
{
	return irqd_wait(c, ev, max, 0);
}

int irqd_try(struct irqd_client *c, struct irqd_event *ev, int max)
{
	return irqd_wait(c, ev, max, 0);
}

int irqd_answer(struct irqd_client *c, uint32_t handle, uint64_t occurrence,
		enum irqd_answer answer)
{
	struct catt *a = att_get(c, handle);
	kern_return_t kr;

	if (a == NULL)
		return fail(EBADF, "irqd_answer: no handle %u", handle);
	if (answer != IRQD_HANDLED && answer != IRQD_NOT_MINE)
		return fail(EINVAL, "irqd_answer: answer %d is neither HANDLED nor NOT_MINE",
			    (int)answer);
	if (occurrence != 0 && occurrence == a->answered)
		return fail(EALREADY, "irqd_answer: occurrence %llu already answered",
			    (unsigned long long)occurrence);
	kr = rpc_irqd_answer(a->port, occurrence, (uint32_t)answer);
	if (kr == KERN_INVALID_ARGUMENT)
		return fail(EINVAL, "irqd_answer: occurrence %llu was not given to handle %u "
				    "(or was answered)", (unsigned long long)occurrence, handle);
	if (kr != KERN_SUCCESS)
		return rpc_fail(kr, EIO, "irqd_answer");
	a->answered = occurrence;
	return ok();
}

int irqd_mask(struct irqd_client *c, uint32_t handle)
{
	struct catt *a = att_get(c, handle);
	kern_return_t kr;

	if (a == NULL)
		return fail(EBADF, "irqd_mask: no handle %u", handle);
	kr = rpc_irqd_mask(a->port);
	if (kr != KERN_SUCCESS)
		return rpc_fail(kr, EIO, "irqd_mask");
	a->mask_refs++;
	return ok();
}

int irqd_unmask(struct irqd_client *c, uint32_t handle)
{
	struct catt *a = att_get(c, handle);
	kern_return_t kr;

	if (a == NULL)
		return fail(EBADF, "irqd_unmask: no handle %u", handle);
	if (a->mask_refs == 0)
		return fail(EPERM, "irqd_unmask: handle %u holds no mask", handle);
	kr = rpc_irqd_unmask(a->port);
	if (kr == KERN_INVALID_ARGUMENT)
		return fail(EPERM, "irqd_unmask: irqd says handle %u holds no mask", handle);
	if (kr != KERN_SUCCESS)
		return rpc_fail(kr, EIO, "irqd_unmask");
	a->mask_refs--;
	return ok();
}

int irqd_handle_line(struct irqd_client *c, uint32_t handle)
{
	struct catt *a = att_get(c, handle);

	return a ? (int)a->line : fail(EBADF, "irqd_handle_line: no handle %u", handle);
}

int irqd_line_stats(struct irqd_client *c, const char *line, struct irqd_line_stats *st)
{
	uint64_t knotes, kacks, early, dead;
	uint32_t sharers, flags;
	kern_return_t kr;

	if (c == NULL || line == NULL || st == NULL || strlen(line) >= IRQD_LINE_NAME_MAX)
		return fail(EINVAL, "irqd_line_stats: bad arguments");
	memset(st, 0, sizeof(*st));
	kr = rpc_irqd_line_stats(c->server, line, &st->raised, &st->delivered, &st->handled,
				 &st->not_mine, &st->unhandled, &st->stalls, &knotes, &kacks,
				 &early, &dead, &sharers, &st->disables, &flags);
	if (kr == KERN_INVALID_ARGUMENT)
		return fail(ENOENT, "irqd_line_stats: no line %s", line);
	if (kr != KERN_SUCCESS)
		return rpc_fail(kr, EIO, "irqd_line_stats");
	st->trigger = IRQD_LEVEL;
	st->attachments = sharers;
	st->flags = flags;
	st->masked_now = (flags & IRQD_LINE_MASKED) != 0;
	st->id = IRQD_LINE_BY_NAME;
	snprintf(st->name, sizeof(st->name), "%s", line);
	return ok();
}

/* Not on GNU Mach yet. */
#define UNSUPPORTED(what) fail(EOPNOTSUPP, "%s: not available on GNU Mach yet", what)

int irqd_line_lookup(struct irqd_client *c, const char *name, struct irqd_line_desc *d)
{
	(void)c, (void)name, (void)d;
	return UNSUPPORTED("irqd_line_lookup");
}

int irqd_line_next(struct irqd_client *c, const struct irqd_line_desc *prev,
		   struct irqd_line_desc *d)
{
	uint32_t index = prev ? prev->id + 1 : 0, trigger, atts, flags;
	irqd_line_name_t name;
	kern_return_t kr;

	if (c == NULL || d == NULL)
		return fail(EINVAL, "irqd_line_next: null argument");
	kr = rpc_irqd_line_info(c->server, index, name, &trigger, &atts, &flags);
	if (kr == KERN_INVALID_ARGUMENT)
		return fail(ENOENT, "irqd_line_next: no line after %u", index);
	if (kr != KERN_SUCCESS)
		return rpc_fail(kr, EIO, "irqd_line_next");
	memset(d, 0, sizeof(*d));
	d->id = index;
	d->trigger = trigger == IRQD_EDGE ? IRQD_EDGE : IRQD_LEVEL;
	d->attachments = atts;
	d->flags = flags;
	snprintf(d->name, sizeof(d->name), "%s", name);
	snprintf(d->source, sizeof(d->source), "mach-irq");
	return ok();
}

int irqd_fd(struct irqd_client *c)
{
	(void)c;
	return UNSUPPORTED("irqd_fd (no file descriptors: wait with irqd_wait)");
}

int irqd_pass(struct irqd_client *c, uint32_t handle, uint64_t *token)
{
	struct catt *a = att_get(c, handle);
	kern_return_t kr;

	if (a == NULL || token == NULL)
		return fail(EBADF, "irqd_pass: no handle %u", handle);
	kr = rpc_irqd_pass(a->port, token);
	if (kr != KERN_SUCCESS)
		return rpc_fail(kr, EIO, "irqd_pass");
	/* The attachment stays ours until the receiver accepts; then the handle port dies and
	 * requests on it fail (irqd_detach then just forgets it). */
	return ok();
}

int irqd_accept(struct irqd_client *c, uint64_t token, uint32_t *handle)
{
	struct catt *a = NULL;
	uint32_t h;
	mach_port_t port;
	kern_return_t kr;

	if (c == NULL || handle == NULL)
		return fail(EINVAL, "irqd_accept: null argument");
	for (h = 0; h < CLIENT_ATTS; h++)
		if (!c->att[h].used) {
			a = &c->att[h];
			break;
		}
	if (a == NULL)
		return fail(ENOSPC, "irqd_accept: no free attachment slot");
	kr = rpc_irqd_accept(c->server, token, c->notify, h + 1, &port);
	if (kr == KERN_INVALID_ARGUMENT)
		return fail(ENOENT, "irqd_accept: no attachment passed with this token");
	if (kr != KERN_SUCCESS)
		return rpc_fail(kr, EIO, "irqd_accept");
	memset(a, 0, sizeof(*a));
	a->used = true;
	a->port = port;
	a->line = IRQD_LINE_BY_NAME; /* the line's name is not known here */
	*handle = h;
	return ok();
}

int irqd_set_coalesce(struct irqd_client *c, uint32_t handle,
		      const struct irqd_coalesce_params *p)
{
	struct catt *a = att_get(c, handle);
	kern_return_t kr;

	if (a == NULL)
		return fail(EBADF, "irqd_set_coalesce: no handle %u", handle);
	if (p == NULL || p->adaptive > 1 || p->reserved)
		return fail(EINVAL, "irqd_set_coalesce: bad parameters");
	kr = rpc_irqd_set_coalesce(a->port, p->usecs, p->frames, p->adaptive);
	if (kr == KERN_INVALID_VALUE)
		return fail(EINVAL, "irqd_set_coalesce: parameters out of range");
	if (kr != KERN_SUCCESS)
		return rpc_fail(kr, EIO, "irqd_set_coalesce");
	return ok();
}

int irqd_line_coalesce(struct irqd_client *c, const char *line,
		       const struct irqd_coalesce_params *p)
{
	(void)c, (void)line, (void)p;
	return UNSUPPORTED("irqd_line_coalesce");
}

/* The re-enable after a storm. On Mach the "admin right" is the line's attach right: the one
 * irqd registered in this task (slot 1), so a client can enable only its own line. */
int irqd_line_enable(struct irqd_client *c, const char *line)
{
	kern_return_t kr;

	if (c == NULL || line == NULL || strlen(line) >= IRQD_LINE_NAME_MAX)
		return fail(EINVAL, "irqd_line_enable: bad arguments");
	kr = rpc_irqd_line_enable(c->server, line, c->attach_right);
	if (kr == KERN_INVALID_ARGUMENT)
		return fail(ENOENT, "irqd_line_enable: no line %s", line);
	if (kr == KERN_NO_ACCESS)
		return fail(EPERM, "irqd_line_enable: no attach right for line %s", line);
	if (kr != KERN_SUCCESS)
		return rpc_fail(kr, EIO, "irqd_line_enable");
	return ok();
}

int irqd_client_stats(struct irqd_client *c, uint32_t index, struct irqd_client_stats *st)
{
	(void)c, (void)index, (void)st;
	return UNSUPPORTED("irqd_client_stats");
}

int irqd_line_create_eventfd(struct irqd_client *c, int efd, const char *name,
			     struct irqd_line_desc *d)
{
	(void)c, (void)efd, (void)name, (void)d;
	return UNSUPPORTED("irqd_line_create_eventfd");
}

int irqd_line_create_level_eventfd(struct irqd_client *c, int efd, int unmask_fd,
				   const char *name, struct irqd_line_desc *d)
{
	(void)c, (void)efd, (void)unmask_fd, (void)name, (void)d;
	return UNSUPPORTED("irqd_line_create_level_eventfd");
}

int irqd_line_delete(struct irqd_client *c, const char *name)
{
	(void)c, (void)name;
	return UNSUPPORTED("irqd_line_delete");
}

/* <irqd/client_mach.h> */

mach_port_t irqd_mach_server(struct irqd_client *c) { return c->server; }
mach_port_t irqd_mach_attach_right(struct irqd_client *c) { return c->attach_right; }
mach_port_t irqd_mach_notify(struct irqd_client *c) { return c->notify; }

mach_port_t irqd_mach_handle(struct irqd_client *c, uint32_t handle)
{
	struct catt *a = att_get(c, handle);

	return a ? a->port : MACH_PORT_NULL;
}
