/*
 * irqd/simdev.h - play the device behind a simulated line (tests, benchmarks, `irqctl raise`).
 *
 * A level line stays asserted while the device has pending events: a driver services the
 * device (irqd_simdev_service) before answering HANDLED, or the line fires again when irqd
 * unmasks it, exactly as a real level-triggered device would.
 */
#ifndef IRQD_SIMDEV_H
#define IRQD_SIMDEV_H

#include <stdint.h>
#include <irqd/client.h>

struct irqd_simdev;

/* internal: used by simdev.c */
int irqd__sim_open(struct irqd_client *c, const char *line, int fds[2]);

struct irqd_simdev_regs {
	enum irqd_trigger trigger;
	uint64_t raised;     /* events raised, total */
	uint64_t pending;    /* level: not yet serviced */
	uint64_t serviced;   /* level: serviced by drivers, total */
};

/* Open the device of a sim line (needs the admin right on the line). */
int irqd_simdev_open(struct irqd_client *c, const char *line, struct irqd_simdev **out);
/* Make a new sim line `name` whose device belongs to this client: it outlives irqd, so when
 * irqd restarts the library makes the line again over the same device, and a level line
 * still asserted fires again (a line of irqd's configuration is irqd's, and ends with it). */
int irqd_simdev_create(struct irqd_client *c, const char *name, enum irqd_trigger trigger,
		       struct irqd_simdev **out);
void irqd_simdev_close(struct irqd_simdev *d);

/* The device raises n >= 1 events (one eventfd write). Safe from any thread. */
int irqd_simdev_raise(struct irqd_simdev *d, uint64_t n);
/* A driver services the device: clears and returns its pending events (level lines). */
uint64_t irqd_simdev_service(struct irqd_simdev *d);
void irqd_simdev_read(struct irqd_simdev *d, struct irqd_simdev_regs *out);

#endif
