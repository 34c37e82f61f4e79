/*
 * test_virtqueue.c - the split virtqueue core against a device played by the test: it writes
 * the used ring and event indexes as a device would (virtio 1.x §2.7), including wrong ones.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "virtio/virtqueue.h"

struct dev { /* the device's view */
	uint16_t last_avail;
};

static void *ring_mem(uint16_t num)
{
	void *p = aligned_alloc(VIRTQ_RING_ALIGN, (virtq_ring_bytes(num) + 4095) & ~(size_t)4095);
	assert_non_null(p);
	return p;
}

static uint16_t *avail_event(struct virtq *vq) { return (uint16_t *)&vq->used->ring[vq->num]; }
static uint16_t used_event(struct virtq *vq) { return vq->avail->ring[vq->num]; }

/* The device uses the next available chain, writing `len`; returns its head. */
static uint16_t device_use(struct virtq *vq, struct dev *d, uint32_t len)
{
	uint16_t head = vq->avail->ring[d->last_avail++ & (vq->num - 1)];
	vq->used->ring[vq->used->idx & (vq->num - 1)] = (struct virtq_used_elem){ head, len };
	vq->used->idx++;
	return head;
}

static void test_add_get_chains(void **state)
{
	(void)state;
	struct virtq vq;
	void *mem = ring_mem(8);
	assert_int_equal(virtq_init(&vq, 0, 8, mem, true), 0);
	char buf[3][64];
	struct virtq_buf b[3] = { { (uintptr_t)buf[0], 16 }, { (uintptr_t)buf[1], 64 }, { (uintptr_t)buf[2], 1 } };
	int tok[3];
	struct dev d = { 0 };
	/* two chains of three fit in 8 descriptors, a third does not */
	assert_true(virtq_add(&vq, b, 1, 2, &tok[0]) >= 0);
	assert_true(virtq_add(&vq, b, 2, 1, &tok[1]) >= 0);
	assert_int_equal(virtq_add(&vq, b, 1, 2, &tok[2]), -ENOSPC);
	assert_int_equal(virtq_in_flight(&vq), 6);
	/* the chain is laid out as asked: flags, lengths, NEXT links */
	uint16_t h = vq.avail->ring[0];
	assert_int_equal(vq.desc[h].flags, VIRTQ_DESC_F_NEXT);
	uint16_t n1 = vq.desc[h].next;
	assert_int_equal(vq.desc[n1].flags, VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE);
	assert_int_equal(vq.desc[vq.desc[n1].next].flags, VIRTQ_DESC_F_WRITE);
	assert_int_equal(vq.avail->idx, 2);
	/* completed out of order: the second first */
	uint32_t len;
	int err;
	assert_null(virtq_get(&vq, &len, &err));
	d.last_avail = 1;
	device_use(&vq, &d, 1);
	d.last_avail = 0;
	device_use(&vq, &d, 65);
	assert_ptr_equal(virtq_get(&vq, &len, &err), &tok[1]);
	assert_int_equal(len, 1);
	assert_ptr_equal(virtq_get(&vq, &len, &err), &tok[0]);
	assert_int_equal(len, 65);
	assert_int_equal(virtq_in_flight(&vq), 0);
	/* and the descriptors are free again */
	assert_true(virtq_add(&vq, b, 1, 2, &tok[2]) >= 0);
	assert_true(virtq_add(&vq, b, 1, 2, &tok[2]) >= 0);
	virtq_destroy(&vq);
	free(mem);
}

