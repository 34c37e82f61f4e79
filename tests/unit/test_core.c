/*
 * tests/unit/test_core.c - the pure line descriptor and flow policy (core/line.h).
 *
 * A fake source applies the returned actions the way a platform controller would and checks,
 * after every call, that it is never told MASK when already masked nor UNMASK when already
 * unmasked: "unmasked exactly once" then follows from counting unmasks. Counters are compared
 * field by field against exact expectations.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "core/line.h"

#define ALL_ACTS \
	(IRQCORE_ACT_MASK | IRQCORE_ACT_UNMASK | IRQCORE_ACT_DISABLED | IRQCORE_ACT_COMPLETE)
#define DONE_UNMASK (IRQCORE_ACT_COMPLETE | IRQCORE_ACT_UNMASK)
#define ACK_NS 1000000ull    /* 1 ms ack deadline */
#define T0 1000000000ull     /* clocks start away from 0, as CLOCK_MONOTONIC does */
#define US 1000ull

/* ---- the fake source ----------------------------------------------------------------------- */

struct src {
	struct irqcore_line l;
	bool masked;                 /* what the hardware is doing */
	unsigned masks, unmasks, completes, disables;
};

static void src_init(struct src *s, enum irqcore_trigger t)
{
	memset(s, 0, sizeof(*s));
	irqcore_line_init(&s->l, t, ACK_NS);
	assert_false(s->l.masked);
}

static unsigned apply(struct src *s, unsigned act)
{
	const struct irqcore_line *l = &s->l;

	assert_int_equal(act & ~ALL_ACTS, 0);
	/* one call changes the mask state at most once */
	assert_false((act & IRQCORE_ACT_MASK) && (act & IRQCORE_ACT_UNMASK));
	if (act & IRQCORE_ACT_MASK) {
		assert_false(s->masked); /* redundant MASK: the flow lost track of the source */
		s->masked = true;
		s->masks++;
	}
	if (act & IRQCORE_ACT_UNMASK) {
		assert_true(s->masked); /* redundant UNMASK: a second unmask for one occurrence */
		s->masked = false;
		s->unmasks++;
	}
	if (act & IRQCORE_ACT_COMPLETE)
		s->completes++;
	if (act & IRQCORE_ACT_DISABLED) {
		/* the storm rule fires when an occurrence completes, and leaves the line masked */
		assert_true(act & IRQCORE_ACT_COMPLETE);
		assert_true(s->masked);
		s->disables++;
	}
	/* the source is masked exactly while something holds it, and the descriptor knows it */
	assert_true(l->masked == s->masked);
	assert_true(s->masked == (l->in_service || l->disabled || l->orphaned || l->mask_refs > 0));
	assert_int_equal(s->disables, l->n.disables);
	return act;
}

/* Fire as a platform does: begin, notify each attached sharer, end. Returns all actions. */
static unsigned fire(struct src *s, struct irqcore_sharer **sh, unsigned n, uint64_t events,
		     uint64_t now)
{
	unsigned act = apply(s, irqcore_fire_begin(&s->l, events, now));
	unsigned notified = 0;

	for (unsigned i = 0; i < n; i++) {
		/* every attached sharer is notified, stalled ones included */
		assert_true(irqcore_notify(&s->l, sh[i]));
		notified++;
	}
	return act | apply(s, irqcore_fire_end(&s->l, notified, events, now));
}

static int answer(struct src *s, struct irqcore_sharer *sh, uint64_t occ, enum irqcore_answer a,
		  uint64_t now)
{
	int r = irqcore_answer(&s->l, sh, occ, a, now);

	if (r >= 0)
		apply(s, (unsigned)r);
	return r;
}

static unsigned gone(struct src *s, struct irqcore_sharer *sh, uint64_t now)
{
	return apply(s, irqcore_sharer_gone(&s->l, sh, now));
}

static void expect_counters(const struct irqcore_line *l, struct irqcore_counters want)
{
	assert_int_equal(l->n.raised, want.raised);
	assert_int_equal(l->n.delivered, want.delivered);
	assert_int_equal(l->n.handled, want.handled);
	assert_int_equal(l->n.unhandled, want.unhandled);
	assert_int_equal(l->n.not_mine, want.not_mine);
	assert_int_equal(l->n.stalls, want.stalls);
	assert_int_equal(l->n.dropped, want.dropped);
	assert_int_equal(l->n.disables, want.disables);
}

/* Field by field, so struct padding cannot make an unchanged state look changed. */
static void expect_same_line(const struct irqcore_line *a, const struct irqcore_line *b)
{
	assert_int_equal(a->trigger, b->trigger);
	assert_int_equal(a->ack_deadline_ns, b->ack_deadline_ns);
	assert_int_equal(a->in_service, b->in_service);
	assert_int_equal(a->disabled, b->disabled);
	assert_int_equal(a->orphaned, b->orphaned);
	assert_int_equal(a->mask_refs, b->mask_refs);
	assert_int_equal(a->masked, b->masked);
	assert_int_equal(a->occurrence, b->occurrence);
	assert_int_equal(a->awaiting, b->awaiting);
	assert_int_equal(a->any_handled, b->any_handled);
	assert_int_equal(a->service_deadline_ns, b->service_deadline_ns);
	assert_int_equal(a->firing_events, b->firing_events);
	assert_int_equal(a->handled_seq, b->handled_seq);
	assert_int_equal(a->storm_count, b->storm_count);
	assert_int_equal(a->storm_unhandled, b->storm_unhandled);
	assert_int_equal(a->last_unhandled_ns, b->last_unhandled_ns);
	expect_counters(a, b->n);
}

static void expect_same_sharer(const struct irqcore_sharer *a, const struct irqcore_sharer *b)
{
	assert_int_equal(a->notified_occ, b->notified_occ);
	assert_int_equal(a->answered_occ, b->answered_occ);
	assert_int_equal(a->awaited, b->awaited);
	assert_int_equal(a->stalled, b->stalled);
	assert_int_equal(a->answers_late, b->answers_late);
	assert_int_equal(a->handled_seq, b->handled_seq);
}

