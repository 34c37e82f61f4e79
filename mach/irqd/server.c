/*
 * irqd as a GNU Mach server task.
 *
 * The pure logic is the Linux irqd's, compiled unchanged: irqd/core (the line descriptor, the
 * shared-line acknowledgment, the storm rule, latency histograms) and coalesce/ (per-attachment
 * delivery policy; "off" here: one notification per occurrence). This file is the Mach
 * platform around it: the kernel's "irq" device is the controller, MIG (mach/irqd.defs) the
 * protocol, Mach ports the access rights and dead-name notifications the death of clients.
 *
 * Usage (a boot module; mach/run adds the host and device ports):
 *     irqd [kernel=lazy] [line=NAME:pci:VVVV:DDDD | line=NAME:irq:N]... [deadline_ms=MS]
 *          [client=NAME:TASK]...
 *   line=     a kernel line: found through a PCI device's config register 0x3C, or given.
 *   kernel=lazy  a line is registered with the kernel (device_intr_register) at its first
 *             attachment and given up (its port destroyed) when the last one goes; default:
 *             registered at start, for good.
 *   client=   TASK is a task port name given by the boot script (${var} of a task created
 *             with $(var=task-create) and left suspended). The server registers in that task
 *             (mach_ports_register) [0] a send right to the server port and [1] a send right
 *             to the attach port of line NAME ("-": none), then resumes the task. The client
 *             gets them with mach_ports_lookup(mach_task_self()).
 *
 * Controller mapping (the kernel masks a line when it sends a notification and unmasks it at
 * device_intr_ack): ACT_MASK needs nothing (the kernel already masked the line, or it is
 * masked lazily: a notification arriving while irqcore says "masked" is held, not fired);
 * ACT_UNMASK is device_intr_ack of the held notification. So the kernel is acked exactly once
 * per notification, when irqcore completes the occurrence (the last sharer answered, died or
 * stalled) or when a held notification is released by an unmask.
 */
#include <mrt/mrt.h>
#include <mach/mach_port.h>
#include <mach/mach_interface.h>
#include <mach/notify.h>
#include <mach/mig_errors.h>
#include <device/device_types.h>
#include <device/device.h>
#include <device/notify.h>
#include <irqd/irqd_types.h>
#include "irqd_S.h"
#include "irqd_notify.h"

/* The MIG demultiplexer (irqdServer.c; MIG declares no prototype for it). */
boolean_t irqd_server(mach_msg_header_t *in, mach_msg_header_t *out);

#include "core/line.h"
#include "core/hist.h"
#include "coalesce.h"

#define MAX_LINES 4
#define MAX_ATTS 16
#define MAX_CLIENTS 8

struct line {
	char name[IRQD_LINE_NAME_MAX];
	int irq;			/* kernel line */
	struct mrt_irq kirq;		/* registration on the irq device */
	bool registered;		/* kirq holds a live registration */
	mach_port_t attach_port;	/* the attach right's port (receive right here) */
	struct irqcore_line core;
	bool kernel_held;		/* a notification was received and not yet acked */
	bool edge;			/* edge line: each notification is an event, acked at once */
	uint64_t edge_held;		/* edge events held while masked (fired at the unmask) */
	uint64_t kernel_notifications, kernel_acks, early_acks, held_masked, dead_clients;
	uint64_t fired_tsc;		/* when the occurrence in service was fired */
	struct hist service;		/* notification -> kernel ack, ns */
};

struct att {
	bool used;
	struct line *line;
	mach_port_t port;		/* the handle (receive right here) */
	mach_port_t notify;		/* send right to the client's notify port */
	uint32_t cookie;
	uint32_t mask_refs;
	struct irqcore_sharer sh;
	struct coalesce co;
	uint64_t token;			/* irqd_pass token (0: none) */
	uint64_t first_ns, last_ns;	/* first and last event of the pending batch */
	/* The server's own record, independent of irqcore, for the early-ack check. */
	uint64_t own_notified, own_answered;
};

static struct line lines[MAX_LINES];
static unsigned nlines;
static struct att atts[MAX_ATTS];
static mach_port_t server_port, dead_port, port_set;
static uint64_t tsc_hz;
static uint64_t deadline_ns = 5000000000ull; /* 5 s: a live test client answers in microseconds */
static bool kernel_lazy;	/* kernel=lazy: a line is registered only while attached */

static uint64_t now_ns(void)
{
	uint64_t t = mrt_rdtsc();
	return (t / tsc_hz) * 1000000000ull + ((t % tsc_hz) * 1000000000ull) / tsc_hz;
}

