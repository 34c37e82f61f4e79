/*
 * blkd - the virtio-blk driver as a server: one device (vhost-user), its interrupt through irqd,
 * any number of clients on a unix socket, each with a shared-memory queue (blkq.h).
 *
 *   blkd --device VHOST_USER_SOCK --listen PATH [--irqd SOCK] [--irq irqd|direct|eventfd|poll]
 *        [--name blk0] [--spin-us N] [--defer-us N] [--reconnect-ms N]
 *
 * One thread, one epoll loop: take requests from every client's ring, give them to the device,
 * complete what the device used, post completions. It sleeps only when every ring is empty and
 * every client has been told to ring its doorbell. Data is copied between the client's slots
 * and the driver's DMA buffers (a client never sees device memory or another client's data).
 * A client that disconnects with requests in flight is freed once the device returns them; a
 * device that goes away fails what it held with -ECONNRESET and is reconnected to.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "blkq.h"
#include "util/unixmsg.h"
#include "vhost-user/vhost_user.h"
#include "virtio_blk.h"

#define MAX_CLIENTS 64
#define QUEUE_SIZE 256
/* Requests in flight at once: each takes three descriptors of the ring. */
#define POOL (QUEUE_SIZE / 3)

struct client {
	int sock, doorbell, wake;
	struct blkq_shared *sh;
	unsigned in_flight;
	bool dead;
};

struct pending {
	struct vblk_req r;
	struct client *c;
	struct blkq_sqe sqe;
	uint64_t t[BLKQ_STAMPS];
	unsigned buf;
};

static struct vblk *blk;
static struct client *clients[MAX_CLIENTS];
static struct pending pool[POOL];
static unsigned free_pending[POOL], nfree;
static int ep;
static const char *device_path;
static int reconnect_ms = 30000;

enum { TAG_LISTEN = 1, TAG_IRQ, TAG_DEVICE, TAG_SIGNAL, TAG_CLIENT = 16 };

static void die(const char *what, const char *why)
{
	fprintf(stderr, "blkd: %s: %s\n", what, why);
	exit(1);
}

static void post(struct client *c, struct blkq_cqe *cqe)
{
	cqe->t[BLKQ_T_POSTED] = virtio_now_ns();
	int wake;
	/* the ring has room (see room()), unless the client wrote nonsense into its head */
	if (blkq_push_cqe(c->sh, cqe, &wake) == 0 && wake) {
		uint64_t one = 1;
		if (write(c->wake, &one, sizeof one) < 0 && errno != EAGAIN)
			c->dead = true;
	}
}

static void free_client(unsigned i)
{
	struct client *c = clients[i];
	munmap(c->sh, blkq_shared_bytes());
	close(c->doorbell);
	close(c->wake);
	clients[i] = NULL;
	free(c);
}

static void request_done(struct vblk_req *r)
{
	struct pending *p = r->ctx;
	struct client *c = p->c;
	if (!c->dead && r->status == 0 && p->sqe.op == BLKQ_READ)
		memcpy((char *)c->sh + blkq_data_offset() + (size_t)p->sqe.slot * BLKQ_SLOT_BYTES,
		       r->data, p->sqe.len);
	struct blkq_cqe cqe = { .tag = p->sqe.tag, .status = r->status, .submit_ns = p->sqe.submit_ns };
	memcpy(cqe.t, p->t, sizeof cqe.t);
	cqe.t[BLKQ_T_RAISED] = r->raised_ns;
	cqe.t[BLKQ_T_DELIVERED] = r->delivered_ns;
	cqe.t[BLKQ_T_WOKEN] = r->woken_ns ? r->woken_ns : r->completed_ns;
	cqe.t[BLKQ_T_COMPLETED] = r->completed_ns;
	if (!c->dead)
		post(c, &cqe);
	c->in_flight--;
	free_pending[nfree++] = (unsigned)(p - pool);
}

static void reply_now(struct client *c, const struct blkq_sqe *e, int status, uint64_t picked)
{
	struct blkq_cqe cqe = { .tag = e->tag, .status = status, .submit_ns = e->submit_ns };
	cqe.t[BLKQ_T_PICKED] = picked;
	if (e->op == BLKQ_INFO && status == 0) {
		cqe.info[0] = vblk_info(blk)->capacity;
		cqe.info[1] = (uint64_t)vblk_info(blk)->read_only;
	}
	post(c, &cqe);
}

/* How many more requests the client may have taken: each one's answer must find room in its
 * completion ring, beside the answers it has not read and those owed for requests in flight.
 * This also bounds a pass over a client that keeps its ring full of requests answered at once. */
