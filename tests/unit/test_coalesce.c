/*
 * test_coalesce.c - unit tests for coalesce/ (fixed modes and the adaptive walk), driven by
 * synthetic time.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdbool.h>

#include "coalesce.h"

#define US 1000ull
#define MS 1000000ull
#define SEC 1000000000ull
#define T0 (5 * SEC)   /* arbitrary non-zero start of synthetic time */

static struct coalesce_params mkp(uint32_t usecs, uint32_t frames, bool adaptive)
{
	return (struct coalesce_params){ .usecs = usecs, .frames = frames, .adaptive = adaptive };
}

static void init_params(struct coalesce *c, uint32_t usecs, uint32_t frames, bool adaptive,
			uint64_t now)
{
	struct coalesce_params p = mkp(usecs, frames, adaptive);

	assert_int_equal(coalesce_check_params(&p), 0);
	coalesce_init(c, &p, now);
}

static void set_params(struct coalesce *c, uint32_t usecs, uint32_t frames, bool adaptive,
		       uint64_t now)
{
	struct coalesce_params p = mkp(usecs, frames, adaptive);

	assert_int_equal(coalesce_check_params(&p), 0);
	coalesce_set_params(c, &p, now);
}

/* ---- fixed modes ---------------------------------------------------------------------- */

static void test_check_params(void **state)
{
	struct coalesce_params p;

	(void)state;
	p = mkp(0, 0, false);
	assert_int_equal(coalesce_check_params(&p), 0);
	p = mkp(COALESCE_MAX_USECS, COALESCE_MAX_FRAMES, false);
	assert_int_equal(coalesce_check_params(&p), 0);
	p = mkp(COALESCE_MAX_USECS + 1, 0, false);
	assert_int_equal(coalesce_check_params(&p), -EINVAL);
	p = mkp(0, COALESCE_MAX_FRAMES + 1, false);
	assert_int_equal(coalesce_check_params(&p), -EINVAL);
	p = mkp(UINT32_MAX, UINT32_MAX, false);
	assert_int_equal(coalesce_check_params(&p), -EINVAL);
	p = mkp(0, 0, true);
	assert_int_equal(coalesce_check_params(&p), 0);
	p = mkp(COALESCE_MAX_USECS + 1, 0, true);
	assert_int_equal(coalesce_check_params(&p), -EINVAL);
	assert_int_equal(coalesce_check_params(NULL), -EINVAL);
}

static void test_empty(void **state)
{
	struct coalesce c;

	(void)state;
	init_params(&c, 10, 8, false, T0);
	assert_false(coalesce_due(&c, T0));
	assert_false(coalesce_due(&c, UINT64_MAX));
	assert_true(coalesce_deadline(&c) == COALESCE_NO_DEADLINE);
	assert_true(coalesce_take(&c, T0) == 0);
	assert_true(coalesce_take(&c, T0) == 0);
}

static void test_off(void **state)
{
	struct coalesce c;
	uint32_t frames;

	(void)state;
	for (frames = 0; frames <= 1; frames++) {
		init_params(&c, 0, frames, false, T0);
		assert_true(coalesce_add(&c, 1, T0 + 10));
		assert_true(coalesce_due(&c, T0 + 10));
		/* Due at once even if asked about an earlier instant. */
		assert_true(coalesce_due(&c, 0));
		assert_true(coalesce_deadline(&c) == T0 + 10);
		assert_true(coalesce_take(&c, T0 + 10) == 1);
		assert_false(coalesce_due(&c, T0 + 10));
		assert_true(coalesce_add(&c, 7, T0 + 20));
		assert_true(coalesce_take(&c, T0 + 20) == 7);
	}
}

