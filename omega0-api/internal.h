/* internal.h - what the client library's files share: one request/reply exchange with irqd,
 * the per-thread error text, line queries. Not installed. */
#ifndef IRQD_CLIENT_INTERNAL_H
#define IRQD_CLIENT_INTERNAL_H

#include <stddef.h>
#include <irqd/client.h>

/* Send req (len bytes, with nsend descriptors), wait for its reply into rep (replen bytes
 * exactly), collecting up to maxfds descriptors. Returns how many came, or -errno (irqd's
 * reason in last error). If irqd ended, reconnects and asks the new one. */
int irqdc_rpc(struct irqd_client *c, void *req, size_t len, const int *send_fds, int nsend,
	      void *rep, size_t replen, int *fds, int maxfds);
/* Create a line (q's source, trigger and name set; fds passed with it) and remember it, so that
 * it is created again if irqd restarts. */
int irqdc_line_create(struct irqd_client *c, struct irqd_line_create_req *q, const int *fds,
		      int nfds, struct irqd_line_desc *d);
/* Sets irqd_last_error() and returns -err. */
int irqdc_fail(int err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* A query by name or "#<id>". */
int irqdc_query_init(struct irqd_line_query *q, const char *name);

#endif
