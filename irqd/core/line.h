/*
 * core/line.h - the interrupt line descriptor and its flow policy, pure.
 *
 * The split follows Linux kernel/irq: the descriptor (struct irqcore_line) holds state and
 * counters; the controller (mask/unmask at the source) is platform code that applies the
 * actions these functions return; the flow policy (edge, level, shared acknowledgment, storm
 * rule) is here. Nothing in core/ does I/O, reads a clock or allocates: events and time are
 * inputs, actions are outputs, so every platform (epoll on Linux, the Mach receive loop) and the
 * unit tests drive the same code.
 *
 * Level lines (the shared-line protocol, after Omega0's auto-consume and Linux's
 * IRQ_HANDLED/IRQ_NONE rule): when the line fires it is masked at the source and becomes "in
 * service" with a new occurrence number; every sharer attached at that moment is notified once
 * and owes one answer, HANDLED or NOT_MINE. When the last awaited sharer has answered (or died, or
 * missed the ack deadline and was marked stalled), the occurrence completes and the line is
 * unmasked exactly once, unless a client holds a mask or the storm rule disabled it.
 *
 * Edge and MSI-style lines need no mask: each source event is counted and delivered to every
 * sharer; answers are optional and only feed the handled/unhandled counters.
 */
#ifndef IRQCORE_LINE_H
#define IRQCORE_LINE_H

#include <stdbool.h>
#include <stdint.h>

enum irqcore_trigger { IRQCORE_EDGE = 0, IRQCORE_LEVEL = 1 };

enum irqcore_answer { IRQCORE_ANSWER_NONE = 0, IRQCORE_HANDLED = 1, IRQCORE_NOT_MINE = 2 };

/* Storm rule, as Linux note_interrupt(): of every IRQCORE_STORM_WINDOW completed occurrences, if
 * more than IRQCORE_STORM_UNHANDLED were unhandled the line is disabled. An unhandled occurrence
 * more than IRQCORE_STORM_QUIET_NS after the previous one restarts the unhandled count (a rare
 * stray interrupt is not a storm). */
#define IRQCORE_STORM_WINDOW 100000u
#define IRQCORE_STORM_UNHANDLED 99900u
#define IRQCORE_STORM_QUIET_NS 100000000ull /* 100 ms, Linux's HZ/10 */

/* Actions returned to the platform, to apply to the source (the controller). */
enum {
	IRQCORE_ACT_MASK = 1u << 0,     /* mask the line at the source */
	IRQCORE_ACT_UNMASK = 1u << 1,   /* unmask it (a level line may fire again at once) */
	IRQCORE_ACT_DISABLED = 1u << 2, /* the storm rule just disabled the line: report it */
	IRQCORE_ACT_COMPLETE = 1u << 3, /* the occurrence in service completed */
};

struct irqcore_counters {
	uint64_t raised;      /* source events (edge) or occurrences (level) seen */
	uint64_t delivered;   /* notifications handed to sharers (one per sharer per occurrence/event) */
	uint64_t handled;     /* answers HANDLED */
	uint64_t unhandled;   /* completed occurrences no sharer handled */
	uint64_t not_mine;    /* answers NOT_MINE */
	uint64_t stalls;      /* sharers that missed the ack deadline */
	uint64_t dropped;     /* edge events raised while nobody was attached */
	uint64_t disables;    /* times the storm rule disabled the line */
};

struct irqcore_line {
	enum irqcore_trigger trigger;
	uint64_t ack_deadline_ns;   /* how long a level occurrence waits for answers */

	/* mask state: the source is masked while any of these holds */
	bool in_service;            /* level occurrence awaiting answers */
	bool disabled;              /* storm rule */
	bool orphaned;              /* a level occurrence came with nobody attached */
	uint32_t mask_refs;         /* client mask requests, reference-counted */
	bool masked;                /* what the source was last told */

	uint64_t occurrence;        /* number of the latest occurrence (level), 0 before the first */
	uint32_t awaiting;          /* sharers that still owe an answer for `occurrence` */
	bool any_handled;           /* some sharer answered HANDLED for `occurrence` */
	uint64_t service_deadline_ns;
	uint64_t firing_events;     /* events of the edge firing in progress */
	uint64_t handled_seq;       /* HANDLED answers so far, numbering them (edge and level) */

