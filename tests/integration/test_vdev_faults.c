/*
 * test_vdev_faults.c - devices that misbehave or take their time. A fake vhost-user back end (a
 * child process speaking the protocol from QEMU's docs/interop/vhost-user.rst) answers the
 * handshake and then lies: a short configuration space, a malformed reply, a hang-up
 * mid-handshake, an impossible used-ring entry. The driver reports each as an error with its
 * reason and does not crash; a request the lying device held fails with -EPROTO, exactly once,
 * and only once the device has stopped its ring (GET_VRING_BASE answered).
 * Or it serves requests correctly but pauses halfway through a batch, and the driver, having
 * left the device's interrupts off while it drained the first half, must have turned them
 * back on before it slept. Or it serves them correctly and slowly, and the hybrid waiting
 * policy sleeps through most of each request with the device's interrupts off.
 */
#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "util/unixmsg.h"
#include "vhost-user/vhost_user.h"
#include "virtio-blk/virtio_blk.h"

enum fault { SHORT_CONFIG, BAD_REPLY, HANGUP, BAD_USED_ID, BAD_USED_LEN, PAUSE, SLOW, SLOW_START,
	      SCRIBBLE, STOP_IGNORED };
/* STOP_IGNORED: as BAD_USED_ID, and GET_VRING_BASE is never answered */

/* PAUSE: the held half waits until the driver asks for an interrupt for it, or this long (a
 * driver that never asks is failed by its own wait, 2 s, first) */
#define PAUSE_MAX_MS 3000
/* SLOW: every request is completed this long after the kick that brought it; SLOW_START: the
 * first one after FIRST_SLOW_MS (a device warming up), the others as SLOW */
#define SLOW_MS 2
#define FIRST_SLOW_MS 20
/* SCRIBBLE: a device that completes every request at once and correctly, but first writes
 * over all it can reach besides the status byte: each request's header (which it may only
 * read, §5.2.6) and the 32 bytes from it, and every descriptor's next and flags (§2.7.5) */

struct fake {
	enum fault fault;
	char path[96]; /* room for ".tmp" in sun_path */
	uint64_t *signals; /* the device's eventfd writes (shared_page) */
	uint64_t *stops;   /* GET_VRING_BASE messages it received (the same page) */
};

struct msg {
	uint32_t request, flags, size;
	uint8_t payload[512];
} __attribute__((packed));

static void reply(int s, const struct msg *m, const void *payload, uint32_t size)
{
	struct msg r = { .request = m->request, .flags = 1 | 4, .size = size };
	memcpy(r.payload, payload, size);
	if (send(s, &r, 12 + size, MSG_NOSIGNAL) < 0)
		_exit(3);
}

/* PAUSE: the queue as a correct device sees it (§2.7), in the fake's mapping of the driver's
 * memory; requests taken but not yet completed wait in held, since paused_ns. */
struct ring {
	char *mem;
	uint64_t guest;              /* the region's guest address (descriptors use it) */
	struct virtq_desc *desc;
	struct virtq_avail *avail;
	struct virtq_used *used;
	uint16_t num, last_avail;
	unsigned served;             /* requests completed */
	struct virtq_used_elem held[64];
	unsigned n_held;
	uint64_t paused_ns;
};

/* PAUSE: has the driver asked for an interrupt within the held requests (used_event among the
 * used indexes they will take, §2.7.10), or has the pause lasted PAUSE_MAX_MS? SLOW: have they
 * been held their time? */
static uint64_t slow_ns(const struct ring *r, enum fault fault)
{
	return (fault == SLOW_START && r->served == 0 ? FIRST_SLOW_MS : SLOW_MS) * 1000000ull;
}

static bool pause_over(const struct ring *r, enum fault fault)
{
	uint64_t held_ns = mono_ns() - r->paused_ns;
	if (fault == SLOW || fault == SLOW_START)
		return held_ns >= slow_ns(r, fault);
	uint16_t event = __atomic_load_n((uint16_t *)&r->avail->ring[r->num], __ATOMIC_ACQUIRE);
	return (uint16_t)(event - r->used->idx) < r->n_held ||
	       held_ns >= PAUSE_MAX_MS * 1000000ull;
}