/* An invalid answer returns -1 and leaves line and sharer exactly as they were. */
static void expect_invalid(struct src *s, struct irqcore_sharer *sh, uint64_t occ,
			   enum irqcore_answer a)
{
	struct irqcore_line l0 = s->l;
	struct irqcore_sharer s0 = *sh;

	assert_int_equal(irqcore_answer(&s->l, sh, occ, a, T0), -1);
	expect_same_line(&s->l, &l0);
	expect_same_sharer(sh, &s0);
}

/* ---- edge ---------------------------------------------------------------------------------- */

static void test_edge_counts(void **state)
{
	(void)state;
	static const unsigned sharers[] = { 0, 1, 3 };

	for (size_t k = 0; k < sizeof(sharers) / sizeof(sharers[0]); k++) {
		unsigned n = sharers[k];
		struct src s;
		struct irqcore_sharer sh[3], *p[3];
		uint64_t events = 0, now = T0;

		src_init(&s, IRQCORE_EDGE);
		for (unsigned i = 0; i < 3; i++) {
			irqcore_sharer_init(&sh[i]);
			p[i] = &sh[i];
		}
		/* varying batch sizes: each event counts once, per sharer for delivery */
		for (unsigned i = 0; i < 1000; i++) {
			uint64_t ev = 1 + i % 5;

			assert_int_equal(fire(&s, p, n, ev, now), 0); /* edge lines never mask */
			events += ev;
			now += 10 * US;
		}
		expect_counters(&s.l, (struct irqcore_counters){
			.raised = events, .delivered = events * n, .dropped = n ? 0 : events });
		assert_int_equal(s.masks + s.unmasks + s.completes, 0);
		assert_false(s.l.in_service);
		assert_int_equal(irqcore_deadline(&s.l), UINT64_MAX); /* nothing to wait for */
		if (n == 0)
			continue;

		/* Answers are optional: counted, never gating anything, never unhandled. */
		uint64_t occ = s.l.occurrence;
		assert_int_equal(answer(&s, &sh[0], occ, IRQCORE_HANDLED, now), 0);
		assert_int_equal(answer(&s, &sh[n - 1], occ, IRQCORE_NOT_MINE, now), 0);
		assert_int_equal(answer(&s, &sh[n - 1], occ, IRQCORE_NOT_MINE, now), 0);
		expect_invalid(&s, &sh[0], occ, IRQCORE_ANSWER_NONE);
		expect_invalid(&s, &sh[0], occ, (enum irqcore_answer)3);
		expect_counters(&s.l, (struct irqcore_counters){
			.raised = events, .delivered = events * n, .handled = 1, .not_mine = 2 });
		/* and firing goes on with no mask whatever the answers were */
		assert_int_equal(fire(&s, p, n, 2, now), 0);
		assert_int_equal(s.l.n.delivered, (events + 2) * n);
		assert_int_equal(s.masks + s.unmasks + s.completes, 0);
	}
}

/* ---- level --------------------------------------------------------------------------------- */

static void test_level_one_sharer(void **state)
{
	(void)state;
	struct src s;
	struct irqcore_sharer a;
	uint64_t handled = 0, not_mine = 0;

	src_init(&s, IRQCORE_LEVEL);
	irqcore_sharer_init(&a);
	assert_int_equal(s.l.occurrence, 0);
	for (uint64_t i = 1; i <= 100; i++) {
		uint64_t now = T0 + i * 10 * US;
		enum irqcore_answer ans = (i % 3) ? IRQCORE_HANDLED : IRQCORE_NOT_MINE;

		/* checked call by call: MASK comes from begin, end adds nothing while awaited */
		assert_int_equal(apply(&s, irqcore_fire_begin(&s.l, 1, now)), IRQCORE_ACT_MASK);
		assert_true(irqcore_notify(&s.l, &a));
		assert_int_equal(apply(&s, irqcore_fire_end(&s.l, 1, 1, now)), 0);
		assert_int_equal(s.l.occurrence, i);
		assert_true(s.masked);
		assert_int_equal(irqcore_deadline(&s.l), now + ACK_NS);

		assert_int_equal(answer(&s, &a, i, ans, now + 5 * US), DONE_UNMASK);
		assert_false(s.masked);
		assert_int_equal(irqcore_deadline(&s.l), UINT64_MAX);
		if (ans == IRQCORE_HANDLED)
			handled++;
		else
			not_mine++;
		expect_counters(&s.l, (struct irqcore_counters){ .raised = i, .delivered = i,
			.handled = handled, .not_mine = not_mine, .unhandled = not_mine });
		assert_int_equal(s.masks, i);
		assert_int_equal(s.unmasks, i);
		assert_int_equal(s.completes, i);
	}
}

/* The likely owner (notified first by the platforms) is the sharer that gave the line's latest
 * HANDLED answer: nobody before any, it follows every HANDLED and ignores NOT_MINE, on level
 * and edge lines alike; a late HANDLED counts (the sharer did service its device), an invalid
 * one does not. */