static void test_frames_boundary(void **state)
{
	struct coalesce c;
	unsigned i;

	(void)state;
	init_params(&c, 0, 8, false, T0);
	for (i = 1; i < 8; i++) {
		assert_false(coalesce_add(&c, 1, T0 + i * US));
		assert_false(coalesce_due(&c, T0 + i * US));
	}
	assert_true(c.pending == 7);
	assert_true(coalesce_add(&c, 1, T0 + 8 * US));   /* N-1 -> N */
	assert_true(coalesce_take(&c, T0 + 8 * US) == 8);

	/* A burst crossing N in one add is due; the take returns all of it. */
	assert_false(coalesce_add(&c, 3, T0 + 10 * US));
	assert_true(coalesce_add(&c, 10, T0 + 11 * US));
	assert_true(coalesce_take(&c, T0 + 11 * US) == 13);
}

static void test_frames_safety_hold(void **state)
{
	struct coalesce c;
	uint64_t first = T0 + 123;
	uint64_t hold = (uint64_t)COALESCE_FRAMES_MAX_HOLD_US * US;

	(void)state;
	init_params(&c, 0, 64, false, T0);
	assert_false(coalesce_add(&c, 1, first));
	assert_true(coalesce_deadline(&c) == first + hold);
	/* Later events do not move the deadline: it is the first pending event that counts. */
	assert_false(coalesce_add(&c, 5, first + hold / 2));
	assert_true(coalesce_deadline(&c) == first + hold);
	assert_false(coalesce_due(&c, first + hold - 1));
	assert_true(coalesce_due(&c, first + hold));
	assert_true(coalesce_add(&c, 1, first + hold + 1));
	assert_true(coalesce_take(&c, first + hold + 1) == 7);
	/* The next batch's clock starts at its own first event. */
	assert_false(coalesce_add(&c, 1, first + 5 * hold));
	assert_true(coalesce_deadline(&c) == first + 6 * hold);
}

static void test_usecs_boundary(void **state)
{
	struct coalesce c;
	uint32_t frames;
	uint64_t first = T0 + 77;

	(void)state;
	for (frames = 0; frames <= 1; frames++) {
		init_params(&c, 50, frames, false, T0);
		assert_false(coalesce_add(&c, 1, first));
		assert_true(coalesce_deadline(&c) == first + 50 * US);
		/* No count rule in usecs mode: a big batch still waits for the timer. */
		assert_false(coalesce_add(&c, 100000, first + 49 * US));
		assert_true(coalesce_deadline(&c) == first + 50 * US);
		assert_false(coalesce_due(&c, first + 50 * US - 1));
		assert_true(coalesce_due(&c, first + 50 * US));
		assert_true(coalesce_add(&c, 1, first + 50 * US));
		assert_true(coalesce_take(&c, first + 50 * US) == 100002);
		assert_true(coalesce_deadline(&c) == COALESCE_NO_DEADLINE);
	}
	/* usecs larger than the frames-only safety hold is honoured as configured. */
	init_params(&c, 5000, 0, false, T0);
	assert_false(coalesce_add(&c, 1, first));
	assert_false(coalesce_due(&c, first + 5000 * US - 1));
	assert_true(coalesce_due(&c, first + 5000 * US));
}

static void test_both(void **state)
{
	struct coalesce c;
	uint64_t first = T0 + 1;
	unsigned i;

	(void)state;
	/* Count first. */
	init_params(&c, 50, 4, false, T0);
	for (i = 0; i < 3; i++)
		assert_false(coalesce_add(&c, 1, first + i));
	assert_false(coalesce_due(&c, first + 50 * US - 1));
	assert_true(coalesce_add(&c, 1, first + 50 * US - 1));
	assert_true(coalesce_take(&c, first + 50 * US - 1) == 4);

	/* Time first. */
	first += SEC;
	for (i = 0; i < 3; i++)
		assert_false(coalesce_add(&c, 1, first + i));
	assert_true(coalesce_deadline(&c) == first + 50 * US);
	assert_false(coalesce_due(&c, first + 50 * US - 1));
	assert_true(coalesce_due(&c, first + 50 * US));
	assert_true(coalesce_take(&c, first + 50 * US) == 3);

	/* In the both mode the timer is usecs, not the frames-only safety hold. */
	init_params(&c, 2000, 4, false, T0);
	assert_false(coalesce_add(&c, 1, first));
	assert_true(coalesce_deadline(&c) == first + 2000 * US);
}