static struct line *line_by_name(const char *name)
{
	for (unsigned i = 0; i < nlines; i++)
		if (strcmp(lines[i].name, name) == 0)
			return &lines[i];
	return NULL;
}

static struct att *att_by_port(mach_port_t port)
{
	for (unsigned i = 0; i < MAX_ATTS; i++)
		if (atts[i].used && atts[i].port == port)
			return &atts[i];
	return NULL;
}

static void fire_edge(struct line *l, uint64_t events);

/* Applies irqcore's actions to the kernel line. */
static void apply(struct line *l, unsigned act)
{
	if (act & IRQCORE_ACT_DISABLED)
		printf("irqd: line %s (irq %d) disabled by the storm rule\n", l->name, l->irq);
	if ((act & IRQCORE_ACT_UNMASK) && l->kernel_held) {
		/* Cross-check irqcore: nobody alive and awaited may still owe this occurrence. */
		for (unsigned i = 0; i < MAX_ATTS; i++) {
			struct att *a = &atts[i];
			if (a->used && a->line == l && a->own_notified == l->core.occurrence &&
			    a->own_answered != l->core.occurrence && !a->sh.stalled) {
				l->early_acks++;
				break;
			}
		}
		kern_return_t kr = mrt_irq_ack(&l->kirq);
		if (kr != KERN_SUCCESS)
			printf("irqd: device_intr_ack(irq %d): %d\n", l->irq, kr);
		l->kernel_held = false;
		l->kernel_acks++;
		if (l->edge && l->edge_held && !l->core.masked) {
			uint64_t n = l->edge_held;
			l->edge_held = 0;
			fire_edge(l, n);
		}
		if (l->fired_tsc) {
			uint64_t dt = mrt_rdtsc() - l->fired_tsc;
			hist_record(&l->service, dt * 1000000000ull / tsc_hz);
			l->fired_tsc = 0;
		}
	}
}

static void send_occurrence(struct att *a, uint64_t occ, uint64_t count)
{
	if (count == 0)
		return;
	kern_return_t kr = irqd_occurrence(a->notify, a->cookie, occ, (uint32_t)count, a->first_ns,
					   a->last_ns, now_ns());
	/* A dead client (MACH_SEND_INVALID_DEST) is cleaned up by its dead-name notification. */
	if (kr != KERN_SUCCESS && kr != MACH_SEND_INVALID_DEST)
		printf("irqd: notification to %u: 0x%x\n", (unsigned)a->notify, kr);
}

/* Hands the pending batch of an edge attachment to its holder (coalesce_take). */
static void flush(struct att *a, uint64_t now)
{
	uint64_t n = coalesce_take(&a->co, now);
	send_occurrence(a, 0, n);
}

/* Line l's attachments in the order they are notified: the one that handled the line last
 * first (irqcore_likely_owner: its message is the first received), then the others. */
static unsigned sharers_in_order(const struct line *l, struct att **out)
{
	unsigned n = 0;
	for (int owner_pass = 1; owner_pass >= 0; owner_pass--)
		for (unsigned i = 0; i < MAX_ATTS; i++)
			if (atts[i].used && atts[i].line == l &&
			    irqcore_likely_owner(&l->core, &atts[i].sh) == owner_pass)
				out[n++] = &atts[i];
	return n;
}

/* `events` edge events on line l (the kernel already acked): irqcore's flow, then each
 * attachment's coalescing decides whether its batch goes now or at its deadline. */
static void fire_edge(struct line *l, uint64_t events)
{
	uint64_t now = now_ns();
	unsigned n = 0, act;
	struct att *order[MAX_ATTS];
	unsigned sharers = sharers_in_order(l, order);

	act = irqcore_fire_begin(&l->core, events, now);
	for (unsigned i = 0; i < sharers; i++) {
		struct att *a = order[i];
		if (!irqcore_notify(&l->core, &a->sh))
			continue;
		n++;
		if (a->co.pending == 0)
			a->first_ns = now;
		a->last_ns = now;
		if (coalesce_add(&a->co, events, now))
			flush(a, now);
	}
	act |= irqcore_fire_end(&l->core, n, events, now);
	apply(l, act);
}

