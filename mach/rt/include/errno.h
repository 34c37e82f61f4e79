/* Error numbers for freestanding code shared with the Linux build (irqd/core, coalesce/, the client API in mach/client):
 * only the constants; there is no errno variable. Values as Linux's. */
#ifndef MRT_ERRNO_H
#define MRT_ERRNO_H

#define EPERM 1
#define ENOENT 2
#define EINTR 4
#define EIO 5
#define EAGAIN 11
#define ENOMEM 12
#define EBADF 9
#define EBUSY 16
#define ENODEV 19
#define EACCES 13
#define EINVAL 22
#define ENOSPC 28
#define ERANGE 34
#define ENOSYS 38
#define EPROTO 71
#define EOPNOTSUPP 95
#define ENOTSUP EOPNOTSUPP
#define ENOTCONN 107
#define ETIMEDOUT 110
#define EALREADY 114

#endif