/* Takes the requests the driver made available: each one's status byte, its last descriptor
 * (§5.2.6), says OK; the used length counts every device-writable byte. Then asks for the next
 * notification (avail_event, §2.7.10). */
static void take_requests(struct ring *r, enum fault fault)
{
	uint16_t idx = __atomic_load_n(&r->avail->idx, __ATOMIC_ACQUIRE);
	uint8_t *status[64];
	unsigned first = r->n_held;
	while (r->last_avail != idx && r->n_held < 64) {
		uint16_t head = r->avail->ring[r->last_avail++ % r->num], d = head;
		uint32_t written = 0;
		for (;;) {
			if (r->desc[d].flags & VIRTQ_DESC_F_WRITE)
				written += r->desc[d].len;
			if (!(r->desc[d].flags & VIRTQ_DESC_F_NEXT))
				break;
			d = r->desc[d].next;
		}
		status[r->n_held] = (uint8_t *)(r->mem + (r->desc[d].addr - r->guest));
		if (fault == SCRIBBLE)
			memset(r->mem + (r->desc[head].addr - r->guest), 0xa5, 32);
		r->held[r->n_held++] = (struct virtq_used_elem){ head, written };
	}
	if (fault == SCRIBBLE)
		for (uint16_t i = 0; i < r->num; i++)
			r->desc[i] = (struct virtq_desc){ 0xa5a5a5a5a5a5a5a5ull, 0xa5a5a5a5u,
							  VIRTQ_DESC_F_NEXT, (uint16_t)(40000u + i) };
	for (unsigned i = first; i < r->n_held; i++)
		*status[i] = 0; /* VIRTIO_BLK_S_OK */
	__atomic_store_n((uint16_t *)&r->used->ring[r->num], idx, __ATOMIC_RELEASE);
}

/* Completes the first n held requests, and interrupts only if the driver's used_event asks
 * for it (§2.7.10): index first, then the event index, as the driver arms in the other order. */
static int complete(struct ring *r, unsigned n, int call, uint64_t *signals)
{
	uint16_t old = r->used->idx, idx = old;
	for (unsigned i = 0; i < n; i++)
		r->used->ring[idx++ % r->num] = r->held[i];
	r->n_held -= n;
	r->served += n;
	memmove(r->held, r->held + n, r->n_held * sizeof(r->held[0]));
	/* sequentially consistent: the store of the index is not passed by the load after it */
	__atomic_store_n(&r->used->idx, idx, __ATOMIC_SEQ_CST);
	uint16_t event = __atomic_load_n((uint16_t *)&r->avail->ring[r->num], __ATOMIC_SEQ_CST);
	uint64_t one = 1;
	if (!virtq_need_event(event, idx, old))
		return 0;
	__atomic_fetch_add(signals, 1, __ATOMIC_RELAXED);
	return write(call, &one, sizeof one) == sizeof one ? 0 : -1;
}

