/*
 * virtio-blk/blkq.h - clients of the block driver server (blkd): a shared-memory queue per
 * client, a wake-up only when a side sleeps.
 *
 * blkd gives each client (at connect, over its unix socket, SCM_RIGHTS) one memfd with a
 * submission ring, a completion ring and BLKQ_SLOTS data slots of BLKQ_SLOT_BYTES, and two
 * eventfds: the server's doorbell and the client's. A side that finds its ring empty sets its
 * `sleeping` word, rechecks, and only then sleeps on its eventfd; the producer writes the
 * eventfd only when it sees that word set. A busy pair exchanges requests with no system call.
 *
 *	struct blkq *q;  blkq_connect("/run/blkd.sock", &q);
 *	void *buf = blkq_slot(q, 0);     // fill it for a write
 *	blkq_submit(q, &(struct blkq_sqe){ .op = BLKQ_WRITE, .slot = 0, .sector = 8, .len = 4096, .tag = 1 });
 *	struct blkq_cqe c;  blkq_wait(q, &c, 1, -1);   // c.tag == 1, c.status == 0
 */
#ifndef VIRTIO_BLKQ_H
#define VIRTIO_BLKQ_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "core/hist.h"

#define BLKQ_DEPTH 64          /* ring entries (requests in flight per client) */
#define BLKQ_SLOTS 64          /* data slots */
#define BLKQ_SLOT_BYTES (64 * 1024)
#define BLKQ_VERSION 1

enum blkq_op { BLKQ_READ = 0, BLKQ_WRITE = 1, BLKQ_FLUSH = 4, BLKQ_INFO = 100 };

struct blkq_sqe {
	uint32_t op;             /* enum blkq_op */
	uint32_t slot;           /* data slot for READ and WRITE */
	uint64_t sector;         /* 512-byte sectors */
	uint32_t len;            /* bytes, a multiple of 512, at most BLKQ_SLOT_BYTES */
	uint32_t tag;            /* returned in the completion */
	uint64_t submit_ns;      /* stamped by blkq_submit (CLOCK_MONOTONIC) */
};

/* Where the time of a request went: stamps along its way (CLOCK_MONOTONIC ns, 0 if the hop
 * did not happen, e.g. no interrupt in polling mode). */
enum blkq_stamp {
	BLKQ_T_PICKED,           /* blkd took it from the ring */
	BLKQ_T_SUBMITTED,        /* blkd gave it to the device */
	BLKQ_T_RAISED,           /* irqd read the device's signal (call eventfd) */
	BLKQ_T_DELIVERED,        /* irqd published the notification */
	BLKQ_T_WOKEN,            /* blkd took the notification */
	BLKQ_T_COMPLETED,        /* blkd saw the request used */
	BLKQ_T_POSTED,           /* blkd posted the completion */
	BLKQ_STAMPS
};

struct blkq_cqe {
	uint32_t tag;
	int32_t status;          /* 0 or a negative errno value */
	uint64_t submit_ns;      /* the request's, copied back */
	uint64_t t[BLKQ_STAMPS];
	uint64_t info[2];        /* BLKQ_INFO: capacity in sectors, read-only flag */
};

struct blkq_ring_hdr {
	_Atomic uint32_t head;   /* consumer */
	_Atomic uint32_t tail;   /* producer */
	_Atomic uint32_t sleeping; /* the consumer is (about to be) asleep on its eventfd */
	uint32_t pad[13];        /* a cache line each */
};

struct blkq_shared {
	uint32_t version, depth, slots, slot_bytes;
	uint32_t pad[12];
	struct blkq_ring_hdr sq_hdr;  /* client produces, blkd consumes */
	struct blkq_ring_hdr cq_hdr;  /* blkd produces, client consumes */
	struct blkq_sqe sq[BLKQ_DEPTH];
	struct blkq_cqe cq[BLKQ_DEPTH];
	/* data slots follow, page aligned: blkq_shared_bytes() */
};
size_t blkq_data_offset(void);
size_t blkq_shared_bytes(void);

/* Ring helpers shared by both sides: push returns 0 or -EAGAIN (full), and whether the
 * consumer must be woken in *wake; pop returns 1 with an entry, 0 when empty. */
int blkq_push_sqe(struct blkq_shared *s, const struct blkq_sqe *e, int *wake);
int blkq_pop_sqe(struct blkq_shared *s, struct blkq_sqe *e);
int blkq_push_cqe(struct blkq_shared *s, const struct blkq_cqe *e, int *wake);
int blkq_pop_cqe(struct blkq_shared *s, struct blkq_cqe *e);
/* Completions posted and not yet taken by the client (more than BLKQ_DEPTH: the client wrote
 * nonsense into its ring). blkd takes no request it could not answer: at most BLKQ_DEPTH
 * unread and in flight together, the rest wait in the submission ring. */
uint32_t blkq_cq_unread(const struct blkq_shared *s);
/* Before sleeping: announce it, then recheck; 1 if the ring has entries after all (do not
 * sleep), 0 if the caller may sleep. blkq_awake clears the word. */
int blkq_prepare_sleep(struct blkq_ring_hdr *h);
void blkq_awake(struct blkq_ring_hdr *h);

/* ---- client library ------------------------------------------------------------------- */
struct blkq;

/* One line about the last failure of this thread's blkq call. */
const char *blkq_last_error(void);
int blkq_connect(const char *path, struct blkq **out);
void blkq_close(struct blkq *q);
void *blkq_slot(struct blkq *q, unsigned slot);
/* Capacity (sectors) and read-only flag of the disk; call it with no request in flight. */
int blkq_info(struct blkq *q, uint64_t *capacity, int *read_only);
/* Queues one request (stamps submit_ns). -EAGAIN when the ring is full, -EINVAL for a bad
 * slot or length (checked by blkd too). */
int blkq_submit(struct blkq *q, struct blkq_sqe *e);
/* Up to max completions; waits up to timeout_ms (-1: forever) for the first. Returns how many,
 * 0 on timeout, -ECONNRESET if blkd went away. Every completion is also recorded in the
 * per-hop histograms (blkq_hops). */
int blkq_wait(struct blkq *q, struct blkq_cqe *c, int max, int timeout_ms);

/* Latency of every completed request along its way: client submit -> blkd picked -> device
 * -> irqd -> blkd -> client sees the completion. */
enum blkq_hop {
	BLKQ_HOP_TO_SERVER,      /* submit -> picked */
	BLKQ_HOP_IN_SERVER,      /* picked -> given to the device */
	BLKQ_HOP_DEVICE,         /* given -> irqd read the signal */
	BLKQ_HOP_IRQD,           /* irqd read -> irqd published */
	BLKQ_HOP_WAKE,           /* published -> blkd took it */
	BLKQ_HOP_REAP,           /* took -> posted to the client */
	BLKQ_HOP_TO_CLIENT,      /* posted -> the client has it */
	BLKQ_HOP_TOTAL,          /* submit -> the client has it */
	BLKQ_HOPS
};
extern const char *const blkq_hop_name[BLKQ_HOPS];
const struct hist *blkq_hops(const struct blkq *q);

#endif
