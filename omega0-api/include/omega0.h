/*
 * omega0.h - the classic Omega0 interface (Löser/Hohmuth, L4 2000), served by irqd.
 *
 * An Omega0 driver ports by relinking against libirqd. Lines are numbered as in Omega0:
 * `num` is irqd's line id + 1 (0 means "no line"). One implicit connection per process, to
 * $IRQD_SOCKET (else the default socket), opened on first use.
 *
 * omega0_request() performs, in this order, the bits set in the request word:
 *   OMEGA0_MASK     take a (reference-counted) mask on the line
 *   OMEGA0_UNMASK   drop one mask this driver took
 *   OMEGA0_CONSUME  the last interrupt was this driver's: answer HANDLED (level lines)
 *   OMEGA0_WAIT     block until the next interrupt; returns the line's num. A wait without
 *                   consume on an unanswered occurrence is Omega0's auto-consume: irqd records
 *                   it as handled (Omega0 has no "not mine"; use irqd_answer() for that).
 * Each wait returns one interrupt: an edge batch of n events is returned by n waits.
 *
 * Differences from L4 Omega0, where Unix has no thread ids to name: omega0_pass() returns a
 * token, and the receiving process calls omega0_accept(token).
 */
#ifndef OMEGA0_H
#define OMEGA0_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef union {
	struct {
		unsigned num : 16;      /* line id + 1 */
		unsigned shared : 1;    /* attach shared (else exclusive) */
		unsigned reserved : 15;
	} s;
	uint32_t i;
} omega0_irqdesc_t;

typedef union {
	struct {
		unsigned param : 16;    /* unused, kept for source compatibility */
		unsigned wait : 1;
		unsigned consume : 1;
		unsigned mask : 1;
		unsigned unmask : 1;
		unsigned reserved : 12;
	} s;
	uint32_t i;
} omega0_request_t;

#define OMEGA0_WAIT 1u
#define OMEGA0_CONSUME 2u
#define OMEGA0_MASK 4u
#define OMEGA0_UNMASK 8u
#define OMEGA0_RQ(action, p) ((omega0_request_t){ .i = ((uint32_t)(action) << 16) | ((p)&0xffffu) })

/* Returns a handle >= 0, or a negative errno value (irqd_last_error() says why). */
int omega0_attach(omega0_irqdesc_t desc);
int omega0_detach(omega0_irqdesc_t desc);
int omega0_pass(omega0_irqdesc_t desc, uint64_t *token);
int omega0_accept(uint64_t token);
int omega0_request(int handle, omega0_request_t action);
/* Enumerate the lines: omega0_first() gives the first num, omega0_next(num) the next;
 * -ENOENT after the last. */
int omega0_first(void);
int omega0_next(int num);

#ifdef __cplusplus
}
#endif
#endif
