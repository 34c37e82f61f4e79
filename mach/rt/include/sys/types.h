/* The few POSIX types the kernel's headers (mach_debug/slab_info.h) ask for by including
 * <sys/types.h>. There is no C library: nothing else. */
#ifndef MRT_SYS_TYPES_H
#define MRT_SYS_TYPES_H

#include <stddef.h>
#include <stdint.h>

typedef long ssize_t;
typedef long off_t;

#endif