/* A kernel notification for line l. */
static void fire(struct line *l)
{
	uint64_t now = now_ns();
	unsigned n = 0, act;

	l->kernel_notifications++;
	l->kernel_held = true;
	if (l->edge) {
		if (l->core.masked) {
			/* Held (kernel line masked) until the unmask, then fired. */
			l->held_masked++;
			l->edge_held++;
			return;
		}
		/* An MSI-like source: the notification is the event; the kernel line is acked
		 * at once (the source deasserted by itself). */
		(void)mrt_irq_ack(&l->kirq);
		l->kernel_held = false;
		l->kernel_acks++;
		fire_edge(l, 1);
		return;
	}
	if (l->core.masked) {
		/* Masked (client mask, storm, orphan): hold it, the kernel keeps the line masked. */
		l->held_masked++;
		return;
	}
	l->fired_tsc = mrt_rdtsc();
	struct att *order[MAX_ATTS];
	unsigned sharers = sharers_in_order(l, order);
	act = irqcore_fire_begin(&l->core, 1, now);
	for (unsigned i = 0; i < sharers; i++) {
		struct att *a = order[i];
		if (!irqcore_notify(&l->core, &a->sh))
			continue;
		n++;
		a->own_notified = l->core.occurrence;
		/* A level occurrence is owed an answer while the line is masked: never delayed
		 * (as the Linux irqd's queue_events); coalescing only counts it. */
		(void)coalesce_add(&a->co, 1, now);
		a->first_ns = a->last_ns = now;
		send_occurrence(a, l->core.occurrence, coalesce_take(&a->co, now));
	}
	act |= irqcore_fire_end(&l->core, n, 1, now);
	apply(l, act);
}

/* Stall sharers that missed the deadline. Returns the ms to the next deadline (0: none). */
static mach_msg_timeout_t deadlines(void)
{
	uint64_t now = now_ns(), next = UINT64_MAX;

	for (unsigned i = 0; i < nlines; i++) {
		struct line *l = &lines[i];
		uint64_t d = irqcore_deadline(&l->core);
		if (d != UINT64_MAX && now >= d) {
			for (unsigned j = 0; j < MAX_ATTS; j++)
				if (atts[j].used && atts[j].line == l &&
				    irqcore_stall(&l->core, &atts[j].sh))
					printf("irqd: line %s: sharer %u stalled\n", l->name,
					       (unsigned)atts[j].port);
			apply(l, irqcore_deadline_end(&l->core, now));
			d = irqcore_deadline(&l->core);
		}
		if (d < next)
			next = d;
	}
	/* Coalescing timers: a batch due by time goes now; the earliest other deadline bounds the
	 * receive timeout. */
	for (unsigned i = 0; i < MAX_ATTS; i++) {
		struct att *a = &atts[i];
		if (!a->used || a->co.pending == 0)
			continue;
		if (coalesce_due(&a->co, now)) {
			flush(a, now);
			now = now_ns();
		}
		uint64_t d = coalesce_deadline(&a->co);
		if (d < next)
			next = d;
	}
	if (next == UINT64_MAX)
		return 0;
	return next <= now ? 1 : (mach_msg_timeout_t)((next - now) / 1000000u + 1);
}

/* The kernel side of a line: register its receive right on the irq device, or give it up
 * (destroying the port: the kernel drops the registration and any ack still owed). */
static kern_return_t line_register(struct line *l)
{
	kern_return_t kr;

	if (l->registered)
		return KERN_SUCCESS;
	kr = mrt_irq_register(&l->kirq, l->irq);
	if (kr != KERN_SUCCESS) {
		printf("irqd: device_intr_register(irq %d): %d\n", l->irq, kr);
		return kr;
	}
	(void)mach_port_move_member(mach_task_self(), l->kirq.port, port_set);
	l->registered = true;
	return KERN_SUCCESS;
}

static void line_release(struct line *l)
{
	if (!l->registered)
		return;
	mrt_irq_release(&l->kirq);
	l->registered = false;
	l->kernel_held = false;
	printf("irqd: line %s: no attachment left, kernel irq %d given up\n", l->name, l->irq);
}

static bool line_attached(const struct line *l)
{
	for (unsigned i = 0; i < MAX_ATTS; i++)
		if (atts[i].used && atts[i].line == l)
			return true;
	return false;
}

static void att_remove(struct att *a, bool died)
{
	struct line *l = a->line;
	unsigned act;
	bool notify_shared = false;

	act = irqcore_sharer_gone(&l->core, &a->sh, now_ns());
	while (a->mask_refs > 0) {
		a->mask_refs--;
		act |= irqcore_unmask(&l->core);
	}
	a->used = false; /* before apply: it no longer owes anything */
	if (died)
		l->dead_clients++;
	apply(l, act);
	(void)mach_port_destroy(mach_task_self(), a->port);
	for (unsigned i = 0; i < MAX_ATTS; i++)
		if (atts[i].used && atts[i].notify == a->notify)
			notify_shared = true;
	if (died) {
		/* The caller drops the dead name once for all its attachments. */
	} else {
		if (!notify_shared) {
			mach_port_t prev = MACH_PORT_NULL;
			(void)mach_port_request_notification(mach_task_self(), a->notify,
							     MACH_NOTIFY_DEAD_NAME, 0,
							     MACH_PORT_NULL,
							     MACH_MSG_TYPE_MAKE_SEND_ONCE, &prev);
			if (MACH_PORT_VALID(prev))
				(void)mach_port_deallocate(mach_task_self(), prev);
		}
		(void)mach_port_deallocate(mach_task_self(), a->notify);
	}
	if (kernel_lazy && !line_attached(l))
		line_release(l);
}