static void test_deadline_saturates(void **state)
{
	struct coalesce c;
	uint64_t first = UINT64_MAX - 10 * US;

	(void)state;
	init_params(&c, COALESCE_MAX_USECS, 0, false, 0);
	assert_false(coalesce_add(&c, 1, first));
	assert_true(coalesce_deadline(&c) == COALESCE_NO_DEADLINE);
	assert_false(coalesce_due(&c, UINT64_MAX - 1));
	assert_true(coalesce_take(&c, UINT64_MAX - 1) == 1);

	init_params(&c, 0, 100, false, 0);
	assert_false(coalesce_add(&c, 1, first));
	assert_true(coalesce_deadline(&c) >= first);   /* no wrap to the past */
	assert_false(coalesce_due(&c, UINT64_MAX - 1));

	/* Just fits. */
	init_params(&c, 10, 0, false, 0);
	assert_false(coalesce_add(&c, 1, first));
	assert_true(coalesce_deadline(&c) == UINT64_MAX);
}

static void test_set_params_rejudges(void **state)
{
	struct coalesce c;
	uint64_t first = T0 + 5;

	(void)state;
	/* Lower the frame threshold below what is pending. */
	init_params(&c, 0, 8, false, T0);
	assert_false(coalesce_add(&c, 5, first));
	set_params(&c, 0, 6, false, first + 1);
	assert_false(coalesce_due(&c, first + 1));
	assert_true(c.pending == 5);
	set_params(&c, 0, 5, false, first + 2);
	assert_true(coalesce_due(&c, first + 2));
	/* Raise it again: no longer due by count; the safety hold still runs from the first event. */
	set_params(&c, 0, 64, false, first + 3);
	assert_false(coalesce_due(&c, first + 3));
	assert_true(coalesce_deadline(&c) ==
		    first + (uint64_t)COALESCE_FRAMES_MAX_HOLD_US * US);

	/* Switch to a usecs rule whose time, counted from the first pending event, has passed. */
	set_params(&c, 10, 0, false, first + 20 * US);
	assert_true(coalesce_deadline(&c) == first + 10 * US);
	assert_true(coalesce_due(&c, first + 20 * US));
	/* A longer one: not yet. */
	set_params(&c, 100, 0, false, first + 20 * US);
	assert_false(coalesce_due(&c, first + 20 * US));
	assert_false(coalesce_due(&c, first + 100 * US - 1));
	assert_true(coalesce_due(&c, first + 100 * US));
	/* Switch to off: due at once. */
	set_params(&c, 0, 0, false, first + 21 * US);
	assert_true(coalesce_due(&c, first + 21 * US));
	assert_true(coalesce_take(&c, first + 21 * US) == 5);

	/* Switching to adaptive starts the walk at profile 0 (off): a held batch becomes due. */
	init_params(&c, 0, 64, false, T0);
	assert_false(coalesce_add(&c, 3, first));
	set_params(&c, 0, 0, true, first + 1);
	assert_int_equal(c.walk.profile, 0);
	assert_int_equal(c.walk.state, COALESCE_WALK_START);
	assert_true(c.usecs == 0 && c.frames <= 1);
	assert_true(coalesce_due(&c, first + 1));
	/* And leaving adaptive puts the configured rule in force. */
	set_params(&c, 0, 64, false, first + 2);
	assert_true(c.frames == 64 && c.usecs == 0);
	assert_false(coalesce_due(&c, first + 2));
	assert_true(coalesce_take(&c, first + 2) == 3);
}

/* ---- exact counts over a long random sequence ------------------------------------------- */

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint64_t rng(void)
{
	/* xorshift64* */
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 0x2545f4914f6cdd1dull;
}

static struct coalesce_params random_params(void)
{
	static const uint32_t usecs[] = { 0, 1, 10, 50, 128, 1000, 20000 };
	static const uint32_t frames[] = { 0, 1, 2, 8, 64, 256, 65536 };