static void test_likely_owner(void **state)
{
	(void)state;
	for (int t = IRQCORE_EDGE; t <= IRQCORE_LEVEL; t++) {
		struct src s;
		struct irqcore_sharer a, b, c;
		struct irqcore_sharer *all[3] = { &a, &b, &c };
		bool level = t == IRQCORE_LEVEL;

		src_init(&s, (enum irqcore_trigger)t);
		irqcore_sharer_init(&a);
		irqcore_sharer_init(&b);
		irqcore_sharer_init(&c);
		for (unsigned i = 0; i < 3; i++)
			assert_false(irqcore_likely_owner(&s.l, all[i]));
		/* occurrence 1: b handles it */
		fire(&s, all, 3, 1, T0);
		assert_true(answer(&s, &a, level ? 1 : 0, IRQCORE_NOT_MINE, T0) >= 0);
		assert_true(answer(&s, &b, level ? 1 : 0, IRQCORE_HANDLED, T0) >= 0);
		assert_true(answer(&s, &c, level ? 1 : 0, IRQCORE_NOT_MINE, T0) >= 0);
		assert_false(irqcore_likely_owner(&s.l, &a));
		assert_true(irqcore_likely_owner(&s.l, &b));
		assert_false(irqcore_likely_owner(&s.l, &c));
		/* occurrence 2: c handles it, then a NOT_MINE changes nothing */
		fire(&s, all, 3, 1, T0 + US);
		assert_true(answer(&s, &c, level ? 2 : 0, IRQCORE_HANDLED, T0 + US) >= 0);
		assert_true(answer(&s, &a, level ? 2 : 0, IRQCORE_NOT_MINE, T0 + US) >= 0);
		assert_false(irqcore_likely_owner(&s.l, &b));
		assert_true(irqcore_likely_owner(&s.l, &c));
		if (!level)
			continue;
		/* b's answer for occurrence 2 comes after the deadline completed it: late, but
		 * HANDLED, so b serviced its device last */
		uint64_t deadline = irqcore_deadline(&s.l);
		for (unsigned i = 0; i < 3; i++)
			irqcore_stall(&s.l, all[i]);
		assert_int_equal(apply(&s, irqcore_deadline_end(&s.l, deadline)), DONE_UNMASK);
		assert_true(answer(&s, &b, 2, IRQCORE_HANDLED, deadline + US) >= 0);
		assert_int_equal(b.answers_late, 1);
		assert_true(irqcore_likely_owner(&s.l, &b));
		assert_false(irqcore_likely_owner(&s.l, &c));
		/* an invalid HANDLED (a second answer for occurrence 2) changes nothing */
		expect_invalid(&s, &c, 2, IRQCORE_HANDLED);
		assert_true(irqcore_likely_owner(&s.l, &b));
	}
}

/* Three sharers, every answer order crossed with every HANDLED/NOT_MINE pattern. */
static void test_level_three_sharers_all_orders(void **state)
{
	(void)state;
	static const unsigned perms[6][3] = {
		{ 0, 1, 2 }, { 0, 2, 1 }, { 1, 0, 2 }, { 1, 2, 0 }, { 2, 0, 1 }, { 2, 1, 0 },
	};
	struct src s;
	struct irqcore_sharer sh[3], *p[3];
	struct irqcore_counters want = { 0 };
	uint64_t now = T0;

	src_init(&s, IRQCORE_LEVEL);
	for (unsigned i = 0; i < 3; i++) {
		irqcore_sharer_init(&sh[i]);
		p[i] = &sh[i];
	}
	for (unsigned pi = 0; pi < 6; pi++) {
		for (unsigned pat = 0; pat < 8; pat++) {
			uint64_t prev_occ = s.l.occurrence;
			unsigned unmasks = s.unmasks;

			assert_int_equal(fire(&s, p, 3, 1, now), IRQCORE_ACT_MASK);
			uint64_t occ = s.l.occurrence;
			assert_int_equal(occ, prev_occ + 1); /* a new number for every occurrence */
			want.raised++;
			want.delivered += 3;
			for (unsigned j = 0; j < 3; j++) {
				unsigned who = perms[pi][j];
				enum irqcore_answer ans =
					(pat >> who) & 1 ? IRQCORE_HANDLED : IRQCORE_NOT_MINE;
				int r = answer(&s, &sh[who], occ, ans, now + (j + 1) * US);

				if (ans == IRQCORE_HANDLED)
					want.handled++;
				else
					want.not_mine++;
				if (j < 2) {
					/* not the last: nothing happens to the source */
					assert_int_equal(r, 0);
					assert_true(s.masked);
					assert_int_equal(s.unmasks, unmasks);
				} else {
					assert_int_equal(r, DONE_UNMASK);
				}
			}
			if (pat == 0)
				want.unhandled++; /* nobody claimed it */
			assert_false(s.masked);
			assert_int_equal(s.unmasks, unmasks + 1);
			expect_counters(&s.l, want);
			now += 100 * US;
		}
	}
	assert_int_equal(s.l.occurrence, 48);
	assert_int_equal(s.completes, 48);
}

static void test_invalid_answers(void **state)
{
	(void)state;
	struct src s;
	struct irqcore_sharer a, b, late;
	struct irqcore_sharer *p[2] = { &a, &b };
	uint64_t now = T0;

	src_init(&s, IRQCORE_LEVEL);
	irqcore_sharer_init(&a);
	irqcore_sharer_init(&b);
	irqcore_sharer_init(&late);

	assert_int_equal(fire(&s, p, 2, 1, now), IRQCORE_ACT_MASK);
	assert_int_equal(s.l.occurrence, 1);
	expect_invalid(&s, &a, 1, IRQCORE_ANSWER_NONE);      /* bad code */
	expect_invalid(&s, &a, 1, (enum irqcore_answer)3);   /* bad code */
	expect_invalid(&s, &a, 1, (enum irqcore_answer)-1);  /* bad code */
	expect_invalid(&s, &a, 0, IRQCORE_HANDLED);          /* occurrence 0 */
	expect_invalid(&s, &a, 2, IRQCORE_HANDLED);          /* not yet happened */
	expect_invalid(&s, &late, 1, IRQCORE_HANDLED);       /* attached after the notification */

	assert_int_equal(answer(&s, &a, 1, IRQCORE_HANDLED, now), 0);
	expect_invalid(&s, &a, 1, IRQCORE_HANDLED);          /* double answer */
	expect_invalid(&s, &a, 1, IRQCORE_NOT_MINE);         /* double, other code */
	assert_int_equal(answer(&s, &b, 1, IRQCORE_NOT_MINE, now), DONE_UNMASK);
	expect_invalid(&s, &b, 1, IRQCORE_NOT_MINE);         /* double after completion */
	expect_counters(&s.l, (struct irqcore_counters){
		.raised = 1, .delivered = 2, .handled = 1, .not_mine = 1 });

	/* b stays silent on occurrence 2 and is stalled at the deadline */
	now += 10 * US;
	assert_int_equal(fire(&s, p, 2, 1, now), IRQCORE_ACT_MASK);
	assert_int_equal(answer(&s, &a, 2, IRQCORE_HANDLED, now), 0);
	now = irqcore_deadline(&s.l);
	assert_false(irqcore_stall(&s.l, &a));
	assert_true(irqcore_stall(&s.l, &b));
	assert_int_equal(apply(&s, irqcore_deadline_end(&s.l, now)), DONE_UNMASK);

	/* occurrence 3 is in service: answers for 1 or 2 are for old occurrences */
	now += 10 * US;
	assert_int_equal(fire(&s, p, 2, 1, now), IRQCORE_ACT_MASK);
	expect_invalid(&s, &b, 2, IRQCORE_HANDLED);          /* old, and never answered */
	expect_invalid(&s, &a, 2, IRQCORE_HANDLED);          /* old, answered */
	expect_invalid(&s, &a, 1, IRQCORE_NOT_MINE);
	expect_invalid(&s, &a, 4, IRQCORE_HANDLED);          /* future */
	assert_true(s.l.in_service);
	assert_true(s.masked);
	assert_int_equal(answer(&s, &a, 3, IRQCORE_HANDLED, now), DONE_UNMASK);
	expect_counters(&s.l, (struct irqcore_counters){
		.raised = 3, .delivered = 6, .handled = 3, .not_mine = 1, .stalls = 1 });
}