/* IRQD_LINE_* of a line (the Linux protocol's flags). */
static uint32_t line_flags(const struct line *l)
{
	return (l->core.masked ? IRQD_LINE_MASKED : 0u) | (l->core.disabled ? IRQD_LINE_DISABLED : 0u);
}

/* MIG server routines (mach/irqd.defs). */

kern_return_t do_irqd_attach(mach_port_t server, const_irqd_line_name_t line_name,
			     mach_port_t attach_right, mach_port_t notify, uint32_t cookie,
			     uint32_t flags, uint32_t co_usecs, uint32_t co_frames,
			     uint32_t co_adaptive, mach_port_t *handle)
{
	struct coalesce_params cp = { .usecs = co_usecs, .frames = co_frames,
				      .adaptive = co_adaptive != 0 };
	struct line *l = line_by_name(line_name);
	struct att *a = NULL;
	kern_return_t kr;
	bool notify_known = false;

	/* The access check: a space holds at most one name per port, so a send right to the line's
	 * attach port arrives under the very name of our receive right. Any other port, a null
	 * or dead name, or no right at all gives another name: refused. */
	if (server != server_port || l == NULL || !MACH_PORT_VALID(attach_right) ||
	    attach_right != l->attach_port || (flags & ~IRQD_ATTACH_FLAGS_KNOWN) ||
	    !MACH_PORT_VALID(notify)) {
		kr = l == NULL || (flags & ~IRQD_ATTACH_FLAGS_KNOWN) || !MACH_PORT_VALID(notify)
			     ? KERN_INVALID_ARGUMENT
			     : KERN_NO_ACCESS;
		if (server != server_port)
			kr = MIG_BAD_ID;
		goto refuse;
	}
	for (unsigned i = 0; i < MAX_ATTS; i++)
		if (!atts[i].used) {
			a = &atts[i];
			break;
		}
	if (a == NULL) {
		kr = KERN_RESOURCE_SHORTAGE;
		goto refuse;
	}
	if (co_adaptive > 1 || coalesce_check_params(&cp)) {
		kr = KERN_INVALID_VALUE;
		goto refuse;
	}
	if (kernel_lazy && (kr = line_register(l)) != KERN_SUCCESS)
		goto refuse;
	kr = mach_port_allocate(mach_task_self(), MACH_PORT_RIGHT_RECEIVE, &a->port);
	if (kr != KERN_SUCCESS)
		goto refuse;
	(void)mach_port_move_member(mach_task_self(), a->port, port_set);
	for (unsigned i = 0; i < MAX_ATTS; i++)
		if (atts[i].used && atts[i].notify == notify)
			notify_known = true;
	if (!notify_known) {
		mach_port_t prev = MACH_PORT_NULL;
		kr = mach_port_request_notification(mach_task_self(), notify, MACH_NOTIFY_DEAD_NAME,
						    1, dead_port, MACH_MSG_TYPE_MAKE_SEND_ONCE,
						    &prev);
		if (kr != KERN_SUCCESS) {
			(void)mach_port_destroy(mach_task_self(), a->port);
			goto refuse;
		}
		if (MACH_PORT_VALID(prev))
			(void)mach_port_deallocate(mach_task_self(), prev);
	}
	/* The attach right served its purpose: drop the user reference the message added. */
	(void)mach_port_deallocate(mach_task_self(), attach_right);
	a->used = true;
	a->line = l;
	a->notify = notify;
	a->cookie = cookie;
	a->mask_refs = 0;
	a->own_notified = a->own_answered = 0;
	irqcore_sharer_init(&a->sh);
	a->token = 0;
	coalesce_init(&a->co, &cp, now_ns());
	apply(l, irqcore_sharer_added(&l->core));
	*handle = a->port;
	return KERN_SUCCESS;

refuse:
	if (MACH_PORT_VALID(attach_right))
		(void)mach_port_deallocate(mach_task_self(), attach_right);
	if (MACH_PORT_VALID(notify))
		(void)mach_port_deallocate(mach_task_self(), notify);
	return kr;
}

kern_return_t do_irqd_detach(mach_port_t handle)
{
	struct att *a = att_by_port(handle);

	if (a == NULL)
		return MIG_BAD_ID;
	att_remove(a, false);
	return KERN_SUCCESS;
}

