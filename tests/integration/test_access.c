/*
 * test_access.c - irqd's access control against a real unprivileged client: the tests run as
 * root, the other side is a forked child that becomes user nobody (uid 65534) and talks to
 * irqd through the client library (and, where the library would refuse on its own, the raw
 * protocol). Checked: allow rules by uid, by primary and supplementary group, the admin right,
 * handles and mailboxes that belong to one connection, the socket's mode, private statistics,
 * and the status page that every client shares read-only.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

#define NOBODY 65534u
#define NOGROUP 65534u
#define OTHER_GID 4242u /* a group nobody is not in */

/* ---- the unprivileged side ------------------------------------------------------------------ */

/* In a child only (no cmocka assertions there: a failure returns the child's exit status). */
#define CK(cond)                                                                              \
	do {                                                                                  \
		if (!(cond)) {                                                                \
			fprintf(stderr, "%s:%d (uid %u): check failed: %s [last error: %s]\n", \
				__FILE__, __LINE__, (unsigned)getuid(), #cond,                \
				irqd_last_error());                                           \
			return 1;                                                             \
		}                                                                             \
	} while (0)

/* call must fail with -err and irqd's (or the library's) message must contain needle */
#define CK_ERR(call, err, needle)                                                             \
	do {                                                                                  \
		int r_ = (call);                                                              \
		if (r_ != -(err) || !strstr(irqd_last_error(), (needle))) {                  \
			fprintf(stderr, "%s:%d (uid %u): %s gave %d '%s', expected %d with '%s'\n", \
				__FILE__, __LINE__, (unsigned)getuid(), #call, r_,            \
				irqd_last_error(), -(err), (needle));                         \
			return 1;                                                             \
		}                                                                             \
	} while (0)

struct who {
	uid_t uid;
	gid_t gid;
	int ngroups;
	gid_t groups[4];
};

static const struct who nobody = { NOBODY, NOGROUP, 0, { 0 } };

static int become(const struct who *w)
{
	if (setgroups(w->ngroups, w->groups) < 0 || setgid(w->gid) < 0 || setuid(w->uid) < 0)
		return -1;
	gid_t g[8];
	if (getuid() != w->uid || geteuid() != w->uid || getgid() != w->gid ||
	    getegid() != w->gid || getgroups(8, g) != w->ngroups)
		return -1;
	return 0;
}

/* Parent <-> child hand-shake: one byte each way, bounded on both sides. */
struct sync {
	int up[2], down[2];
};

static void sync_init(struct sync *s)
{
	assert_int_equal(pipe(s->up), 0);
	assert_int_equal(pipe(s->down), 0);
}

static void sync_close(struct sync *s)
{
	close(s->up[0]);
	close(s->up[1]);
	close(s->down[0]);
	close(s->down[1]);
}

static bool read_byte(int fd, int timeout_ms)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	char c;
	return poll(&pfd, 1, timeout_ms) == 1 && read(fd, &c, 1) == 1;
}

/* child side */
static bool child_signal(struct sync *s)
{
	return write(s->up[1], "u", 1) == 1;
}

static bool child_wait(struct sync *s)
{
	return read_byte(s->down[0], 30000);
}

/* parent side */
static void parent_wait(struct sync *s)
{
	if (!read_byte(s->up[0], 30000))
		fail_msg("the child did not reach its rendezvous");
}

static void parent_signal(struct sync *s)
{
	assert_int_equal(write(s->down[1], "d", 1), 1);
}

struct job {
	const struct who *who;
	int (*fn)(const struct irqd_proc *p, void *arg);
	void *arg;
};

static int run_as(const struct irqd_proc *p, void *arg)
{
	struct job *j = arg;
	if (become(j->who) < 0) {
		fprintf(stderr, "cannot become uid %u gid %u: %s\n", (unsigned)j->who->uid,
			(unsigned)j->who->gid, strerror(errno));
		return 100;
	}
	return j->fn(p, j->arg);
}

/* Start fn(p, arg) in a child that runs as w. */
static pid_t spawn_as(const struct who *w, int (*fn)(const struct irqd_proc *, void *),
		      const struct irqd_proc *p, void *arg)
{
	static struct job j; /* copied into the child by fork */
	j = (struct job){ .who = w, .fn = fn, .arg = arg };
	return spawn(run_as, p, &j);
}