/* ---- client masks -------------------------------------------------------------------------- */

static void test_client_masks_refcounted(void **state)
{
	(void)state;
	struct src s;
	struct irqcore_sharer a;
	struct irqcore_sharer *p[1] = { &a };
	uint64_t now = T0;

	src_init(&s, IRQCORE_LEVEL);
	irqcore_sharer_init(&a);

	/* two clients mask; an occurrence already read by the platform fires and completes */
	assert_int_equal(apply(&s, irqcore_mask(&s.l)), IRQCORE_ACT_MASK);
	assert_int_equal(apply(&s, irqcore_mask(&s.l)), 0);
	assert_int_equal(fire(&s, p, 1, 1, now), 0); /* already masked: no second MASK */
	assert_int_equal(answer(&s, &a, s.l.occurrence, IRQCORE_HANDLED, now),
			 IRQCORE_ACT_COMPLETE); /* completes, but the masks hold it */
	assert_true(s.masked);
	assert_int_equal(apply(&s, irqcore_unmask(&s.l)), 0); /* one mask still held */
	assert_true(s.masked);
	assert_int_equal(apply(&s, irqcore_unmask(&s.l)), IRQCORE_ACT_UNMASK);
	assert_false(s.masked);

	/* mask taken while in service: no extra action, and completion must not unmask */
	now += 10 * US;
	assert_int_equal(fire(&s, p, 1, 1, now), IRQCORE_ACT_MASK);
	assert_int_equal(apply(&s, irqcore_mask(&s.l)), 0);
	assert_int_equal(answer(&s, &a, s.l.occurrence, IRQCORE_NOT_MINE, now),
			 IRQCORE_ACT_COMPLETE);
	assert_true(s.masked);
	assert_int_equal(apply(&s, irqcore_unmask(&s.l)), IRQCORE_ACT_UNMASK);

	/* unmask while still in service: the occurrence keeps the line masked */
	now += 10 * US;
	assert_int_equal(apply(&s, irqcore_mask(&s.l)), IRQCORE_ACT_MASK);
	assert_int_equal(fire(&s, p, 1, 1, now), 0);
	assert_int_equal(apply(&s, irqcore_unmask(&s.l)), 0);
	assert_true(s.masked);
	assert_int_equal(answer(&s, &a, s.l.occurrence, IRQCORE_HANDLED, now), DONE_UNMASK);

	assert_int_equal(s.masks, 3);
	assert_int_equal(s.unmasks, 3);
	expect_counters(&s.l, (struct irqcore_counters){
		.raised = 3, .delivered = 3, .handled = 2, .not_mine = 1, .unhandled = 1 });

	/* on an edge line the mask is purely the clients', and firing does not touch it */
	struct src e;
	src_init(&e, IRQCORE_EDGE);
	assert_int_equal(apply(&e, irqcore_mask(&e.l)), IRQCORE_ACT_MASK);
	assert_int_equal(apply(&e, irqcore_mask(&e.l)), 0);
	assert_int_equal(fire(&e, p, 1, 4, now), 0);
	assert_int_equal(apply(&e, irqcore_unmask(&e.l)), 0);
	assert_int_equal(apply(&e, irqcore_unmask(&e.l)), IRQCORE_ACT_UNMASK);
	expect_counters(&e.l, (struct irqcore_counters){ .raised = 4, .delivered = 4 });
}

/* ---- departures ---------------------------------------------------------------------------- */

