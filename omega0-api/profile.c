/* profile.c - irqd/profile.h: profiling requests and histogram arithmetic. The arithmetic is
 * the server's own (irqd/core/hist.c): the wire histogram has its layout. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/hist.h"
#include "internal.h"
#include "irqd/profile.h"

_Static_assert(HIST_BUCKETS == IRQD_HIST_BUCKETS &&
	       sizeof(struct hist_snapshot) == sizeof(struct irqd_hist), "wire histogram layout");

static int profile_rpc(struct irqd_client *c, const char *line, enum irqd_profile_op op, int *fd)
{
	struct irqd_profile_req q = { .hdr.type = IRQD_MSG_PROFILE, .op = op };
	int r = irqdc_query_init(&q.line, line);
	if (r < 0)
		return r;
	struct irqd_msg_hdr rep;
	r = irqdc_rpc(c, &q, sizeof(q), NULL, 0, &rep, sizeof(rep), fd, fd ? 1 : 0);
	return r < 0 ? r : 0;
}

int irqd_profile_start(struct irqd_client *c, const char *line)
{
	return profile_rpc(c, line, IRQD_PROFILE_START, NULL);
}

int irqd_profile_stop(struct irqd_client *c, const char *line)
{
	return profile_rpc(c, line, IRQD_PROFILE_STOP, NULL);
}

int irqd_profile_read(struct irqd_client *c, const char *line, struct irqd_profile_dump **out)
{
	int fd = -1;
	int r = profile_rpc(c, line, IRQD_PROFILE_READ, &fd);
	if (r < 0)
		return r;
	if (fd < 0)
		return irqdc_fail(EPROTO, "irqd: profile reply without its memfd");
	struct stat st;
	struct irqd_profile_dump *d = NULL;
	if (fstat(fd, &st) < 0 || (size_t)st.st_size < sizeof(*d))
		goto bad;
	d = malloc((size_t)st.st_size);
	if (!d || pread(fd, d, (size_t)st.st_size, 0) != st.st_size)
		goto bad;
	if (d->magic != IRQD_PROFILE_MAGIC ||
	    d->n_sets > ((size_t)st.st_size - sizeof(*d)) / sizeof(d->set[0]))
		goto bad;
	close(fd);
	*out = d;
	return 0;
bad:
	free(d);
	close(fd);
	return irqdc_fail(EPROTO, "irqd: malformed profile dump");
}

void irqd_profile_free(struct irqd_profile_dump *d)
{
	free(d);
}

const struct irqd_profile_set *irqd_profile_find(const struct irqd_profile_dump *d,
						 uint32_t pid, uint32_t handle)
{
	for (uint32_t i = 0; i < d->n_sets; i++)
		if (d->set[i].pid == pid && d->set[i].handle == handle)
			return &d->set[i];
	return NULL;
}

const char *irqd_stage_name(enum irqd_stage stage)
{
	static const char *const name[IRQD_STAGES] = {
		[IRQD_STAGE_RAISE_DELIVER] = "raise-to-delivery",
		[IRQD_STAGE_DELIVER_HANDLER] = "delivery-to-handler",
		[IRQD_STAGE_DELIVER_ANSWER] = "delivery-to-answer",
	};
	return (unsigned)stage < IRQD_STAGES ? name[stage] : "?";
}

void irqd_hist_subtract(struct irqd_hist *out, const struct irqd_hist *later,
			const struct irqd_hist *earlier)
{
	hist_subtract((struct hist_snapshot *)out, (const struct hist_snapshot *)later,
		      (const struct hist_snapshot *)earlier);
}

void irqd_hist_merge(struct irqd_hist *into, const struct irqd_hist *from)
{
	hist_merge((struct hist_snapshot *)into, (const struct hist_snapshot *)from);
}

uint64_t irqd_hist_percentile(const struct irqd_hist *h, double p)
{
	return hist_percentile((const struct hist_snapshot *)h, p);
}

uint64_t irqd_hist_bucket_low(unsigned b)
{
	return hist_bucket_low(b);
}

int irqd_server_stats(struct irqd_client *c, struct irqd_server_stats *st)
{
	struct irqd_msg_hdr q = { .type = IRQD_MSG_SERVER_STATS };
	int r = irqdc_rpc(c, &q, sizeof(q), NULL, 0, st, sizeof(*st), NULL, 0);
	return r < 0 ? r : 0;
}
