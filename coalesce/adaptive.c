/*
 * adaptive.c - adaptive coalescing: a net_dim-style walk over a small profile table.
 *
 * Profiles (usecs / frames; "whichever first", as in the both mode):
 *
 *   #  usecs  frames   why
 *   0      0       1   off: an idle or low-rate line gets no added latency; the walk starts here
 *   1     16      16   first step: pays once ~2 events arrive per 16 us (>= 125k events/s)
 *   2     32      32
 *   3     64     128
 *   4    128     256   top: at most 1e6/128 = 7,813 timed wake-ups/s below 2M events/s (above
 *                      that, the 256-frame rule: rate/256). At 1,488,095 events/s the 128 us
 *                      timer fires first with ~190 events: ~7,800 wake-ups/s.
 *
 * Frames track usecs at about one event per microsecond in the low profiles, so at very high
 * rates the count rule caps a batch's latency below the timer; in the top two the timer rules.
 *
 * Sample window: fed by each delivery (coalesce_take = one wake-up). A window closes at a
 * delivery when at least 1 ms has passed since it opened and either 32 wake-ups were seen or
 * 32 ms have passed. 1 ms keeps the rates meaningful at high load (hundreds of wake-ups at
 * profile 0, >= 7 at the top); 32 wake-ups bounds the quantisation error of the event rate to
 * ~3%, well inside the 10% significance threshold; the 32 ms cap keeps a line whose load fell
 * from waiting long for its window (at 1,000 events/s a window is 32 ms either way). Metrics
 * per window: events delivered per ms (higher is better), then wake-ups per ms (lower is
 * better). A change counts only if it exceeds 10% of the previous value.
 *
 * Walk rules, applied in this order at the end of each window:
 *   1. Too high (load fell): at a profile > 0, if the mean batch was below 1.5 events, batching
 *      only adds latency (most deliveries were a lone event flushed by the timer): step left.
 *   2. Too little load: at profile 0, if the event rate is below 2 events per profile-1 window
 *      (rate * 16 us < 2), batching cannot pay: rest in START at profile 0. Rules 1 and 2 form
 *      a hysteresis band (enter at ~2 events per window, leave below ~0.5), so they do not
 *      fight each other.
 *   3. Otherwise net_dim-like: START begins walking right. While walking (RIGHT/LEFT), a
 *      window that is not BETTER than the previous one turns the walk around; then it steps.
 *      Stepping past an edge parks it on top; 10 steps without parking make it tired and it
 *      parks for 8 windows. Parked on top, the reference window is kept and the walk leaves
 *      (towards the inside of the table) only when the stats differ significantly from it; so a
 *      slow drift also ends the park once it adds up to 10%. A tired park ends after its 8
 *      windows, going left (lower latency) unless at profile 0.
 * Why the walk climbs under load: at a fixed offered rate, events/ms does not depend on the
 * profile, so the tie-breaker decides: a higher profile gives >10% fewer wake-ups/ms and is
 * BETTER, until the top edge parks the walk there. When the load changes the event rate moves
 * by >10%, the park ends and the walk re-explores; when it drops to a trickle, rule 1 walks it
 * down one profile per window (at 1,000 events/s: 4 windows of 32 ms from the top).
 */
#include "coalesce.h"

#include <stddef.h>

const struct coalesce_profile coalesce_profiles[] = {
	{ .usecs = 0, .frames = 1 },
	{ .usecs = 16, .frames = 16 },
	{ .usecs = 32, .frames = 32 },
	{ .usecs = 64, .frames = 128 },
	{ .usecs = 128, .frames = 256 },
};
const unsigned coalesce_profile_count = sizeof(coalesce_profiles) / sizeof(coalesce_profiles[0]);

#define COALESCE_WINDOW_MIN_NS   1000000ull    /* a window lasts at least 1 ms ... */
#define COALESCE_WINDOW_WAKEUPS  32u           /* ... and 32 wake-ups ... */
#define COALESCE_WINDOW_MAX_NS   32000000ull   /* ... or 32 ms, whichever first */
#define COALESCE_SIGNIFICANT_PCT 10.0          /* smaller changes are noise */
#define COALESCE_TIRED_STEPS     10u           /* steps without a park before tiring */
#define COALESCE_TIRED_WINDOWS   8u            /* windows a tired walk stays parked */
#define COALESCE_ENTER_BATCH     2.0           /* rule 2: events per profile-1 window */

enum coalesce_verdict { COALESCE_WORSE, COALESCE_SAME, COALESCE_BETTER };

/* -1, 0, +1: curr is significantly below, near, or significantly above prev. */
static int coalesce_diff(double curr, double prev)
{
	double margin = prev * (COALESCE_SIGNIFICANT_PCT / 100.0);

	if (prev <= 0.0)
		return curr > 0.0 ? 1 : 0;
	if (curr > prev + margin)
		return 1;
	if (curr < prev - margin)
		return -1;
	return 0;
}

/* Throughput first; wake-ups only break a tie in throughput. */
static enum coalesce_verdict coalesce_compare(const struct coalesce_walk *w, double ev_ms,
					      double wk_ms)
{
	int d;

	if (!w->have_prev)
		return COALESCE_BETTER;
	d = coalesce_diff(ev_ms, w->prev_event_rate);
	if (d)
		return d > 0 ? COALESCE_BETTER : COALESCE_WORSE;
	d = coalesce_diff(wk_ms, w->prev_wakeup_rate);
	if (d)
		return d < 0 ? COALESCE_BETTER : COALESCE_WORSE;
	return COALESCE_SAME;
}

