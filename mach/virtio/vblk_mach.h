/*
 * A virtio-blk driver core for GNU Mach (vblk_mach.c), virtio 1.2 §5.2, over the Mach
 * virtio-pci transport (virtio_pci_mach.h) and drivers/virtio/virtqueue.c (unchanged).
 *
 * One request queue (queue 0, 128 entries). Requests carry physical addresses (vpm_phys) of
 * arena memory: per request slot a header and a status byte, and the data buffer the caller got
 * from vblk_buf (in the arena too). Completion is found either by polling the used ring
 * (VBLK_POLL, device interrupts suppressed) or through irqd (VBLK_IRQD: the device's INTx
 * line, attached as line "vblk" through the client API <irqd/client.h>; at each occurrence the
 * ISR status is read, §4.1.4.5, which deasserts INTx, and the occurrence is answered HANDLED, or
 * NOT_MINE if the ISR said nothing).
 */
#ifndef MACH_VBLK_MACH_H
#define MACH_VBLK_MACH_H

#include <stdbool.h>
#include <stdint.h>

#include "transport.h"
#include "virtqueue.h"

enum vblk_mode { VBLK_POLL, VBLK_IRQD };

#define VBLK_QUEUE 128
#define VBLK_SLOTS 40		/* requests in flight at most (3 descriptors each) */
#define VBLK_BOUNCE (64u * 1024) /* vblk_bounce: the device server's data buffer */

struct vblk_stats {
	uint64_t requests, sectors_written, sectors_read, flushes;
	uint64_t occurrences;	/* irqd occurrences taken */
	uint64_t isr_empty;	/* ... whose ISR status was 0 (answered NOT_MINE) */
	uint64_t no_progress;	/* ... after which the used ring held nothing new */
	uint64_t polls;		/* VBLK_POLL: used-ring reads that found nothing */
};

struct vblk_slot;
struct irqd_client;

struct vblk {
	struct virtio_dev *dev;
	struct virtq vq;
	enum vblk_mode mode;
	uint64_t capacity;	/* 512-byte sectors */
	bool flush, read_only;
	struct vblk_slot *slot;	/* arena */
	uint16_t free_slot[VBLK_SLOTS];
	struct { uint32_t type, len; } sent[VBLK_SLOTS]; /* each slot's request, as queued */
	unsigned nfree;
	unsigned errors;	/* requests completed with a status other than OK, or -EPROTO */
	char *bounce;		/* arena, VBLK_BOUNCE bytes */
	struct irqd_client *irqd;
	uint32_t handle;
	struct vblk_stats st;
	char error[200];
};

/* Finds the index-th virtio-blk-pci (1af4:1042), negotiates VERSION_1 (+ EVENT_IDX, FLUSH, RO,
 * BLK_SIZE if offered; never ACCESS_PLATFORM), reads the capacity, starts queue 0, DRIVER_OK;
 * VBLK_IRQD also connects to irqd and attaches to line "vblk". extra_arena: bytes of arena
 * left for vblk_buf. 0 or a negative errno value (b->error says why). */
int vblk_open(struct vblk *b, enum vblk_mode mode, int index, size_t extra_arena);
/* Zeroed DMA memory for data buffers; NULL when the arena is full. */
void *vblk_buf(struct vblk *b, size_t size);

/* Queues one request without notifying (vblk_kick): VIRTIO_BLK_T_IN / _OUT of len bytes (a
 * multiple of 512) at buf (from vblk_buf or b->bounce), or VIRTIO_BLK_T_FLUSH (buf NULL).
 * 0, -ENOSPC when VBLK_SLOTS requests are in flight, -EINVAL. */
int vblk_queue(struct vblk *b, uint32_t type, uint64_t sector, void *buf, uint32_t len);
/* Publishes what vblk_queue added and rings the doorbell if the device wants it. */
void vblk_kick(struct vblk *b);
/* Waits until every request has completed (timeout_ms in all); 0, -ETIMEDOUT, -EIO if a
 * request failed (b->errors counts them), -EPROTO on an impossible used entry. */
int vblk_wait_all(struct vblk *b, unsigned timeout_ms);
/* One synchronous request through b->bounce (len <= VBLK_BOUNCE): queue, kick, wait. */
int vblk_sync(struct vblk *b, uint32_t type, uint64_t sector, uint32_t len);

#endif