/* The back end: one connection, the messages the front end sends, then the fault. */
static int fake_main(const struct irqd_proc *p, void *arg)
{
	(void)p;
	const struct fake *f = arg;
	/* the socket appears under its name only once it listens (the test connects without
	 * retrying) */
	int l = socket(AF_UNIX, SOCK_STREAM, 0);
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	snprintf(sa.sun_path, sizeof sa.sun_path, "%s.tmp", f->path);
	if (bind(l, (struct sockaddr *)&sa, sizeof sa) < 0 || listen(l, 1) < 0 ||
	    rename(sa.sun_path, f->path) < 0)
		return 2;
	int s = accept(l, NULL, NULL);
	char *mem = NULL;
	uint64_t region_user = 0, region_guest = 0, used_addr = 0, desc_addr = 0, avail_addr = 0;
	uint16_t num = 0;
	int call = -1, kick = -1;
	struct ring ring = { .n_held = 0 };
	for (;;) {
		struct msg m;
		int fds[8], nfds;
		struct pollfd pf[2] = { { .fd = s, .events = POLLIN }, { .fd = kick, .events = POLLIN } };
		/* PAUSE: what is held is completed when the pause is over, looked at every ms; SLOW:
		 * when it is due */
		uint64_t wait_ns = 1000000;
		if ((f->fault == SLOW || f->fault == SLOW_START) && ring.n_held) {
			uint64_t held_ns = mono_ns() - ring.paused_ns, due = slow_ns(&ring, f->fault);
			wait_ns = held_ns < due ? due - held_ns : 0;
		}
		struct timespec ts = { (time_t)(wait_ns / 1000000000u), (long)(wait_ns % 1000000000u) };
		int k = ppoll(pf, kick >= 0 ? 2 : 1, ring.n_held ? &ts : NULL, NULL);
		if (k < 0)
			return 2;
		if (ring.n_held && pause_over(&ring, f->fault) &&
		    complete(&ring, ring.n_held, call, f->signals) < 0)
			return 2;
		if ((f->fault == PAUSE || f->fault == SLOW || f->fault == SLOW_START ||
		     f->fault == SCRIBBLE) && kick >= 0 &&
		    (pf[1].revents & POLLIN)) {
			uint64_t v;
			if (read(kick, &v, sizeof v) < 0)
				return 2;
			if (!ring.mem)
				ring = (struct ring){ .mem = mem, .guest = region_guest,
						      .num = num,
						      .desc = (void *)(mem + (desc_addr - region_user)),
						      .avail = (void *)(mem + (avail_addr - region_user)),
						      .used = (void *)(mem + (used_addr - region_user)) };
			bool idle = ring.n_held == 0;
			take_requests(&ring, f->fault);
			if (f->fault == PAUSE && complete(&ring, (ring.n_held + 1) / 2, call, f->signals) < 0)
				return 2;
			if (f->fault == SCRIBBLE && complete(&ring, ring.n_held, call, f->signals) < 0)
				return 2;
			if (f->fault == PAUSE || idle)
				ring.paused_ns = mono_ns();
		} else if (kick >= 0 && (pf[1].revents & POLLIN)) {
			/* a request: answer it with an impossible used entry */
			uint64_t v;
			if (read(kick, &v, sizeof v) < 0)
				return 2;
			struct virtq_used *u = (struct virtq_used *)(mem + (used_addr - region_user));
			u->ring[u->idx % num] = (struct virtq_used_elem){
				f->fault == BAD_USED_LEN ? 0u : 9999u, f->fault == BAD_USED_LEN ? 1u << 30 : 1u };
			__atomic_store_n(&u->idx, (uint16_t)(u->idx + 1), __ATOMIC_RELEASE);
			uint64_t one = 1;
			if (write(call, &one, sizeof one) < 0)
				return 2;
		}
		if (!(pf[0].revents & (POLLIN | POLLHUP)))
			continue;
		ssize_t n = unixmsg_recv(s, &m, 12, fds, &nfds, 8, MSG_WAITALL);
		if (n <= 0)
			return 0; /* the front end closed */
		if (m.size && recv(s, m.payload, m.size, MSG_WAITALL) != (ssize_t)m.size)
			return 2;
		uint64_t u64;
		switch (m.request) {
		case 1: /* GET_FEATURES: VERSION_1, EVENT_IDX, PROTOCOL_FEATURES, FLUSH */
			if (f->fault == HANGUP)
				return 0;
			u64 = (1ull << 32) | (1ull << 29) | (1ull << 30) | (1ull << 9);
			if (f->fault == BAD_REPLY) {
				m.request = 77; /* an answer to a question nobody asked */
				reply(s, &m, &u64, sizeof u64);
				break;
			}
			reply(s, &m, &u64, sizeof u64);
			break;
		case 15: /* GET_PROTOCOL_FEATURES: REPLY_ACK, CONFIG */
			u64 = (1ull << 3) | (1ull << 9);
			reply(s, &m, &u64, sizeof u64);
			break;
		case 11: { /* GET_VRING_BASE: the ring stops, then the answer says where */
			uint32_t state[2] = { 0, ring.last_avail };
			memcpy(state, m.payload, sizeof state[0]);
			if (kick >= 0)
				close(kick);
			kick = -1;
			__atomic_fetch_add(f->stops, 1, __ATOMIC_RELEASE);
			if (f->fault != STOP_IGNORED)
				reply(s, &m, state, sizeof state);
			break;
		}
		case 24: { /* GET_CONFIG: offset, size, flags, bytes */
			uint32_t cfg[3 + 6] = { 0, f->fault == SHORT_CONFIG ? 8 : 24, 0, 2048, 0 };
			reply(s, &m, cfg, 12 + cfg[1]);
			break;
		}
		default:
			if (m.request == 5 && nfds == 1) { /* SET_MEM_TABLE */
				uint64_t r[4]; /* guest address, size, user address, mmap offset */
				memcpy(r, m.payload + 8, sizeof r);
				mem = mmap(NULL, r[1], PROT_READ | PROT_WRITE, MAP_SHARED, fds[0], 0);
				region_guest = r[0];
				region_user = r[2];
			}
			if (m.request == 8) /* SET_VRING_NUM */
				memcpy(&num, m.payload + 4, sizeof num);
			if (m.request == 9) { /* SET_VRING_ADDR: index, flags, desc, used, avail */
				memcpy(&desc_addr, m.payload + 8, 8);
				memcpy(&used_addr, m.payload + 16, 8);
				memcpy(&avail_addr, m.payload + 24, 8);
			}
			if (m.request == 12)
				kick = fds[0];
			if (m.request == 13)
				call = fds[0];
			if (m.flags & 8) { /* NEED_REPLY */
				u64 = 0;
				reply(s, &m, &u64, sizeof u64);
			}
		}
	}
}

