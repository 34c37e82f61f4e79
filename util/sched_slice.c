/* util/sched_slice.c - see sched_slice.h. */
#include "util/sched_slice.h"

#include <errno.h>
#include <sched.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

/* struct sched_attr of sched_setattr(2), its first version (SCHED_ATTR_SIZE_VER0); glibc has
 * no wrapper and <linux/sched/types.h> clashes with <sched.h>. */
struct slice_attr {
	uint32_t size, policy;
	uint64_t flags;
	int32_t nice;
	uint32_t priority;
	uint64_t runtime_ns, deadline_ns, period_ns;
};

static int get_attr(pid_t tid, struct slice_attr *a)
{
	*a = (struct slice_attr){ 0 };
	return syscall(SYS_sched_getattr, tid, a, sizeof(*a), 0) < 0 ? -errno : 0;
}

int sched_slice_set(uint32_t us)
{
	if (us && (us < SCHED_SLICE_MIN_US || us > SCHED_SLICE_MAX_US))
		return -EINVAL;
	struct slice_attr a;
	int err = get_attr(0, &a);
	if (err)
		return err;
	/* the attributes it has, but the slice: policy SCHED_OTHER, its nice value */
	a.size = sizeof(a);
	a.flags = 0;
	a.runtime_ns = (uint64_t)us * 1000;
	if (syscall(SYS_sched_setattr, 0, &a, 0) < 0)
		return -errno;
	return us && sched_slice_of(0) != us ? -EOPNOTSUPP : 0;
}

uint32_t sched_slice_of(pid_t tid)
{
	struct slice_attr a;
	return get_attr(tid, &a) ? 0 : (uint32_t)(a.runtime_ns / 1000);
}
