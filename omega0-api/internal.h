/* internal.h - what the client library's files share: one request/reply exchange with irqd,
 * the per-thread error text, line queries. Not installed. */
#ifndef IRQD_CLIENT_INTERNAL_H
#define IRQD_CLIENT_INTERNAL_H

#include <stddef.h>
#include <irqd/client.h>

/* Send req (len bytes, optionally one fd), wait for its reply into rep (replen bytes exactly),
 * collecting up to maxfds descriptors. Returns 0 or -errno (irqd's reason in last error). */
int irqdc_rpc(struct irqd_client *c, void *req, size_t len, int send_fd, void *rep,
	      size_t replen, int *fds, int maxfds);
/* Sets irqd_last_error() and returns -err. */
int irqdc_fail(int err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* A query by name or "#<id>". */
int irqdc_query_init(struct irqd_line_query *q, const char *name);

#endif