	return mkp(usecs[rng() % 7], frames[rng() % 7], rng() % 3 == 0);
}

static void test_exact_counts_random(void **state)
{
	struct coalesce c;
	struct coalesce_params p = random_params();
	uint64_t now = T0, added = 0, taken = 0, adds = 0;
	unsigned i;

	(void)state;
	coalesce_init(&c, &p, now);
	for (i = 0; i < 2000000; i++) {
		uint64_t r = rng();
		uint64_t n, d;

		/* Mostly short gaps (bursts), sometimes long ones (idle). */
		now += (r & 0xff) == 0 ? rng() % (50 * MS) : rng() % (4 * US);
		d = coalesce_deadline(&c);
		if (c.pending && d != COALESCE_NO_DEADLINE && d <= now) {
			uint64_t at = d;   /* the timer fires at the deadline */

			assert_true(coalesce_due(&c, at));
			taken += coalesce_take(&c, at);
		}
		if ((r >> 8) % 50000 == 0) {
			p = random_params();
			assert_int_equal(coalesce_check_params(&p), 0);
			coalesce_set_params(&c, &p, now);
			if (coalesce_due(&c, now))
				taken += coalesce_take(&c, now);
		}
		n = (r >> 20) % 8 == 0 ? 1 + rng() % 300 : 1;
		added += n;
		adds++;
		if (coalesce_add(&c, n, now)) {
			taken += coalesce_take(&c, now);
			assert_true(c.pending == 0);
		} else {
			/* Not due: then its deadline, if any, is in the future. */
			d = coalesce_deadline(&c);
			assert_true(d == COALESCE_NO_DEADLINE || d > now);
			assert_false(coalesce_due(&c, now));
		}
		assert_true(added == taken + c.pending);
	}
	taken += coalesce_take(&c, now);
	assert_true(added == taken);
	assert_true(coalesce_take(&c, now) == 0);
	assert_true(adds == 2000000);
}

/* ---- adaptive: simulated steady load ----------------------------------------------------- */

struct sim {
	struct coalesce c;
	uint64_t added, taken, wakeups;
	uint64_t held;                      /* adds that were not due at once */
	uint64_t count_from, count_to;      /* wake-ups counted in [from, to) */
	uint64_t wakeups_counted, events_counted;
	uint64_t profile_changes_counted;
	uint64_t watch_from, back_at_zero;  /* first take >= watch_from that left profile 0 */
};

static void sim_take(struct sim *s, uint64_t now)
{
	unsigned before = s->c.walk.profile;
	uint64_t n = coalesce_take(&s->c, now);

	assert_true(n > 0);
	s->taken += n;
	s->wakeups++;
	if (now >= s->count_from && now < s->count_to) {
		s->wakeups_counted++;
		s->events_counted += n;
		if (s->c.walk.profile != before)
			s->profile_changes_counted++;
	}
	if (s->watch_from && !s->back_at_zero && now >= s->watch_from && s->c.walk.profile == 0)
		s->back_at_zero = now;
}

/* The timer fires: takes the batch at its deadline if that is no later than t. */
static void sim_timers_until(struct sim *s, uint64_t t)
{
	while (s->c.pending) {
		uint64_t d = coalesce_deadline(&s->c);

		if (d == COALESCE_NO_DEADLINE || d > t)
			break;
		assert_true(coalesce_due(&s->c, d));
		sim_take(s, d);
	}
}

/* Offers `rate` events/s, evenly spaced, over [t0, t1): takes the batch whenever
 * coalesce_add says due, or at its deadline when that passes first. */
static void sim_run(struct sim *s, uint64_t t0, uint64_t t1, uint64_t rate)
{
	uint64_t k, t;

	for (k = 0;; k++) {
		t = t0 + k * SEC / rate;
		if (t >= t1)
			break;
		sim_timers_until(s, t);
		s->added++;
		if (coalesce_add(&s->c, 1, t))
			sim_take(s, t);
		else
			s->held++;
	}
	sim_timers_until(s, t1);
}