	/* storm window */
	uint32_t storm_count, storm_unhandled;
	uint64_t last_unhandled_ns;

	struct irqcore_counters n;
};

/* Per-attachment acknowledgment state, owned by the line's flow. */
struct irqcore_sharer {
	uint64_t notified_occ;   /* occurrence last notified to this sharer */
	uint64_t answered_occ;   /* occurrence last answered by this sharer */
	bool awaited;            /* owes an answer for notified_occ */
	bool stalled;            /* missed a deadline; not waited for until it answers again */
	uint64_t answers_late;   /* answers that came after the deadline or for an old occurrence */
	uint64_t handled_seq;    /* the line's handled_seq at this sharer's last HANDLED answer */
};

void irqcore_line_init(struct irqcore_line *l, enum irqcore_trigger trigger,
		       uint64_t ack_deadline_ns);
void irqcore_sharer_init(struct irqcore_sharer *s);

/*
 * Firing a line. The platform calls irqcore_fire_begin(), then irqcore_notify() once for each
 * sharer attached at that moment, then irqcore_fire_end(). For an edge line `events` source
 * events are counted; for a level line `events` is ignored and one occurrence starts.
 * Returns actions (MASK for a level line; for a level line with no sharer, the line stays masked
 * and the occurrence counts as unhandled: nobody can quiet the device).
 */
unsigned irqcore_fire_begin(struct irqcore_line *l, uint64_t events, uint64_t now_ns);
/* Returns true if this sharer must be notified (stalled sharers of a level line are still
 * notified, but not awaited). */
bool irqcore_notify(struct irqcore_line *l, struct irqcore_sharer *s);
unsigned irqcore_fire_end(struct irqcore_line *l, unsigned sharers_notified, uint64_t events,
			  uint64_t now_ns);

/* A sharer's answer for occurrence `occ`. Returns actions, or -1 if the answer is invalid
 * (unknown answer code, an occurrence never notified to this sharer, or a second answer for
 * the same occurrence): the caller reports that to the client; state is unchanged. */
int irqcore_answer(struct irqcore_line *l, struct irqcore_sharer *s, uint64_t occ,
		   enum irqcore_answer a, uint64_t now_ns);

/* Did this sharer give the line's latest HANDLED answer? Its device is then the likeliest
 * source of the next interrupt too: a platform notifies it before the other sharers, so that
 * the owner runs (and on a level line the line is unmasked) without waiting for every
 * NOT_MINE first. Only an order: every sharer is still notified. */
bool irqcore_likely_owner(const struct irqcore_line *l, const struct irqcore_sharer *s);
/* A sharer goes away (detach, death, pass to another client is NOT a departure). Counts as
 * having answered NOT_MINE if it was awaited. Returns actions. */
unsigned irqcore_sharer_gone(struct irqcore_line *l, struct irqcore_sharer *s, uint64_t now_ns);

/* Deadline handling: when now_ns >= irqcore_deadline(l), the platform calls
 * irqcore_stall() for each sharer, then irqcore_deadline_end(). Returns actions. */
uint64_t irqcore_deadline(const struct irqcore_line *l); /* UINT64_MAX if none */
bool irqcore_stall(struct irqcore_line *l, struct irqcore_sharer *s);
unsigned irqcore_deadline_end(struct irqcore_line *l, uint64_t now_ns);

/* A sharer attached: an orphaned level line is unmasked for it. Returns actions. */
unsigned irqcore_sharer_added(struct irqcore_line *l);

/* Storm rule (storm.c): note a completed occurrence; returns IRQCORE_ACT_DISABLED when the line
 * must be disabled. */
unsigned irqcore_storm_note(struct irqcore_line *l, bool handled, uint64_t now_ns);

/* Client mask requests (reference-counted) and the administrator's re-enable. */
unsigned irqcore_mask(struct irqcore_line *l);
unsigned irqcore_unmask(struct irqcore_line *l); /* caller checked this client holds a mask */
unsigned irqcore_enable(struct irqcore_line *l);

#endif
