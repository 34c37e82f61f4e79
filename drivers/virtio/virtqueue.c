/*
 * virtio/virtqueue.c - split virtqueues, virtio 1.x §2.7 (driver side).
 */
#include "virtqueue.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

/* §2.7: descriptor table 16*num, avail 6+2*num (flags, idx, ring, used_event), used
 * 6+8*num (flags, idx, ring, avail_event) aligned to 4. */
static size_t avail_offset(uint16_t num) { return 16u * num; }
static size_t used_offset(uint16_t num) { return (avail_offset(num) + 6u + 2u * num + 63u) & ~(size_t)63; }

size_t virtq_ring_bytes(uint16_t num)
{
	return used_offset(num) + 6u + 8u * num;
}

/* The event fields after each ring (§2.7.6, §2.7.8). */
static uint16_t *used_event(struct virtq *vq) { return &vq->avail->ring[vq->num]; }
static uint16_t *avail_event(struct virtq *vq)
{
	return (uint16_t *)((char *)vq->used + offsetof(struct virtq_used, ring) +
			    vq->num * sizeof(struct virtq_used_elem));
}

static void reset_rings(struct virtq *vq)
{
	memset(vq->desc, 0, virtq_ring_bytes(vq->num));
	memset(vq->entry, 0, vq->num * sizeof *vq->entry);
	for (uint16_t i = 0; i < vq->num; i++)
		vq->entry[i].next = (uint16_t)(i + 1);
	vq->free_head = 0;
	vq->num_free = vq->num;
	vq->avail_idx = vq->last_used = vq->notified_avail = 0;
}

int virtq_init(struct virtq *vq, uint16_t index, uint16_t num, void *ring, bool event_idx)
{
	if (num == 0 || num > 32768 || (num & (num - 1)) != 0 || ring == NULL)
		return -EINVAL;
	memset(vq, 0, sizeof *vq);
	vq->index = index;
	vq->num = num;
	vq->event_idx = event_idx;
	vq->desc = ring;
	vq->avail = (struct virtq_avail *)((char *)ring + avail_offset(num));
	vq->used = (struct virtq_used *)((char *)ring + used_offset(num));
	vq->entry = calloc(num, sizeof *vq->entry);
	if (vq->entry == NULL)
		return -ENOMEM;
	reset_rings(vq);
	return 0;
}

void virtq_destroy(struct virtq *vq)
{
	free(vq->entry);
	vq->entry = NULL;
}

uint64_t virtq_desc_addr(const struct virtq *vq) { return (uintptr_t)vq->desc; }
uint64_t virtq_avail_addr(const struct virtq *vq) { return (uintptr_t)vq->avail; }
uint64_t virtq_used_addr(const struct virtq *vq) { return (uintptr_t)vq->used; }

int virtq_add_nopublish(struct virtq *vq, const struct virtq_buf *buf, unsigned n_out,
			unsigned n_in, void *token)
{
	unsigned n = n_out + n_in;
	if (n == 0 || token == NULL)
		return -EINVAL;
	if (n > vq->num_free)
		return -ENOSPC;
	uint16_t head = vq->free_head, i = head, last = head;
	uint32_t writable = 0;
	for (unsigned k = 0; k < n; k++) {
		struct virtq_desc *d = &vq->desc[i];
		d->addr = buf[k].addr;
		d->len = buf[k].len;
		d->flags = (uint16_t)((k < n_out ? 0 : VIRTQ_DESC_F_WRITE) |
				      (k + 1 < n ? VIRTQ_DESC_F_NEXT : 0));
		d->next = vq->entry[i].next;
		if (k >= n_out)
			writable += buf[k].len;
		last = i;
		i = vq->entry[i].next;
	}
	vq->free_head = vq->entry[last].next;
	vq->num_free = (uint16_t)(vq->num_free - n);
	vq->entry[head].token = token;
	vq->entry[head].writable = writable;
	vq->entry[head].ndesc = (uint16_t)n;
	/* §2.7.13.2: the ring entry first, then (at publish) the index, with a release store. */
	vq->avail->ring[vq->avail_idx & (vq->num - 1)] = head;
	vq->avail_idx++;
	vq->stats.added++;
	return 0;
}

