/*
 * util/sched_slice.h - a thread's scheduler slice (Linux 6.12+, EEVDF custom slices).
 *
 * An ordinary (SCHED_OTHER) thread may ask for a slice shorter than the kernel's default
 * (sched_setattr(2), sched_runtime; no privilege needed, 100 µs at least). EEVDF gives a
 * waking thread with a shorter slice an earlier deadline, so it preempts the thread running on
 * its CPU at once instead of waiting for that thread's slice to end: what an interrupt thread
 * wants, whose work is short and late work is latency. Kernels before 6.12 ignore the request.
 */
#ifndef UTIL_SCHED_SLICE_H
#define UTIL_SCHED_SLICE_H

#include <stdint.h>
#include <sys/types.h>

#define SCHED_SLICE_MIN_US 100u      /* the kernel refuses shorter slices */
#define SCHED_SLICE_MAX_US 100000u   /* and longer ones */

/* Sets the calling thread's slice to us microseconds (0: the kernel's default) and keeps its
 * nice value. 0, -EINVAL (us outside 0 or the bounds above), -EOPNOTSUPP (the kernel ignored
 * it: no custom slices) or another negative errno value from sched_setattr. */
int sched_slice_set(uint32_t us);
/* The slice of thread tid (0: the caller) in microseconds; 0 if the kernel reports none. */
uint32_t sched_slice_of(pid_t tid);

#endif