kern_return_t do_irqd_answer(mach_port_t handle, uint64_t occurrence, uint32_t answer)
{
	struct att *a = att_by_port(handle);
	int r;

	if (a == NULL)
		return MIG_BAD_ID;
	r = irqcore_answer(&a->line->core, &a->sh, occurrence, (enum irqcore_answer)answer,
			   now_ns());
	if (r < 0)
		return KERN_INVALID_ARGUMENT;
	a->own_answered = occurrence;
	apply(a->line, (unsigned)r);
	return KERN_SUCCESS;
}

kern_return_t do_irqd_mask(mach_port_t handle)
{
	struct att *a = att_by_port(handle);

	if (a == NULL)
		return MIG_BAD_ID;
	a->mask_refs++;
	apply(a->line, irqcore_mask(&a->line->core));
	return KERN_SUCCESS;
}

kern_return_t do_irqd_unmask(mach_port_t handle)
{
	struct att *a = att_by_port(handle);

	if (a == NULL)
		return MIG_BAD_ID;
	if (a->mask_refs == 0)
		return KERN_INVALID_ARGUMENT;
	a->mask_refs--;
	apply(a->line, irqcore_unmask(&a->line->core));
	return KERN_SUCCESS;
}

kern_return_t do_irqd_line_stats(mach_port_t server, const_irqd_line_name_t line_name,
				 uint64_t *raised, uint64_t *delivered, uint64_t *handled,
				 uint64_t *not_mine, uint64_t *unhandled, uint64_t *stalls,
				 uint64_t *kernel_notifications, uint64_t *kernel_acks,
				 uint64_t *early_acks, uint64_t *dead_clients, uint32_t *sharers,
				 uint64_t *disables, uint32_t *flags)
{
	struct line *l = line_by_name(line_name);

	if (server != server_port)
		return MIG_BAD_ID;
	if (l == NULL)
		return KERN_INVALID_ARGUMENT;
	*raised = l->core.n.raised;
	*delivered = l->core.n.delivered;
	*handled = l->core.n.handled;
	*not_mine = l->core.n.not_mine;
	*unhandled = l->core.n.unhandled;
	*stalls = l->core.n.stalls;
	*kernel_notifications = l->kernel_notifications;
	*kernel_acks = l->kernel_acks;
	*early_acks = l->early_acks;
	*dead_clients = l->dead_clients;
	*disables = l->core.n.disables;
	*flags = line_flags(l);
	*sharers = 0;
	for (unsigned i = 0; i < MAX_ATTS; i++)
		if (atts[i].used && atts[i].line == l)
			(*sharers)++;
	if (*raised && (*raised % 100) == 0) {
		struct hist_snapshot s;
		hist_snapshot(&l->service, &s);
		printf("irqd: line %s: notification-to-ack over %llu: median %llu ns, p90 %llu ns, "
		       "min %llu ns, max %llu ns\n",
		       l->name, (unsigned long long)s.count, (unsigned long long)hist_percentile(&s, 50),
		       (unsigned long long)hist_percentile(&s, 90), (unsigned long long)s.min,
		       (unsigned long long)s.max);
	}
	return KERN_SUCCESS;
}

kern_return_t do_irqd_set_coalesce(mach_port_t handle, uint32_t usecs, uint32_t frames,
				   uint32_t adaptive)
{
	struct att *a = att_by_port(handle);
	struct coalesce_params cp = { .usecs = usecs, .frames = frames, .adaptive = adaptive != 0 };
	uint64_t now = now_ns();

	if (a == NULL)
		return MIG_BAD_ID;
	if (adaptive > 1 || coalesce_check_params(&cp))
		return KERN_INVALID_VALUE;
	coalesce_set_params(&a->co, &cp, now);
	if (coalesce_due(&a->co, now))
		flush(a, now);
	/* else: the next receive timeout is computed from coalesce_deadline (deadlines()) */
	return KERN_SUCCESS;
}

kern_return_t do_irqd_line_info(mach_port_t server, uint32_t index, irqd_line_name_t name,
				uint32_t *trigger, uint32_t *attachments, uint32_t *flags)
{
	if (server != server_port)
		return MIG_BAD_ID;
	if (index >= nlines)
		return KERN_INVALID_ARGUMENT;
	struct line *l = &lines[index];
	memset(name, 0, IRQD_LINE_NAME_MAX);
	strcpy(name, l->name);
	*trigger = l->edge ? IRQD_EDGE : IRQD_LEVEL;
	*flags = line_flags(l);
	*attachments = 0;
	for (unsigned i = 0; i < MAX_ATTS; i++)
		if (atts[i].used && atts[i].line == l)
			(*attachments)++;
	return KERN_SUCCESS;
}

