/*
 * vhost-user/vhost_user.c - vhost-user front end. Section names refer to QEMU's
 * docs/interop/vhost-user.rst ("Message specification", "Communication").
 */
#include "vhost_user.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "../../util/unixmsg.h"

/* "Front-end message types" */
enum {
	VHOST_USER_GET_FEATURES = 1,
	VHOST_USER_SET_FEATURES = 2,
	VHOST_USER_SET_OWNER = 3,
	VHOST_USER_SET_MEM_TABLE = 5,
	VHOST_USER_SET_VRING_NUM = 8,
	VHOST_USER_SET_VRING_ADDR = 9,
	VHOST_USER_SET_VRING_BASE = 10,
	VHOST_USER_GET_VRING_BASE = 11,
	VHOST_USER_SET_VRING_KICK = 12,
	VHOST_USER_SET_VRING_CALL = 13,
	VHOST_USER_GET_PROTOCOL_FEATURES = 15,
	VHOST_USER_SET_PROTOCOL_FEATURES = 16,
	VHOST_USER_SET_VRING_ENABLE = 18,
	VHOST_USER_GET_CONFIG = 24,
};
/* "Header": version in bits 0-1, reply 2, need-reply 3 */
#define VHOST_USER_VERSION 1u
#define VHOST_USER_REPLY (1u << 2)
#define VHOST_USER_NEED_REPLY (1u << 3)
/* "Protocol features" */
#define VHOST_USER_PROTOCOL_F_REPLY_ACK 3
#define VHOST_USER_PROTOCOL_F_CONFIG 9
/* The feature bit that announces protocol features ("Feature negotiation"). */
#define VHOST_USER_F_PROTOCOL_FEATURES 30
#define VHOST_USER_MAX_REGIONS 8
#define VHOST_USER_MAX_QUEUES 8
#define VHOST_USER_CONFIG_MAX 256
#define VHOST_USER_TIMEOUT_S 5

struct vu_vring_state {
	uint32_t index, num;
};
struct vu_vring_addr {
	uint32_t index, flags;
	uint64_t desc, used, avail, log;
};
struct vu_region {
	uint64_t guest_addr, size, user_addr, mmap_offset;
};
struct vu_mem_table {
	uint32_t nregions, padding;
	struct vu_region region[VHOST_USER_MAX_REGIONS];
};
struct vu_config {
	uint32_t offset, size, flags;
	uint8_t data[VHOST_USER_CONFIG_MAX];
};

struct vu_msg {
	uint32_t request, flags, size;
	union {
		uint64_t u64;
		struct vu_vring_state state;
		struct vu_vring_addr addr;
		struct vu_mem_table mem;
		struct vu_config config;
	} payload;
} __attribute__((packed));
#define VU_HDR_SIZE 12u

struct vu_dev {
	struct virtio_dev dev; /* first: the transport ops get this pointer */
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	int sock, memfd;
	uint64_t protocol_features;
	bool mem_table_sent;
	int kick_fd[VHOST_USER_MAX_QUEUES];
	uint32_t started; /* a bit per ring started on this connection and not stopped since */
};

static struct vu_dev *vu(struct virtio_dev *d) { return (struct vu_dev *)d; }

static bool has_protocol(const struct vu_dev *v, unsigned bit)
{
	return (v->protocol_features >> bit) & 1;
}

static bool has_reply(uint32_t request)
{
	return request == VHOST_USER_GET_FEATURES || request == VHOST_USER_GET_PROTOCOL_FEATURES ||
	       request == VHOST_USER_GET_CONFIG || request == VHOST_USER_GET_VRING_BASE;
}

static const char *request_name(uint32_t r)
{
	static const char *const names[] = {
		[VHOST_USER_GET_FEATURES] = "GET_FEATURES", [VHOST_USER_SET_FEATURES] = "SET_FEATURES",
		[VHOST_USER_SET_OWNER] = "SET_OWNER", [VHOST_USER_SET_MEM_TABLE] = "SET_MEM_TABLE",
		[VHOST_USER_SET_VRING_NUM] = "SET_VRING_NUM", [VHOST_USER_SET_VRING_ADDR] = "SET_VRING_ADDR",
		[VHOST_USER_SET_VRING_BASE] = "SET_VRING_BASE", [VHOST_USER_GET_VRING_BASE] = "GET_VRING_BASE",
		[VHOST_USER_SET_VRING_KICK] = "SET_VRING_KICK",
		[VHOST_USER_SET_VRING_CALL] = "SET_VRING_CALL",
		[VHOST_USER_GET_PROTOCOL_FEATURES] = "GET_PROTOCOL_FEATURES",
		[VHOST_USER_SET_PROTOCOL_FEATURES] = "SET_PROTOCOL_FEATURES",
		[VHOST_USER_SET_VRING_ENABLE] = "SET_VRING_ENABLE", [VHOST_USER_GET_CONFIG] = "GET_CONFIG",
	};
	return r < sizeof names / sizeof *names && names[r] ? names[r] : "?";
}

