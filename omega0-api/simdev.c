/* simdev.c - the device side of a simulated line (see irqd/simdev.h; registers in proto.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "irqd/simdev.h"
#include "internal.h"

struct irqd_simdev {
	struct irqd_simdev_page *page;
	int efd;
};

/* The device over its register page (memfd, closed here) and eventfd (kept). */
static int simdev_new(int memfd, int efd, struct irqd_simdev **out)
{
	struct irqd_simdev *d = calloc(1, sizeof(*d));
	void *p = mmap(NULL, sizeof(struct irqd_simdev_page), PROT_READ | PROT_WRITE, MAP_SHARED,
		       memfd, 0);
	close(memfd);
	if (!d || p == MAP_FAILED || ((struct irqd_simdev_page *)p)->magic != IRQD_SIMDEV_MAGIC) {
		free(d);
		if (p != MAP_FAILED)
			munmap(p, sizeof(struct irqd_simdev_page));
		close(efd);
		return -EPROTO;
	}
	d->page = p;
	d->efd = efd;
	*out = d;
	return 0;
}

int irqd_simdev_open(struct irqd_client *c, const char *line, struct irqd_simdev **out)
{
	int fds[2];
	int r = irqd__sim_open(c, line, fds);
	return r < 0 ? r : simdev_new(fds[0], fds[1], out);
}

int irqd_simdev_create(struct irqd_client *c, const char *name, enum irqd_trigger trigger,
		       struct irqd_simdev **out)
{
	struct irqd_line_create_req q = { .source = IRQD_CREATE_SIM, .trigger = trigger };
	if (!name || strlen(name) >= sizeof(q.name))
		return -ENAMETOOLONG;
	strcpy(q.name, name);
	/* sealed: irqd maps the page and must not see it shrink */
	int memfd = memfd_create("irqd-simdev", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	int efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	struct irqd_simdev_page *p = MAP_FAILED;
	int r = -errno;
	if (memfd < 0 || efd < 0 || ftruncate(memfd, sizeof(*p)) < 0 ||
	    fcntl(memfd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) < 0 ||
	    (p = mmap(NULL, sizeof(*p), PROT_READ | PROT_WRITE, MAP_SHARED, memfd, 0)) == MAP_FAILED)
		goto fail;
	p->magic = IRQD_SIMDEV_MAGIC;
	p->trigger = trigger;
	munmap(p, sizeof(*p));
	int fds[2] = { efd, memfd };
	r = irqdc_line_create(c, &q, fds, 2, NULL);
	if (r < 0)
		goto fail;
	return simdev_new(memfd, efd, out);
fail:
	if (memfd >= 0)
		close(memfd);
	if (efd >= 0)
		close(efd);
	return r;
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