static unsigned room(const struct client *c)
{
	uint32_t owed = blkq_cq_unread(c->sh);
	if (owed > BLKQ_DEPTH) /* the client broke its own ring: it is served no more */
		return 0;
	owed += c->in_flight;
	return owed < BLKQ_DEPTH ? BLKQ_DEPTH - owed : 0;
}

/* Takes requests from one client's ring while the pool and the client's answers have room. */
static int pick(struct client *c)
{
	int n = 0;
	struct blkq_sqe e;
	while (nfree > 0 && room(c) > 0 && blkq_pop_sqe(c->sh, &e)) {
		uint64_t picked = virtio_now_ns();
		n++;
		if (e.op == BLKQ_INFO) {
			reply_now(c, &e, 0, picked);
			continue;
		}
		uint32_t type = e.op == BLKQ_READ ? VIRTIO_BLK_T_IN : e.op == BLKQ_WRITE ? VIRTIO_BLK_T_OUT
				: e.op == BLKQ_FLUSH ? VIRTIO_BLK_T_FLUSH : UINT32_MAX;
		if (type == UINT32_MAX ||
		    (e.op != BLKQ_FLUSH && (e.slot >= BLKQ_SLOTS || e.len > BLKQ_SLOT_BYTES))) {
			reply_now(c, &e, -EINVAL, picked);
			continue;
		}
		unsigned k = free_pending[--nfree];
		struct pending *p = &pool[k];
		*p = (struct pending){ .c = c, .sqe = e, .buf = p->buf };
		p->t[BLKQ_T_PICKED] = picked;
		p->r = (struct vblk_req){ .type = type, .sector = e.sector, .len = e.len,
					  .data = vblk_buffer(blk, p->buf), .done = request_done, .ctx = p };
		if (e.op == BLKQ_WRITE)
			memcpy(p->r.data, (char *)c->sh + blkq_data_offset() + (size_t)e.slot * BLKQ_SLOT_BYTES,
			       e.len);
		int r = vblk_queue(blk, &p->r);
		if (r < 0) { /* refused (range, read-only, device gone): the client hears why */
			free_pending[nfree++] = k;
			reply_now(c, &e, r, picked);
			continue;
		}
		p->t[BLKQ_T_SUBMITTED] = p->r.submitted_ns;
		c->in_flight++;
	}
	return n;
}

static void accept_client(int lsock)
{
	int s = accept4(lsock, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
	if (s < 0)
		return;
	unsigned i = 0;
	while (i < MAX_CLIENTS && clients[i])
		i++;
	int memfd = -1;
	struct client *c = NULL;
	const char *why = NULL;
	if (i == MAX_CLIENTS)
		why = "too many clients";
	else if ((c = calloc(1, sizeof *c)) == NULL)
		why = strerror(errno);
	else {
		c->sh = MAP_FAILED;
		c->doorbell = c->wake = -1;
		if ((memfd = memfd_create("blkq", MFD_CLOEXEC)) < 0 ||
		    ftruncate(memfd, (off_t)blkq_shared_bytes()) < 0 ||
		    (c->sh = mmap(NULL, blkq_shared_bytes(), PROT_READ | PROT_WRITE, MAP_SHARED, memfd,
				  0)) == MAP_FAILED ||
		    (c->doorbell = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) < 0 ||
		    (c->wake = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) < 0)
			why = strerror(errno);
	}
	if (why) {
		unixmsg_send(s, why, strlen(why), NULL, 0, MSG_DONTWAIT);
		close(s);
		if (memfd >= 0)
			close(memfd);
		if (c && c->sh != MAP_FAILED)
			munmap(c->sh, blkq_shared_bytes());
		if (c && c->doorbell >= 0)
			close(c->doorbell); /* the wake eventfd is the last step: never open here */
		free(c);
		return;
	}
	*c->sh = (struct blkq_shared){ .version = BLKQ_VERSION, .depth = BLKQ_DEPTH,
				       .slots = BLKQ_SLOTS, .slot_bytes = BLKQ_SLOT_BYTES };
	c->sock = s;
	int fds[3] = { memfd, c->doorbell, c->wake };
	unixmsg_send(s, "blkd", 4, fds, 3, MSG_DONTWAIT);
	close(memfd);
	clients[i] = c;
	struct epoll_event ev = { .events = EPOLLIN, .data.u64 = TAG_CLIENT + 2 * i };
	epoll_ctl(ep, EPOLL_CTL_ADD, s, &ev);
	ev = (struct epoll_event){ .events = EPOLLIN, .data.u64 = TAG_CLIENT + 2 * i + 1 };
	epoll_ctl(ep, EPOLL_CTL_ADD, c->doorbell, &ev);
}

static void drop_client(unsigned i)
{
	struct client *c = clients[i];
	epoll_ctl(ep, EPOLL_CTL_DEL, c->sock, NULL);
	epoll_ctl(ep, EPOLL_CTL_DEL, c->doorbell, NULL);
	close(c->sock);
	c->dead = true;
}

static void watch(int fd, uint64_t tag)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.u64 = tag };
	if (fd >= 0 && epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) < 0)
		die("epoll", strerror(errno));
}