/* The fake's socket path, removed by the teardown even when a test fails early. */
static char fake_path[96];

static int fake_teardown(void **state)
{
	harness_teardown(state);
	unlink(fake_path);
	return 0;
}

static void start_fake(struct fake *f, enum fault fault, pid_t *pid)
{
	f->fault = fault;
	f->signals = shared_page(2 * sizeof(uint64_t));
	f->stops = f->signals + 1;
	snprintf(f->path, sizeof f->path, "/tmp/irqd-fake-%d-%d.sock", (int)getpid(), (int)fault);
	snprintf(fake_path, sizeof fake_path, "%s", f->path);
	unlink(f->path);
	*pid = spawn(fake_main, NULL, f);
	assert_true(WAIT_UNTIL(access(f->path, F_OK) == 0, 5000));
}

/* A 32-entry queue (ten requests of three descriptors) of 4 KiB buffers, interrupts on the
 * call eventfd; spin_us and defer_us as given. */
static int open_blk(const struct fake *f, uint32_t spin_us, uint32_t defer_us, struct vblk **b,
		    char *err, size_t len)
{
	/* the watchdog (a re-notification after 30 s without progress) rescues no test */
	struct vblk_options o = { .queue_size = 32, .max_io = 4096, .irq = VIRTIO_IRQ_EVENTFD,
				  .spin_us = spin_us, .defer_us = defer_us,
				  .watchdog_us = 30000000 };
	struct virtio_dev *dev;
	/* no retries: a back end that accepts and closes is retried within the timeout */
	int r = vhost_user_open(f->path, "fake0", vblk_arena_size(&o), 0, &dev, err, len);
	return r < 0 ? r : vblk_open(dev, &o, b, err, len);
}

static void expect_open_error(enum fault fault, int want, const char *text)
{
	struct fake f;
	pid_t pid;
	start_fake(&f, fault, &pid);
	struct vblk *b = NULL;
	char err[200] = "";
	int r = open_blk(&f, 0, 0, &b, err, sizeof err);
	assert_null(b);
	assert_int_equal(r, want);
	if (strstr(err, text) == NULL)
		fail_msg("error \"%s\" lacks \"%s\"", err, text);
	assert_int_equal(reap_within(pid, 5000), 0);
}