/* The administrator's re-enable after a storm: irqcore_enable, then its action (the unmask acks
 * the kernel notification held since the disable). Needs the line's attach right, checked as in
 * do_irqd_attach. */
kern_return_t do_irqd_line_enable(mach_port_t server, const_irqd_line_name_t line_name,
				  mach_port_t attach_right)
{
	struct line *l = line_by_name(line_name);
	kern_return_t kr = KERN_SUCCESS;

	if (server != server_port)
		kr = MIG_BAD_ID;
	else if (l == NULL)
		kr = KERN_INVALID_ARGUMENT;
	else if (!MACH_PORT_VALID(attach_right) || attach_right != l->attach_port)
		kr = KERN_NO_ACCESS;
	if (MACH_PORT_VALID(attach_right))
		(void)mach_port_deallocate(mach_task_self(), attach_right);
	if (kr != KERN_SUCCESS)
		return kr;
	bool was = l->core.disabled;
	unsigned act = irqcore_enable(&l->core);
	printf("irqd: line %s: enabled%s%s\n", l->name, was ? " (was disabled by the storm rule)" : "",
	       (act & IRQCORE_ACT_UNMASK) && l->kernel_held ? ", held kernel notification acked" : "");
	apply(l, act);
	return KERN_SUCCESS;
}

static uint64_t token_seq;

kern_return_t do_irqd_pass(mach_port_t handle, uint64_t *token)
{
	struct att *a = att_by_port(handle);

	if (a == NULL)
		return MIG_BAD_ID;
	/* Not guessable in practice: the TSC, a sequence number and the slot, mixed. */
	uint64_t t = mrt_rdtsc() ^ (++token_seq << 40) ^ ((uint64_t)(a - atts) << 56);
	t ^= t >> 29;
	t *= 0xbf58476d1ce4e5b9ull;
	t ^= t >> 32;
	a->token = t ? t : 1;
	*token = a->token;
	return KERN_SUCCESS;
}

kern_return_t do_irqd_accept(mach_port_t server, uint64_t token, mach_port_t notify,
			     uint32_t cookie, mach_port_t *handle)
{
	struct att *a = NULL;
	mach_port_t self = mach_task_self(), port, old_notify;
	bool old_shared = false, new_known = false;
	kern_return_t kr;

	if (server != server_port)
		kr = MIG_BAD_ID;
	else if (!MACH_PORT_VALID(notify))
		kr = KERN_INVALID_ARGUMENT;
	else {
		for (unsigned i = 0; i < MAX_ATTS; i++)
			if (token && atts[i].used && atts[i].token == token)
				a = &atts[i];
		kr = a ? KERN_SUCCESS : KERN_INVALID_ARGUMENT;
	}
	if (kr == KERN_SUCCESS)
		kr = mach_port_allocate(self, MACH_PORT_RIGHT_RECEIVE, &port);
	if (kr == KERN_SUCCESS) {
		for (unsigned i = 0; i < MAX_ATTS; i++)
			if (atts[i].used && atts[i].notify == notify)
				new_known = true;
		if (!new_known) {
			mach_port_t prev = MACH_PORT_NULL;
			kr = mach_port_request_notification(self, notify, MACH_NOTIFY_DEAD_NAME, 1,
							    dead_port, MACH_MSG_TYPE_MAKE_SEND_ONCE,
							    &prev);
			if (kr != KERN_SUCCESS)
				(void)mach_port_destroy(self, port);
			else if (MACH_PORT_VALID(prev))
				(void)mach_port_deallocate(self, prev);
		}
	}
	if (kr != KERN_SUCCESS) {
		if (MACH_PORT_VALID(notify))
			(void)mach_port_deallocate(self, notify);
		return kr;
	}
	/* The old holder loses the attachment: its handle port goes, its notify right too. */
	old_notify = a->notify;
	(void)mach_port_destroy(self, a->port);
	a->port = port;
	(void)mach_port_move_member(self, port, port_set);
	a->notify = notify;
	a->cookie = cookie;
	a->token = 0;
	for (unsigned i = 0; i < MAX_ATTS; i++)
		if (atts[i].used && atts[i].notify == old_notify)
			old_shared = true;
	if (old_notify != notify) {
		if (!old_shared) {
			mach_port_t prev = MACH_PORT_NULL;
			(void)mach_port_request_notification(self, old_notify, MACH_NOTIFY_DEAD_NAME,
							     0, MACH_PORT_NULL,
							     MACH_MSG_TYPE_MAKE_SEND_ONCE, &prev);
			if (MACH_PORT_VALID(prev))
				(void)mach_port_deallocate(self, prev);
		}
		(void)mach_port_deallocate(self, old_notify);
	} else {
		(void)mach_port_deallocate(self, old_notify); /* one reference per attachment */
	}
	*handle = port;
	/* An occurrence owed by the old holder: notified again, to the holder now (Linux do_pass). */
	if (a->sh.awaited && a->line->core.in_service && a->sh.notified_occ == a->line->core.occurrence)
		send_occurrence(a, a->sh.notified_occ, 1);
	/* A pending coalesced batch now flows to the new holder (at its deadline, or now). */
	if (a->co.pending && coalesce_due(&a->co, now_ns()))
		flush(a, now_ns());
	printf("irqd: line %s: attachment passed, new handle %u\n", a->line->name, (unsigned)port);
	return KERN_SUCCESS;
}

