/* irqctl.h - what irqctl's commands share. */
#ifndef IRQCTL_IRQCTL_H
#define IRQCTL_IRQCTL_H

/* Print "irqctl: WHAT: irqd's reason (or strerror(-err))" on stderr; returns exit status 1. */
int die(const char *what, int err);

#endif
