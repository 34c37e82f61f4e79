/* Types and constants of the irqd MIG protocol (mach/irqd.defs, mach/irqd_notify.defs). */
#ifndef IRQD_TYPES_H
#define IRQD_TYPES_H

#define IRQD_LINE_NAME_MAX 64
typedef char irqd_line_name_t[IRQD_LINE_NAME_MAX];
typedef const char *const_irqd_line_name_t; /* MIG's server prototypes use it */

/* Answers: the values of irqcore's enum irqcore_answer. */
#define IRQD_HANDLED 1
#define IRQD_NOT_MINE 2

/* irqd_attach flags: none defined yet (any bit set: KERN_INVALID_ARGUMENT). */
#define IRQD_ATTACH_FLAGS_KNOWN 0u

#endif
