/* Types and constants of the irqd MIG protocol (mach/irqd.defs, mach/irqd_notify.defs). */
#ifndef IRQD_TYPES_H
#define IRQD_TYPES_H

#define IRQD_LINE_NAME_MAX 64
typedef char irqd_line_name_t[IRQD_LINE_NAME_MAX];
typedef const char *const_irqd_line_name_t; /* MIG's server prototypes use it */

/* Answers: IRQD_HANDLED (1) and IRQD_NOT_MINE (2), the Linux protocol's enum irqd_answer
 * (omega0-api/include/irqd/proto.h; the same values as irqcore's enum irqcore_answer), so
 * that a driver can include this and <irqd/client.h> in either order. */
#include <irqd/proto.h>

/* irqd_attach flags: none defined yet (any bit set: KERN_INVALID_ARGUMENT). */
#define IRQD_ATTACH_FLAGS_KNOWN 0u

#endif