/* §2.7.13.4: notify only when the device's avail_event lies in what was just published. */
static void test_notify_suppression(void **state)
{
	(void)state;
	struct virtq vq;
	void *mem = ring_mem(16);
	assert_int_equal(virtq_init(&vq, 0, 16, mem, true), 0);
	char x[8];
	struct virtq_buf b = { (uintptr_t)x, 8 };
	int tok;
	*avail_event(&vq) = 0; /* the device waits for entry 0 */
	assert_int_equal(virtq_add(&vq, &b, 1, 0, &tok), 1);
	assert_int_equal(virtq_add(&vq, &b, 1, 0, &tok), 0);  /* it has not caught up: no kick */
	*avail_event(&vq) = 2;                                 /* caught up, waits for entry 2 */
	assert_int_equal(virtq_add_nopublish(&vq, &b, 1, 0, &tok), 0);
	assert_int_equal(virtq_add_nopublish(&vq, &b, 1, 0, &tok), 0);
	assert_int_equal(virtq_publish(&vq), 1);               /* one kick for the batch */
	assert_int_equal(virtq_publish(&vq), 0);               /* nothing new */
	assert_int_equal(vq.stats.notifies, 2);
	assert_int_equal(vq.stats.notifies_suppressed, 1);
	virtq_destroy(&vq);
	free(mem);
	/* without EVENT_IDX the device's NO_NOTIFY flag decides */
	mem = ring_mem(16);
	assert_int_equal(virtq_init(&vq, 0, 16, mem, false), 0);
	vq.used->flags = VIRTQ_USED_F_NO_NOTIFY;
	assert_int_equal(virtq_add(&vq, &b, 1, 0, &tok), 0);
	vq.used->flags = 0;
	assert_int_equal(virtq_add(&vq, &b, 1, 0, &tok), 1);
	virtq_destroy(&vq);
	free(mem);
}

/* Interrupt suppression: disabled puts used_event behind; enable asks for the next one (or
 * the n-th) and reports completions that raced with it. */
static void test_interrupt_suppression(void **state)
{
	(void)state;
	struct virtq vq;
	void *mem = ring_mem(16);
	assert_int_equal(virtq_init(&vq, 0, 16, mem, true), 0);
	char x[8];
	struct virtq_buf b = { (uintptr_t)x, 8 };
	int tok;
	struct dev d = { 0 };
	for (int i = 0; i < 8; i++)
		virtq_add(&vq, &b, 0, 1, &tok);
	virtq_disable_interrupts(&vq);
	device_use(&vq, &d, 8);
	/* the device would not interrupt: used_event is behind what it just wrote */
	assert_false(virtq_need_event(used_event(&vq), vq.used->idx, (uint16_t)(vq.used->idx - 1)));
	uint32_t len;
	int err;
	assert_non_null(virtq_get(&vq, &len, &err));
	assert_false(virtq_enable_interrupts(&vq)); /* nothing pending: sleep is safe */
	assert_int_equal(used_event(&vq), vq.last_used);
	device_use(&vq, &d, 8);
	assert_true(virtq_need_event(used_event(&vq), vq.used->idx, (uint16_t)(vq.used->idx - 1)));
	/* the race: a completion arrives between drain and re-arm */
	assert_true(virtq_enable_interrupts(&vq));
	assert_non_null(virtq_get(&vq, &len, &err));
	/* one interrupt per 4 completions */
	assert_false(virtq_enable_interrupts_after(&vq, 4));
	for (int i = 0; i < 4; i++) {
		uint16_t old = vq.used->idx;
		device_use(&vq, &d, 8);
		assert_int_equal(virtq_need_event(used_event(&vq), vq.used->idx, old), i == 3);
	}
	virtq_destroy(&vq);
	free(mem);
}

/* A device that lies: every impossible used entry is refused with -EPROTO and counted. */
static void test_bad_device(void **state)
{
	(void)state;
	struct virtq vq;
	void *mem = ring_mem(8);
	assert_int_equal(virtq_init(&vq, 0, 8, mem, true), 0);
	char x[8];
	struct virtq_buf b = { (uintptr_t)x, 8 };
	int tok;
	uint32_t len;
	int err;
	virtq_add(&vq, &b, 0, 1, &tok);
	/* an id beyond the ring */
	vq.used->ring[0] = (struct virtq_used_elem){ 9999, 1 };
	vq.used->idx = 1;
	assert_null(virtq_get(&vq, &len, &err));
	assert_int_equal(err, -EPROTO);
	/* an id that is not in flight */
	virtq_add(&vq, &b, 0, 1, &tok);
	vq.used->ring[1] = (struct virtq_used_elem){ 5, 1 };
	vq.used->idx = 2;
	assert_null(virtq_get(&vq, &len, &err));
	assert_int_equal(err, -EPROTO);
	/* a length beyond the writable buffers */
	vq.used->ring[2] = (struct virtq_used_elem){ vq.avail->ring[1], 9 };
	vq.used->idx = 3;
	assert_null(virtq_get(&vq, &len, &err));
	assert_int_equal(err, -EPROTO);
	/* an index that ran ahead of what was made available */
	vq.used->idx = 200;
	assert_null(virtq_get(&vq, &len, &err));
	assert_int_equal(err, -EPROTO);
	assert_int_equal(vq.stats.device_errors, 4);
	virtq_destroy(&vq);
	free(mem);
}