static void test_sharer_gone(void **state)
{
	(void)state;
	struct src s;
	struct irqcore_sharer a, b, c, fresh;
	struct irqcore_sharer *p[3] = { &a, &b, &c };
	uint64_t now = T0;

	src_init(&s, IRQCORE_LEVEL);
	irqcore_sharer_init(&a);
	irqcore_sharer_init(&b);
	irqcore_sharer_init(&c);
	irqcore_sharer_init(&fresh);

	/* a idle line: departures change nothing */
	assert_int_equal(gone(&s, &fresh, now), 0);

	/* awaited sharers dying count as answers; the last one completes */
	assert_int_equal(fire(&s, p, 3, 1, now), IRQCORE_ACT_MASK);
	assert_int_equal(answer(&s, &a, 1, IRQCORE_HANDLED, now), 0);
	assert_int_equal(gone(&s, &a, now), 0);        /* answered already: not awaited */
	assert_int_equal(gone(&s, &fresh, now), 0);    /* never notified */
	assert_int_equal(s.l.awaiting, 2);
	assert_int_equal(gone(&s, &b, now), 0);        /* awaited, c still owes */
	assert_true(s.masked);
	assert_true(s.l.in_service);
	assert_int_equal(gone(&s, &c, now), DONE_UNMASK);
	assert_int_equal(s.unmasks, 1);
	/* a handled it, so the occurrence is handled despite the departures */
	expect_counters(&s.l, (struct irqcore_counters){
		.raised = 1, .delivered = 3, .handled = 1 });

	/* the only sharer dies silent: completes, unhandled (a departure handles nothing) */
	struct irqcore_sharer d;
	struct irqcore_sharer *pd[1] = { &d };
	irqcore_sharer_init(&d);
	now += 10 * US;
	assert_int_equal(fire(&s, pd, 1, 1, now), IRQCORE_ACT_MASK);
	assert_int_equal(gone(&s, &d, now), DONE_UNMASK);
	assert_int_equal(gone(&s, &d, now), 0);        /* a second departure is nothing */
	assert_int_equal(s.l.n.unhandled, 1);
	assert_int_equal(s.l.n.handled, 1);

	/* a stalled sharer is not awaited: its departure does nothing */
	struct irqcore_sharer e, f;
	struct irqcore_sharer *pe[2] = { &e, &f };
	irqcore_sharer_init(&e);
	irqcore_sharer_init(&f);
	now += 10 * US;
	assert_int_equal(fire(&s, pe, 2, 1, now), IRQCORE_ACT_MASK);
	assert_int_equal(answer(&s, &e, s.l.occurrence, IRQCORE_HANDLED, now), 0);
	assert_true(irqcore_stall(&s.l, &f));
	assert_int_equal(apply(&s, irqcore_deadline_end(&s.l, now + ACK_NS)), DONE_UNMASK);
	now += 2 * ACK_NS;
	assert_int_equal(fire(&s, pe, 2, 1, now), IRQCORE_ACT_MASK);
	struct irqcore_line l0 = s.l;
	assert_int_equal(gone(&s, &f, now), 0);
	expect_same_line(&s.l, &l0);
	assert_int_equal(answer(&s, &e, s.l.occurrence, IRQCORE_HANDLED, now), DONE_UNMASK);
	assert_int_equal(s.masks, s.unmasks);
}

/* ---- ack deadline -------------------------------------------------------------------------- */

static void test_deadline_stall(void **state)
{
	(void)state;
	struct src s;
	struct irqcore_sharer a, b;
	struct irqcore_sharer *p[2] = { &a, &b };
	uint64_t t1 = T0 + 123 * US;

	src_init(&s, IRQCORE_LEVEL);
	irqcore_sharer_init(&a);
	irqcore_sharer_init(&b);
	assert_int_equal(irqcore_deadline(&s.l), UINT64_MAX);

	/* occurrence 1: a answers, b stays silent past the deadline */
	assert_int_equal(fire(&s, p, 2, 1, t1), IRQCORE_ACT_MASK);
	assert_int_equal(irqcore_deadline(&s.l), t1 + ACK_NS);
	assert_int_equal(answer(&s, &a, 1, IRQCORE_HANDLED, t1 + 10 * US), 0);
	assert_int_equal(irqcore_deadline(&s.l), t1 + ACK_NS); /* still waiting for b */
	uint64_t dl = irqcore_deadline(&s.l);
	assert_false(irqcore_stall(&s.l, &a)); /* answered: not stalled */
	assert_true(irqcore_stall(&s.l, &b));
	assert_false(irqcore_stall(&s.l, &b)); /* once only */
	assert_true(b.stalled);
	assert_int_equal(s.l.n.stalls, 1);
	assert_true(s.masked); /* stalling alone does not unmask; deadline_end does */
	assert_int_equal(apply(&s, irqcore_deadline_end(&s.l, dl)), DONE_UNMASK);
	assert_int_equal(apply(&s, irqcore_deadline_end(&s.l, dl)), 0); /* nothing left */
	assert_int_equal(irqcore_deadline(&s.l), UINT64_MAX);

	/* occurrence 2: b is notified but not awaited, a's answer alone completes it */
	uint64_t t2 = dl + 50 * US;
	uint64_t delivered = s.l.n.delivered;
	assert_int_equal(fire(&s, p, 2, 1, t2), IRQCORE_ACT_MASK);
	assert_int_equal(s.l.n.delivered, delivered + 2);
	assert_int_equal(irqcore_deadline(&s.l), t2 + ACK_NS);
	assert_int_equal(answer(&s, &a, 2, IRQCORE_NOT_MINE, t2 + US), DONE_UNMASK);
	/* b answers late for the occurrence it was notified: accepted, counted, no action */
	assert_int_equal(answer(&s, &b, 2, IRQCORE_HANDLED, t2 + 2 * US), 0);
	assert_false(b.stalled);
	assert_int_equal(b.answers_late, 1);
	assert_false(s.masked);

	/* occurrence 3: b is awaited again, so a's answer no longer completes it */
	uint64_t t3 = t2 + 100 * US;
	assert_int_equal(fire(&s, p, 2, 1, t3), IRQCORE_ACT_MASK);
	assert_int_equal(answer(&s, &a, 3, IRQCORE_NOT_MINE, t3 + US), 0);
	assert_true(s.masked);
	assert_int_equal(answer(&s, &b, 3, IRQCORE_HANDLED, t3 + 2 * US), DONE_UNMASK);

	/* occurrence 1 completed handled (a), 2 unhandled (b's HANDLED came after completion),
	 * 3 handled */
	expect_counters(&s.l, (struct irqcore_counters){ .raised = 3, .delivered = 6,
		.handled = 3, .not_mine = 2, .unhandled = 1, .stalls = 1 });
	assert_int_equal(s.masks, 3);
	assert_int_equal(s.unmasks, 3);
}

