/*
 * fuzz_virtq.c - libFuzzer target: a device writing arbitrary used-ring entries and indexes
 * (virtio 1.x §2.7.8) while the driver adds, takes, re-arms and reclaims. The virtqueue core
 * must hand back only requests in flight, each once, with a length within its writable
 * buffers, and keep its descriptor accounting whole.
 *
 * Input: byte 0 picks the ring size (2..64) and EVENT_IDX; then operations of 9 bytes:
 * op, id (u32), len (u32).
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "virtio/virtqueue.h"

#define MAX_NUM 64

struct model { /* what the driver knows it gave the device */
	int token[MAX_NUM];
	uint8_t live[MAX_NUM];
	uint32_t writable[MAX_NUM];
	unsigned descs[MAX_NUM], used_descs;
};

/* A token handed back (taken or reclaimed): it must be one in flight; it is not any more. */
static void handed_back(struct model *m, void *t)
{
	long k = (int *)t - m->token;
	if (k < 0 || k >= MAX_NUM || !m->live[k])
		abort();
	m->live[k] = 0;
	m->used_descs -= m->descs[k];
}

static void on_reclaim(void *t, void *arg)
{
	handed_back(arg, t);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	uint16_t num = (uint16_t)(2u << (data[0] % 6));
	static _Alignas(4096) char ring[65536];
	struct virtq vq;
	if (virtq_init(&vq, 0, num, ring, data[0] & 0x80) < 0)
		abort();
	static struct model m;
	memset(&m, 0, sizeof m);
	char buf[64];
	for (size_t at = 1; at + 9 <= size; at += 9) {
		uint8_t op = data[at];
		uint32_t id, len;
		memcpy(&id, data + at + 1, 4);
		memcpy(&len, data + at + 5, 4);
		switch (op % 6) {
		case 0: { /* the driver adds a request: 1..3 buffers, some device-writable */
			unsigned k = 0;
			while (k < MAX_NUM && m.live[k])
				k++;
			if (k == MAX_NUM)
				break;
			unsigned n_out = id % 3, n_in = 1 + (id >> 8) % 2;
			struct virtq_buf b[4];
			for (unsigned i = 0; i < n_out + n_in; i++)
				b[i] = (struct virtq_buf){ (uintptr_t)buf, 1 + (len >> (4 * i)) % 64 };
			int r = virtq_add(&vq, b, n_out, n_in, &m.token[k]);
			if (r == -ENOSPC)
				break;
			if (r < 0)
				abort();
			m.live[k] = 1;
			m.descs[k] = n_out + n_in;
			m.used_descs += m.descs[k];
			m.writable[k] = 0;
			for (unsigned i = n_out; i < n_out + n_in; i++)
				m.writable[k] += b[i].len;
			break;
		}
		case 1: /* the device writes a used entry, anything */
			vq.used->ring[vq.used->idx & (num - 1)] = (struct virtq_used_elem){ id, len };
			vq.used->idx++;
			break;
		case 2: /* the device moves its index anywhere */
			vq.used->idx = (uint16_t)id;
			break;
		case 3: { /* the driver takes what is used */
			uint32_t got;
			int err;
			void *t;
			while ((t = virtq_get(&vq, &got, &err)) != NULL) {
				long k = (int *)t - m.token;
				if (k >= 0 && k < MAX_NUM && got > m.writable[k])
					abort();
				handed_back(&m, t);
			}
			if (err != 0 && err != -EPROTO)
				abort();
			break;
		}
		case 4:
			if (id & 1)
				virtq_enable_interrupts_after(&vq, (uint16_t)len);
			else
				virtq_disable_interrupts(&vq);
			break;
		case 5: /* the device went away: everything in flight comes back once */
			if ((id & 15) == 0)
				virtq_reclaim(&vq, on_reclaim, &m);
			break;
		}
		if (vq.num - vq.num_free != m.used_descs || virtq_in_flight(&vq) != m.used_descs)
			abort();
	}
	virtq_destroy(&vq);
	return 0;
}