/* A client's notify port died: all its attachments go, their answers count as given. */
static void client_died(mach_port_t name)
{
	unsigned n = 0;

	for (unsigned i = 0; i < MAX_ATTS; i++)
		if (atts[i].used && atts[i].notify == name) {
			printf("irqd: line %s: client of handle %u died\n", atts[i].line->name,
			       (unsigned)atts[i].port);
			att_remove(&atts[i], true);
			n++;
		}
	/* The dead name: one reference per attachment plus the notification's. */
	(void)mach_port_mod_refs(mach_task_self(), name, MACH_PORT_RIGHT_DEAD_NAME,
				 -(mach_port_delta_t)(n + 1));
}

/* Command line. */

static unsigned long hexval(const char *s, const char **end)
{
	unsigned long v = 0;
	for (; *s; s++) {
		int d = *s >= '0' && *s <= '9' ? *s - '0'
			: *s >= 'a' && *s <= 'f' ? *s - 'a' + 10
			: *s >= 'A' && *s <= 'F' ? *s - 'A' + 10 : -1;
		if (d < 0)
			break;
		v = v * 16 + (unsigned long)d;
	}
	*end = s;
	return v;
}

static int add_line(const char *spec)
{
	const char *c = strchr(spec, ':'), *e;
	struct line *l;
	int irq = -1;

	if (c == NULL || nlines == MAX_LINES || (size_t)(c - spec) >= IRQD_LINE_NAME_MAX)
		return -1;
	l = &lines[nlines];
	memcpy(l->name, spec, (size_t)(c - spec));
	l->name[c - spec] = '\0';
	if (strncmp(c + 1, "irq:", 4) == 0) {
		irq = (int)strtoul(c + 5, NULL, 0);
	} else if (strncmp(c + 1, "pci:", 4) == 0) {
		uint16_t bdf, ven = (uint16_t)hexval(c + 5, &e), dev;
		if (*e != ':')
			return -1;
		dev = (uint16_t)hexval(e + 1, &e);
		if (mrt_pci_init() != KERN_SUCCESS || mrt_pci_find(ven, dev, 0, &bdf) != 0) {
			printf("irqd: no PCI device %04x:%04x\n", ven, dev);
			return -1;
		}
		irq = mrt_pci_read8(bdf, MRT_PCI_INTERRUPT_LINE);
		if (mrt_pci_read8(bdf, MRT_PCI_INTERRUPT_PIN) == 0)
			irq = -1;
	}
	if (irq <= 0 || irq >= 16)
		return -1;
	{
		const char *sfx = strrchr(spec, ':');
		l->edge = sfx && strcmp(sfx, ":edge") == 0;
	}
	l->irq = irq;
	if (!kernel_lazy && line_register(l) != KERN_SUCCESS)
		return -1;
	if (mach_port_allocate(mach_task_self(), MACH_PORT_RIGHT_RECEIVE, &l->attach_port) ||
	    mach_port_insert_right(mach_task_self(), l->attach_port, l->attach_port,
				   MACH_MSG_TYPE_MAKE_SEND))
		return -1;
	irqcore_line_init(&l->core, l->edge ? IRQCORE_EDGE : IRQCORE_LEVEL, deadline_ns);
	hist_init(&l->service);
	nlines++;
	printf("irqd: line %s = kernel irq %d (%s%s)\n", l->name, irq,
	       l->edge ? "edge: each notification an event, acked at once"
		       : "level, shared acknowledgment",
	       kernel_lazy ? "; registered while attached" : "");
	return 0;
}