/* One request; for GET_* the reply lands in *reply (payload size checked against reply_size,
 * or at most reply_size when reply_size_exact is false), for the rest the back end's
 * REPLY_ACK status is awaited when negotiated. */
static int vu_request(struct vu_dev *v, uint32_t request, const void *payload, uint32_t size,
		      const int *fds, int nfds, void *reply, uint32_t reply_size)
{
	struct virtio_dev *d = &v->dev;
	struct vu_msg m = { .request = request, .flags = VHOST_USER_VERSION, .size = size };
	if (size)
		memcpy(&m.payload, payload, size);
	bool ack = !has_reply(request) && has_protocol(v, VHOST_USER_PROTOCOL_F_REPLY_ACK);
	if (ack)
		m.flags |= VHOST_USER_NEED_REPLY;
	int r = unixmsg_send(v->sock, &m, VU_HDR_SIZE + size, fds, nfds, 0);
	if (r < 0)
		return virtio_fail(d, r == -EPIPE ? -ECONNRESET : r, "%s: vhost-user %s: %s",
				   d->name, request_name(request), strerror(-r));
	if (!has_reply(request) && !ack)
		return 0;
	struct vu_msg rep;
	int rfds[1], nrfds;
	/* A stream socket: the header, then as many payload bytes as it announces. */
	ssize_t n = unixmsg_recv(v->sock, &rep, VU_HDR_SIZE, rfds, &nrfds, 1, MSG_WAITALL);
	for (int i = 0; i < nrfds; i++)
		close(rfds[i]);
	if (n == VU_HDR_SIZE && rep.size > 0 && rep.size <= sizeof rep.payload) {
		ssize_t p = recv(v->sock, &rep.payload, rep.size, MSG_WAITALL);
		n = p < 0 ? -errno : p == 0 ? 0 : n + p;
	}
	if (n == 0 || n == -ECONNRESET)
		return virtio_fail(d, -ECONNRESET, "%s: vhost-user back end closed the connection during %s",
				   d->name, request_name(request));
	if (n == -EAGAIN)
		return virtio_fail(d, -ETIMEDOUT, "%s: vhost-user back end did not answer %s within %d s",
				   d->name, request_name(request), VHOST_USER_TIMEOUT_S);
	if (n < 0)
		return virtio_fail(d, (int)n, "%s: vhost-user %s: %s", d->name, request_name(request),
				   strerror((int)-n));
	uint32_t want = ack ? sizeof(uint64_t) : reply_size;
	if ((size_t)n < VU_HDR_SIZE || rep.request != request || !(rep.flags & VHOST_USER_REPLY) ||
	    (rep.flags & 3u) != VHOST_USER_VERSION || rep.size != (size_t)n - VU_HDR_SIZE ||
	    (request == VHOST_USER_GET_CONFIG ? rep.size > want : rep.size != want))
		return virtio_fail(d, -EPROTO,
				   "%s: vhost-user back end sent a malformed reply to %s "
				   "(request %u, flags 0x%x, size %u, %zd bytes)",
				   d->name, request_name(request), rep.request, rep.flags, rep.size, n);
	if (ack) {
		if (rep.payload.u64 != 0)
			return virtio_fail(d, -EIO, "%s: vhost-user back end refused %s (status %llu)",
					   d->name, request_name(request),
					   (unsigned long long)rep.payload.u64);
		return 0;
	}
	memcpy(reply, &rep.payload, rep.size);
	return (int)rep.size;
}

static int vu_u64(struct vu_dev *v, uint32_t request, uint64_t value)
{
	return vu_request(v, request, &value, sizeof value, NULL, 0, NULL, 0);
}

static int vu_get_u64(struct vu_dev *v, uint32_t request, uint64_t *value)
{
	int r = vu_request(v, request, NULL, 0, NULL, 0, value, sizeof *value);
	return r < 0 ? r : 0;
}

static uint64_t monotonic_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* Connects and agrees on protocol features ("Protocol features"), then SET_OWNER. A back end
 * that is still starting may have no socket yet, refuse, or accept and close: all retried
 * until the deadline. */