/* Everybody silent; then a stalled-only line; then a late answer before the next firing. */
static void test_deadline_all_silent(void **state)
{
	(void)state;
	struct src s;
	struct irqcore_sharer a, b;
	struct irqcore_sharer *p[2] = { &a, &b };
	uint64_t now = T0;

	src_init(&s, IRQCORE_LEVEL);
	irqcore_sharer_init(&a);
	irqcore_sharer_init(&b);

	assert_int_equal(fire(&s, p, 2, 1, now), IRQCORE_ACT_MASK);
	now = irqcore_deadline(&s.l);
	assert_true(irqcore_stall(&s.l, &a));
	assert_int_equal(apply(&s, irqcore_deadline_end(&s.l, now)), 0); /* b still counted */
	assert_true(irqcore_stall(&s.l, &b));
	assert_int_equal(apply(&s, irqcore_deadline_end(&s.l, now)), DONE_UNMASK);
	expect_counters(&s.l, (struct irqcore_counters){
		.raised = 1, .delivered = 2, .unhandled = 1, .stalls = 2 });

	/* both stalled: nobody is awaited, the occurrence completes as it is fired */
	now += 10 * US;
	assert_int_equal(fire(&s, p, 2, 1, now),
			 IRQCORE_ACT_MASK | IRQCORE_ACT_COMPLETE | IRQCORE_ACT_UNMASK);
	assert_int_equal(irqcore_deadline(&s.l), UINT64_MAX);
	assert_int_equal(s.l.n.unhandled, 2);

	/* a answers occurrence 2 late: accepted; it is awaited again from occurrence 3 on */
	assert_int_equal(answer(&s, &a, 2, IRQCORE_HANDLED, now + US), 0);
	assert_false(a.stalled);
	assert_true(b.stalled);
	now += 10 * US;
	assert_int_equal(fire(&s, p, 2, 1, now), IRQCORE_ACT_MASK);
	assert_int_equal(s.l.awaiting, 1);
	assert_int_equal(answer(&s, &a, 3, IRQCORE_HANDLED, now + US), DONE_UNMASK);
	expect_counters(&s.l, (struct irqcore_counters){ .raised = 3, .delivered = 6,
		.handled = 2, .unhandled = 2, .stalls = 2 });

	/* b, still stalled, answers first while occurrence 4 is in service: its HANDLED
	 * counts for the occurrence but it was not awaited, so only a's answer completes it */
	now += 10 * US;
	assert_int_equal(fire(&s, p, 2, 1, now), IRQCORE_ACT_MASK);
	assert_int_equal(s.l.awaiting, 1);
	assert_int_equal(answer(&s, &b, 4, IRQCORE_HANDLED, now + US), 0);
	assert_false(b.stalled);
	assert_true(s.masked);
	assert_int_equal(s.l.awaiting, 1);
	assert_int_equal(answer(&s, &a, 4, IRQCORE_NOT_MINE, now + 2 * US), DONE_UNMASK);
	/* and from occurrence 5 on both are awaited */
	now += 10 * US;
	assert_int_equal(fire(&s, p, 2, 1, now), IRQCORE_ACT_MASK);
	assert_int_equal(s.l.awaiting, 2);
	assert_int_equal(answer(&s, &a, 5, IRQCORE_NOT_MINE, now + US), 0);
	assert_int_equal(answer(&s, &b, 5, IRQCORE_NOT_MINE, now + US), DONE_UNMASK);
	expect_counters(&s.l, (struct irqcore_counters){ .raised = 5, .delivered = 10,
		.handled = 3, .not_mine = 3, .unhandled = 3, .stalls = 2 });
	assert_int_equal(s.masks, 5);
	assert_int_equal(s.unmasks, 5);
}

/* A sharer already stalled and silent again is not stalled (nor counted) a second time. */
static void test_deadline_no_restall(void **state)
{
	(void)state;
	struct src s;
	struct irqcore_sharer a, b;
	struct irqcore_sharer *p[2] = { &a, &b };
	uint64_t now = T0;

	src_init(&s, IRQCORE_LEVEL);
	irqcore_sharer_init(&a);
	irqcore_sharer_init(&b);

	assert_int_equal(fire(&s, p, 2, 1, now), IRQCORE_ACT_MASK);
	assert_int_equal(answer(&s, &a, 1, IRQCORE_HANDLED, now), 0);
	now = irqcore_deadline(&s.l);
	assert_true(irqcore_stall(&s.l, &b));
	assert_int_equal(apply(&s, irqcore_deadline_end(&s.l, now)), DONE_UNMASK);

	/* occurrence 2: both silent; only a is awaited, so only a is stalled at the deadline */
	now += 10 * US;
	assert_int_equal(fire(&s, p, 2, 1, now), IRQCORE_ACT_MASK);
	assert_int_equal(irqcore_deadline(&s.l), now + ACK_NS);
	now = irqcore_deadline(&s.l);
	assert_false(irqcore_stall(&s.l, &b));
	assert_true(irqcore_stall(&s.l, &a));
	assert_int_equal(apply(&s, irqcore_deadline_end(&s.l, now)), DONE_UNMASK);
	expect_counters(&s.l, (struct irqcore_counters){ .raised = 2, .delivered = 4,
		.handled = 1, .unhandled = 1, .stalls = 2 });
}

/* ---- orphaned level line ------------------------------------------------------------------- */