static int add_client(const char *spec)
{
	const char *c = strrchr(spec, ':');
	char name[IRQD_LINE_NAME_MAX];
	mach_port_t ports[2], task;
	struct line *l = NULL;
	kern_return_t kr;

	if (c == NULL || (size_t)(c - spec) >= sizeof(name))
		return -1;
	memcpy(name, spec, (size_t)(c - spec));
	name[c - spec] = '\0';
	task = (mach_port_t)strtoul(c + 1, NULL, 10);
	if (strcmp(name, "-") != 0 && (l = line_by_name(name)) == NULL)
		return -1;
	ports[0] = server_port;
	ports[1] = l ? l->attach_port : MACH_PORT_NULL;
	kr = mach_ports_register(task, ports, 2);
	if (kr != KERN_SUCCESS) {
		printf("irqd: mach_ports_register(task %u): %d\n", (unsigned)task, kr);
		return -1;
	}
	kr = task_resume(task);
	if (kr != KERN_SUCCESS) {
		printf("irqd: task_resume(%u): %d\n", (unsigned)task, kr);
		return -1;
	}
	printf("irqd: client task %u: server port%s%s\n", (unsigned)task,
	       l ? " + attach right of " : " only", l ? l->name : "");
	(void)mach_port_deallocate(mach_task_self(), task);
	return 0;
}

int main(int argc, char **argv)
{
	union {
		mach_msg_header_t head;
		device_intr_notification_t intr;
		mach_dead_name_notification_t dead;
		char space[1024];
	} in;
	union {
		mig_reply_header_t head;
		char space[1024];
	} out;
	mach_port_t self = mach_task_self();

	tsc_hz = mrt_tsc_hz(50);
	if (tsc_hz == 0)
		tsc_hz = 1000000000ull;
	if (mach_port_allocate(self, MACH_PORT_RIGHT_PORT_SET, &port_set) ||
	    mach_port_allocate(self, MACH_PORT_RIGHT_RECEIVE, &server_port) ||
	    mach_port_insert_right(self, server_port, server_port, MACH_MSG_TYPE_MAKE_SEND) ||
	    mach_port_allocate(self, MACH_PORT_RIGHT_RECEIVE, &dead_port)) {
		printf("irqd: cannot make its ports\n");
		return 1;
	}
	(void)mach_port_move_member(self, server_port, port_set);
	(void)mach_port_move_member(self, dead_port, port_set);

	for (int i = MRT_FIRST_ARG; i < argc; i++)
		if (strcmp(argv[i], "kernel=lazy") == 0)
			kernel_lazy = true;
	for (int pass = 0; pass < 2; pass++)
		for (int i = MRT_FIRST_ARG; i < argc; i++) {
			const char *a = argv[i];
			int bad = 0;
			if (pass == 0 && strncmp(a, "deadline_ms=", 12) == 0)
				deadline_ns = strtoul(a + 12, NULL, 0) * 1000000ull;
			else if (pass == 0 && strncmp(a, "line=", 5) == 0)
				bad = add_line(a + 5);
			else if (pass == 1 && strncmp(a, "client=", 7) == 0)
				bad = add_client(a + 7);
			else if (strncmp(a, "deadline_ms=", 12) && strncmp(a, "line=", 5) &&
				 strncmp(a, "client=", 7) && strcmp(a, "kernel=lazy"))
				bad = -1;
			if (bad) {
				printf("irqd: bad argument %s\n", a);
				printf("MACHTEST irqd FAIL bad argument %s\n", a);
				mrt_exit_qemu(MRT_QEMU_FAIL);
			}
		}
	printf("irqd: serving %u line(s), TSC %llu kHz, ack deadline %llu ms\n", nlines,
	       (unsigned long long)(tsc_hz / 1000), (unsigned long long)(deadline_ns / 1000000));

	for (;;) {
		mach_msg_timeout_t to = deadlines();
		mach_msg_return_t mr = mach_msg(&in.head, MACH_RCV_MSG | (to ? MACH_RCV_TIMEOUT : 0),
						0, sizeof(in), port_set, to, MACH_PORT_NULL);
		if (mr == MACH_RCV_TIMED_OUT)
			continue;
		if (mr != MACH_MSG_SUCCESS) {
			printf("irqd: receive: 0x%x\n", mr);
			continue;
		}
		mach_port_t local = in.head.msgh_local_port;
		if (in.head.msgh_id == DEVICE_INTR_NOTIFY) {
			for (unsigned i = 0; i < nlines; i++)
				if (lines[i].registered && local == lines[i].kirq.port &&
				    in.intr.id == lines[i].irq)
					fire(&lines[i]);
			continue;
		}
		if (local == dead_port) {
			if (in.head.msgh_id == MACH_NOTIFY_DEAD_NAME)
				client_died(in.dead.not_port);
			continue;
		}
		mrt_mig_serve(&in.head, &out.head, irqd_server, "irqd");
	}
}