static void run_child(const struct who *w, int (*fn)(const struct irqd_proc *, void *),
		      const struct irqd_proc *p, void *arg)
{
	assert_int_equal(reap_within(spawn_as(w, fn, p, arg), 60000), 0);
}

/* ---- the raw protocol (what the library would not let a client do) ----------------------- */

struct raw {
	int sock;
	struct irqd_shm *shm;
	int shm_fd, status_fd, wake, bell;
	uint32_t req;
};

union msg {
	struct irqd_msg_hdr h;
	struct irqd_error e;
	struct irqd_hello_reply hello;
	struct irqd_client_stats cs;
	char b[IRQD_MSG_MAX];
};

/* HELLO and map the session's mailboxes; keeps the status page's descriptor. -1 on failure. */
static int raw_hello(struct raw *r, const char *path)
{
	memset(r, 0, sizeof(*r));
	r->sock = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	sun_set(&sa, path);
	if (r->sock < 0 || connect(r->sock, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		return -1;
	struct irqd_hello q = { .hdr = { .type = IRQD_MSG_HELLO, .len = sizeof(q), .req_id = ++r->req },
				.version = IRQD_PROTO_VERSION };
	if (send(r->sock, &q, sizeof(q), MSG_NOSIGNAL) != sizeof(q))
		return -1;
	union msg m;
	int fds[8], nf = 0;
	ssize_t n = recv_with_fds(r->sock, m.b, sizeof(m.b), fds, &nf, 10000);
	if (n != sizeof(struct irqd_hello_reply) || m.h.type != (IRQD_MSG_HELLO | IRQD_MSG_REPLY) ||
	    nf != 4 || m.hello.shm_size != sizeof(struct irqd_shm))
		return -1;
	r->shm = mmap(NULL, sizeof(struct irqd_shm), PROT_READ | PROT_WRITE, MAP_SHARED, fds[0], 0);
	r->shm_fd = fds[0];
	r->status_fd = fds[1];
	r->wake = fds[2];
	r->bell = fds[3];
	return r->shm == MAP_FAILED ? -1 : 0;
}

static void raw_close(struct raw *r)
{
	munmap(r->shm, sizeof(struct irqd_shm));
	close(r->sock);
	close(r->shm_fd);
	close(r->status_fd);
	close(r->wake);
	close(r->bell);
}

/* ---- helpers ------------------------------------------------------------------------------------ */

/* ---- allow rules by uid ------------------------------------------------------------------------ */

static int nobody_uid_rule(const struct irqd_proc *p, void *arg)
{
	struct sync *sy = arg;
	struct irqd_client *c;
	CK(irqd_connect(p->sock, &c) == 0);
	uint32_t h;
	CK(irqd_attach(c, "sim0", IRQD_ATTACH_SHARED, NULL, &h) == 0);
	CK(irqd_handle_line(c, h) == 0);
	/* no rule for sim1, however it is named */
	CK_ERR(irqd_attach(c, "sim1", IRQD_ATTACH_SHARED, NULL, &h), EACCES,
	       "uid 65534 may not attach line sim1 (see irqd's allow rules)");
	CK_ERR(irqd_attach(c, "#1", IRQD_ATTACH_EXCLUSIVE, NULL, &h), EACCES,
	       "uid 65534 may not attach line sim1");
	CK_ERR(irqd_attach(c, "sim2", IRQD_ATTACH_SHARED, NULL, &h), EACCES,
	       "may not attach line sim2");
	/* looking is free, and the refused attaches left nothing behind */
	struct irqd_line_desc d;
	CK(irqd_line_lookup(c, "sim1", &d) == 0 && d.attachments == 0);
	/* sim0 may be attached, not administered: the device, enable, line-wide coalescing */
	struct irqd_simdev *dev;
	CK_ERR(irqd_simdev_open(c, "sim0", &dev), EACCES,
	       "uid 65534 may not drive the device of line sim0");
	CK_ERR(irqd_line_enable(c, "sim0"), EACCES, "uid 65534 may not administer line sim0");
	struct irqd_coalesce_params co = { .usecs = 50, .frames = 8 };
	CK_ERR(irqd_line_coalesce(c, "sim0", &co), EACCES, "uid 65534 may not administer line sim0");
	CK_ERR(irqd_line_delete(c, "sim0"), EACCES, "line sim0");
	/* its own attachment's coalescing is its own business */
	CK(irqd_set_coalesce(c, h = 0, &co) == 0);
	/* nor may it make lines outside its rules */
	int efd = eventfd(0, EFD_CLOEXEC);
	CK(efd >= 0);
	CK_ERR(irqd_line_create_eventfd(c, efd, "mine", &d), EACCES,
	       "uid 65534 may not create line mine");
	close(efd);
	/* the attachment works: the parent raises 3 events on the (edge) line */
	CK(child_signal(sy));
	uint64_t total = 0, seq = 0;
	uint64_t end = mono_ns() + 30000000000ull;
	while (total < 3 && mono_ns() < end) {
		struct irqd_event ev[4];
		int n = irqd_wait(c, ev, 4, 1000);
		CK(n >= 0);
		for (int i = 0; i < n; i++) {
			CK(ev[i].handle == 0 && ev[i].seq == ++seq);
			total += ev[i].count;
		}
	}
	CK(total == 3);
	irqd_disconnect(c);
	return 0;
}

static void test_uid_rule(void **state)
{
	(void)state;
	struct irqd_proc p;
	irqd_start(&p, 3, "socket-mode 0666\nallow sim0 uid=65534\nline sim0 trigger=edge\n");
	struct stat sb;
	assert_int_equal(stat(p.sock, &sb), 0);
	assert_true(S_ISSOCK(sb.st_mode));
	assert_int_equal(sb.st_mode & 07777, 0666);
	struct irqd_client *c = client(&p);
	struct irqd_simdev *dev;
	assert_int_equal(irqd_simdev_open(c, "sim0", &dev), 0);

	struct sync sy;
	sync_init(&sy);
	pid_t pid = spawn_as(&nobody, nobody_uid_rule, &p, &sy);
	parent_wait(&sy);
	struct irqd_line_stats st = line_stats(c, "sim0");
	assert_int_equal(st.attachments, 1);
	assert_int_equal(line_stats(c, "sim1").attachments, 0);
	assert_int_equal(line_stats(c, "sim2").attachments, 0);
	assert_int_equal(irqd_simdev_raise(dev, 1), 0);
	assert_int_equal(irqd_simdev_raise(dev, 2), 0);
	assert_int_equal(reap_within(pid, 60000), 0);

	st = line_stats(c, "sim0");
	assert_int_equal(st.raised, 3);
	assert_int_equal(st.delivered, 3);
	assert_int_equal(st.dropped, 0);
	assert_int_equal(st.flags & (IRQD_LINE_MASKED | IRQD_LINE_DISABLED), 0);
	struct irqd_line_desc d;
	assert_int_equal(irqd_line_lookup(c, "mine", &d), -ENOENT);
	sync_close(&sy);
	irqd_simdev_close(dev);
	irqd_disconnect(c);
	irqd_stop(&p);
}

/* ---- the admin right ------------------------------------------------------------------------------ */

static int nobody_admin(const struct irqd_proc *p, void *arg)
{
	(void)arg;
	struct irqd_client *c;
	CK(irqd_connect(p->sock, &c) == 0);
	uint32_t h;
	CK(irqd_attach(c, "sim1", IRQD_ATTACH_SHARED, NULL, &h) == 0);
	/* it plays the device of sim1 and drives it through a whole level occurrence */
	struct irqd_simdev *dev;
	CK(irqd_simdev_open(c, "sim1", &dev) == 0);
	CK(irqd_simdev_raise(dev, 1) == 0);
	struct irqd_event ev[4];
	CK(irqd_wait(c, ev, 4, 10000) == 1);
	CK(ev[0].handle == h && ev[0].occurrence == 1);
	CK(irqd_simdev_service(dev) == 1);
	CK(irqd_answer(c, h, 1, IRQD_HANDLED) == 0);
	struct irqd_line_stats st;
	CK(WAIT_UNTIL(irqd_line_stats(c, "sim1", &st) == 0 && st.handled == 1 &&
			      !(st.flags & IRQD_LINE_MASKED), 10000));
	CK(irqd_line_enable(c, "sim1") == 0);
	struct irqd_coalesce_params co = { .usecs = 50, .frames = 8 };
	CK(irqd_line_coalesce(c, "sim1", &co) == 0);
	co.adaptive = 1;
	CK(irqd_line_coalesce(c, "sim1", &co) == 0);
	/* the right is per line: sim0 is only attachable, sim2 not even that */
	struct irqd_simdev *dev0;
	CK_ERR(irqd_simdev_open(c, "sim0", &dev0), EACCES, "may not drive the device of line sim0");
	CK_ERR(irqd_line_enable(c, "sim0"), EACCES, "may not administer line sim0");
	CK_ERR(irqd_line_coalesce(c, "sim0", &co), EACCES, "may not administer line sim0");
	CK(irqd_attach(c, "sim0", IRQD_ATTACH_SHARED, NULL, &h) == 0);
	CK_ERR(irqd_attach(c, "sim2", IRQD_ATTACH_SHARED, NULL, &h), EACCES,
	       "may not attach line sim2");
	CK_ERR(irqd_simdev_open(c, "sim2", &dev0), EACCES, "may not drive the device of line sim2");
	irqd_simdev_close(dev);
	irqd_disconnect(c);
	return 0;
}

static void test_admin_rule(void **state)
{
	(void)state;
	struct irqd_proc p;
	irqd_start(&p, 3, "socket-mode 0666\nallow sim0 uid=65534\nallow sim1 uid=65534 admin\n");
	run_child(&nobody, nobody_admin, &p, NULL);
	struct irqd_client *c = client(&p);
	struct irqd_line_stats st = line_stats(c, "sim1");
	assert_int_equal(st.raised, 1);
	assert_int_equal(st.handled, 1);
	assert_int_equal(st.unhandled, 0);
	assert_int_equal(st.attachments, 0);
	assert_int_equal(line_stats(c, "sim0").raised, 0);
	irqd_disconnect(c);
	irqd_stop(&p);
}

/* ---- allow rules by group ---------------------------------------------------------------------- */

static int attach_sim2(const struct irqd_proc *p, void *arg)
{
	bool allowed = arg != NULL;
	struct irqd_client *c;
	CK(irqd_connect(p->sock, &c) == 0);
	uint32_t h;
	if (allowed)
		CK(irqd_attach(c, "sim2", IRQD_ATTACH_SHARED, NULL, &h) == 0);
	else
		CK_ERR(irqd_attach(c, "sim2", IRQD_ATTACH_SHARED, NULL, &h), EACCES,
		       "uid 65534 may not attach line sim2");
	CK_ERR(irqd_attach(c, "sim0", IRQD_ATTACH_SHARED, NULL, &h), EACCES,
	       "may not attach line sim0");
	/* irqd saw the credentials we have */
	struct irqd_client_stats cs;
	CK(irqd_client_stats(c, 0, &cs) == 0);
	CK(cs.uid == NOBODY && cs.gid == getgid() && cs.pid == (uint32_t)getpid());
	CK(cs.attachments == (allowed ? 1u : 0u));
	irqd_disconnect(c);
	return 0;
}

static void test_group_rule(void **state)
{
	(void)state;
	struct irqd_proc p;
	irqd_start(&p, 3, "socket-mode 0666\nallow sim2 gid=4242\n");
	static const struct who primary = { NOBODY, OTHER_GID, 0, { 0 } };
	static const struct who supplementary = { NOBODY, NOGROUP, 1, { OTHER_GID } };
	static const struct who neither = { NOBODY, NOGROUP, 1, { 4243 } };
	run_child(&primary, attach_sim2, &p, (void *)1);
	run_child(&supplementary, attach_sim2, &p, (void *)1);
	run_child(&neither, attach_sim2, &p, NULL);
	run_child(&nobody, attach_sim2, &p, NULL);
	struct irqd_client *c = client(&p);
	assert_int_equal(line_stats(c, "sim2").attachments, 0);
	irqd_disconnect(c);
	irqd_stop(&p);
}

/* ---- handles belong to a connection ------------------------------------------------------------ */

static int nobody_foreign_handles(const struct irqd_proc *p, void *arg)
{
	(void)arg;
	struct irqd_client *c;
	CK(irqd_connect(p->sock, &c) == 0);
	/* the parent's connection has handles 0 and 1; this one has none */
	const uint32_t hs[] = { 0, 1, 2, IRQD_SLOTS - 1 };
	for (unsigned i = 0; i < sizeof(hs) / sizeof(hs[0]); i++) {
		char want[80];
		snprintf(want, sizeof(want), "no attachment with handle %u on this connection", hs[i]);
		CK_ERR(irqd_detach(c, hs[i]), EBADF, want);
		CK_ERR(irqd_mask(c, hs[i]), EBADF, want);
		CK_ERR(irqd_unmask(c, hs[i]), EBADF, want);
		uint64_t token = 0;
		CK_ERR(irqd_pass(c, hs[i], &token), EBADF, want);
		CK(token == 0);
		struct irqd_coalesce_params co = { .usecs = 100 };
		CK_ERR(irqd_set_coalesce(c, hs[i], &co), EBADF, want);
		CK(irqd_handle_line(c, hs[i]) == -EBADF);
	}
	uint32_t h = 99;
	CK_ERR(irqd_accept(c, 0x5eed5eed5eed5eedull, &h), ENOENT,
	       "no attachment was passed with that token");
	/* its own handle 0 is another attachment altogether */
	CK(irqd_attach(c, "sim2", IRQD_ATTACH_SHARED, NULL, &h) == 0);
	CK(h == 0);
	CK(irqd_handle_line(c, 0) == 2);
	CK(irqd_mask(c, 0) == 0);
	CK(irqd_unmask(c, 0) == 0);
	CK(irqd_detach(c, 0) == 0);
	CK_ERR(irqd_detach(c, 0), EBADF, "no attachment with handle 0 on this connection");
	irqd_disconnect(c);
	return 0;
}

static void test_handles_per_connection(void **state)
{
	(void)state;
	struct irqd_proc p;
	irqd_start(&p, 3, "socket-mode 0666\nallow sim* uid=65534\n");
	struct irqd_client *a = client(&p);
	uint32_t h0, h1;
	assert_int_equal(irqd_attach(a, "sim0", IRQD_ATTACH_SHARED, NULL, &h0), 0);
	assert_int_equal(irqd_attach(a, "sim1", IRQD_ATTACH_EXCLUSIVE, NULL, &h1), 0);
	assert_int_equal(h0, 0);
	assert_int_equal(h1, 1);
	assert_int_equal(irqd_mask(a, h1), 0);

	run_child(&nobody, nobody_foreign_handles, &p, NULL);

	/* everything of a's is as it was */
	struct irqd_line_stats s0 = line_stats(a, "sim0"), s1 = line_stats(a, "sim1");
	assert_int_equal(s0.attachments, 1);
	assert_int_equal(s0.mask_refs, 0);
	assert_int_equal(s0.flags & IRQD_LINE_MASKED, 0);
	assert_int_equal(s1.attachments, 1);
	assert_true(s1.flags & IRQD_LINE_EXCLUSIVE);
	assert_int_equal(s1.mask_refs, 1);
	assert_true(s1.flags & IRQD_LINE_MASKED);
	assert_int_equal(line_stats(a, "sim2").attachments, 0);
	assert_int_equal(irqd_unmask(a, h1), 0);
	assert_int_equal(line_stats(a, "sim1").flags & IRQD_LINE_MASKED, 0);
	assert_int_equal(irqd_detach(a, h0), 0);
	assert_int_equal(irqd_detach(a, h1), 0);
	irqd_disconnect(a);
	irqd_stop(&p);
}

/* ---- nobody answers for another client --------------------------------------------------------- */

static int nobody_answers_for_another(const struct irqd_proc *p, void *arg)
{
	(void)arg;
	struct irqd_client *c;
	CK(irqd_connect(p->sock, &c) == 0);
	/* the library: handle 0 (the parent's, in service) is not ours */
	CK_ERR(irqd_answer(c, 0, 1, IRQD_HANDLED), EBADF, "no attachment with handle 0");
	CK_ERR(irqd_answer(c, 0, 1, IRQD_NOT_MINE), EBADF, "no attachment with handle 0");
	/* the only mailboxes it can write are its own: an answer written there for handle 0 is
	 * refused with a notice and changes nothing on the parent's line */
	struct raw r;
	CK(raw_hello(&r, p->sock) == 0);
	atomic_store(&r.shm->slot[0].answer, (1ull << 2) | IRQD_HANDLED);
	atomic_fetch_or(&r.shm->answered[0], 1ull);
	atomic_store(&r.shm->doorbell_pending, 1);
	uint64_t one = 1;
	CK(write(r.bell, &one, sizeof(one)) == sizeof(one));
	union msg m;
	CK(recv_with_fds(r.sock, m.b, sizeof(m.b), NULL, NULL, 10000) == sizeof(struct irqd_error));
	CK(m.h.type == IRQD_MSG_NOTICE && m.e.err == EPROTO);
	CK(strstr(m.e.msg, "answer 1 for occurrence 1 on handle 0 rejected"));
	struct irqd_client_query q = { .hdr = { .type = IRQD_MSG_CLIENT_STATS, .len = sizeof(q),
						.req_id = ++r.req } };
	CK(send(r.sock, &q, sizeof(q), MSG_NOSIGNAL) == sizeof(q));
	CK(recv_with_fds(r.sock, m.b, sizeof(m.b), NULL, NULL, 10000) == sizeof(struct irqd_client_stats));
	CK(m.h.type == (IRQD_MSG_CLIENT_STATS | IRQD_MSG_REPLY));
	CK(m.cs.uid == NOBODY && m.cs.bad_answers == 1 && m.cs.answers == 0);
	/* nor can it reach into irqd's or the other client's descriptors */
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/fd", (int)p->pid);
	DIR *d = opendir(path);
	CK(!d && errno == EACCES);
	snprintf(path, sizeof(path), "/proc/%d/fd", (int)getppid());
	d = opendir(path);
	CK(!d && errno == EACCES);
	raw_close(&r);
	irqd_disconnect(c);
	return 0;
}

static void test_cannot_answer_for_another(void **state)
{
	(void)state;
	struct irqd_proc p;
	irqd_start(&p, 2, "socket-mode 0666\nallow sim* uid=65534\nack-deadline-ms 60000\n");
	struct irqd_client *a = client(&p), *devc = client(&p);
	uint32_t h;
	assert_int_equal(irqd_attach(a, "sim0", IRQD_ATTACH_SHARED, NULL, &h), 0);
	assert_int_equal(h, 0);
	struct irqd_simdev *dev;
	assert_int_equal(irqd_simdev_open(devc, "sim0", &dev), 0);
	assert_int_equal(irqd_simdev_raise(dev, 1), 0);
	struct irqd_event ev[4];
	assert_int_equal(irqd_wait(a, ev, 4, 10000), 1);
	assert_int_equal(ev[0].occurrence, 1);
	assert_int_equal(irqd_simdev_service(dev), 1);

	run_child(&nobody, nobody_answers_for_another, &p, NULL);

	/* the occurrence still waits for a's answer */
	struct irqd_line_stats st = line_stats(a, "sim0");
	assert_true(st.flags & IRQD_LINE_MASKED);
	assert_int_equal(st.handled + st.not_mine + st.unhandled + st.stalls, 0);
	assert_int_equal(irqd_answer(a, h, 1, IRQD_HANDLED), 0);
	assert_true(WAIT_UNTIL(!(line_stats(a, "sim0").flags & IRQD_LINE_MASKED), 10000));
	st = line_stats(a, "sim0");
	assert_int_equal(st.raised, 1);
	assert_int_equal(st.handled, 1);
	assert_int_equal(st.not_mine, 0);
	struct irqd_client_stats cs;
	for (uint32_t i = 0; irqd_client_stats(a, i, &cs) == 0; i = cs.index + 1)
		assert_int_equal(cs.bad_answers, 0);
	irqd_simdev_close(dev);
	irqd_disconnect(devc);
	irqd_disconnect(a);
	irqd_stop(&p);
}

/* ---- the socket ------------------------------------------------------------------------------ */

static int nobody_cannot_connect(const struct irqd_proc *p, void *arg)
{
	(void)arg;
	int s = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	sun_set(&sa, p->sock);
	CK(s >= 0);
	CK(connect(s, (struct sockaddr *)&sa, sizeof(sa)) < 0 && errno == EACCES);
	close(s);
	struct irqd_client *c = NULL;
	char want[200];
	snprintf(want, sizeof(want), "irqd: cannot connect to %s: Permission denied", p->sock);
	CK_ERR(irqd_connect(p->sock, &c), EACCES, want);
	return 0;
}

static void test_socket_private_by_default(void **state)
{
	(void)state;
	struct irqd_proc p;
	irqd_start(&p, 1, NULL);
	struct stat sb;
	assert_int_equal(stat(p.sock, &sb), 0);
	assert_true(S_ISSOCK(sb.st_mode));
	assert_int_equal(sb.st_mode & 07777, 0600);
	assert_int_equal(sb.st_uid, 0);
	/* the directory lets nobody through: the socket's mode is what stops it */
	struct stat db;
	assert_int_equal(stat(p.dir, &db), 0);
	assert_int_equal(db.st_mode & 0005, 0005);
	run_child(&nobody, nobody_cannot_connect, &p, NULL);
	struct irqd_client *c = client(&p);
	assert_int_equal(count_sessions(c), 1);
	irqd_disconnect(c);
	irqd_stop(&p);
}

/* ---- statistics of other clients ------------------------------------------------------------- */

static int nobody_stats(const struct irqd_proc *p, void *arg)
{
	struct sync *sy = arg;
	struct irqd_client *c;
	CK(irqd_connect(p->sock, &c) == 0);
	uint32_t h;
	CK(irqd_attach(c, "sim0", IRQD_ATTACH_SHARED, NULL, &h) == 0);
	CK(child_signal(sy) && child_wait(sy)); /* the parent has seen us among its sessions */
	struct irqd_client_stats st;
	int n = 0;
	uint32_t i, own = UINT32_MAX;
	for (i = 0; irqd_client_stats(c, i, &st) == 0; i = st.index + 1) {
		CK(st.pid == (uint32_t)getpid() && st.uid == NOBODY && st.gid == NOGROUP);
		CK(st.attachments == 1);
		own = st.index;
		n++;
	}
	CK_ERR(irqd_client_stats(c, i, &st), ENOENT, "no more clients");
	CK(n == 1);
	/* asking for the root sessions' indexes directly gives our own, never theirs */
	CK(own > 0);
	for (i = 0; i < own; i++) {
		CK(irqd_client_stats(c, i, &st) == 0);
		CK(st.index == own && st.pid == (uint32_t)getpid());
	}
	irqd_disconnect(c);
	return 0;
}

static void test_client_stats_private(void **state)
{
	(void)state;
	struct irqd_proc p;
	irqd_start(&p, 1, "socket-mode 0666\nallow sim0 uid=65534\n");
	struct irqd_client *a = client(&p), *b = client(&p);
	uint32_t h;
	assert_int_equal(irqd_attach(a, "sim0", IRQD_ATTACH_SHARED, NULL, &h), 0);
	struct sync sy;
	sync_init(&sy);
	pid_t pid = spawn_as(&nobody, nobody_stats, &p, &sy);
	parent_wait(&sy);
	/* root sees everybody, the child included */
	struct irqd_client_stats st;
	int n = 0, theirs = 0;
	for (uint32_t i = 0; irqd_client_stats(b, i, &st) == 0; i = st.index + 1) {
		n++;
		if (st.uid == NOBODY) {
			theirs++;
			assert_int_equal(st.pid, pid);
			assert_int_equal(st.attachments, 1);
		}
	}
	assert_int_equal(n, 3);
	assert_int_equal(theirs, 1);
	parent_signal(&sy);
	assert_int_equal(reap_within(pid, 60000), 0);
	sync_close(&sy);
	irqd_disconnect(b);
	irqd_disconnect(a);
	irqd_stop(&p);
}

/* ---- the status page all clients share is read-only for each of them -------------------------- */

static int status_page_read_only(const struct irqd_proc *p, void *arg)
{
	(void)arg;
	struct raw r;
	CK(raw_hello(&r, p->sock) == 0);
	const struct irqd_status *ro =
		mmap(NULL, sizeof(struct irqd_status), PROT_READ, MAP_SHARED, r.status_fd, 0);
	CK(ro != MAP_FAILED && ro->magic == IRQD_SHM_MAGIC);
	/* not through the descriptor irqd gave ... */
	CK(mmap(NULL, sizeof(struct irqd_status), PROT_READ | PROT_WRITE, MAP_SHARED, r.status_fd,
		0) == MAP_FAILED);
	uint32_t zero = 0;
	CK(pwrite(r.status_fd, &zero, sizeof(zero), 4) < 0);
	/* ... nor through the same file opened again read-write */
	char path[64];
	snprintf(path, sizeof(path), "/proc/self/fd/%d", r.status_fd);
	int rw = open(path, O_RDWR | O_CLOEXEC);
	if (rw >= 0) {
		void *w = mmap(NULL, sizeof(struct irqd_status), PROT_READ | PROT_WRITE, MAP_SHARED,
			       rw, 0);
		if (w != MAP_FAILED) {
			fprintf(stderr, "uid %u mapped the shared status page writable\n",
				(unsigned)getuid());
			return 1;
		}
		CK(pwrite(rw, &zero, sizeof(zero), 4) < 0);
		close(rw);
	}
	CK(ro->magic == IRQD_SHM_MAGIC);
	/* and its own mailboxes cannot be shrunk (or grown) under irqd */
	CK(ftruncate(r.shm_fd, 0) < 0 && errno == EPERM);
	CK(ftruncate(r.shm_fd, 2 * sizeof(struct irqd_shm)) < 0 && errno == EPERM);
	munmap((void *)ro, sizeof(struct irqd_status));
	raw_close(&r);
	return 0;
}

static void test_status_page_read_only(void **state)
{
	(void)state;
	struct irqd_proc p;
	irqd_start(&p, 1, "socket-mode 0666\nallow sim* any\n");
	run_child(&nobody, status_page_read_only, &p, NULL);
	static const struct who root = { 0, 0, 0, { 0 } };
	run_child(&root, status_page_read_only, &p, NULL);
	/* irqd itself still flips it: a client waiting for a doorbell is served */
	struct irqd_client *c = client(&p), *devc = client(&p);
	uint32_t h;
	assert_int_equal(irqd_attach(c, "sim0", IRQD_ATTACH_SHARED, NULL, &h), 0);
	struct irqd_simdev *dev;
	assert_int_equal(irqd_simdev_open(devc, "sim0", &dev), 0);
	for (uint64_t k = 1; k <= 20; k++) {
		assert_int_equal(irqd_simdev_raise(dev, 1), 0);
		struct irqd_event ev[4];
		assert_int_equal(irqd_wait(c, ev, 4, 10000), 1);
		assert_int_equal(ev[0].occurrence, k);
		assert_int_equal(irqd_simdev_service(dev), 1);
		assert_int_equal(irqd_answer(c, h, k, IRQD_HANDLED), 0);
		assert_true(WAIT_UNTIL(!(line_stats(c, "sim0").flags & IRQD_LINE_MASKED), 10000));
	}
	assert_int_equal(line_stats(c, "sim0").stalls, 0);
	irqd_simdev_close(dev);
	irqd_disconnect(devc);
	irqd_disconnect(c);
	irqd_stop(&p);
}

int main(void)
{
	if (geteuid() != 0) {
		fprintf(stderr, "test_access needs root (it runs clients as uid %u)\n", NOBODY);
		return 1;
	}
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_uid_rule, harness_teardown),
		cmocka_unit_test_teardown(test_admin_rule, harness_teardown),
		cmocka_unit_test_teardown(test_group_rule, harness_teardown),
		cmocka_unit_test_teardown(test_handles_per_connection, harness_teardown),
		cmocka_unit_test_teardown(test_cannot_answer_for_another, harness_teardown),
		cmocka_unit_test_teardown(test_socket_private_by_default, harness_teardown),
		cmocka_unit_test_teardown(test_client_stats_private, harness_teardown),
		cmocka_unit_test_teardown(test_status_page_read_only, harness_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