static void test_orphaned_level(void **state)
{
	(void)state;
	struct src s;
	struct irqcore_sharer a;
	struct irqcore_sharer *p[1] = { &a };
	uint64_t now = T0;

	src_init(&s, IRQCORE_LEVEL);
	irqcore_sharer_init(&a);

	/* nobody can quiet the device: it stays masked, the occurrence is unhandled */
	assert_int_equal(apply(&s, irqcore_fire_begin(&s.l, 1, now)), IRQCORE_ACT_MASK);
	assert_int_equal(apply(&s, irqcore_fire_end(&s.l, 0, 1, now)), IRQCORE_ACT_COMPLETE);
	assert_true(s.masked);
	assert_true(s.l.orphaned);
	assert_int_equal(irqcore_deadline(&s.l), UINT64_MAX);
	expect_counters(&s.l, (struct irqcore_counters){ .raised = 1, .unhandled = 1 });

	/* a sharer attaches: unmasked once, a second attach adds nothing */
	assert_int_equal(apply(&s, irqcore_sharer_added(&s.l)), IRQCORE_ACT_UNMASK);
	assert_false(s.l.orphaned);
	assert_int_equal(apply(&s, irqcore_sharer_added(&s.l)), 0);

	/* the line then works normally; attaching during service does not unmask */
	now += 10 * US;
	assert_int_equal(fire(&s, p, 1, 1, now), IRQCORE_ACT_MASK);
	assert_int_equal(apply(&s, irqcore_sharer_added(&s.l)), 0);
	assert_true(s.masked);
	assert_int_equal(answer(&s, &a, 2, IRQCORE_HANDLED, now), DONE_UNMASK);

	/* orphaned while a client holds a mask: the attach leaves it to the client */
	now += 10 * US;
	assert_int_equal(fire(&s, p, 0, 1, now), IRQCORE_ACT_MASK | IRQCORE_ACT_COMPLETE);
	assert_int_equal(apply(&s, irqcore_mask(&s.l)), 0);
	assert_int_equal(apply(&s, irqcore_sharer_added(&s.l)), 0);
	assert_true(s.masked);
	assert_int_equal(apply(&s, irqcore_unmask(&s.l)), IRQCORE_ACT_UNMASK);
	expect_counters(&s.l, (struct irqcore_counters){
		.raised = 3, .delivered = 1, .handled = 1, .unhandled = 2 });
	assert_int_equal(s.masks, 3);
	assert_int_equal(s.unmasks, 3);
}

/* ---- storm rule ---------------------------------------------------------------------------- */

/* One level occurrence with one sharer answering `ans`; returns the answer's actions. */
static unsigned occur(struct src *s, struct irqcore_sharer *a, enum irqcore_answer ans,
		      uint64_t now)
{
	struct irqcore_sharer *p[1] = { a };

	assert_int_equal(fire(s, p, 1, 1, now), IRQCORE_ACT_MASK);
	int r = answer(s, a, s->l.occurrence, ans, now);
	assert_true(r >= 0);
	return (unsigned)r;
}

static void test_storm_disables(void **state)
{
	(void)state;
	struct src s;
	struct irqcore_sharer a;
	uint64_t now = T0;

	src_init(&s, IRQCORE_LEVEL);
	irqcore_sharer_init(&a);
	for (uint32_t i = 1; i < IRQCORE_STORM_WINDOW; i++) {
		assert_int_equal(occur(&s, &a, IRQCORE_NOT_MINE, now), DONE_UNMASK);
		now += US;
	}
	assert_int_equal(s.l.n.disables, 0);
	/* the 100,000th: disabled, and the line stays masked */
	assert_int_equal(occur(&s, &a, IRQCORE_NOT_MINE, now),
			 IRQCORE_ACT_COMPLETE | IRQCORE_ACT_DISABLED);
	assert_true(s.masked);
	assert_true(s.l.disabled);
	assert_int_equal(irqcore_deadline(&s.l), UINT64_MAX);
	expect_counters(&s.l, (struct irqcore_counters){ .raised = IRQCORE_STORM_WINDOW,
		.delivered = IRQCORE_STORM_WINDOW, .not_mine = IRQCORE_STORM_WINDOW,
		.unhandled = IRQCORE_STORM_WINDOW, .disables = 1 });
	/* a client unmask or a new sharer cannot undo the storm rule */
	assert_int_equal(apply(&s, irqcore_mask(&s.l)), 0);
	assert_int_equal(apply(&s, irqcore_unmask(&s.l)), 0);
	assert_int_equal(apply(&s, irqcore_sharer_added(&s.l)), 0);
	assert_true(s.masked);

	/* re-enable: unmasked, and a fresh window starts */
	now += US;
	assert_int_equal(apply(&s, irqcore_enable(&s.l)), IRQCORE_ACT_UNMASK);
	assert_false(s.l.disabled);
	assert_int_equal(s.l.storm_count, 0);
	assert_int_equal(s.l.storm_unhandled, 0);
	for (uint32_t i = 1; i < IRQCORE_STORM_WINDOW; i++) {
		assert_int_equal(occur(&s, &a, IRQCORE_NOT_MINE, now), DONE_UNMASK);
		now += US;
	}
	assert_int_equal(occur(&s, &a, IRQCORE_NOT_MINE, now),
			 IRQCORE_ACT_COMPLETE | IRQCORE_ACT_DISABLED);
	assert_int_equal(s.l.n.disables, 2);

	/* enable while a client holds a mask: re-armed, but the client's mask stays */
	assert_int_equal(apply(&s, irqcore_mask(&s.l)), 0);
	assert_int_equal(apply(&s, irqcore_enable(&s.l)), 0);
	assert_false(s.l.disabled);
	assert_true(s.masked);
	assert_int_equal(apply(&s, irqcore_unmask(&s.l)), IRQCORE_ACT_UNMASK);
	assert_int_equal(s.unmasks, s.masks);
}

