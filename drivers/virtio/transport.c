/*
 * virtio/transport.c - the pieces every transport shares: the DMA arena and error messages.
 */
#include "transport.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

void *virtio_dma_alloc(struct virtio_dev *d, size_t size, size_t align)
{
	size_t at = (d->arena_used + align - 1) & ~(align - 1);
	if (at > d->arena_size || size > d->arena_size - at)
		return NULL;
	d->arena_used = at + size;
	memset(d->arena + at, 0, size);
	return d->arena + at;
}

int virtio_fail(struct virtio_dev *d, int err, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(d->error, sizeof d->error, fmt, ap);
	va_end(ap);
	return err;
}

void virtio_stop(struct virtio_dev *d)
{
	char why[sizeof d->error];
	memcpy(why, d->error, sizeof why);
	d->ops->stop(d);
	if (why[0])
		memcpy(d->error, why, sizeof why);
}