static void sim_init(struct sim *s, uint64_t now)
{
	*s = (struct sim){ 0 };
	init_params(&s->c, 0, 0, true, now);
}

static void sim_finish(struct sim *s, uint64_t now)
{
	if (s->c.pending)
		sim_take(s, now);
	assert_true(s->added == s->taken);
}

#define LINE_RATE 1488095u   /* 10GbE minimum-size frames per second */

static void test_adaptive_high_rate(void **state)
{
	struct sim s;

	(void)state;
	sim_init(&s, 0);
	s.count_from = 200 * MS;
	s.count_to = 1200 * MS;
	sim_run(&s, 0, 1200 * MS, LINE_RATE);
	print_message("      adaptive @ %u ev/s: %llu wake-ups/s after warm-up (%llu events), "
		      "profile %u\n", LINE_RATE, (unsigned long long)s.wakeups_counted,
		      (unsigned long long)s.events_counted, s.c.walk.profile);
	assert_true(s.wakeups_counted < 20000);
	assert_true(s.wakeups_counted > 0);
	/* Every offered event in the measured second was delivered in it (give or take the
	 * batches at its two edges). */
	assert_true(s.events_counted + 2 * 256 >= LINE_RATE && s.events_counted <= LINE_RATE + 2 * 256);
	assert_int_equal(s.c.walk.profile, coalesce_profile_count - 1);
	assert_int_equal(s.c.walk.state, COALESCE_WALK_PARKED_ON_TOP);
	assert_true(s.profile_changes_counted == 0);   /* parked: no oscillation */
	sim_finish(&s, 1200 * MS);

	/* Staying adaptive keeps the walk; leaving and re-entering starts again at profile 0. */
	set_params(&s.c, 0, 0, true, 1200 * MS);
	assert_int_equal(s.c.walk.profile, coalesce_profile_count - 1);
	set_params(&s.c, 10, 0, false, 1200 * MS);
	assert_true(s.c.usecs == 10 && s.c.frames == 0);
	set_params(&s.c, 0, 0, true, 1200 * MS);
	assert_int_equal(s.c.walk.profile, 0);
	assert_int_equal(s.c.walk.state, COALESCE_WALK_START);
	assert_true(coalesce_add(&s.c, 1, 1200 * MS + 1));
}

static void test_adaptive_low_rate(void **state)
{
	struct sim s;

	(void)state;
	sim_init(&s, T0);
	s.count_from = T0;
	s.count_to = T0 + SEC;
	sim_run(&s, T0, T0 + 2 * SEC, 1000);
	print_message("      adaptive @ 1000 ev/s: %llu wake-ups/s, %llu events held\n",
		      (unsigned long long)s.wakeups_counted, (unsigned long long)s.held);
	assert_true(s.held == 0);                     /* each event due at once */
	assert_true(s.wakeups_counted == 1000);
	assert_true(s.profile_changes_counted == 0);
	assert_int_equal(s.c.walk.profile, 0);
	assert_int_equal(s.c.walk.state, COALESCE_WALK_START);
	sim_finish(&s, T0 + 2 * SEC);
}

static void test_adaptive_comes_back_down(void **state)
{
	struct sim s;
	uint64_t drop = T0 + 300 * MS;

	(void)state;
	sim_init(&s, T0);
	sim_run(&s, T0, drop, LINE_RATE);
	assert_int_equal(s.c.walk.profile, coalesce_profile_count - 1);

	s.watch_from = drop;
	sim_run(&s, drop, drop + 500 * MS, 1000);
	assert_true(s.back_at_zero != 0);
	print_message("      back at profile 0 %llu ms after the load dropped\n",
		      (unsigned long long)((s.back_at_zero - drop) / MS));
	assert_true(s.back_at_zero - drop <= 250 * MS);
	assert_int_equal(s.c.walk.profile, 0);

	/* And from then on every event is due at once. */
	s.held = 0;
	s.count_from = drop + 500 * MS;
	s.count_to = drop + 1500 * MS;
	sim_run(&s, drop + 500 * MS, drop + 1500 * MS, 1000);
	assert_true(s.held == 0);
	assert_true(s.wakeups_counted == 1000);
	sim_finish(&s, drop + 1500 * MS);

	/* And it climbs again when the load returns. */
	s.count_from = drop + 1700 * MS;
	s.count_to = drop + 2700 * MS;
	s.wakeups_counted = 0;
	sim_run(&s, drop + 1500 * MS, drop + 2700 * MS, LINE_RATE);
	assert_true(s.wakeups_counted < 20000);
	sim_finish(&s, drop + 2700 * MS);
}

