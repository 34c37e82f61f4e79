/*
 * util/unixmsg.h - one message over a unix socket with file descriptors beside it (SCM_RIGHTS,
 * unix(7)), for irqd's protocol, the client library and the vhost-user front end.
 */
#ifndef UTIL_UNIXMSG_H
#define UTIL_UNIXMSG_H

#include <stddef.h>
#include <sys/types.h>

#define UNIXMSG_MAX_FDS 8

/* Sends len bytes and nfds (<= UNIXMSG_MAX_FDS) descriptors in one sendmsg; flags are
 * sendmsg's (MSG_NOSIGNAL is always added). 0, or a negative errno value (-EIO if the message
 * went out only in part). */
int unixmsg_send(int sock, const void *buf, size_t len, const int *fds, int nfds, int flags);
/* Receives one message into buf; up to maxfds descriptors land in fds (close-on-exec) and their
 * number in *nfds; any beyond maxfds are closed. Returns recvmsg's byte count (0 at EOF) or a
 * negative errno value. */
ssize_t unixmsg_recv(int sock, void *buf, size_t len, int *fds, int *nfds, int maxfds, int flags);

#endif
