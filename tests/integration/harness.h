/*
 * harness.h - integration tests start a real irqd (from this build) and real client processes.
 *
 * Each test gets its own irqd in a fresh temporary directory, with its own socket and optional
 * configuration text. Readiness is a successful HELLO on the socket (polled, bounded), never a
 * sleep. irqd_stop() checks that irqd exits cleanly on SIGTERM.
 */
#ifndef TESTS_HARNESS_H
#define TESTS_HARNESS_H

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <sys/types.h>
#include <cmocka.h>

#include "irqd/client.h"
#include "irqd/simdev.h"

struct irqd_proc {
	pid_t pid;
	char dir[64];
	char sock[128];
	char log[128];
};

/* Start irqd with `sim` sim lines and the given configuration text (NULL: none). Fails the
 * test if irqd does not answer within 30 s. */
void irqd_start(struct irqd_proc *p, int sim, const char *config);
/* SIGTERM, wait, assert a clean exit; removes the directory. */
void irqd_stop(struct irqd_proc *p);
/* Connect a client, failing the test with irqd's message if it cannot. */
struct irqd_client *client(const struct irqd_proc *p);

/* Run fn(arg) in a child process (a separate client). Returns its pid. */
pid_t spawn(int (*fn)(const struct irqd_proc *, void *), const struct irqd_proc *p, void *arg);
/* Wait for a child; returns its exit status, or 128+signal. */
int reap(pid_t pid);

/* Path of a program built next to the tests: BUILD/bin/NAME. */
const char *build_bin(const char *name);
/* Run a program (argv NULL-terminated), capture stdout (up to len-1 bytes) into out.
 * Returns the exit status. */
int run_capture(char *out, size_t len, char *const argv[]);

uint64_t mono_ns(void);
/* Poll cond every millisecond for at most timeout_ms; true if it became true. A bounded wait on
 * an observable condition, not a sleep that hopes. */
#define WAIT_UNTIL(cond, timeout_ms)                                               \
	({                                                                         \
		uint64_t end_ = mono_ns() + (uint64_t)(timeout_ms)*1000000ull;     \
		bool ok_;                                                          \
		while (!(ok_ = (cond)) && mono_ns() < end_)                        \
			usleep(1000);                                              \
		ok_;                                                               \
	})

/* Line statistics through the API (asserts success). */
struct irqd_line_stats line_stats(struct irqd_client *c, const char *line);

#endif