/* A rate where profile 1 would hold ~1 event per window: not worth entering, stays off. */
static void test_adaptive_moderate_rate_stays_off(void **state)
{
	struct sim s;

	(void)state;
	sim_init(&s, T0);
	sim_run(&s, T0, T0 + SEC, 60000);
	assert_true(s.held == 0);
	assert_int_equal(s.c.walk.profile, 0);
	sim_finish(&s, T0 + SEC);
}

/* A rate where batching pays but the top is not reached through the frames rule alone. */
static void test_adaptive_medium_rate_climbs(void **state)
{
	struct sim s;

	(void)state;
	sim_init(&s, T0);
	s.count_from = T0 + 200 * MS;
	s.count_to = T0 + 1200 * MS;
	sim_run(&s, T0, T0 + 1200 * MS, 300000);
	assert_true(s.c.walk.profile > 0);
	/* Fewer wake-ups than events by a wide margin. */
	assert_true(s.wakeups_counted * 4 < s.events_counted);
	sim_finish(&s, T0 + 1200 * MS);
}

/* The walk itself: a window is at least 1 ms and 32 wake-ups (or 32 ms). */
static void test_walk_window(void **state)
{
	struct coalesce_walk w;
	unsigned i;

	(void)state;
	coalesce_walk_init(&w, T0);
	/* 31 wake-ups of 100 events over 2 ms: window still open. */
	for (i = 1; i <= 31; i++)
		assert_false(coalesce_walk_delivery(&w, 100, T0 + i * 64 * US));
	assert_true(w.sample_wakeups == 31);
	/* The 32nd closes it (>= 1 ms), and at 1,600 events/ms profile 0 walks right. */
	assert_true(coalesce_walk_delivery(&w, 100, T0 + 2 * MS));
	assert_int_equal(w.profile, 1);
	assert_int_equal(w.state, COALESCE_WALK_RIGHT);
	assert_true(w.sample_wakeups == 0);

	/* Many wake-ups in under 1 ms: no window yet. */
	coalesce_walk_init(&w, T0);
	for (i = 1; i < 1000; i++)
		assert_false(coalesce_walk_delivery(&w, 1, T0 + i * 999));
	assert_int_equal(w.profile, 0);

	/* Time going backwards restarts the window rather than underflowing. */
	assert_false(coalesce_walk_delivery(&w, 1, T0 - SEC));
	assert_true(w.sample_start_ns == T0 - SEC);
	assert_true(w.sample_wakeups == 1);
}

/* Stats that never change whatever the profile: the walk turns at every step, tires after
 * ~10 steps, stays parked for a while, then walks again. */
static void test_walk_tires(void **state)
{
	struct coalesce_walk w;
	uint64_t now = T0;
	unsigned win, parked_windows = 0, first_park = 0;

	(void)state;
	coalesce_walk_init(&w, now);
	for (win = 1; win <= 40; win++) {
		unsigned i;

		/* One window: 64 wake-ups of 4 events in 1 ms (256 events/ms). */
		for (i = 0; i < 64; i++) {
			now += MS / 64;
			coalesce_walk_delivery(&w, 4, now);
		}
		assert_true(w.profile <= 1);
		if (w.state == COALESCE_WALK_PARKED_TIRED) {
			if (!first_park)
				first_park = win;
			parked_windows++;
		} else if (first_park && parked_windows) {
			break;   /* left the tired park */
		}
	}
	assert_true(first_park >= 10 && first_park <= 12);
	assert_true(parked_windows >= 4 && parked_windows <= 10);
	assert_true(w.state == COALESCE_WALK_LEFT || w.state == COALESCE_WALK_RIGHT ||
		    w.state == COALESCE_WALK_PARKED_ON_TOP);
}

