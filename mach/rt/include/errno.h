/* Error numbers for freestanding code shared with the Linux build (irqd/core, coalesce/):
 * only the constants; there is no errno variable. Values as Linux's. */
#ifndef MRT_ERRNO_H
#define MRT_ERRNO_H

#define EPERM 1
#define ENOENT 2
#define EINTR 4
#define EIO 5
#define EAGAIN 11
#define ENOMEM 12
#define EBUSY 16
#define EINVAL 22
#define ERANGE 34
#define ETIMEDOUT 110

#endif
