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
#include <stdbool.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <sys/types.h>
#include <unistd.h>
#include <cmocka.h>

#include "irqd/client.h"
#include "irqd/simdev.h"

struct irqd_proc {
	pid_t pid;
	char dir[64];
	char sock[128];
	char log[128];
	int sim;          /* how it was started, to start it again */
	bool config;
};

/* Start irqd with `sim` sim lines and the given configuration text (NULL: none). Fails the
 * test if irqd does not answer within 30 s. Records the irqd (a copy of *p) as live, so that
 * harness_teardown() ends it if the test fails before irqd_stop(). */
void irqd_start(struct irqd_proc *p, int sim, const char *config);
/* Run irqd in the foreground with configuration text `conf` until it exits (a configuration it
 * refuses): its exit status, what it said in out. Fails the test if it left its socket. */
int irqd_run_config(const char *conf, char *out, size_t len);
/* kill -9 irqd; start it again, same socket, same configuration (the restart case). */
void irqd_kill(struct irqd_proc *p);
void irqd_restart(struct irqd_proc *p);
/* SIGTERM, wait, assert a clean exit; removes the directory. Forgets the live irqd. */
void irqd_stop(struct irqd_proc *p);
/* Connect a client, failing the test with irqd's message if it cannot. */
struct irqd_client *client(const struct irqd_proc *p);

/* Run fn(arg) in a child process (a separate client). Returns its pid, which is recorded as a
 * live child (harness_teardown() kills it if the test fails before reaping it); fails the test
 * if more than HARNESS_MAX_CHILDREN children are live at once. */
#define HARNESS_MAX_CHILDREN 128
pid_t spawn(int (*fn)(const struct irqd_proc *, void *), const struct irqd_proc *p, void *arg);
/* Wait for a child; returns its exit status, or 128+signal. Forgets the child. */
int reap(pid_t pid);
/* Wait for a child at most ms; kill it and fail the test if it does not finish. Returns its exit
 * status, or 128+signal. Forgets the child. */
int reap_within(pid_t pid, int ms);

/* cmocka teardown (cmocka_unit_test_teardown(f, harness_teardown)): a failed assertion leaves a
 * test early, so this kills (SIGKILL) and reaps every child spawn() recorded and not yet reaped,
 * and the irqd irqd_start() recorded and irqd_stop() did not stop, removing its directory.
 * Nothing a test started outlives it. Always returns 0. */
int harness_teardown(void **state);

/* A zeroed anonymous MAP_SHARED mapping of len bytes: memory a test and its spawned children
 * (forked after the call) all see. Fails the test if mmap fails. */
void *shared_page(size_t len);
/* xorshift64 PRNG step: advances *x (which must not be 0) and returns the new value. */
uint64_t xorshift(uint64_t *x);
/* qsort comparator for uint64_t, ascending. */
int cmp_u64(const void *a, const void *b);

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
/* Open the sim device of `line` on client c, failing the test with irqd's message if it cannot. */
struct irqd_simdev *device(struct irqd_client *c, const char *line);
/* True if `line` is not masked now (asserts the stats call succeeds). */
bool unmasked(struct irqd_client *c, const char *line);
/* Wait (bounded, timeout_ms) until `line` is unmasked, failing the test if it stays masked;
 * returns mono_ns() when the unmasked line was first seen. */
uint64_t wait_unmasked(struct irqd_client *c, const char *line, int timeout_ms);
/* Every interrupt a device signalled on `line` went through irqd, and irqd delivered exactly
 * what it read, which the driver counted once each. A last signal may still be on its way (the
 * driver drained its ring before it came): take_count(driver) takes what is pending and returns
 * the driver's interrupt count, until the three agree (5 s, else the test fails). */
void signals_counted_once(struct irqd_client *c, const char *line,
			  uint64_t (*take_count)(void *driver), void *driver);
/* Number of client sessions irqd lists to c (counts through irqd_client_stats). */
int count_sessions(struct irqd_client *c);

/* One message from a SOCK_SEQPACKET socket within timeout_ms (poll, EINTR retried) into buf (len
 * bytes): its length, 0 at end of stream, -ETIMEDOUT, or -errno. Descriptors that came with it
 * are stored in fds (up to 8, their count in *nfds) or closed when fds is NULL. */
ssize_t recv_with_fds(int sock, void *buf, size_t len, int *fds, int *nfds, int timeout_ms);

/* Count an error in *errors; keep the message of the first one in err (len bytes). Safe in
 * children sharing the memory: the first to count writes the message. */
void note_error(_Atomic uint64_t *errors, char *err, size_t len, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
/* note_error on a struct with fields `_Atomic uint64_t errors` and `char err[]`. */
#define NOTE_ERROR(s, ...) note_error(&(s)->errors, (s)->err, sizeof((s)->err), __VA_ARGS__)

struct sockaddr_un;
/* Copy path into sa->sun_path, truncated to fit, NUL-terminated (sun_family is left alone). */
void sun_set(struct sockaddr_un *sa, const char *path);

#endif