static void coalesce_walk_park(struct coalesce_walk *w, enum coalesce_walk_state state)
{
	w->state = state;
	w->steps = 0;
	w->tired = state == COALESCE_WALK_PARKED_TIRED ? COALESCE_TIRED_WINDOWS : 0;
}

/* One step in the current direction (RIGHT or LEFT), or a park at an edge or when tired. */
static void coalesce_walk_step(struct coalesce_walk *w)
{
	bool right = w->state == COALESCE_WALK_RIGHT;
	bool at_edge = right ? w->profile + 1 >= coalesce_profile_count : w->profile == 0;

	if (at_edge) {
		coalesce_walk_park(w, COALESCE_WALK_PARKED_ON_TOP);
		return;
	}
	if (w->steps >= COALESCE_TIRED_STEPS) {
		coalesce_walk_park(w, COALESCE_WALK_PARKED_TIRED);
		return;
	}
	w->profile = right ? w->profile + 1 : w->profile - 1;
	w->steps++;
}

/* Leaves a park towards the inside of the table; in the middle, towards lower latency. */
static void coalesce_walk_unpark(struct coalesce_walk *w)
{
	w->state = w->profile == 0 ? COALESCE_WALK_RIGHT : COALESCE_WALK_LEFT;
	w->steps = 0;
	coalesce_walk_step(w);
}

/* True if the window's mean batch is below 1.5 events: 2 * events < 3 * wakeups, written so
 * that it cannot overflow. */
static bool coalesce_batching_useless(uint64_t events, uint64_t wakeups)
{
	if (events < wakeups)
		return true;
	return events - wakeups < wakeups / 2 + (wakeups & 1);
}

static void coalesce_walk_decide(struct coalesce_walk *w, uint64_t events, uint64_t wakeups,
				 uint64_t elapsed_ns)
{
	double ms = (double)elapsed_ns / 1e6;
	double ev_ms = (double)events / ms;
	double wk_ms = (double)wakeups / ms;
	bool keep_prev = false;

	if (w->profile > 0 && coalesce_batching_useless(events, wakeups)) {
		/* rule 1 */
		w->state = COALESCE_WALK_LEFT;
		w->steps = 0;
		w->profile--;
	} else if (w->profile == 0 &&
		   ev_ms * coalesce_profiles[1].usecs < COALESCE_ENTER_BATCH * 1000.0) {
		/* rule 2 */
		coalesce_walk_park(w, COALESCE_WALK_START);
	} else {
		switch (w->state) {
		case COALESCE_WALK_START:
			w->state = COALESCE_WALK_RIGHT;
			w->steps = 0;
			coalesce_walk_step(w);
			break;
		case COALESCE_WALK_PARKED_ON_TOP:
			/* Compare with the window the park began with, so drift accumulates. */
			if (coalesce_compare(w, ev_ms, wk_ms) == COALESCE_SAME)
				keep_prev = true;
			else
				coalesce_walk_unpark(w);
			break;
		case COALESCE_WALK_PARKED_TIRED:
			if (w->tired <= 1)
				coalesce_walk_unpark(w);
			else
				w->tired--;
			break;
		case COALESCE_WALK_RIGHT:
		case COALESCE_WALK_LEFT:
			if (coalesce_compare(w, ev_ms, wk_ms) != COALESCE_BETTER)
				w->state = w->state == COALESCE_WALK_RIGHT ? COALESCE_WALK_LEFT
									   : COALESCE_WALK_RIGHT;
			coalesce_walk_step(w);
			break;
		}
	}
	if (!keep_prev) {
		w->prev_event_rate = ev_ms;
		w->prev_wakeup_rate = wk_ms;
		w->have_prev = true;
	}
}

void coalesce_walk_init(struct coalesce_walk *w, uint64_t now_ns)
{
	*w = (struct coalesce_walk){
		.state = COALESCE_WALK_START,
		.profile = 0,
		.sample_start_ns = now_ns,
	};
}

bool coalesce_walk_delivery(struct coalesce_walk *w, uint64_t events, uint64_t now_ns)
{
	unsigned before = w->profile;
	uint64_t elapsed;

	if (now_ns < w->sample_start_ns) {
		/* Time went backwards (caller mixed clocks): the window is meaningless, restart. */
		w->sample_start_ns = now_ns;
		w->sample_events = 0;
		w->sample_wakeups = 0;
	}
	w->sample_events = w->sample_events > UINT64_MAX - events ? UINT64_MAX
								   : w->sample_events + events;
	if (w->sample_wakeups < UINT64_MAX)
		w->sample_wakeups++;

	elapsed = now_ns - w->sample_start_ns;
	if (elapsed < COALESCE_WINDOW_MIN_NS ||
	    (w->sample_wakeups < COALESCE_WINDOW_WAKEUPS && elapsed < COALESCE_WINDOW_MAX_NS))
		return false;

	coalesce_walk_decide(w, w->sample_events, w->sample_wakeups, elapsed);
	w->sample_start_ns = now_ns;
	w->sample_events = 0;
	w->sample_wakeups = 0;
	return w->profile != before;
}
