/* simdev.c - the device side of a simulated line (see irqd/simdev.h; registers in proto.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "irqd/simdev.h"

struct irqd_simdev {
	struct irqd_simdev_page *page;
	int efd;
};

int irqd_simdev_open(struct irqd_client *c, const char *line, struct irqd_simdev **out)
{
	int fds[2];
	int r = irqd__sim_open(c, line, fds);
	if (r < 0)
		return r;
	struct irqd_simdev *d = calloc(1, sizeof(*d));
	void *p = mmap(NULL, sizeof(struct irqd_simdev_page), PROT_READ | PROT_WRITE, MAP_SHARED,
		       fds[0], 0);
	close(fds[0]);
	if (!d || p == MAP_FAILED || ((struct irqd_simdev_page *)p)->magic != IRQD_SIMDEV_MAGIC) {
		free(d);
		if (p != MAP_FAILED)
			munmap(p, sizeof(struct irqd_simdev_page));
		close(fds[1]);
		return -EPROTO;
	}
	d->page = p;
	d->efd = fds[1];
	*out = d;
	return 0;
}

void irqd_simdev_close(struct irqd_simdev *d)
{
	if (!d)
		return;
	munmap(d->page, sizeof(*d->page));
	close(d->efd);
	free(d);
}

int irqd_simdev_raise(struct irqd_simdev *d, uint64_t n)
{
	if (n == 0 || n >= UINT64_MAX - 1)
		return -EINVAL;
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	uint64_t now = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
	struct irqd_simdev_page *p = d->page;
	uint64_t zero = 0;
	atomic_compare_exchange_strong(&p->first_ns, &zero, now);
	atomic_store(&p->last_ns, now);
	atomic_fetch_add(&p->raised, n);
	if (p->trigger == IRQD_LEVEL)
		atomic_fetch_add(&p->pending, n);
	/* the eventfd write is the interrupt signal; its counter keeps edge counts exact */
	return write(d->efd, &n, sizeof(n)) == sizeof(n) ? 0 : -errno;
}

uint64_t irqd_simdev_service(struct irqd_simdev *d)
{
	uint64_t n = atomic_exchange(&d->page->pending, 0);
	atomic_fetch_add(&d->page->serviced, n);
	return n;
}

void irqd_simdev_read(struct irqd_simdev *d, struct irqd_simdev_regs *out)
{
	out->trigger = (enum irqd_trigger)d->page->trigger;
	out->raised = atomic_load(&d->page->raised);
	out->pending = atomic_load(&d->page->pending);
	out->serviced = atomic_load(&d->page->serviced);
}