/* The device went away or answered nonsense: what it held fails, and blkd connects again. If
 * it is not back within --reconnect-ms, blkd keeps serving (requests fail with ENOTCONN) and
 * retries every second. */
static bool device_down;
static uint64_t retry_ns; /* while down: when to try again */

static void device_gone(void)
{
	if (!device_down) {
		epoll_ctl(ep, EPOLL_CTL_DEL, vblk_watch_fd(blk), NULL);
		fprintf(stderr, "blkd: device went away (%s); what it held fails; reconnecting\n",
			vblk_error(blk)[0] ? vblk_error(blk) : "connection closed");
	}
	if (vblk_reconnect(blk, device_down ? 0 : reconnect_ms) < 0) {
		if (!device_down)
			fprintf(stderr, "blkd: %s; retrying every second\n", vblk_error(blk));
		device_down = true;
		retry_ns = virtio_now_ns() + 1000000000ull;
		return;
	}
	device_down = false;
	watch(vblk_watch_fd(blk), TAG_DEVICE);
	fprintf(stderr, "blkd: device back\n");
}

int main(int argc, char **argv)
{
	const char *listen_path = NULL, *irqd_sock = NULL, *name = "blk0";
	struct vblk_options o = { .queue_size = QUEUE_SIZE, .max_io = BLKQ_SLOT_BYTES };
	for (int i = 1; i + 1 < argc; i += 2) {
		if (!strcmp(argv[i], "--device"))
			device_path = argv[i + 1];
		else if (!strcmp(argv[i], "--listen"))
			listen_path = argv[i + 1];
		else if (!strcmp(argv[i], "--irqd"))
			irqd_sock = argv[i + 1];
		else if (!strcmp(argv[i], "--name"))
			name = argv[i + 1];
		else if (!strcmp(argv[i], "--spin-us"))
			o.spin_us = (uint32_t)strtoul(argv[i + 1], NULL, 10);
		else if (!strcmp(argv[i], "--defer-us"))
			o.defer_us = (uint32_t)strtoul(argv[i + 1], NULL, 10);
		else if (!strcmp(argv[i], "--reconnect-ms"))
			reconnect_ms = atoi(argv[i + 1]);
		else if (!strcmp(argv[i], "--irq")) {
			if (virtio_irq_mode_parse(argv[i + 1], &o.irq) < 0)
				die("--irq", "irqd, direct, eventfd or poll");
		} else
			die(argv[i], "unknown option (see the header of blkd.c)");
	}
	if (!device_path || !listen_path)
		die("usage", "blkd --device VHOST_USER_SOCK --listen PATH [--irqd SOCK] [--irq MODE] "
			     "[--name NAME] [--spin-us N] [--defer-us N] [--reconnect-ms N]");
	/* deferred looks and the sleeps ahead of a slow device's completion are timed: the
	 * default timer slack (50 us) would double the first and blur the second */
	if (o.defer_us || o.spin_us)
		prctl(PR_SET_TIMERSLACK, 1000UL);
	if ((o.irq == VIRTIO_IRQ_IRQD || o.irq == VIRTIO_IRQ_DIRECT) &&
	    irqd_connect(irqd_sock, &o.irqd) < 0)
		die("irqd", irqd_last_error());
	struct virtio_dev *dev;
	char err[200];
	if (vhost_user_open(device_path, name, vblk_arena_size(&o), reconnect_ms, &dev, err, sizeof err) < 0 ||
	    vblk_open(dev, &o, &blk, err, sizeof err) < 0)
		die("device", err);
	for (unsigned i = 0; i < POOL; i++) {
		pool[i].buf = i;
		free_pending[nfree++] = POOL - 1 - i;
	}
	ep = epoll_create1(EPOLL_CLOEXEC);
	int lsock = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	snprintf(sa.sun_path, sizeof sa.sun_path, "%s", listen_path);
	unlink(listen_path);
	if (lsock < 0 || bind(lsock, (struct sockaddr *)&sa, sizeof sa) < 0 || listen(lsock, 16) < 0)
		die(listen_path, strerror(errno));
	sigset_t sigs;
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	sigprocmask(SIG_BLOCK, &sigs, NULL);
	signal(SIGPIPE, SIG_IGN);
	watch(lsock, TAG_LISTEN);
	watch(vblk_irq_fd(blk), TAG_IRQ);
	watch(vblk_watch_fd(blk), TAG_DEVICE);
	watch(signalfd(-1, &sigs, SFD_CLOEXEC), TAG_SIGNAL);
	fprintf(stderr, "blkd: %s ready on %s (%llu sectors, interrupt: %s)\n", name, listen_path,
		(unsigned long long)vblk_info(blk)->capacity, virtio_irq_mode_name(o.irq));
	for (;;) {
		int work = 0;
		for (unsigned i = 0; i < MAX_CLIENTS; i++)
			if (clients[i] && !clients[i]->dead)
				work += pick(clients[i]);
		vblk_kick(blk);
		int n = vblk_process(blk);
		if (n < 0 && !device_down) /* the device answered nonsense: what it held failed */
			device_gone();
		work += n > 0 ? n : 0;
		for (unsigned i = 0; i < MAX_CLIENTS; i++)
			if (clients[i] && clients[i]->dead && clients[i]->in_flight == 0)
				free_client(i);
		if (work)
			continue;
		/* Sleep: tell every client to ring, then look once more. The driver's waiting
		 * policy may poll first, or have us look again after a while instead of arming. */
		uint32_t after_us = 0;
		bool pending = o.irq != VIRTIO_IRQ_POLL &&
			       (vblk_idle(blk, &after_us) || (!after_us && vblk_arm(blk)));
		for (unsigned i = 0; i < MAX_CLIENTS; i++)
			if (clients[i] && !clients[i]->dead)
				pending |= blkq_prepare_sleep(&clients[i]->sh->sq_hdr) && nfree > 0 &&
					   room(clients[i]) > 0;
		struct epoll_event evs[16];
		uint64_t now = virtio_now_ns();
		int ms = pending || o.irq == VIRTIO_IRQ_POLL ? 0
			 : device_down ? (retry_ns > now ? (int)((retry_ns - now + 999999) / 1000000) : 0)
				       : vblk_watchdog(blk);
		struct timespec ts, *timeout = &ts;
		if (after_us && !pending)
			ts = (struct timespec){ after_us / 1000000, (long)(after_us % 1000000) * 1000 };
		else if (ms >= 0)
			ts = (struct timespec){ ms / 1000, (long)(ms % 1000) * 1000000 };
		else
			timeout = NULL; /* no limit */
		int ne = epoll_pwait2(ep, evs, 16, timeout, NULL);
		/* not only when idle: clients' traffic must not put the retry off */
		if (device_down && virtio_now_ns() >= retry_ns)
			device_gone();
		for (unsigned i = 0; i < MAX_CLIENTS; i++)
			if (clients[i] && !clients[i]->dead)
				blkq_awake(&clients[i]->sh->sq_hdr);
		for (int k = 0; k < ne; k++) {
			uint64_t tag = evs[k].data.u64, v;
			if (tag == TAG_LISTEN)
				accept_client(lsock);
			else if (tag == TAG_DEVICE)
				device_gone();
			else if (tag == TAG_SIGNAL) {
				fprintf(stderr, "blkd: stopping\n");
				vblk_close(blk); /* requests in flight complete with ECONNRESET */
				for (unsigned i = 0; i < MAX_CLIENTS; i++)
					if (clients[i]) {
						if (!clients[i]->dead)
							drop_client(i);
						free_client(i);
					}
				if (o.irqd)
					irqd_disconnect(o.irqd);
				unlink(listen_path);
				return 0;
			} else if (tag >= TAG_CLIENT) {
				unsigned i = (unsigned)(tag - TAG_CLIENT) / 2;
				if (!clients[i] || clients[i]->dead)
					continue;
				if ((tag - TAG_CLIENT) % 2) {
					if (read(clients[i]->doorbell, &v, sizeof v) < 0 && errno != EAGAIN)
						drop_client(i);
				} else {
					drop_client(i); /* a client never writes to its socket: closed */
				}
			}
		}
	}
}