static void test_short_config(void **state)
{
	(void)state;
	expect_open_error(SHORT_CONFIG, -EPROTO, "configuration too short: 8 of 24 bytes");
}

static void test_bad_reply(void **state)
{
	(void)state;
	expect_open_error(BAD_REPLY, -EPROTO, "malformed reply to GET_FEATURES");
}

static void test_hangup(void **state)
{
	(void)state;
	expect_open_error(HANGUP, -ECONNRESET, "closed the connection during GET_FEATURES");
}

static int done_count;
static void on_done(struct vblk_req *r)
{
	(void)r;
	done_count++;
}

/* A fake device with `fault` that gets as far as serving requests, and the driver on it
 * (spin_us and defer_us as given); done_count starts again at 0. */
static struct vblk *driver_on_fake(struct fake *f, enum fault fault, pid_t *pid, uint32_t spin_us,
				   uint32_t defer_us)
{
	start_fake(f, fault, pid);
	struct vblk *b;
	char err[200];
	if (open_blk(f, spin_us, defer_us, &b, err, sizeof err) < 0)
		fail_msg("open: %s", err);
	done_count = 0;
	return b;
}

/* The device's stops (GET_VRING_BASE received; it answers after counting) when a request came
 * back to its caller. */
static const uint64_t *fake_stops;
static void on_done_note_stops(struct vblk_req *r)
{
	*(uint64_t *)r->ctx = __atomic_load_n(fake_stops, __ATOMIC_ACQUIRE);
	done_count++;
}

/* Two reads in flight; the device answers with one impossible used entry. Both fail with
 * -EPROTO, and only after the device has stopped its ring: a caller may reuse a failed read's
 * buffer at once, so the device must no longer be able to write it. A device that does not
 * answer the stop within the protocol's 5 s is hung up on instead. */
static void bad_used(enum fault fault)
{
	struct fake f;
	pid_t pid;
	struct vblk *b = driver_on_fake(&f, fault, &pid, 0, 0);
	fake_stops = f.stops;
	uint64_t stops_seen[2] = { 99, 99 };
	struct vblk_req r[2];
	for (int i = 0; i < 2; i++)
		r[i] = (struct vblk_req){ .type = VIRTIO_BLK_T_IN, .sector = 0, .len = 512,
					  .data = vblk_buffer(b, (unsigned)i),
					  .done = on_done_note_stops, .ctx = &stops_seen[i] };
	assert_int_equal(vblk_queue(b, &r[0]), 0);
	assert_int_equal(vblk_submit(b, &r[1]), 0);
	int n = vblk_wait(b, 5000);
	assert_int_equal(n, -EPROTO);
	assert_non_null(strstr(vblk_error(b), "invalid used entry")); /* the reason, not the stop's */
	assert_int_equal(done_count, 2);
	for (int i = 0; i < 2; i++) {
		assert_int_equal(r[i].status, -EPROTO);
		assert_int_equal(stops_seen[i], 1);
	}
	/* the driver refuses new work until reconnected, and says why */
	assert_int_equal(vblk_submit(b, &r[0]), -ENOTCONN);
	struct vblk_stats st;
	vblk_stats(b, &st);
	assert_int_equal(st.vq.device_errors, 1);
	assert_int_equal(vblk_device_gone(b), fault == STOP_IGNORED);
	vblk_close(b);
	assert_int_equal(*f.stops, 1); /* a stopped ring is not stopped again */
	assert_int_equal(reap_within(pid, 5000), 0);
}

static void test_bad_used_id(void **state)
{
	(void)state;
	bad_used(BAD_USED_ID);
}

static void test_bad_used_len(void **state)
{
	(void)state;
	bad_used(BAD_USED_LEN);
}

static void test_stop_ignored(void **state)
{
	(void)state;
	bad_used(STOP_IGNORED);
}

