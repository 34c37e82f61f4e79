/*
 * irqd/client_mach.h - what the irqd client API on GNU Mach (mach/client/client.c) adds to
 * <irqd/client.h>: the Mach ports behind a connection, for code that also speaks the MIG
 * protocol itself (mach/irqd.defs: rpc_irqd_attach, rpc_irqd_line_stats, ...), e.g. the tests.
 * A driver needs none of it.
 */
#ifndef IRQD_CLIENT_MACH_H
#define IRQD_CLIENT_MACH_H

#include <mach/port.h>
#include <irqd/client.h>

/* The ports irqd_connect found (mach_ports_lookup slot 0 and 1; the attach right is
 * MACH_PORT_NULL when irqd registered none) and the notify port it made (receive right). */
mach_port_t irqd_mach_server(struct irqd_client *c);
mach_port_t irqd_mach_attach_right(struct irqd_client *c);
mach_port_t irqd_mach_notify(struct irqd_client *c);
/* The per-attachment handle port behind an irqd_attach handle; MACH_PORT_NULL if none. */
mach_port_t irqd_mach_handle(struct irqd_client *c, uint32_t handle);

#endif