static int vu_dial(struct vu_dev *v, uint64_t deadline);
static int vu_agree(struct vu_dev *v);

static int vu_connect(struct vu_dev *v, int timeout_ms)
{
	uint64_t deadline = monotonic_ms() + (uint64_t)(timeout_ms > 0 ? timeout_ms : 0);
	for (;;) {
		int r = vu_dial(v, deadline);
		if (r == 0)
			r = vu_agree(v);
		if (r != -ECONNRESET || monotonic_ms() >= deadline)
			return r;
		close(v->sock);
		v->sock = -1;
		nanosleep(&(struct timespec){ .tv_nsec = 10 * 1000 * 1000 }, NULL);
	}
}

static int vu_dial(struct vu_dev *v, uint64_t deadline)
{
	struct virtio_dev *d = &v->dev;
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	memcpy(sa.sun_path, v->path, sizeof sa.sun_path);
	for (;;) {
		v->sock = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (v->sock < 0)
			return virtio_fail(d, -errno, "%s: socket: %s", d->name, strerror(errno));
		if (connect(v->sock, (struct sockaddr *)&sa, sizeof sa) == 0)
			return 0;
		int err = errno;
		close(v->sock);
		v->sock = -1;
		if ((err != ENOENT && err != ECONNREFUSED) || monotonic_ms() >= deadline)
			return virtio_fail(d, -err, "%s: cannot connect to vhost-user back end %s: %s",
					   d->name, v->path, strerror(err));
		nanosleep(&(struct timespec){ .tv_nsec = 10 * 1000 * 1000 }, NULL);
	}
}