/* Eight reads; the device completes four, then the other four once the driver has asked for an
 * interrupt for them. The driver takes the first four with the device's interrupts off; before
 * it sleeps for the rest it must turn them back on (used_event, §2.7.10): had it not, its wait
 * would end without them (the watchdog is too slow to rescue the test). With defer_us the
 * first look after the four is a deferred one (interrupts still off) and vblk_idle re-arms;
 * without, vblk_process does. Exactly two interrupts either way. */
static void paused_device(uint32_t defer_us)
{
	struct fake f;
	pid_t pid;
	struct vblk *b = driver_on_fake(&f, PAUSE, &pid, 0, defer_us);
	struct vblk_req r[8];
	for (unsigned i = 0; i < 8; i++) {
		r[i] = (struct vblk_req){ .type = VIRTIO_BLK_T_IN, .sector = i * 8, .len = 4096,
					  .data = vblk_buffer(b, i), .done = on_done };
		assert_int_equal(vblk_queue(b, &r[i]), 0);
	}
	vblk_kick(b);
	while (done_count < 8) {
		int n = vblk_wait(b, 2000);
		if (n <= 0)
			fail_msg("vblk_wait: %d with %d of 8 done: the interrupt never came", n,
				 done_count);
	}
	/* the second signal may come after the recheck took what it announced: wait for it */
	struct vblk_stats st;
	WAIT_UNTIL((vblk_process(b), vblk_stats(b, &st), st.interrupts == 2), 5000);
	printf("  defer_us %u: %llu interrupts, %llu deferred looks, %llu re-notifications\n",
	       defer_us, (unsigned long long)st.interrupts, (unsigned long long)st.deferred_polls,
	       (unsigned long long)st.rekicks);
	for (unsigned i = 0; i < 8; i++)
		assert_int_equal(r[i].status, 0);
	assert_int_equal(st.completed, 8);
	assert_int_equal(st.rekicks, 0);
	assert_int_equal(st.interrupts, 2);
	assert_int_equal(*f.signals, 2);
	if (defer_us)
		assert_true(st.deferred_polls >= 1);
	vblk_close(b);
	assert_int_equal(reap_within(pid, 5000), 0);
}

static void test_paused_device(void **state)
{
	(void)state;
	paused_device(0);
}

static void test_paused_device_deferred(void **state)
{
	(void)state;
	paused_device(25);
}

/* Forty reads one at a time from a device that takes 2 ms for each. The hybrid waiting
 * policy (spin_us) learns that, and from the second read on sleeps through most of each one
 * with the device's interrupts off before it polls: the device is then asked for a signal only
 * when a read outlasts the sleep and the poll after it. Every read completes once, and every
 * signal the device sent is counted once. SLOW_START: the first read takes 20 ms, and the
 * sleeps it teaches end after the completion (oversleep) only until the estimate has come
 * down, in a few reads (by doubling steps), not in hundreds (half a poll at a time). */
static void slow_device_hybrid(enum fault fault)
{
	/* timed sleeps end within a microsecond of their time, not 50 (the default slack), in
	 * the driver and in the device forked below */
	prctl(PR_SET_TIMERSLACK, 1000UL);
	struct fake f;
	pid_t pid;
	struct vblk *b = driver_on_fake(&f, fault, &pid, 50, 0);
	for (unsigned i = 0; i < 40; i++) {
		struct vblk_req r = { .type = VIRTIO_BLK_T_IN, .sector = i * 8, .len = 4096,
				      .data = vblk_buffer(b, 0), .done = on_done };
		assert_int_equal(vblk_submit(b, &r), 0);
		while (r.completed_ns == 0)
			if (vblk_wait(b, 2000) <= 0)
				fail_msg("read %u: no completion within 2 s", i);
		assert_int_equal(r.status, 0);
	}
	/* the last signal may come after the read it announced was taken: wait for it */
	struct vblk_stats st;
	WAIT_UNTIL((vblk_process(b), vblk_stats(b, &st),
		    st.interrupts == __atomic_load_n(f.signals, __ATOMIC_RELAXED)), 5000);
	printf("  40 reads of 2 ms%s: %llu predicted sleeps (%llu overslept), %llu polls that ended "
	       "a wait, %llu interrupts (the device sent %llu)\n",
	       fault == SLOW_START ? " (the first of 20)" : "", (unsigned long long)st.predicted_sleeps,
	       (unsigned long long)st.overslept, (unsigned long long)st.spin_hits,
	       (unsigned long long)st.interrupts, (unsigned long long)*f.signals);
	assert_int_equal(done_count, 40);
	assert_int_equal(st.completed, 40);
	assert_int_equal(st.rekicks, 0);
	assert_int_equal(st.interrupts, *f.signals);
	/* the first read teaches the device's time: it is waited for by polling, then the
	 * interrupt; a sleep ahead of each later one, unless timers here are later than 2 ms */
	assert_true(st.predicted_sleeps >= 20);
	assert_true(*f.signals < 40);
	/* from 20 ms down to 2 ms by steps of 25, 25, 25, 50, 100 ... us: 12 oversleeps, besides
	 * late timers' (15-19 of 39 sleeps with a steady 2 ms here); by steps of 25 us it would be
	 * every one of the 39 */
	if (fault == SLOW_START)
		assert_true(st.overslept <= 30);
	vblk_close(b);
	assert_int_equal(reap_within(pid, 5000), 0);
}

