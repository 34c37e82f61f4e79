/* Processor helpers: time-stamp counter and spin hints (rt/cpu.c). */
#ifndef MRT_CPU_H
#define MRT_CPU_H

#include <stdint.h>

static inline uint64_t mrt_rdtsc(void)
{
	uint32_t lo, hi;
	__asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
	return ((uint64_t)hi << 32) | lo;
}

static inline void mrt_cpu_relax(void)
{
	__asm__ volatile("pause" ::: "memory");
}

/* Kernel uptime in nanoseconds (host_get_uptime64 on mach_host_self()); 0 on error. */
uint64_t mrt_uptime_ns(void);
/* TSC ticks per second, measured once against mrt_uptime_ns over about ms milliseconds
 * (the kernel clock ticks every 10 ms: use 50 or more); 0 if the clock is unusable. */
uint64_t mrt_tsc_hz(unsigned ms);

#endif
