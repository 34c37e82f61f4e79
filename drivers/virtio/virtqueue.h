/*
 * virtio/virtqueue.h - split virtqueues (virtio 1.x §2.7) with VIRTIO_F_EVENT_IDX, pure.
 *
 * The ring memory is given by the caller (it must be visible to the device: the transport's
 * DMA arena); buffer addresses are device addresses, which every transport here makes equal to
 * the driver's virtual addresses. No I/O: virtq_add says whether the device must be notified,
 * the caller rings the doorbell. Everything the device writes (used ids, lengths, indexes) is
 * checked before it is believed; a bad value is counted, reported as -EPROTO, never followed.
 *
 * One thread uses a virtqueue at a time.
 */
#ifndef VIRTIO_VIRTQUEUE_H
#define VIRTIO_VIRTQUEUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "virtio.h"

/* One buffer of a request: device-readable (out) buffers come first, then device-writable. */
struct virtq_buf {
	uint64_t addr;
	uint32_t len;
};

struct virtq_stats {
	uint64_t added, used;        /* requests */
	uint64_t notifies;           /* virtq_add said "notify" */
	uint64_t notifies_suppressed;
	uint64_t device_errors;      /* bad used ids, lengths or indexes seen */
};

/* What the driver keeps of each descriptor where the device cannot write it: the device may
 * scribble over the whole shared table, so the free list and the chains are never read back
 * from it (only written, for the device to follow). */
struct virtq_entry {
	void *token;                 /* at a chain's head: the request, NULL when free */
	uint32_t writable;           /* at a chain's head: bytes the device may write */
	uint16_t ndesc;              /* at a chain's head: descriptors in the chain */
	uint16_t next;               /* the next descriptor of the chain or of the free list */
};

struct virtq {
	uint16_t index, num;         /* queue number; ring size (a power of two) */
	bool event_idx;
	struct virtq_desc *desc;
	struct virtq_avail *avail;
	struct virtq_used *used;
	uint16_t free_head, num_free;
	uint16_t avail_idx;          /* our copy of avail->idx */
	uint16_t last_used;          /* the next used entry to read */
	uint16_t notified_avail;     /* avail_idx when the device was last told (EVENT_IDX) */
	struct virtq_entry *entry;   /* per descriptor, in private memory */
	struct virtq_stats stats;
};

/* Bytes of ring memory for `num` entries (descriptor table, avail and used rings, event
 * fields), and its alignment. */
size_t virtq_ring_bytes(uint16_t num);
#define VIRTQ_RING_ALIGN 4096u

/* Lays the rings out in `ring` (zeroed here) and allocates the per-entry bookkeeping.
 * -EINVAL unless num is a power of two in 1..32768. */
int virtq_init(struct virtq *vq, uint16_t index, uint16_t num, void *ring, bool event_idx);
void virtq_destroy(struct virtq *vq);
/* Device addresses of the three parts, for the transport (SET_VRING_ADDR, queue_desc...). */
uint64_t virtq_desc_addr(const struct virtq *vq);
uint64_t virtq_avail_addr(const struct virtq *vq);
uint64_t virtq_used_addr(const struct virtq *vq);

/* Makes n_out + n_in buffers one request and publishes it to the device. Returns 1 if the
 * device must be notified now (§2.7.13.4: EVENT_IDX avail_event, else used->flags), 0 if not,
 * -ENOSPC if the ring lacks free descriptors, -EINVAL for an empty request or token NULL. */
int virtq_add(struct virtq *vq, const struct virtq_buf *buf, unsigned n_out, unsigned n_in,
	      void *token);
/* Several virtq_adds, one notification decision: publish with virtq_add_nopublish, then
 * virtq_publish (returns 1 if the device must be notified). */
int virtq_add_nopublish(struct virtq *vq, const struct virtq_buf *buf, unsigned n_out,
			unsigned n_in, void *token);
int virtq_publish(struct virtq *vq);

/* The next completed request: its token, and in *len the bytes the device wrote. NULL when
 * none is pending; NULL with *err = -EPROTO when the device returned something impossible
 * (an id out of range or not in flight, a length beyond the writable buffers, an index that
 * ran ahead by more than the ring size); the entry is skipped and counted. */
void *virtq_get(struct virtq *vq, uint32_t *len, int *err);
/* Completed requests are waiting (reads used->idx). */
bool virtq_pending(const struct virtq *vq);
/* Requests the device still holds. */
unsigned virtq_in_flight(const struct virtq *vq);

/* Interrupt suppression for NAPI-style draining (§2.7.7, §2.7.10). disable: the device should
 * not interrupt (with EVENT_IDX used_event is put behind last_used). enable: interrupt on the
 * next completion; returns true if completions arrived meanwhile, which the caller must drain
 * (the arm-then-recheck race). enable_after(n): interrupt only once n more requests are used
 * (EVENT_IDX only; otherwise as enable). */
void virtq_disable_interrupts(struct virtq *vq);
bool virtq_enable_interrupts(struct virtq *vq);
bool virtq_enable_interrupts_after(struct virtq *vq, uint16_t n);

/* Every in-flight request's token, once each, and the ring reset to empty (a device that went
 * away: its requests are failed by the caller). Returns how many. */
unsigned virtq_reclaim(struct virtq *vq, void (*fn)(void *token, void *arg), void *arg);

#endif
