/* TSC calibration against the kernel's uptime clock. */
#include <mach/mach_types.h>
#include <mach/mach_host.h>
#include <mrt/boot.h>
#include <mrt/cpu.h>

uint64_t mrt_uptime_ns(void)
{
	time_value64_t t;

	if (host_get_uptime64(mach_host_self(), &t) != KERN_SUCCESS)
		return 0;
	return (uint64_t)t.seconds * 1000000000ull + (uint64_t)t.nanoseconds;
}

uint64_t mrt_tsc_hz(unsigned ms)
{
	static uint64_t hz;
	uint64_t t0, t1, c0, c1, start;

	if (hz != 0)
		return hz;
	/* Start and stop on a clock change so that the tick granularity does not count. */
	start = mrt_uptime_ns();
	if (start == 0)
		return 0;
	do
		t0 = mrt_uptime_ns();
	while (t0 == start);
	c0 = mrt_rdtsc();
	do
		t1 = mrt_uptime_ns();
	while (t1 - t0 < (uint64_t)ms * 1000000ull);
	c1 = mrt_rdtsc();
	hz = (c1 - c0) * 1000000000ull / (t1 - t0);
	return hz;
}
