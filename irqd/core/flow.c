/* core/flow.c - edge and level flow, shared-line acknowledgment (see line.h). */
#include "core/line.h"

void irqcore_line_init(struct irqcore_line *l, enum irqcore_trigger trigger,
		       uint64_t ack_deadline_ns)
{
	*l = (struct irqcore_line){ .trigger = trigger, .ack_deadline_ns = ack_deadline_ns };
}

void irqcore_sharer_init(struct irqcore_sharer *s)
{
	*s = (struct irqcore_sharer){ 0 };
}

/* The one place that decides the source's mask: it is masked while anything holds it. */
static unsigned update_mask(struct irqcore_line *l)
{
	bool want = l->in_service || l->disabled || l->orphaned || l->mask_refs > 0;
	if (want == l->masked)
		return 0;
	l->masked = want;
	return want ? IRQCORE_ACT_MASK : IRQCORE_ACT_UNMASK;
}

static unsigned complete(struct irqcore_line *l, uint64_t now_ns)
{
	l->in_service = false;
	unsigned act = IRQCORE_ACT_COMPLETE | irqcore_storm_note(l, l->any_handled, now_ns);
	return act | update_mask(l);
}

unsigned irqcore_fire_begin(struct irqcore_line *l, uint64_t events, uint64_t now_ns)
{
	(void)now_ns;
	if (l->trigger == IRQCORE_EDGE) {
		l->firing_events = events;
		l->n.raised += events;
		return 0;
	}
	l->occurrence++;
	l->n.raised++;
	l->in_service = true;
	l->awaiting = 0;
	l->any_handled = false;
	return update_mask(l);
}

bool irqcore_notify(struct irqcore_line *l, struct irqcore_sharer *s)
{
	if (l->trigger == IRQCORE_EDGE) {
		l->n.delivered += l->firing_events;
		return true;
	}
	s->notified_occ = l->occurrence;
	l->n.delivered++;
	if (!s->stalled) {
		s->awaited = true;
		l->awaiting++;
	}
	return true;
}

unsigned irqcore_fire_end(struct irqcore_line *l, unsigned sharers_notified, uint64_t events,
			  uint64_t now_ns)
{
	if (l->trigger == IRQCORE_EDGE) {
		if (sharers_notified == 0)
			l->n.dropped += events;
		l->firing_events = 0;
		return 0;
	}
	l->service_deadline_ns = now_ns + l->ack_deadline_ns;
	if (sharers_notified == 0)
		l->orphaned = true; /* keep it masked until somebody attaches */
	if (l->awaiting == 0)
		return complete(l, now_ns);
	return 0;
}

int irqcore_answer(struct irqcore_line *l, struct irqcore_sharer *s, uint64_t occ,
		   enum irqcore_answer a, uint64_t now_ns)
{
	if (a != IRQCORE_HANDLED && a != IRQCORE_NOT_MINE)
		return -1;
	if (l->trigger == IRQCORE_LEVEL) {
		if (occ == 0 || occ != s->notified_occ || s->answered_occ == occ)
			return -1;
		s->answered_occ = occ;
		s->stalled = false; /* it answers again: wait for it next time */
	}
	if (a == IRQCORE_HANDLED) {
		l->n.handled++;
		s->handled_seq = ++l->handled_seq;
	} else {
		l->n.not_mine++;
	}
	if (l->trigger == IRQCORE_EDGE)
		return 0; /* optional on edge lines: counted, never waited for */
	if (!l->in_service || occ != l->occurrence) {
		s->answers_late++;
		return 0;
	}
	if (a == IRQCORE_HANDLED)
		l->any_handled = true;
	if (!s->awaited)
		return 0; /* it was stalled when notified: its answer no longer gates the line */
	s->awaited = false;
	if (--l->awaiting == 0)
		return complete(l, now_ns);
	return 0;
}

bool irqcore_likely_owner(const struct irqcore_line *l, const struct irqcore_sharer *s)
{
	return s->handled_seq != 0 && s->handled_seq == l->handled_seq;
}

unsigned irqcore_sharer_gone(struct irqcore_line *l, struct irqcore_sharer *s, uint64_t now_ns)
{
	if (!s->awaited)
		return 0;
	s->awaited = false;
	if (l->in_service && s->notified_occ == l->occurrence && --l->awaiting == 0)
		return complete(l, now_ns);
	return 0;
}

unsigned irqcore_sharer_added(struct irqcore_line *l)
{
	l->orphaned = false;
	return update_mask(l);
}

uint64_t irqcore_deadline(const struct irqcore_line *l)
{
	return l->in_service ? l->service_deadline_ns : UINT64_MAX;
}

bool irqcore_stall(struct irqcore_line *l, struct irqcore_sharer *s)
{
	if (!s->awaited || s->notified_occ != l->occurrence)
		return false;
	s->awaited = false;
	s->stalled = true;
	l->n.stalls++;
	l->awaiting--;
	return true;
}

unsigned irqcore_deadline_end(struct irqcore_line *l, uint64_t now_ns)
{
	if (l->in_service && l->awaiting == 0)
		return complete(l, now_ns);
	return 0;
}

unsigned irqcore_mask(struct irqcore_line *l)
{
	l->mask_refs++;
	return update_mask(l);
}

unsigned irqcore_unmask(struct irqcore_line *l)
{
	if (l->mask_refs > 0)
		l->mask_refs--;
	return update_mask(l);
}

unsigned irqcore_enable(struct irqcore_line *l)
{
	l->disabled = false;
	l->storm_count = 0;
	l->storm_unhandled = 0;
	l->last_unhandled_ns = 0;
	return update_mask(l);
}