/* Rule 1: lone events flushed by the timer walk the profile down one step per window. */
static void test_walk_lone_events_step_left(void **state)
{
	struct coalesce_walk w;
	uint64_t now = T0;
	unsigned i;

	(void)state;
	coalesce_walk_init(&w, now);
	w.profile = coalesce_profile_count - 1;
	w.state = COALESCE_WALK_PARKED_ON_TOP;
	for (i = 0; i < 32; i++) {
		now += MS;
		coalesce_walk_delivery(&w, 1, now);
	}
	assert_int_equal(w.profile, coalesce_profile_count - 2);
	assert_int_equal(w.state, COALESCE_WALK_LEFT);
}

/* Parked on top, the reference is the window the park began with: a slow drift of 3% per
 * window ends the park once it adds up to more than 10%, not before. */
static void test_walk_park_drift(void **state)
{
	struct coalesce_walk w;
	uint64_t now = T0;
	unsigned win, left_at = 0;
	double per_take = 125.0;   /* 32 takes in 4 ms: 1,000 events/ms, 8 wake-ups/ms */

	(void)state;
	coalesce_walk_init(&w, now);
	w.profile = coalesce_profile_count - 1;
	w.state = COALESCE_WALK_PARKED_ON_TOP;
	w.have_prev = true;
	w.prev_event_rate = 1000.0;
	w.prev_wakeup_rate = 8.0;
	for (win = 1; win <= 8 && !left_at; win++) {
		unsigned i;

		per_take *= 1.03;
		for (i = 0; i < 32; i++) {
			now += 125 * US;
			coalesce_walk_delivery(&w, (uint64_t)per_take, now);
		}
		if (w.state != COALESCE_WALK_PARKED_ON_TOP)
			left_at = win;
	}
	assert_int_equal(left_at, 4);   /* 1.03^3 < 1.1 < 1.03^4 */
	assert_int_equal(w.state, COALESCE_WALK_LEFT);
	assert_int_equal(w.profile, coalesce_profile_count - 2);
}

static void test_profiles(void **state)
{
	unsigned i;

	(void)state;
	assert_true(coalesce_profile_count >= 3);
	assert_true(coalesce_profiles[0].usecs == 0 && coalesce_profiles[0].frames <= 1);
	for (i = 1; i < coalesce_profile_count; i++) {
		struct coalesce_params p = mkp(coalesce_profiles[i].usecs,
					       coalesce_profiles[i].frames, false);

		assert_int_equal(coalesce_check_params(&p), 0);
		assert_true(coalesce_profiles[i].usecs > coalesce_profiles[i - 1].usecs);
		assert_true(coalesce_profiles[i].frames >= coalesce_profiles[i - 1].frames);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_check_params),
		cmocka_unit_test(test_empty),
		cmocka_unit_test(test_off),
		cmocka_unit_test(test_frames_boundary),
		cmocka_unit_test(test_frames_safety_hold),
		cmocka_unit_test(test_usecs_boundary),
		cmocka_unit_test(test_both),
		cmocka_unit_test(test_deadline_saturates),
		cmocka_unit_test(test_set_params_rejudges),
		cmocka_unit_test(test_exact_counts_random),
		cmocka_unit_test(test_profiles),
		cmocka_unit_test(test_walk_window),
		cmocka_unit_test(test_walk_tires),
		cmocka_unit_test(test_walk_lone_events_step_left),
		cmocka_unit_test(test_walk_park_drift),
		cmocka_unit_test(test_adaptive_high_rate),
		cmocka_unit_test(test_adaptive_low_rate),
		cmocka_unit_test(test_adaptive_comes_back_down),
		cmocka_unit_test(test_adaptive_moderate_rate_stays_off),
		cmocka_unit_test(test_adaptive_medium_rate_climbs),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
