/*
 * source_vfio.c - a PCI device bound to vfio-pci: its interrupts as lines (Linux VFIO,
 * include/uapi/linux/vfio.h).
 *
 * irqd opens the device through its IOMMU group (VFIO_GROUP_GET_DEVICE_FD), asks how many
 * vectors each interrupt type has (VFIO_DEVICE_GET_IRQ_INFO) and gives each vector of the type
 * in use an eventfd as its trigger (VFIO_DEVICE_SET_IRQS, ACTION_TRIGGER). MSI-X and MSI vectors
 * are edge lines; INTx is a level line: the kernel masks it when it fires (automask) and irqd
 * unmasks it (ACTION_UNMASK) once every sharer has answered; a device still asserting then fires
 * again at once. Only one interrupt type can be enabled at a time (VFIO's rule).
 */
#include <errno.h>
#include <linux/vfio.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "irqd.h"
#include "util/vfio.h"

struct vfio_dev {
	unsigned refs;      /* lines using it */
	struct vfio_device v;
	uint32_t index;     /* VFIO_PCI_{INTX,MSI,MSIX}_IRQ_INDEX in use */
};

static const char *const index_names[] = {
	[VFIO_PCI_INTX_IRQ_INDEX] = "intx",
	[VFIO_PCI_MSI_IRQ_INDEX] = "msi",
	[VFIO_PCI_MSIX_IRQ_INDEX] = "msix",
};

static void dev_put(struct vfio_dev *d)
{
	if (--d->refs)
		return;
	vfio_irq_triggers(&d->v, d->index, 0, 0, NULL);
	vfio_device_close(&d->v);
	free(d);
}

/* INTx only: the signals of the occurrence just served are read first (the kernel masked the
 * line at the first, so none can be newer), then the line is unmasked; if the device still
 * asserts, the kernel fires again and the eventfd says so. */
static int vfio_unmask(struct line *l)
{
	struct vfio_dev *d = l->src;
	source_signalled(l);
	return vfio_intx_unmask(&d->v);
}

static void vfio_destroy(struct line *l)
{
	dev_put(l->src);
	close(l->fd);
}

const struct source_ops source_vfio_ops = {
	.name = "vfio",
	.stamp = source_stamp_now,
	.asserted = source_signalled, /* INTx signals once per assertion and masks */
	.unmask = vfio_unmask,
	.destroy = vfio_destroy,
};

#define FAIL(err, ...) (snprintf(why, why_len, __VA_ARGS__), -(err))

int source_vfio_open(const char *bdf, const char *want, source_line_fn add, void *arg,
		     char *why, size_t why_len)
{
	struct vfio_dev *d = calloc(1, sizeof(*d));
	if (!d)
		return FAIL(ENOMEM, "out of memory");
	int r = vfio_device_open(&d->v, bdf, why, why_len);
	uint32_t count = 0;
	/* the type asked for, or the best the device has: MSI-X, MSI, INTx */
	for (int i = VFIO_PCI_MSIX_IRQ_INDEX; r == 0 && i >= VFIO_PCI_INTX_IRQ_INDEX && !count; i--) {
		if (want && strcmp(want, index_names[i]))
			continue;
		d->index = (uint32_t)i;
		count = vfio_irq_count(&d->v, d->index);
	}
	if (r == 0 && !count)
		r = FAIL(ENOTSUP, "no %s interrupt VFIO can signal", want ? want : "");
	int *fds = r == 0 ? malloc(count * sizeof(int)) : NULL;
	if (r == 0 && !fds)
		r = FAIL(ENOMEM, "out of memory");
	uint32_t made = 0;
	for (; r == 0 && made < count; made++)
		if ((fds[made] = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) < 0)
			r = FAIL(errno, "eventfd: %s", strerror(errno));
	if (r == 0 && d->index != VFIO_PCI_INTX_IRQ_INDEX && (r = vfio_bus_master(&d->v)) < 0)
		snprintf(why, why_len, "cannot enable bus mastering: %s", strerror(-r));
	if (r == 0 && (r = vfio_irq_triggers(&d->v, d->index, 0, count, fds)) < 0)
		snprintf(why, why_len, "cannot enable %s: %s", index_names[d->index], strerror(-r));
	if (r < 0) {
		for (uint32_t i = 0; i < made; i++)
			close(fds[i]);
		free(fds);
		vfio_device_close(&d->v);
		free(d);
		return r;
	}
	/* each vector a line (its eventfd goes with it); the device lives while any does */
	d->refs = 1;
	for (uint32_t i = 0; i < count; i++) {
		char name[IRQD_NAME_MAX];
		bool intx = d->index == VFIO_PCI_INTX_IRQ_INDEX;
		if (intx)
			snprintf(name, sizeof(name), "vfio:%s/intx", bdf);
		else
			snprintf(name, sizeof(name), "vfio:%s/%s%u", bdf, index_names[d->index], i);
		r = add(arg, name, intx ? IRQD_LEVEL : IRQD_EDGE, fds[i], &source_vfio_ops, d);
		if (r == 0) {
			d->refs++;
			continue;
		}
		for (uint32_t j = i; j < count; j++)
			close(fds[j]);
		r = FAIL(-r, "cannot add line %s", name);
		break;
	}
	free(fds);
	dev_put(d);
	return r;
}
