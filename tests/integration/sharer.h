/*
 * sharer.h - driver processes for shared-line tests: each `struct drv` is one sharer, a separate
 * client process (spawned with spawn(), so harness_teardown() ends it) attached SHARED to a sim
 * line, that services/answers occurrences as told and reports through shared memory.
 *
 * Life cycle: d = drv_alloc(n) (shared memory); pid = drv_start(p, &d[i], line, mode, spin);
 * drv_cmd()/drv_kick() while it runs; drv_stop(&d[i], pid) (asserts a clean exit and no driver
 * errors); drv_free(d, n).
 */
#ifndef TESTS_SHARER_H
#define TESTS_SHARER_H

#include "harness.h"

#define DRV_LOG_MAX 4096

enum drv_mode {
	DRV_SERVICE,   /* service the device; HANDLED if it had pending events, else NOT_MINE */
	DRV_NOT_MINE,  /* answer NOT_MINE without servicing (a confused driver: storms) */
	DRV_HOLD,      /* owe the answer until told (DRV_CMD_ANSWER) */
};

enum drv_cmd { DRV_CMD_MASK = 1, DRV_CMD_UNMASK, DRV_CMD_ANSWER, DRV_CMD_DETACH };

struct drv {
	/* set by the test before spawning */
	char line[IRQD_NAME_MAX];
	int kick;                        /* eventfd: a command or stop was posted */
	bool spin;                       /* busy-poll instead of sleeping between batches */
	/* set by the test at any time */
	_Atomic int mode;
	_Atomic int stop;
	/* command mailbox: the test fills cmd/arg, then bumps cmd_seq; the driver bumps cmd_done */
	int cmd, cmd_arg, cmd_result;
	char cmd_err[IRQD_ERRMSG_MAX];
	_Atomic uint32_t cmd_seq, cmd_done;
	/* written by the driver */
	_Atomic int attached;
	_Atomic uint64_t batches, events, occurrences, last_occ, owed_occ;
	_Atomic uint64_t handled, not_mine, serviced;
	_Atomic uint64_t last_delivered_ns;  /* delivered_ns of the latest occurrence */
	_Atomic uint64_t errors;
	char err[256];
	_Atomic uint64_t log_n;
	uint64_t log[DRV_LOG_MAX];       /* occurrence << 2 | answer, in the order received */
};

/* The driver process body (fn for spawn(); arg: struct drv *). Connects, opens the device,
 * attaches SHARED, then takes batches and runs commands until d->stop. Returns 0 if it saw no
 * error (batch seq gaps, duplicate or out-of-order occurrences, failed calls). */
int drv_main(const struct irqd_proc *p, void *arg);
/* n zeroed drivers in MAP_SHARED memory (seen by the test and the driver processes). */
struct drv *drv_alloc(int n);
void drv_free(struct drv *d, int n);
/* Wake the driver (a command or stop was posted). */
void drv_kick(struct drv *d);
/* Reset d, spawn a driver on `line` in `mode` (enum drv_mode; spin: busy-poll) and wait (10 s
 * bound) until it attached; fails the test if it did not or reported an error. Returns its pid. */
pid_t drv_start(const struct irqd_proc *p, struct drv *d, const char *line, int mode, bool spin);
/* Fail the test if the driver reported any error. */
void drv_check(struct drv *d);
/* Stop the driver, reap it, and assert it had no errors and exited 0. */
void drv_stop(struct drv *d, pid_t pid);
/* Post a command (enum drv_cmd; arg: for DRV_CMD_ANSWER the answer mode) and wait (10 s bound)
 * until the driver has run it; returns its result (errno-style; message in d->cmd_err). */
int drv_cmd(struct drv *d, int cmd, int arg);

/* A raising device process: n single raises on `line`; gap_ns 0: as fast as possible, else at a
 * steady rate of one raise per gap_ns (a rate, not a wait for anything). */
struct raiser {
	const char *line;
	uint64_t n;
	uint64_t gap_ns;
};
/* fn for spawn(); arg: struct raiser *. Returns 0, or 1/2 if connect/open or a raise failed. */
int raiser_main(const struct irqd_proc *p, void *arg);

#endif