static void test_slow_device_hybrid(void **state)
{
	(void)state;
	slow_device_hybrid(SLOW);
}

static void test_slow_start_hybrid(void **state)
{
	(void)state;
	slow_device_hybrid(SLOW_START);
}

/* What the device can write is never trusted: 400 reads, up to eight in flight, from a device
 * that writes over the descriptor table and the request headers before it completes each one.
 * Every read completes once, OK, and the driver finds nothing wrong (the damage is only to
 * what the device had no business writing, which the driver never reads back). */
static void test_device_scribbles(void **state)
{
	(void)state;
	struct fake f;
	pid_t pid;
	struct vblk *b = driver_on_fake(&f, SCRIBBLE, &pid, 0, 0);
	struct vblk_req r[8] = { 0 };
	unsigned submitted = 0;
	while (done_count < 400) {
		for (unsigned k = 0; k < 8 && submitted < 400; k++)
			if (r[k].completed_ns || submitted < 8) {
				r[k] = (struct vblk_req){ .type = VIRTIO_BLK_T_IN, .sector = (submitted % 8) * 8,
							  .len = 4096, .data = vblk_buffer(b, k),
							  .done = on_done };
				assert_int_equal(vblk_queue(b, &r[k]), 0);
				submitted++;
			}
		vblk_kick(b);
		int before = done_count;
		if (vblk_wait(b, 2000) <= 0 || done_count == before)
			fail_msg("after %d reads: none completed within 2 s (%s)", done_count, vblk_error(b));
		for (unsigned k = 0; k < 8; k++)
			assert_true(r[k].completed_ns == 0 || r[k].status == 0);
	}
	struct vblk_stats st;
	vblk_stats(b, &st);
	assert_int_equal(done_count, 400);
	assert_int_equal(st.completed, 400);
	assert_int_equal(st.failed, 0);
	assert_int_equal(st.vq.device_errors, 0);
	vblk_close(b);
	assert_int_equal(reap_within(pid, 5000), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_short_config, fake_teardown),
		cmocka_unit_test_teardown(test_bad_reply, fake_teardown),
		cmocka_unit_test_teardown(test_hangup, fake_teardown),
		cmocka_unit_test_teardown(test_bad_used_id, fake_teardown),
		cmocka_unit_test_teardown(test_bad_used_len, fake_teardown),
		cmocka_unit_test_teardown(test_stop_ignored, fake_teardown),
		cmocka_unit_test_teardown(test_paused_device, fake_teardown),
		cmocka_unit_test_teardown(test_paused_device_deferred, fake_teardown),
		cmocka_unit_test_teardown(test_slow_device_hybrid, fake_teardown),
		cmocka_unit_test_teardown(test_slow_start_hybrid, fake_teardown),
		cmocka_unit_test_teardown(test_device_scribbles, fake_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