/* The descriptor table is shared: a device may overwrite every next and flags field, of free
 * descriptors and of chains in flight. The driver's free list and chains are its own, so it
 * goes on handing out each descriptor once and only ever within the table. */
static void test_device_scribbles_descriptors(void **state)
{
	(void)state;
	struct virtq vq;
	struct dev d = { 0 };
	void *mem = ring_mem(8);
	assert_int_equal(virtq_init(&vq, 0, 8, mem, true), 0);
	char x[3][8];
	struct virtq_buf b[3] = { { (uintptr_t)x[0], 8 }, { (uintptr_t)x[1], 8 }, { (uintptr_t)x[2], 8 } };
	int tok[8];
	for (unsigned round = 0; round < 20; round++) {
		/* two chains of three in flight, then the device scribbles, then uses them */
		assert_true(virtq_add(&vq, b, 1, 2, &tok[0]) >= 0);
		assert_true(virtq_add(&vq, b, 1, 2, &tok[1]) >= 0);
		assert_int_equal(vq.num_free, 2);
		for (unsigned i = 0; i < 8; i++)
			vq.desc[i] = (struct virtq_desc){ .addr = 0, .len = 0, .flags = VIRTQ_DESC_F_NEXT,
							  .next = (uint16_t)(40000 + i) };
		device_use(&vq, &d, 16);
		device_use(&vq, &d, 1);
		uint32_t len;
		int err;
		assert_ptr_equal(virtq_get(&vq, &len, &err), &tok[0]);
		assert_ptr_equal(virtq_get(&vq, &len, &err), &tok[1]);
		assert_int_equal(err, 0);
		assert_int_equal(vq.num_free, 8);
		/* every descriptor can be handed out again, each once, all inside the table */
		bool seen[8] = { false };
		for (unsigned k = 0; k < 8; k++) {
			assert_true(virtq_add(&vq, b, 0, 1, &tok[k]) >= 0);
			uint16_t head = vq.avail->ring[(vq.avail_idx - 1) & 7];
			assert_true(head < 8);
			assert_false(seen[head]);
			seen[head] = true;
			assert_int_equal(vq.desc[head].flags, VIRTQ_DESC_F_WRITE);
		}
		assert_int_equal(virtq_add(&vq, b, 0, 1, &tok[0]), -ENOSPC);
		for (unsigned k = 0; k < 8; k++)
			device_use(&vq, &d, 0);
		for (unsigned k = 0; k < 8; k++)
			assert_ptr_equal(virtq_get(&vq, &len, &err), &tok[k]);
		assert_int_equal(vq.num_free, 8);
	}
	assert_int_equal(vq.stats.device_errors, 0);
	virtq_destroy(&vq);
	free(mem);
}

static int reclaim_seen[4], reclaim_tok[4];

static void count_reclaimed(void *t, void *arg)
{
	(void)arg;
	reclaim_seen[(int *)t - reclaim_tok]++;
}

static void test_reclaim(void **state)
{
	(void)state;
	struct virtq vq;
	void *mem = ring_mem(8);
	assert_int_equal(virtq_init(&vq, 0, 8, mem, true), 0);
	char x[8];
	struct virtq_buf b = { (uintptr_t)x, 8 };
	for (int i = 0; i < 4; i++)
		virtq_add(&vq, &b, 1, 0, &reclaim_tok[i]);
	assert_int_equal(virtq_reclaim(&vq, count_reclaimed, NULL), 4);
	for (int i = 0; i < 4; i++)
		assert_int_equal(reclaim_seen[i], 1);
	assert_int_equal(virtq_in_flight(&vq), 0);
	assert_int_equal(vq.avail->idx, 0);
	assert_int_equal(virtq_init(&vq, 0, 6, mem, true), -EINVAL); /* not a power of two */
	virtq_destroy(&vq);
	free(mem);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_add_get_chains),
		cmocka_unit_test(test_notify_suppression),
		cmocka_unit_test(test_interrupt_suppression),
		cmocka_unit_test(test_bad_device),
		cmocka_unit_test(test_device_scribbles_descriptors),
		cmocka_unit_test(test_reclaim),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
