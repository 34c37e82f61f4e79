/*
 * profile.c - latency profiling of lines: switching it on and off (control thread) and the
 * dump a client reads. Recording is in delivery.c (prof_record): histograms are allocated
 * here, published with a release store, and written by the delivery thread with relaxed
 * atomics, so recording takes no lock and allocates nothing.
 *
 * A line is profiled while it has users: each client that started it (until it stops or
 * disconnects), plus one for ever if irqd's configuration says `profile on`. Profiling costs
 * memory only while on: about 48 KiB per line and per attachment.
 */
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "irqd.h"

_Static_assert(HIST_BUCKETS == IRQD_HIST_BUCKETS, "wire histogram geometry");
_Static_assert(sizeof(struct hist_snapshot) == sizeof(struct irqd_hist) &&
	       offsetof(struct hist_snapshot, bucket) == offsetof(struct irqd_hist, bucket),
	       "wire histogram layout");

struct profile *profile_new(void)
{
	struct profile *p = malloc(sizeof(*p));
	if (p)
		for (int i = 0; i < IRQD_STAGES; i++)
			hist_init(&p->stage[i]);
	return p;
}

static bool attachments_profiled(struct line *l)
{
	struct attachment *a;
	cds_list_for_each_entry(a, &l->attachments, node)
		if (!atomic_load_explicit(&a->prof, memory_order_relaxed))
			return false;
	return true;
}

/* Unpublish every histogram of the line, wait until the delivery thread is past any record
 * (one command round trip), then free them. */
static void profile_release_all(struct server *srv, struct line *l)
{
	struct profile *lp = atomic_exchange(&l->prof, NULL);
	struct attachment *a;
	cds_list_for_each_entry(a, &l->attachments, node)
		a->prof_old = atomic_exchange(&a->prof, NULL);
	struct cmd c = { .kind = CMD_PROFILE, .line = l };
	delivery_call(srv, &c);
	cds_list_for_each_entry(a, &l->attachments, node) {
		free(a->prof_old);
		a->prof_old = NULL;
	}
	free(lp);
}

int profile_start(struct server *srv, struct line *l)
{
	(void)srv;
	if (l->prof_users++)
		return 0;
	struct attachment *a;
	cds_list_for_each_entry(a, &l->attachments, node)
		atomic_store_explicit(&a->prof, profile_new(), memory_order_release);
	struct profile *p = profile_new();
	if (!p || !attachments_profiled(l)) {
		free(p);
		l->prof_users--;
		profile_release_all(srv, l);
		return -ENOMEM;
	}
	l->prof_since_ns = now_ns();
	atomic_store_explicit(&l->prof, p, memory_order_release);
	return 0;
}

void profile_stop(struct server *srv, struct line *l)
{
	if (l->prof_users && --l->prof_users == 0)
		profile_release_all(srv, l);
}

static void fill_set(struct irqd_profile_set *set, uint32_t handle, uint32_t pid,
		     const struct profile *p)
{
	set->handle = handle;
	set->pid = pid;
	for (int i = 0; i < IRQD_STAGES; i++)
		hist_snapshot(&p->stage[i], (struct hist_snapshot *)&set->stage[i]);
}

/* A sealed memfd with the line's dump; the caller has run CMD_PROFILE (stamps swept, stats
 * filled). Returns the fd or -errno. */
int profile_dump(struct server *srv, struct line *l, const struct irqd_line_stats *st)
{
	struct profile *lp = atomic_load_explicit(&l->prof, memory_order_relaxed);
	if (!lp)
		return -ENODATA;
	size_t n_sets = 1 + l->n_attached;
	size_t size = sizeof(struct irqd_profile_dump) + n_sets * sizeof(struct irqd_profile_set);
	int fd = memfd_create("irqd-profile", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (fd < 0)
		return -errno;
	struct irqd_profile_dump *d = MAP_FAILED;
	if (ftruncate(fd, (off_t)size) < 0 ||
	    (d = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0)) == MAP_FAILED) {
		int err = errno;
		close(fd);
		return -err;
	}
	d->magic = IRQD_PROFILE_MAGIC;
	d->since_ns = l->prof_since_ns;
	d->taken_ns = now_ns();
	server_cpu(srv, &d->cpu_control_ns, &d->cpu_delivery_ns);
	d->stats = *st;
	fill_set(&d->set[0], IRQD_HANDLE_LINE, 0, lp);
	d->n_sets = 1;
	struct attachment *a;
	cds_list_for_each_entry(a, &l->attachments, node) {
		const struct profile *p = atomic_load_explicit(&a->prof, memory_order_relaxed);
		if (p && d->n_sets < n_sets)
			fill_set(&d->set[d->n_sets++], a->slot, (uint32_t)a->session->pid, p);
	}
	munmap(d, size);
	/* the reader gets a snapshot it cannot change under itself, nor irqd under it */
	if (fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL) < 0) {
		int err = errno;
		close(fd);
		return -err;
	}
	return fd;
}
