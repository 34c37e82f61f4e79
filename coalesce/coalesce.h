/*
 * coalesce.h - interrupt coalescing policies (pure: events and time in, decisions out).
 *
 * One `struct coalesce` lives in each attachment. irqd feeds it the events that arrive for the
 * attachment and the deliveries it makes; the policy says when the pending batch must be handed
 * to the client. No I/O, no clock reads, no allocation: every function takes `now_ns`
 * (CLOCK_MONOTONIC nanoseconds) as an input, so the policies are unit-tested with synthetic time.
 *
 * Modes, in the spirit of `ethtool -C` (rx-usecs / rx-frames / adaptive-rx):
 *   off      usecs = 0, frames <= 1      deliver every event at once
 *   frames   usecs = 0, frames = N > 1   deliver when N events are pending; a batch is never held
 *                                        longer than COALESCE_FRAMES_MAX_HOLD_US (safety flush)
 *   usecs    usecs = T, frames <= 1      deliver T microseconds after the first pending event
 *   both     usecs = T, frames = N       whichever comes first
 *   adaptive adaptive = true             usecs/frames chosen from coalesce_profiles[] by a
 *                                        net_dim-style profile walk (see adaptive.c)
 */
#ifndef COALESCE_H
#define COALESCE_H

#include <stdbool.h>
#include <stdint.h>

#define COALESCE_FRAMES_MAX_HOLD_US 1000u   /* frames-only: longest a batch may wait */
#define COALESCE_MAX_USECS 1000000u         /* larger usecs are rejected */
#define COALESCE_MAX_FRAMES 65536u          /* larger frames are rejected */
#define COALESCE_NO_DEADLINE UINT64_MAX

struct coalesce_params {
	uint32_t usecs;   /* 0: no time limit */
	uint32_t frames;  /* 0 or 1: no count limit */
	bool adaptive;    /* true: usecs/frames come from the profile walk */
};

/* One step of the adaptive walk. */
struct coalesce_profile {
	uint32_t usecs;
	uint32_t frames;
};

extern const struct coalesce_profile coalesce_profiles[];
extern const unsigned coalesce_profile_count;

/* net_dim-like walk state (adaptive.c). START: resting at profile 0 because the load is too
 * low for batching to pay; the walk begins (going right) once it is not. */
enum coalesce_walk_state { COALESCE_WALK_START, COALESCE_WALK_RIGHT, COALESCE_WALK_LEFT,
			   COALESCE_WALK_PARKED_ON_TOP, COALESCE_WALK_PARKED_TIRED };

struct coalesce_walk {
	enum coalesce_walk_state state;
	unsigned profile;          /* index into coalesce_profiles */
	unsigned steps;            /* steps since the last park (tiredness) */
	unsigned tired;            /* sample windows left to stay parked while tired */
	uint64_t sample_start_ns;  /* start of the current sample window */
	uint64_t sample_events;    /* events delivered in the current window */
	uint64_t sample_wakeups;   /* deliveries (wake-ups) in the current window */
	bool have_prev;
	double prev_event_rate;    /* events per ms in the previous window */
	double prev_wakeup_rate;   /* wake-ups per ms in the previous window */
};

struct coalesce {
	struct coalesce_params params;   /* as configured */
	uint32_t usecs, frames;          /* in force now (== params unless adaptive) */
	uint64_t pending;                /* events not yet delivered */
	uint64_t first_pending_ns;       /* arrival time of the oldest pending event */
	struct coalesce_walk walk;
};

/* Returns 0, or -EINVAL if the parameters are out of range (usecs > COALESCE_MAX_USECS,
 * frames > COALESCE_MAX_FRAMES). */
int coalesce_check_params(const struct coalesce_params *p);

/* Initialises with checked parameters (caller ran coalesce_check_params). No events pending. */
void coalesce_init(struct coalesce *c, const struct coalesce_params *p, uint64_t now_ns);

/* Changes the parameters; pending events stay pending and are re-judged by the new rule. */
void coalesce_set_params(struct coalesce *c, const struct coalesce_params *p, uint64_t now_ns);

/* n (>= 1) events arrived at now_ns. Returns true if the pending batch is due now. */
bool coalesce_add(struct coalesce *c, uint64_t n, uint64_t now_ns);

/* True if the pending batch is due at now_ns (a timer fired, or parameters changed). */
bool coalesce_due(const struct coalesce *c, uint64_t now_ns);

/* When the pending batch becomes due by time alone; COALESCE_NO_DEADLINE if nothing pending
 * or no time rule applies. In off mode a pending batch is due at once: its deadline is the
 * arrival of the first pending event. A deadline beyond the end of time saturates to
 * COALESCE_NO_DEADLINE. */
uint64_t coalesce_deadline(const struct coalesce *c);

/* The caller delivers the whole pending batch (one wake-up) at now_ns: returns the number of
 * events delivered, resets pending, and feeds the adaptive walk. */
uint64_t coalesce_take(struct coalesce *c, uint64_t now_ns);

/* adaptive.c, used by coalesce.c (and unit tests): the profile walk. */
void coalesce_walk_init(struct coalesce_walk *w, uint64_t now_ns);
/* One delivery (wake-up) of `events` (>= 1) at now_ns; closes a sample window when one is
 * complete and runs a walk step. Returns true if the profile changed. */
bool coalesce_walk_delivery(struct coalesce_walk *w, uint64_t events, uint64_t now_ns);

#endif
