/*
 * probes.h - USDT static probes (sys/sdt.h) on the interrupt path, for perf and bpftrace:
 *   irqd:raise(line, events)   irqd:mask(line)   irqd:deliver(line, slot, events)
 *   irqd:answer(line, slot, answer)              irqd:unmask(line)
 * Each is a single nop until a tracer attaches.
 */
#ifndef IRQD_PROBES_H
#define IRQD_PROBES_H
#include <sys/sdt.h>
#define IRQD_PROBE1(name, a) DTRACE_PROBE1(irqd, name, a)
#define IRQD_PROBE2(name, a, b) DTRACE_PROBE2(irqd, name, a, b)
#define IRQD_PROBE3(name, a, b, c) DTRACE_PROBE3(irqd, name, a, b, c)
#endif