/* Enable mid-window starts a fresh window: both the count and the unhandled tally restart. */
static void test_storm_enable_restarts_window(void **state)
{
	(void)state;
	struct src s;
	struct irqcore_sharer a;
	uint64_t now = T0;

	src_init(&s, IRQCORE_LEVEL);
	irqcore_sharer_init(&a);
	for (uint32_t i = 0; i < IRQCORE_STORM_WINDOW / 2; i++, now += US)
		assert_int_equal(occur(&s, &a, IRQCORE_NOT_MINE, now), DONE_UNMASK);
	assert_int_equal(apply(&s, irqcore_enable(&s.l)), 0); /* not disabled: no action */
	/* a full window at the limit (99,900 unhandled): the 50,000 before enable must not count */
	for (uint32_t i = 1; i <= IRQCORE_STORM_WINDOW; i++, now += US) {
		enum irqcore_answer ans = i % 1000 == 500 ? IRQCORE_HANDLED : IRQCORE_NOT_MINE;
		assert_int_equal(occur(&s, &a, ans, now), DONE_UNMASK);
	}
	assert_int_equal(s.l.n.disables, 0);

	/* again mid-window: a flood then disables exactly 100,000 occurrences after the enable */
	for (uint32_t i = 0; i < 30000; i++, now += US)
		assert_int_equal(occur(&s, &a, IRQCORE_HANDLED, now), DONE_UNMASK);
	assert_int_equal(apply(&s, irqcore_enable(&s.l)), 0);
	for (uint32_t i = 1; i <= IRQCORE_STORM_WINDOW; i++, now += US) {
		unsigned want = i < IRQCORE_STORM_WINDOW
					? DONE_UNMASK
					: IRQCORE_ACT_COMPLETE | IRQCORE_ACT_DISABLED;
		assert_int_equal(occur(&s, &a, IRQCORE_NOT_MINE, now), want);
	}
	assert_int_equal(s.l.n.disables, 1);
}

static void test_storm_boundary(void **state)
{
	(void)state;
	struct src s;
	struct irqcore_sharer a;
	uint64_t now = T0;

	src_init(&s, IRQCORE_LEVEL);
	irqcore_sharer_init(&a);

	/* 99,900 unhandled + 100 handled, interleaved: exactly at the limit, not over */
	for (uint32_t i = 1; i <= IRQCORE_STORM_WINDOW; i++, now += US) {
		enum irqcore_answer ans = i % 1000 == 500 ? IRQCORE_HANDLED : IRQCORE_NOT_MINE;
		assert_int_equal(occur(&s, &a, ans, now), DONE_UNMASK);
	}
	expect_counters(&s.l, (struct irqcore_counters){ .raised = IRQCORE_STORM_WINDOW,
		.delivered = IRQCORE_STORM_WINDOW, .handled = 100, .not_mine = 99900,
		.unhandled = 99900 });

	/* next window: one unhandled among handled ones; the last window's tally must not carry */
	for (uint32_t i = 1; i <= IRQCORE_STORM_WINDOW; i++, now += US) {
		enum irqcore_answer ans = i == 7 ? IRQCORE_NOT_MINE : IRQCORE_HANDLED;
		assert_int_equal(occur(&s, &a, ans, now), DONE_UNMASK);
	}
	assert_int_equal(s.l.n.disables, 0);

	/* next window: 99,901 unhandled + 99 handled: disabled at its last occurrence */
	for (uint32_t i = 1; i <= IRQCORE_STORM_WINDOW; i++, now += US) {
		enum irqcore_answer ans = i % 1000 == 500 && i < 99000 ? IRQCORE_HANDLED
								       : IRQCORE_NOT_MINE;
		unsigned want = i < IRQCORE_STORM_WINDOW
					? DONE_UNMASK
					: IRQCORE_ACT_COMPLETE | IRQCORE_ACT_DISABLED;
		assert_int_equal(occur(&s, &a, ans, now), want);
	}
	assert_int_equal(s.l.n.handled, 100 + 99999 + 99);
	assert_int_equal(s.l.n.unhandled, 99900 + 1 + 99901);
	assert_int_equal(s.l.n.disables, 1);
}

static void test_storm_quiet_restarts(void **state)
{
	(void)state;
	struct src s;
	struct irqcore_sharer a;
	uint64_t now = T0;

	src_init(&s, IRQCORE_LEVEL);
	irqcore_sharer_init(&a);

	/* strays more than 100 ms apart: two full windows, never a storm */
	for (uint32_t i = 0; i < 2 * IRQCORE_STORM_WINDOW; i++) {
		assert_int_equal(occur(&s, &a, IRQCORE_NOT_MINE, now), DONE_UNMASK);
		now += IRQCORE_STORM_QUIET_NS + 1;
	}
	assert_int_equal(s.l.n.unhandled, 2 * IRQCORE_STORM_WINDOW);
	assert_int_equal(s.l.n.disables, 0);

	/* one gap > 100 ms in the middle of a flood restarts the count: not disabled */
	for (uint32_t i = 1; i <= IRQCORE_STORM_WINDOW; i++) {
		now += i == IRQCORE_STORM_WINDOW / 2 ? IRQCORE_STORM_QUIET_NS + 1 : US;
		assert_int_equal(occur(&s, &a, IRQCORE_NOT_MINE, now), DONE_UNMASK);
	}
	assert_int_equal(s.l.n.disables, 0);

	/* exactly 100 ms apart is not "more than": the window counts all and disables */
	for (uint32_t i = 1; i <= IRQCORE_STORM_WINDOW; i++) {
		now += IRQCORE_STORM_QUIET_NS;
		unsigned want = i < IRQCORE_STORM_WINDOW
					? DONE_UNMASK
					: IRQCORE_ACT_COMPLETE | IRQCORE_ACT_DISABLED;
		assert_int_equal(occur(&s, &a, IRQCORE_NOT_MINE, now), want);
	}
	assert_int_equal(s.l.n.disables, 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_edge_counts),
		cmocka_unit_test(test_level_one_sharer),
		cmocka_unit_test(test_level_three_sharers_all_orders),
		cmocka_unit_test(test_likely_owner),
		cmocka_unit_test(test_invalid_answers),
		cmocka_unit_test(test_client_masks_refcounted),
		cmocka_unit_test(test_sharer_gone),
		cmocka_unit_test(test_deadline_stall),
		cmocka_unit_test(test_deadline_all_silent),
		cmocka_unit_test(test_deadline_no_restall),
		cmocka_unit_test(test_orphaned_level),
		cmocka_unit_test(test_storm_disables),
		cmocka_unit_test(test_storm_enable_restarts_window),
		cmocka_unit_test(test_storm_boundary),
		cmocka_unit_test(test_storm_quiet_restarts),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