int virtq_publish(struct virtq *vq)
{
	atomic_store_explicit((_Atomic uint16_t *)&vq->avail->idx, vq->avail_idx, memory_order_release);
	/* §2.7.13.4: the index store must be visible before we read the device's suppression. */
	atomic_thread_fence(memory_order_seq_cst);
	uint16_t old = vq->notified_avail, new = vq->avail_idx;
	int notify;
	if (vq->event_idx)
		notify = virtq_need_event(atomic_load_explicit((_Atomic uint16_t *)avail_event(vq),
							       memory_order_relaxed), new, old);
	else
		notify = !(atomic_load_explicit((_Atomic uint16_t *)&vq->used->flags,
						memory_order_relaxed) & VIRTQ_USED_F_NO_NOTIFY);
	if (new == old)
		notify = 0;
	vq->notified_avail = new;
	if (notify)
		vq->stats.notifies++;
	else if (new != old)
		vq->stats.notifies_suppressed++;
	return notify;
}

int virtq_add(struct virtq *vq, const struct virtq_buf *buf, unsigned n_out, unsigned n_in,
	      void *token)
{
	int r = virtq_add_nopublish(vq, buf, n_out, n_in, token);
	return r < 0 ? r : virtq_publish(vq);
}

static uint16_t used_idx(const struct virtq *vq)
{
	return atomic_load_explicit((_Atomic uint16_t *)&vq->used->idx, memory_order_acquire);
}

bool virtq_pending(const struct virtq *vq)
{
	return used_idx(vq) != vq->last_used;
}

unsigned virtq_in_flight(const struct virtq *vq)
{
	return (unsigned)(vq->num - vq->num_free);
}

/* Returns the chain starting at head to the free list, walked in private memory. */
static void free_chain(struct virtq *vq, uint16_t head)
{
	uint16_t i = head, n = vq->entry[head].ndesc;
	for (uint16_t k = 1; k < n; k++)
		i = vq->entry[i].next;
	vq->entry[i].next = vq->free_head;
	vq->free_head = head;
	vq->num_free = (uint16_t)(vq->num_free + n);
	vq->entry[head].token = NULL;
}

void *virtq_get(struct virtq *vq, uint32_t *len, int *err)
{
	*err = 0;
	uint16_t idx = used_idx(vq);
	if (idx == vq->last_used)
		return NULL;
	/* §2.7.8: the device may not run ahead of what it was given. */
	if ((uint16_t)(idx - vq->last_used) > (uint16_t)(vq->avail_idx - vq->last_used)) {
		vq->stats.device_errors++;
		*err = -EPROTO;
		return NULL;
	}
	struct virtq_used_elem e = vq->used->ring[vq->last_used & (vq->num - 1)];
	vq->last_used++;
	if (e.id >= vq->num || vq->entry[e.id].token == NULL || e.len > vq->entry[e.id].writable) {
		vq->stats.device_errors++;
		*err = -EPROTO;
		return NULL;
	}
	void *token = vq->entry[e.id].token;
	free_chain(vq, (uint16_t)e.id);
	*len = e.len;
	vq->stats.used++;
	return token;
}

void virtq_disable_interrupts(struct virtq *vq)
{
	if (vq->event_idx)
		*used_event(vq) = (uint16_t)(vq->last_used - 1);
	else
		vq->avail->flags |= VIRTQ_AVAIL_F_NO_INTERRUPT;
}

bool virtq_enable_interrupts_after(struct virtq *vq, uint16_t n)
{
	if (vq->event_idx)
		atomic_store_explicit((_Atomic uint16_t *)used_event(vq),
				      (uint16_t)(vq->last_used + (n ? n - 1 : 0)), memory_order_relaxed);
	else
		vq->avail->flags &= (uint16_t)~VIRTQ_AVAIL_F_NO_INTERRUPT;
	/* The device checks used_event after writing used->idx; we check used->idx after
	 * writing used_event: one of the two sees the other (§2.7.10). */
	atomic_thread_fence(memory_order_seq_cst);
	return virtq_pending(vq);
}

bool virtq_enable_interrupts(struct virtq *vq)
{
	return virtq_enable_interrupts_after(vq, 1);
}

unsigned virtq_reclaim(struct virtq *vq, void (*fn)(void *token, void *arg), void *arg)
{
	unsigned n = 0;
	for (uint16_t i = 0; i < vq->num; i++)
		if (vq->entry[i].token != NULL) {
			fn(vq->entry[i].token, arg);
			n++;
		}
	reset_rings(vq);
	return n;
}