/* On a connected socket: protocol features, then SET_OWNER. */
static int vu_agree(struct vu_dev *v)
{
	struct timeval tv = { .tv_sec = VHOST_USER_TIMEOUT_S };
	setsockopt(v->sock, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	v->protocol_features = 0;
	v->mem_table_sent = false;
	v->started = 0;
	uint64_t features, protocol;
	int r = vu_get_u64(v, VHOST_USER_GET_FEATURES, &features);
	if (r < 0)
		return r;
	if (features & (1ull << VHOST_USER_F_PROTOCOL_FEATURES)) {
		if ((r = vu_get_u64(v, VHOST_USER_GET_PROTOCOL_FEATURES, &protocol)) < 0)
			return r;
		protocol &= (1ull << VHOST_USER_PROTOCOL_F_REPLY_ACK) |
			    (1ull << VHOST_USER_PROTOCOL_F_CONFIG);
		if ((r = vu_u64(v, VHOST_USER_SET_PROTOCOL_FEATURES, protocol)) < 0)
			return r;
		v->protocol_features = protocol;
	}
	return vu_request(v, VHOST_USER_SET_OWNER, NULL, 0, NULL, 0, NULL, 0);
}

static int vu_negotiate(struct virtio_dev *d, uint64_t wanted, uint64_t required)
{
	struct vu_dev *v = vu(d);
	uint64_t offered;
	int r = vu_get_u64(v, VHOST_USER_GET_FEATURES, &offered);
	if (r < 0)
		return r;
	if ((offered & required) != required)
		return virtio_fail(d, -ENOTSUP,
				   "%s: device lacks required features 0x%llx (offers 0x%llx)", d->name,
				   (unsigned long long)(required & ~offered),
				   (unsigned long long)offered);
	d->features = offered & wanted;
	uint64_t set = d->features;
	if (v->protocol_features || (offered & (1ull << VHOST_USER_F_PROTOCOL_FEATURES)))
		set |= 1ull << VHOST_USER_F_PROTOCOL_FEATURES;
	return vu_u64(v, VHOST_USER_SET_FEATURES, set);
}

static int vu_read_config(struct virtio_dev *d, void *buf, uint32_t len)
{
	struct vu_dev *v = vu(d);
	if (!has_protocol(v, VHOST_USER_PROTOCOL_F_CONFIG))
		return virtio_fail(d, -ENOTSUP, "%s: vhost-user back end has no configuration space "
				   "(no CONFIG protocol feature)", d->name);
	if (len > VHOST_USER_CONFIG_MAX)
		return -EINVAL;
	/* "VHOST_USER_GET_CONFIG": the reply carries offset, size, flags and the bytes */
	struct vu_config c = { .offset = 0, .size = len };
	struct vu_config rep;
	int r = vu_request(v, VHOST_USER_GET_CONFIG, &c, 12 + len, NULL, 0, &rep, 12 + len);
	if (r < 0)
		return r;
	if (r < 12 || rep.size > len || (uint32_t)r < 12 + rep.size || rep.size < len)
		return virtio_fail(d, -EPROTO, "%s: device configuration too short: %u of %u bytes",
				   d->name, r >= 12 ? rep.size : 0, len);
	memcpy(buf, rep.data, len);
	return 0;
}

/* "VHOST_USER_SET_MEM_TABLE": the arena is guest memory at an address equal to ours, so
 * descriptor addresses need no translation. */
static int vu_send_mem_table(struct vu_dev *v)
{
	struct vu_mem_table mt = { .nregions = 1 };
	mt.region[0] = (struct vu_region){ .guest_addr = (uintptr_t)v->dev.arena,
					   .size = v->dev.arena_size,
					   .user_addr = (uintptr_t)v->dev.arena };
	int r = vu_request(v, VHOST_USER_SET_MEM_TABLE, &mt,
			   offsetof(struct vu_mem_table, region[1]), &v->memfd, 1, NULL, 0);
	if (r == 0)
		v->mem_table_sent = true;
	return r;
}

/* "Starting and stopping rings": size, base, addresses, kick, call, then enable. */
static int vu_queue_start(struct virtio_dev *d, struct virtq *vq, int call_fd)
{
	struct vu_dev *v = vu(d);
	int r;
	if (vq->index >= VHOST_USER_MAX_QUEUES)
		return virtio_fail(d, -EINVAL, "%s: queue %u beyond %d", d->name, vq->index,
				   VHOST_USER_MAX_QUEUES);
	if (!v->mem_table_sent && (r = vu_send_mem_table(v)) < 0)
		return r;
	if (v->kick_fd[vq->index] < 0) {
		v->kick_fd[vq->index] = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		if (v->kick_fd[vq->index] < 0)
			return virtio_fail(d, -errno, "%s: eventfd: %s", d->name, strerror(errno));
	}
	struct vu_vring_state num = { vq->index, vq->num }, base = { vq->index, vq->last_used };
	struct vu_vring_addr addr = { .index = vq->index, .desc = virtq_desc_addr(vq),
				      .used = virtq_used_addr(vq), .avail = virtq_avail_addr(vq) };
	uint64_t index = vq->index;
	if ((r = vu_request(v, VHOST_USER_SET_VRING_NUM, &num, sizeof num, NULL, 0, NULL, 0)) < 0 ||
	    (r = vu_request(v, VHOST_USER_SET_VRING_BASE, &base, sizeof base, NULL, 0, NULL, 0)) < 0 ||
	    (r = vu_request(v, VHOST_USER_SET_VRING_ADDR, &addr, sizeof addr, NULL, 0, NULL, 0)) < 0 ||
	    (r = vu_request(v, VHOST_USER_SET_VRING_KICK, &index, sizeof index,
			    &v->kick_fd[vq->index], 1, NULL, 0)) < 0 ||
	    (r = vu_request(v, VHOST_USER_SET_VRING_CALL, &index, sizeof index, &call_fd, 1,
			    NULL, 0)) < 0)
		return r;
	if (v->protocol_features) { /* rings start disabled when protocol features are on */
		struct vu_vring_state on = { vq->index, 1 };
		if ((r = vu_request(v, VHOST_USER_SET_VRING_ENABLE, &on, sizeof on, NULL, 0, NULL,
				    0)) < 0)
			return r;
	}
	v->started |= 1u << vq->index;
	return 0;
}

/* "Ring states": GET_VRING_BASE stops a ring, and the back end answers once it has; with every
 * ring stopped the device is suspended ("Suspended device state") and writes no guest memory.
 * A back end that cannot be asked or does not answer is hung up on (the watch fd then says
 * it is gone): it has nothing more to do with this memory. */
static void vu_stop(struct virtio_dev *d)
{
	struct vu_dev *v = vu(d);
	for (uint32_t i = 0; i < VHOST_USER_MAX_QUEUES; i++) {
		struct vu_vring_state ring = { i, 0 }, base;
		if ((v->started & (1u << i)) &&
		    vu_request(v, VHOST_USER_GET_VRING_BASE, &ring, sizeof ring, NULL, 0, &base,
			       sizeof base) < 0) {
			shutdown(v->sock, SHUT_RDWR);
			break;
		}
	}
	v->started = 0;
}

static void vu_notify(struct virtio_dev *d, struct virtq *vq)
{
	uint64_t one = 1;
	/* A full counter (the back end stopped reading) already means "kicked". */
	if (write(vu(d)->kick_fd[vq->index], &one, sizeof one) < 0 && errno != EAGAIN)
		virtio_fail(d, -errno, "%s: kick: %s", d->name, strerror(errno));
}

static int vu_driver_ok(struct virtio_dev *d)
{
	(void)d; /* the back end starts a ring once it has its kick fd and is enabled */
	return 0;
}

static int vu_watch_fd(struct virtio_dev *d)
{
	return vu(d)->sock;
}

static int vu_reconnect(struct virtio_dev *d, int timeout_ms)
{
	struct vu_dev *v = vu(d);
	if (v->path[0] == 0)
		return virtio_fail(d, -ENOTCONN, "%s: the device's socket was handed over, no path to "
				   "connect to again", d->name);
	if (v->sock >= 0)
		close(v->sock);
	v->sock = -1;
	return vu_connect(v, timeout_ms);
}

static void vu_close(struct virtio_dev *d)
{
	struct vu_dev *v = vu(d);
	if (v->sock >= 0)
		close(v->sock);
	for (int i = 0; i < VHOST_USER_MAX_QUEUES; i++)
		if (v->kick_fd[i] >= 0)
			close(v->kick_fd[i]);
	if (d->arena)
		munmap(d->arena, d->arena_size);
	if (v->memfd >= 0)
		close(v->memfd);
	free(v);
}

static const struct virtio_transport_ops vhost_user_ops = {
	.name = "vhost-user",
	.negotiate = vu_negotiate,
	.read_config = vu_read_config,
	.queue_start = vu_queue_start,
	.notify = vu_notify,
	.driver_ok = vu_driver_ok,
	.watch_fd = vu_watch_fd,
	.reconnect = vu_reconnect,
	.stop = vu_stop,
	.close = vu_close,
};

/* A device with its arena, not connected yet. */
static int vu_new(const char *name, size_t arena_size, struct vu_dev **out)
{
	struct vu_dev *v = calloc(1, sizeof *v);
	*out = v;
	if (v == NULL)
		return -ENOMEM;
	v->dev.ops = &vhost_user_ops;
	v->sock = v->memfd = -1;
	for (int i = 0; i < VHOST_USER_MAX_QUEUES; i++)
		v->kick_fd[i] = -1;
	snprintf(v->dev.name, sizeof v->dev.name, "%s", name);
	arena_size = (arena_size + 4095) & ~(size_t)4095;
	v->memfd = memfd_create("virtio-arena", MFD_CLOEXEC);
	if (v->memfd < 0 || ftruncate(v->memfd, (off_t)arena_size) < 0)
		return virtio_fail(&v->dev, -errno, "%s: DMA arena of %zu bytes: %s", name, arena_size,
				   strerror(errno));
	void *p = mmap(NULL, arena_size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE,
		       v->memfd, 0);
	if (p == MAP_FAILED)
		return virtio_fail(&v->dev, -errno, "%s: mmap arena: %s", name, strerror(errno));
	v->dev.arena = p;
	v->dev.arena_size = arena_size;
	return 0;
}

static int vu_done(struct vu_dev *v, int r, struct virtio_dev **out, char *errbuf, size_t errlen)
{
	if (r == 0) {
		*out = &v->dev;
		return 0;
	}
	if (errbuf)
		snprintf(errbuf, errlen, "%s", v && v->dev.error[0] ? v->dev.error : strerror(-r));
	if (v)
		vu_close(&v->dev);
	return r;
}

int vhost_user_open(const char *socket_path, const char *name, size_t arena_size,
		    int timeout_ms, struct virtio_dev **out, char *errbuf, size_t errlen)
{
	*out = NULL;
	struct vu_dev *v;
	int r = vu_new(name, arena_size, &v);
	if (r == 0 && strlen(socket_path) >= sizeof v->path)
		r = virtio_fail(&v->dev, -ENAMETOOLONG, "%s: socket path too long: %s", name, socket_path);
	if (r == 0) {
		strcpy(v->path, socket_path);
		r = vu_connect(v, timeout_ms);
	}
	return vu_done(v, r, out, errbuf, errlen);
}

int vhost_user_open_fd(int sock, const char *name, size_t arena_size, struct virtio_dev **out,
		       char *errbuf, size_t errlen)
{
	*out = NULL;
	struct vu_dev *v;
	int r = vu_new(name, arena_size, &v);
	if (r == 0) {
		v->sock = sock;
		r = vu_agree(v);
	} else {
		close(sock);
	}
	return vu_done(v, r, out, errbuf, errlen);
}
