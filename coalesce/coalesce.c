/*
 * coalesce.c - the fixed coalescing rules (off / frames / usecs / both); adaptive mode takes
 * its usecs/frames from the profile walk in adaptive.c. Pure: no I/O, no clock, no allocation.
 */
#include "coalesce.h"

#include <errno.h>
#include <stddef.h>

/* Deadlines are first_pending + hold; a huge first_pending must not wrap to the past. */
static uint64_t coalesce_sat_add(uint64_t a, uint64_t b)
{
	return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

/* off: no time rule and no count rule, every event is due at once. */
static bool coalesce_is_off(const struct coalesce *c)
{
	return c->usecs == 0 && c->frames <= 1;
}

/* Puts the usecs/frames in force: the configured ones, or the walk's current profile. */
static void coalesce_apply(struct coalesce *c)
{
	if (c->params.adaptive) {
		unsigned ix = c->walk.profile;

		if (ix >= coalesce_profile_count)   /* cannot happen; stay safe: off */
			ix = 0;
		c->usecs = coalesce_profiles[ix].usecs;
		c->frames = coalesce_profiles[ix].frames;
	} else {
		c->usecs = c->params.usecs;
		c->frames = c->params.frames;
	}
}

int coalesce_check_params(const struct coalesce_params *p)
{
	/* Out-of-range values are rejected even with adaptive set: they would come back into
	 * force if adaptive were later turned off. */
	if (!p || p->usecs > COALESCE_MAX_USECS || p->frames > COALESCE_MAX_FRAMES)
		return -EINVAL;
	return 0;
}

void coalesce_init(struct coalesce *c, const struct coalesce_params *p, uint64_t now_ns)
{
	*c = (struct coalesce){ .params = *p };
	coalesce_walk_init(&c->walk, now_ns);
	coalesce_apply(c);
}

void coalesce_set_params(struct coalesce *c, const struct coalesce_params *p, uint64_t now_ns)
{
	bool was_adaptive = c->params.adaptive;

	c->params = *p;
	/* Entering adaptive starts a fresh walk at profile 0 (off): no added latency until the
	 * walk has measured the load. Staying adaptive keeps what the walk has learnt. */
	if (p->adaptive && !was_adaptive)
		coalesce_walk_init(&c->walk, now_ns);
	coalesce_apply(c);
	/* pending and first_pending_ns are untouched: coalesce_due/deadline re-judge them. */
}

bool coalesce_add(struct coalesce *c, uint64_t n, uint64_t now_ns)
{
	if (n) {
		if (c->pending == 0)
			c->first_pending_ns = now_ns;
		/* Saturates rather than wraps; 2^64 events is out of reach in practice, so counts
		 * stay exact. */
		c->pending = coalesce_sat_add(c->pending, n);
	}
	return coalesce_due(c, now_ns);
}

uint64_t coalesce_deadline(const struct coalesce *c)
{
	uint64_t hold_us;

	if (c->pending == 0)
		return COALESCE_NO_DEADLINE;
	if (c->usecs)
		hold_us = c->usecs;
	else if (c->frames > 1)
		hold_us = COALESCE_FRAMES_MAX_HOLD_US;   /* frames-only safety flush */
	else
		return c->first_pending_ns;              /* off: due since it arrived */
	return coalesce_sat_add(c->first_pending_ns, hold_us * 1000u);
}

bool coalesce_due(const struct coalesce *c, uint64_t now_ns)
{
	uint64_t deadline;

	if (c->pending == 0)
		return false;
	/* Checked apart from the deadline so that a now_ns before first_pending_ns (a caller
	 * mixing clocks) still delivers at once. */
	if (coalesce_is_off(c))
		return true;
	if (c->frames > 1 && c->pending >= c->frames)
		return true;
	deadline = coalesce_deadline(c);
	return deadline != COALESCE_NO_DEADLINE && now_ns >= deadline;
}

uint64_t coalesce_take(struct coalesce *c, uint64_t now_ns)
{
	uint64_t n = c->pending;

	c->pending = 0;
	/* An empty take is no delivery: it must not count as a wake-up for the walk. */
	if (n && c->params.adaptive && coalesce_walk_delivery(&c->walk, n, now_ns))
		coalesce_apply(c);
	return n;
}
