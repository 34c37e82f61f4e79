/*
 * test_badinput.c - irqd against broken and hostile clients: messages built by hand on the raw
 * SOCK_SEQPACKET socket, garbage answers written straight into shared memory, a request flood,
 * more connections than allowed. Every bad input gets an answer (or a notice), is counted, and
 * costs the other clients nothing; irqd stays up and exits cleanly (irqd_stop checks).
 */
#include <dirent.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "coalesce.h"
#include "harness.h"
#include "util/unixmsg.h"

/* ---- raw protocol helpers ----------------------------------------------------------------- */

union msg {
	struct irqd_msg_hdr h;
	struct irqd_error e;
	struct irqd_hello_reply hello;
	struct irqd_line_info info;
	struct irqd_attach_reply att;
	struct irqd_client_stats cs;
	char b[IRQD_MSG_MAX + 64];
};

struct raw {
	int sock;
	struct irqd_shm *shm;
	int wake, bell;
	uint32_t req;
};

static int raw_connect(const char *path)
{
	int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	sun_set(&sa, path);
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	return fd;
}

/* Send len bytes with nfds descriptors; returns what sendmsg returns (errno kept). */
static void send_all(int sock, const void *buf, size_t len, const int *fds, int nfds)
{
	int r = unixmsg_send(sock, buf, len, fds, nfds, 0);
	if (r < 0)
		fail_msg("send of %zu bytes: %s", len, strerror(-r));
}

static int n_errors_seen; /* error replies checked by expect_error in the current test */

/* The next message must be an IRQD_MSG_ERROR for req_id with err and a message containing
 * needle: one NUL-terminated line. */
static void expect_error_(int sock, uint32_t req_id, int err, const char *needle, int line)
{
	union msg m;
	int nf = 0, fds[8];
	ssize_t n = recv_with_fds(sock, m.b, sizeof(m.b), fds, &nf, 10000);
	for (int i = 0; i < nf; i++)
		close(fds[i]);
	if (n != (ssize_t)sizeof(struct irqd_error))
		fail_msg("line %d: expected an error reply, got %zd bytes", line, n);
	if (m.h.type != IRQD_MSG_ERROR || m.h.len != sizeof(struct irqd_error) ||
	    m.h.req_id != req_id)
		fail_msg("line %d: reply type 0x%x len %u req_id %u, expected ERROR for %u", line,
			 m.h.type, m.h.len, m.h.req_id, req_id);
	if (!memchr(m.e.msg, 0, sizeof(m.e.msg)) || strchr(m.e.msg, '\n'))
		fail_msg("line %d: error message is not one NUL-terminated line", line);
	if (m.e.err != err || !strstr(m.e.msg, needle))
		fail_msg("line %d: got err %d '%s', expected err %d with '%s'", line, m.e.err,
			 m.e.msg, err, needle);
	if (nf)
		fail_msg("line %d: an error reply carried %d descriptors", line, nf);
	n_errors_seen++;
}
#define expect_error(sock, req_id, err, needle) expect_error_(sock, req_id, err, needle, __LINE__)

/* The next message must be the reply to req_id of type `type` (request type), len bytes. */
static union msg expect_reply_(int sock, uint16_t type, uint32_t req_id, size_t len, int *fds,
			       int nfds_want, int line)
{
	union msg m;
	int nf = 0, got[8];
	ssize_t n = recv_with_fds(sock, m.b, sizeof(m.b), got, &nf, 10000);
	if (n >= (ssize_t)sizeof(struct irqd_error) && m.h.type == IRQD_MSG_ERROR)
		fail_msg("line %d: request %u failed: %s", line, req_id, m.e.msg);
	if (n != (ssize_t)len || m.h.type != (type | IRQD_MSG_REPLY) || m.h.req_id != req_id ||
	    m.h.len != len || nf != nfds_want)
		fail_msg("line %d: expected reply 0x%x for %u (%zu bytes, %d fds), got %zd bytes type "
			 "0x%x req %u, %d fds", line, type | IRQD_MSG_REPLY, req_id, len, nfds_want, n,
			 n > 0 ? m.h.type : 0, n > 0 ? m.h.req_id : 0, nf);
	for (int i = 0; i < nf; i++) {
		if (fds)
			fds[i] = got[i];
		else
			close(got[i]);
	}
	return m;
}
#define expect_reply(sock, type, req_id, len) expect_reply_(sock, type, req_id, len, NULL, 0, __LINE__)

static void hdr(void *msg, uint16_t type, size_t len, uint32_t req_id)
{
	struct irqd_msg_hdr *h = msg;
	h->type = type;
	h->len = (uint32_t)len;
	h->req_id = req_id;
}

/* HELLO on a new connection and map the mailboxes; -1 on any failure (no cmocka assertion: child
 * processes use it too). */
static int raw_hello_try(struct raw *r, const char *path)
{
	memset(r, 0, sizeof(*r));
	r->sock = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	sun_set(&sa, path);
	if (r->sock < 0 || connect(r->sock, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		return -1;
	struct irqd_hello q = { .version = IRQD_PROTO_VERSION };
	hdr(&q, IRQD_MSG_HELLO, sizeof(q), ++r->req);
	if (send(r->sock, &q, sizeof(q), MSG_NOSIGNAL) != sizeof(q))
		return -1;
	union msg m;
	int fds[8], nf = 0;
	ssize_t n = recv_with_fds(r->sock, m.b, sizeof(m.b), fds, &nf, 10000);
	if (n != sizeof(struct irqd_hello_reply) || m.h.type != (IRQD_MSG_HELLO | IRQD_MSG_REPLY) ||
	    m.h.req_id != r->req || nf != 4 || m.hello.version != IRQD_PROTO_VERSION ||
	    m.hello.slots != IRQD_SLOTS || m.hello.shm_size != sizeof(struct irqd_shm)) {
		for (int i = 0; i < nf; i++)
			close(fds[i]);
		return -1;
	}
	r->shm = mmap(NULL, sizeof(struct irqd_shm), PROT_READ | PROT_WRITE, MAP_SHARED, fds[0], 0);
	close(fds[0]);
	close(fds[1]);
	r->wake = fds[2];
	r->bell = fds[3];
	if (r->shm == MAP_FAILED || r->shm->magic != IRQD_SHM_MAGIC)
		return -1;
	return 0;
}

static void raw_hello(struct raw *r, const char *path)
{
	assert_int_equal(raw_hello_try(r, path), 0);
}

static void raw_close(struct raw *r)
{
	munmap(r->shm, sizeof(struct irqd_shm));
	close(r->sock);
	close(r->wake);
	close(r->bell);
}

static void line_query(struct irqd_line_query *q, uint16_t type, uint32_t req_id,
		       const char *name)
{
	memset(q, 0, sizeof(*q));
	hdr(q, type, sizeof(*q), req_id);
	q->id = IRQD_LINE_BY_NAME;
	snprintf(q->name, sizeof(q->name), "%s", name);
}

static uint32_t raw_attach(struct raw *r, const char *line, uint32_t flags)
{
	struct irqd_attach_req q = { .flags = flags };
	hdr(&q, IRQD_MSG_ATTACH, sizeof(q), ++r->req);
	q.line.id = IRQD_LINE_BY_NAME;
	snprintf(q.line.name, sizeof(q.line.name), "%s", line);
	send_all(r->sock, &q, sizeof(q), NULL, 0);
	union msg m = expect_reply(r->sock, IRQD_MSG_ATTACH, r->req,
				   sizeof(struct irqd_attach_reply));
	return m.att.handle;
}

/* Writes an answer word into our own slot, marks it, and rings, as a hostile client may. */
static void raw_answer_word(struct raw *r, uint32_t slot, uint64_t word)
{
	atomic_store(&r->shm->slot[slot].answer, word);
	atomic_fetch_or(&r->shm->answered[slot / 64], 1ull << (slot % 64));
	atomic_store(&r->shm->doorbell_pending, 1);
	uint64_t one = 1;
	assert_int_equal(write(r->bell, &one, sizeof(one)), sizeof(one));
}

/* Take the batch published in our slot (as the library does); returns its occurrence. */
static uint64_t raw_take(struct raw *r, uint32_t slot, uint64_t want_seq)
{
	struct irqd_shm_slot *s = &r->shm->slot[slot];
	bool ok = WAIT_UNTIL(atomic_load(&s->published) != atomic_load(&s->taken), 10000);
	if (!ok)
		fail_msg("no batch published in slot %u (waiting for seq %llu)", slot,
			 (unsigned long long)want_seq);
	uint64_t pub = atomic_load(&s->published), taken = atomic_load(&s->taken);
	uint64_t occ = s->occurrence, seq = s->seq;
	assert_true(atomic_compare_exchange_strong(&s->taken, &taken, pub));
	assert_int_equal(seq, want_seq);
	return occ;
}

/* An IRQD_MSG_NOTICE about a rejected answer must arrive. */
static void expect_notice_(struct raw *r, const char *needle, int line)
{
	union msg m;
	ssize_t n = recv_with_fds(r->sock, m.b, sizeof(m.b), NULL, NULL, 10000);
	if (n != (ssize_t)sizeof(struct irqd_error) || m.h.type != IRQD_MSG_NOTICE ||
	    m.e.err != EPROTO || !memchr(m.e.msg, 0, sizeof(m.e.msg)) || !strstr(m.e.msg, needle))
		fail_msg("line %d: expected a notice containing '%s', got %zd bytes type 0x%x: %s",
			 line, needle, n, n > 0 ? m.h.type : 0,
			 n == (ssize_t)sizeof(struct irqd_error) ? m.e.msg : "");
}
#define expect_notice(r, needle) expect_notice_(r, needle, __LINE__)

/* ---- other helpers --------------------------------------------------------------------------- */

static int fd_count(pid_t pid)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
	DIR *d = opendir(path);
	if (!d)
		return -1;
	int n = 0;
	for (struct dirent *e; (e = readdir(d));)
		n += e->d_name[0] != '.';
	closedir(d);
	return n;
}

/* The statistics of the session with the highest index (the newest connection). */
static struct irqd_client_stats newest_session(struct irqd_client *c)
{
	struct irqd_client_stats st, best = { 0 };
	bool any = false;
	for (uint32_t i = 0; irqd_client_stats(c, i, &st) == 0; i = st.index + 1) {
		best = st;
		any = true;
	}
	assert_true(any);
	return best;
}

static bool session_of_pid(struct irqd_client *c, pid_t pid, struct irqd_client_stats *out)
{
	struct irqd_client_stats st;
	for (uint32_t i = 0; irqd_client_stats(c, i, &st) == 0; i = st.index + 1)
		if (st.pid == (uint32_t)pid) {
			*out = st;
			return true;
		}
	return false;
}

/* A level-line round trip through the library: raise, get occurrence, service, answer, the line
 * comes back unmasked. Proves a client is served normally. */
static void roundtrip(struct irqd_client *c, uint32_t h, struct irqd_simdev *dev, const char *line,
		      uint64_t want_seq)
{
	assert_int_equal(irqd_simdev_raise(dev, 1), 0);
	struct irqd_event ev[4];
	assert_int_equal(irqd_wait(c, ev, 4, 10000), 1);
	assert_int_equal(ev[0].handle, h);
	assert_int_equal(ev[0].seq, want_seq);
	assert_true(ev[0].occurrence > 0);
	assert_int_equal(irqd_simdev_service(dev), 1);
	assert_int_equal(irqd_answer(c, h, ev[0].occurrence, IRQD_HANDLED), 0);
	assert_true(WAIT_UNTIL(!(line_stats(c, line).flags & IRQD_LINE_MASKED), 10000));
}

/* ---- tests ----------------------------------------------------------------------------------- */

/* Before HELLO nothing is served; HELLO checks the version and happens once. */
static void test_hello_rules(void **state)
{
	(void)state;
	struct irqd_proc p;
	irqd_start(&p, 2, NULL);
	struct irqd_client *other = client(&p);
	int s = raw_connect(p.sock);

	struct irqd_line_query q;
	line_query(&q, IRQD_MSG_LINE_INFO, 11, "sim0");
	send_all(s, &q, sizeof(q), NULL, 0);
	expect_error(s, 11, EPROTO, "HELLO first");
	struct irqd_attach_req a = { 0 };
	hdr(&a, IRQD_MSG_ATTACH, sizeof(a), 12);
	a.line.id = 0;
	send_all(s, &a, sizeof(a), NULL, 0);
	expect_error(s, 12, EPROTO, "HELLO first");

	struct irqd_hello h = { .version = IRQD_PROTO_VERSION + 1 };
	hdr(&h, IRQD_MSG_HELLO, sizeof(h), 13);
	send_all(s, &h, sizeof(h), NULL, 0);
	char want[64];
	snprintf(want, sizeof(want), "protocol version %d not supported (irqd speaks %d)",
		 IRQD_PROTO_VERSION + 1, IRQD_PROTO_VERSION);
	expect_error(s, 13, EPROTONOSUPPORT, want);
	h.version = 0;
	hdr(&h, IRQD_MSG_HELLO, sizeof(h), 14);
	send_all(s, &h, sizeof(h), NULL, 0);
	expect_error(s, 14, EPROTONOSUPPORT, "protocol version 0 not supported");
	/* still nothing served after a refused HELLO */
	line_query(&q, IRQD_MSG_LINE_INFO, 15, "sim0");
	send_all(s, &q, sizeof(q), NULL, 0);
	expect_error(s, 15, EPROTO, "HELLO first");

	h.version = IRQD_PROTO_VERSION;
	hdr(&h, IRQD_MSG_HELLO, sizeof(h), 16);
	send_all(s, &h, sizeof(h), NULL, 0);
	int fds[4];
	union msg m = expect_reply_(s, IRQD_MSG_HELLO, 16, sizeof(struct irqd_hello_reply), fds, 4,
				    __LINE__);
	for (int i = 0; i < 4; i++)
		close(fds[i]);
	assert_int_equal(m.hello.version, IRQD_PROTO_VERSION);
	hdr(&h, IRQD_MSG_HELLO, sizeof(h), 17);
	send_all(s, &h, sizeof(h), NULL, 0);
	expect_error(s, 17, EALREADY, "HELLO was already done");

	line_query(&q, IRQD_MSG_LINE_INFO, 18, "sim1");
	send_all(s, &q, sizeof(q), NULL, 0);
	m = expect_reply(s, IRQD_MSG_LINE_INFO, 18, sizeof(struct irqd_line_info));
	assert_string_equal(m.info.name, "sim1");
	assert_int_equal(m.info.id, 1);
	close(s);

	struct irqd_line_desc d;
	assert_int_equal(irqd_line_lookup(other, "sim0", &d), 0);
	irqd_disconnect(other);
	irqd_stop(&p);
}

/* Every kind of malformed request: an IRQD_MSG_ERROR with a reason, nothing else happens, no
 * descriptor leaks into irqd, the connection stays usable (fewer than 65 malformed). */
static void test_malformed_requests(void **state)
{
	(void)state;
	struct irqd_proc p;
	irqd_start(&p, 2, NULL);
	struct irqd_client *other = client(&p);
	/* a level line held by another client: nothing below may change it */
	uint32_t oh;
	assert_int_equal(irqd_attach(other, "sim0", IRQD_ATTACH_SHARED, NULL, &oh), 0);
	int fds_before = fd_count(p.pid);
	assert_true(fds_before > 0);

	struct raw r;
	raw_hello(&r, p.sock);
	int s = r.sock;
	unsigned sent = 1; /* HELLO */
	n_errors_seen = 0;
	union msg buf;
	memset(&buf, 0, sizeof(buf));

	/* unknown types */
	const uint16_t bad_types[] = { 0, IRQD_MSG_TYPE_END, 99, IRQD_MSG_LINE_INFO | IRQD_MSG_REPLY,
				       IRQD_MSG_ERROR, IRQD_MSG_NOTICE, 0xffff };
	for (unsigned i = 0; i < sizeof(bad_types) / sizeof(bad_types[0]); i++) {
		char want[64];
		hdr(&buf, bad_types[i], sizeof(struct irqd_line_query), 100 + i);
		send_all(s, &buf, sizeof(struct irqd_line_query), NULL, 0), sent++;
		snprintf(want, sizeof(want), "unknown request type %u", bad_types[i]);
		expect_error(s, 100 + i, EBADMSG, want);
	}

	/* wrong sizes for the type: shorter, longer, header only; header len mismatch */
	struct irqd_line_query q;
	line_query(&q, IRQD_MSG_LINE_INFO, 200, "sim0");
	memcpy(buf.b, &q, sizeof(q));
	hdr(&buf, IRQD_MSG_LINE_INFO, sizeof(q) - 4, 200);
	send_all(s, &buf, sizeof(q) - 4, NULL, 0), sent++;
	expect_error(s, 200, EBADMSG, "request type 2 must be 72 bytes, got 68 (header says 68)");
	hdr(&buf, IRQD_MSG_LINE_INFO, sizeof(q) + 8, 201);
	send_all(s, &buf, sizeof(q) + 8, NULL, 0), sent++;
	expect_error(s, 201, EBADMSG, "must be 72 bytes, got 80 (header says 80)");
	hdr(&buf, IRQD_MSG_LINE_INFO, sizeof(struct irqd_msg_hdr), 202);
	send_all(s, &buf, sizeof(struct irqd_msg_hdr), NULL, 0), sent++;
	expect_error(s, 202, EBADMSG, "must be 72 bytes, got 16");
	hdr(&buf, IRQD_MSG_LINE_INFO, sizeof(q) - 1, 203);
	send_all(s, &buf, sizeof(q), NULL, 0), sent++;
	expect_error(s, 203, EBADMSG, "got 72 (header says 71)");
	hdr(&buf, IRQD_MSG_LINE_INFO, 0, 204);
	send_all(s, &buf, sizeof(q), NULL, 0), sent++;
	expect_error(s, 204, EBADMSG, "got 72 (header says 0)");
	struct irqd_hello hh = { .version = IRQD_PROTO_VERSION };
	hdr(&hh, IRQD_MSG_HELLO, sizeof(hh) + 4, 205);
	send_all(s, &hh, sizeof(hh), NULL, 0), sent++;
	expect_error(s, 205, EBADMSG, "header says 24");

	/* longer than IRQD_MSG_MAX: truncated, refused; exactly IRQD_MSG_MAX is merely the wrong size */
	static char big[65536];
	memset(big, 'x', sizeof(big));
	hdr(big, IRQD_MSG_LINE_INFO, IRQD_MSG_MAX + 1, 300);
	send_all(s, big, IRQD_MSG_MAX + 1, NULL, 0), sent++;
	expect_error(s, 300, EBADMSG, "malformed message (4096 bytes, too long)");
	hdr(big, IRQD_MSG_LINE_INFO, sizeof(big), 301);
	send_all(s, big, sizeof(big), NULL, 0), sent++;
	expect_error(s, 301, EBADMSG, "too long");
	hdr(big, IRQD_MSG_LINE_INFO, IRQD_MSG_MAX, 302);
	send_all(s, big, IRQD_MSG_MAX, NULL, 0), sent++;
	expect_error(s, 302, EBADMSG, "must be 72 bytes, got 4096");
	/* shorter than a header: no req_id to echo */
	send_all(s, "\x02\x00\x00\x00\x48\x00\x00\x00", 8, NULL, 0), sent++;
	expect_error(s, 0, EBADMSG, "malformed message (8 bytes)");
	send_all(s, "\x02", 1, NULL, 0), sent++;
	expect_error(s, 0, EBADMSG, "malformed message (1 bytes)");

	/* descriptors where none or one belongs */
	int efd = eventfd(0, EFD_CLOEXEC), efd2 = eventfd(0, EFD_CLOEXEC);
	assert_true(efd >= 0 && efd2 >= 0);
	line_query(&q, IRQD_MSG_LINE_INFO, 400, "sim0");
	send_all(s, &q, sizeof(q), &efd, 1), sent++;
	expect_error(s, 400, EBADMSG, "request type 2 takes no descriptor");
	struct irqd_hello h2 = { .version = IRQD_PROTO_VERSION };
	hdr(&h2, IRQD_MSG_HELLO, sizeof(h2), 401);
	send_all(s, &h2, sizeof(h2), &efd, 1), sent++;
	expect_error(s, 401, EBADMSG, "request type 1 takes no descriptor");
	struct irqd_line_create_req cr = { 0 };
	hdr(&cr, IRQD_MSG_LINE_CREATE, sizeof(cr), 402);
	snprintf(cr.name, sizeof(cr.name), "two");
	int three[3] = { efd, efd2, efd };
	send_all(s, &cr, sizeof(cr), three, 3), sent++;
	expect_error(s, 402, EBADMSG, "too many descriptors");
	hdr(&cr, IRQD_MSG_LINE_CREATE, sizeof(cr), 404);
	send_all(s, &cr, sizeof(cr), three, 2), sent++;
	expect_error(s, 404, EINVAL, "an eventfd line takes one descriptor");
	/* a sim line: its eventfd and a device page that is one */
	cr.source = IRQD_CREATE_SIM;
	hdr(&cr, IRQD_MSG_LINE_CREATE, sizeof(cr), 405);
	send_all(s, &cr, sizeof(cr), &efd, 1), sent++;
	expect_error(s, 405, EINVAL, "a sim line needs its device page after the eventfd");
	hdr(&cr, IRQD_MSG_LINE_CREATE, sizeof(cr), 406);
	send_all(s, &cr, sizeof(cr), three, 2), sent++;
	expect_error(s, 406, EINVAL, "cannot use that device");
	cr.source = 7;
	hdr(&cr, IRQD_MSG_LINE_CREATE, sizeof(cr), 407);
	send_all(s, &cr, sizeof(cr), &efd, 1), sent++;
	expect_error(s, 407, EINVAL, "unknown line source 7");
	cr.source = IRQD_CREATE_EVENTFD;
	int six[6] = { efd, efd2, efd, efd2, efd, efd2 };
	hdr(&cr, IRQD_MSG_LINE_CREATE, sizeof(cr), 403);
	send_all(s, &cr, sizeof(cr), six, 6), sent++;
	expect_error(s, 403, EBADMSG, "malformed message");

	/* LINE_CREATE needs exactly one eventfd */
	hdr(&cr, IRQD_MSG_LINE_CREATE, sizeof(cr), 410);
	send_all(s, &cr, sizeof(cr), NULL, 0), sent++;
	expect_error(s, 410, EINVAL, "line create needs an eventfd attached");
	int pfd[2];
	assert_int_equal(pipe(pfd), 0);
	hdr(&cr, IRQD_MSG_LINE_CREATE, sizeof(cr), 411);
	send_all(s, &cr, sizeof(cr), &pfd[0], 1), sent++;
	expect_error(s, 411, EINVAL, "the descriptor passed is not an eventfd");
	hdr(&cr, IRQD_MSG_LINE_CREATE, sizeof(cr), 412);
	send_all(s, &cr, sizeof(cr), &pfd[1], 1), sent++;
	expect_error(s, 412, EINVAL, "not an eventfd");
	memset(cr.name, 'n', sizeof(cr.name)); /* no NUL */
	hdr(&cr, IRQD_MSG_LINE_CREATE, sizeof(cr), 413);
	send_all(s, &cr, sizeof(cr), &efd, 1), sent++;
	expect_error(s, 413, EINVAL, "line names use letters, digits and _.:/-+");
	snprintf(cr.name, sizeof(cr.name), "a b");
	hdr(&cr, IRQD_MSG_LINE_CREATE, sizeof(cr), 414);
	send_all(s, &cr, sizeof(cr), &efd, 1), sent++;
	expect_error(s, 414, EINVAL, "line names use");
	snprintf(cr.name, sizeof(cr.name), "sim1");
	hdr(&cr, IRQD_MSG_LINE_CREATE, sizeof(cr), 415);
	send_all(s, &cr, sizeof(cr), &efd, 1), sent++;
	expect_error(s, 415, EEXIST, "a line named 'sim1' exists");
	close(pfd[0]);
	close(pfd[1]);
	close(efd);
	close(efd2);

	/* line names that are not NUL-terminated, in every request that takes a line */
	const uint16_t by_name[] = { IRQD_MSG_LINE_INFO, IRQD_MSG_ENABLE, IRQD_MSG_LINE_STATS,
				     IRQD_MSG_SIM_OPEN, IRQD_MSG_LINE_DELETE };
	for (unsigned i = 0; i < sizeof(by_name) / sizeof(by_name[0]); i++) {
		line_query(&q, by_name[i], 500 + i, "");
		memset(q.name, 's', sizeof(q.name));
		send_all(s, &q, sizeof(q), NULL, 0), sent++;
		expect_error(s, 500 + i, EINVAL, "line name is not NUL-terminated");
	}
	struct irqd_attach_req ar;
	memset(&ar, 0, sizeof(ar));
	hdr(&ar, IRQD_MSG_ATTACH, sizeof(ar), 510);
	ar.line.id = IRQD_LINE_BY_NAME;
	memset(ar.line.name, 's', sizeof(ar.line.name));
	send_all(s, &ar, sizeof(ar), NULL, 0), sent++;
	expect_error(s, 510, EINVAL, "line name is not NUL-terminated");
	struct irqd_coalesce_req co = { .handle = IRQD_HANDLE_LINE, .params = { .usecs = 10 } };
	hdr(&co, IRQD_MSG_COALESCE, sizeof(co), 511);
	co.line.id = IRQD_LINE_BY_NAME;
	memset(co.line.name, 's', sizeof(co.line.name));
	send_all(s, &co, sizeof(co), NULL, 0), sent++;
	expect_error(s, 511, EINVAL, "line name is not NUL-terminated");

	/* bad line selectors */
	line_query(&q, IRQD_MSG_LINE_INFO, 520, "sim0");
	q.flags = 2;
	send_all(s, &q, sizeof(q), NULL, 0), sent++;
	expect_error(s, 520, EINVAL, "unknown query flags 0x2");
	line_query(&q, IRQD_MSG_LINE_INFO, 521, "");
	q.id = IRQD_LINES_MAX;
	send_all(s, &q, sizeof(q), NULL, 0), sent++;
	expect_error(s, 521, ENOENT, "no line with id 4096");
	line_query(&q, IRQD_MSG_LINE_INFO, 522, "");
	q.id = 7;
	send_all(s, &q, sizeof(q), NULL, 0), sent++;
	expect_error(s, 522, ENOENT, "no line with id 7");
	line_query(&q, IRQD_MSG_LINE_INFO, 523, "nosuch");
	send_all(s, &q, sizeof(q), NULL, 0), sent++;
	expect_error(s, 523, ENOENT, "no line named 'nosuch'");

	/* bad attach flags and parameters */
	const struct {
		uint32_t flags, want_handle;
		const char *line, *msg;
	} atts[] = {
		{ 4, 0, "sim1", "unknown attach flags 0x4" },
		{ 0x80000000u, 0, "sim1", "unknown attach flags 0x80000000" },
		{ 0, IRQD_SLOTS + 1, "sim1", "no handle 1024 (handles are 0 to 1023)" },
		{ IRQD_ATTACH_DIRECT, 0, "sim1", "direct delivery needs an exclusive attachment" },
		{ IRQD_ATTACH_DIRECT | IRQD_ATTACH_EXCLUSIVE, 0, "sim1",
		  "direct delivery needs an exclusive attachment to an edge line" },
		{ IRQD_ATTACH_EXCLUSIVE, 0, "sim0", "line sim0 is shared by other clients" },
	};
	for (unsigned i = 0; i < sizeof(atts) / sizeof(atts[0]); i++) {
		memset(&ar, 0, sizeof(ar));
		hdr(&ar, IRQD_MSG_ATTACH, sizeof(ar), 600 + i);
		ar.line.id = IRQD_LINE_BY_NAME;
		snprintf(ar.line.name, sizeof(ar.line.name), "%s", atts[i].line);
		ar.flags = atts[i].flags;
		ar.want_handle = atts[i].want_handle;
		send_all(s, &ar, sizeof(ar), NULL, 0), sent++;
		expect_error(s, 600 + i, i == 5 ? EBUSY : EINVAL, atts[i].msg);
	}
	memset(&ar, 0, sizeof(ar));
	hdr(&ar, IRQD_MSG_ATTACH, sizeof(ar), 610);
	ar.line.id = 1;
	ar.coalesce.usecs = COALESCE_MAX_USECS + 1;
	send_all(s, &ar, sizeof(ar), NULL, 0), sent++;
	expect_error(s, 610, EINVAL, "coalescing out of range");
	ar.coalesce = (struct irqd_coalesce_params){ .adaptive = 2 };
	hdr(&ar, IRQD_MSG_ATTACH, sizeof(ar), 611);
	send_all(s, &ar, sizeof(ar), NULL, 0), sent++;
	expect_error(s, 611, EINVAL, "coalescing out of range");

	/* handles out of range, or in range but not ours */
	const uint32_t handles[] = { IRQD_SLOTS, 0xffffffffu - 1, 5000, 0, 5 };
	const uint16_t hreq[] = { IRQD_MSG_DETACH, IRQD_MSG_MASK, IRQD_MSG_UNMASK, IRQD_MSG_PASS };
	for (unsigned i = 0; i < sizeof(handles) / sizeof(handles[0]); i++)
		for (unsigned t = 0; t < sizeof(hreq) / sizeof(hreq[0]); t++) {
			struct irqd_handle_req hr = { .handle = handles[i] };
			uint32_t id = 700 + 10 * i + t;
			hdr(&hr, hreq[t], sizeof(hr), id);
			send_all(s, &hr, sizeof(hr), NULL, 0), sent++;
			char want[80];
			snprintf(want, sizeof(want), "no attachment with handle %u on this connection",
				 handles[i]);
			expect_error(s, id, EBADF, want);
		}
	co = (struct irqd_coalesce_req){ .handle = IRQD_SLOTS, .params = { .usecs = 10 } };
	hdr(&co, IRQD_MSG_COALESCE, sizeof(co), 800);
	send_all(s, &co, sizeof(co), NULL, 0), sent++;
	expect_error(s, 800, EBADF, "no attachment with handle 1024");
	struct irqd_accept_req acc = { .token = 0 };
	hdr(&acc, IRQD_MSG_ACCEPT, sizeof(acc), 801);
	send_all(s, &acc, sizeof(acc), NULL, 0), sent++;
	expect_error(s, 801, ENOENT, "no attachment was passed with that token");
	acc.token = 0x1234567890abcdefull;
	hdr(&acc, IRQD_MSG_ACCEPT, sizeof(acc), 802);
	send_all(s, &acc, sizeof(acc), NULL, 0), sent++;
	expect_error(s, 802, ENOENT, "no attachment was passed with that token");
	struct irqd_client_query cq = { .index = 1000000 };
	hdr(&cq, IRQD_MSG_CLIENT_STATS, sizeof(cq), 803);
	send_all(s, &cq, sizeof(cq), NULL, 0), sent++;
	expect_error(s, 803, ENOENT, "no more clients");
	n_errors_seen--; /* the end of an enumeration is an answer, not an error in the stats */

	/* still connected and served */
	line_query(&q, IRQD_MSG_LINE_INFO, 900, "sim1");
	send_all(s, &q, sizeof(q), NULL, 0), sent++;
	union msg m = expect_reply(s, IRQD_MSG_LINE_INFO, 900, sizeof(struct irqd_line_info));
	assert_string_equal(m.info.name, "sim1");
	assert_int_equal(m.info.attachments, 0);
	/* nothing pending beyond what was checked */
	assert_int_equal(recv_with_fds(s, m.b, sizeof(m.b), NULL, NULL, 0), -ETIMEDOUT);

	/* irqd counted every request and every error of this session, exactly */
	struct irqd_client_stats st = newest_session(other);
	assert_int_equal(st.pid, getpid());
	assert_int_equal(st.requests, sent);
	assert_int_equal(st.errors, n_errors_seen);
	assert_int_equal(st.attachments, 0);
	printf("  %u requests, %d error replies checked\n", sent, n_errors_seen);

	/* no line appeared, the other client's line is untouched */
	struct irqd_line_desc d;
	assert_int_equal(irqd_line_lookup(other, "two", &d), -ENOENT);
	struct irqd_line_stats ls = line_stats(other, "sim0");
	assert_int_equal(ls.attachments, 1);
	assert_int_equal(ls.mask_refs, 0);
	assert_int_equal(ls.raised, 0);

	/* every descriptor passed to irqd was closed by it; the session's own are gone with it */
	raw_close(&r);
	if (!WAIT_UNTIL(fd_count(p.pid) == fds_before, 10000))
		fail_msg("irqd holds %d descriptors, %d before the session", fd_count(p.pid),
			 fds_before);
	irqd_disconnect(other);
	irqd_stop(&p);
}

/* 64 malformed messages are answered; the 65th disconnects that client. Another client with a
 * level line in service is not affected. */
static void test_malformed_disconnect(void **state)
{
	(void)state;
	struct irqd_proc p;
	irqd_start(&p, 2, NULL);
	struct irqd_client *good = client(&p), *devc = client(&p);
	/* statistics are read through a third client: the end of an enumeration is an error reply */
	struct irqd_client *obs = client(&p);
	uint32_t obs_idx = newest_session(obs).index;
	uint32_t gh;
	assert_int_equal(irqd_attach(good, "sim0", IRQD_ATTACH_SHARED, NULL, &gh), 0);
	struct irqd_simdev *dev;
	assert_int_equal(irqd_simdev_open(devc, "sim0", &dev), 0);
	roundtrip(good, gh, dev, "sim0", 1);

	struct raw r;
	raw_hello(&r, p.sock);
	uint32_t xh = raw_attach(&r, "sim1", IRQD_ATTACH_SHARED);
	assert_int_equal(xh, 0);
	/* an occurrence in service on the good client's line while the bad one misbehaves */
	assert_int_equal(irqd_simdev_raise(dev, 1), 0);
	struct irqd_event ev[4];
	assert_int_equal(irqd_wait(good, ev, 4, 10000), 1);
	assert_int_equal(ev[0].seq, 2);

	struct irqd_msg_hdr junk = { .type = 77, .len = sizeof(junk) };
	for (uint32_t i = 1; i <= 64; i++) {
		junk.req_id = i;
		send_all(r.sock, &junk, sizeof(junk), NULL, 0);
		expect_error(r.sock, i, EBADMSG, "unknown request type 77");
	}
	/* 64 are tolerated: still served */
	struct irqd_line_query q;
	line_query(&q, IRQD_MSG_LINE_INFO, 1000, "sim1");
	send_all(r.sock, &q, sizeof(q), NULL, 0);
	union msg m = expect_reply(r.sock, IRQD_MSG_LINE_INFO, 1000, sizeof(struct irqd_line_info));
	assert_int_equal(m.info.attachments, 1);
	assert_int_equal(line_stats(good, "sim1").attachments, 1);

	/* the 65th: its error, the reason for the disconnection, then end of stream */
	junk.req_id = 65;
	send_all(r.sock, &junk, sizeof(junk), NULL, 0);
	expect_error(r.sock, 65, EBADMSG, "unknown request type 77");
	expect_error(r.sock, 0, EPROTO, "too many malformed requests: disconnected");
	assert_int_equal(recv_with_fds(r.sock, m.b, sizeof(m.b), NULL, NULL, 10000), 0);
	/* its attachment went with it */
	assert_true(WAIT_UNTIL(line_stats(good, "sim1").attachments == 0, 10000));
	raw_close(&r);

	/* the good client finishes its occurrence and goes on */
	assert_int_equal(irqd_simdev_service(dev), 1);
	assert_int_equal(irqd_answer(good, gh, ev[0].occurrence, IRQD_HANDLED), 0);
	assert_true(WAIT_UNTIL(!(line_stats(good, "sim0").flags & IRQD_LINE_MASKED), 10000));
	for (uint64_t k = 3; k <= 10; k++)
		roundtrip(good, gh, dev, "sim0", k);
	struct irqd_line_stats ls = line_stats(good, "sim0");
	assert_int_equal(ls.raised, 10);
	assert_int_equal(ls.handled, 10);
	assert_int_equal(ls.unhandled, 0);
	assert_int_equal(ls.stalls, 0);
	struct irqd_client_stats cs;
	assert_int_equal(count_sessions(obs), 3);
	for (uint32_t i = 0; irqd_client_stats(obs, i, &cs) == 0; i = cs.index + 1)
		if (cs.index != obs_idx)
			assert_int_equal(cs.errors, 0);

	irqd_disconnect(obs);
	irqd_simdev_close(dev);
	irqd_disconnect(devc);
	irqd_disconnect(good);
	irqd_stop(&p);
}

/* A client writes garbage answers into its own mailbox: each is rejected with a notice and
 * counted; the honest client sharing the level line gets every occurrence and the line is
 * unmasked as soon as the honest answers are in. */
static void test_hostile_shm(void **state)
{
	(void)state;
	struct irqd_proc p;
	/* a long deadline: no occurrence may end by a stall, each must end by the answers */
	irqd_start(&p, 2, "ack-deadline-ms 60000\n");
	struct irqd_client *honest = client(&p), *devc = client(&p);
	uint32_t hh;
	assert_int_equal(irqd_attach(honest, "sim0", IRQD_ATTACH_SHARED, NULL, &hh), 0);
	struct irqd_simdev *dev;
	assert_int_equal(irqd_simdev_open(devc, "sim0", &dev), 0);
	struct raw x;
	raw_hello(&x, p.sock);
	struct irqd_client_stats xs = newest_session(honest);
	uint32_t xidx = xs.index;
	uint32_t xh = raw_attach(&x, "sim0", IRQD_ATTACH_SHARED);
	assert_int_equal(line_stats(honest, "sim0").attachments, 2);

	const uint64_t N = 30;
	unsigned bad = 0;
	for (uint64_t k = 1; k <= N; k++) {
		assert_int_equal(irqd_simdev_raise(dev, 1), 0);
		struct irqd_event ev[4];
		assert_int_equal(irqd_wait(honest, ev, 4, 10000), 1);
		assert_int_equal(ev[0].handle, hh);
		assert_int_equal(ev[0].seq, k);
		assert_int_equal(ev[0].occurrence, k);
		assert_int_equal(raw_take(&x, xh, k), k);

		if (k == 1) {
			/* an occurrence never delivered */
			raw_answer_word(&x, xh, (99ull << 2) | IRQD_HANDLED);
			expect_notice(&x, "answer 1 for occurrence 99 on handle 0 rejected");
			/* a bogus answer code for the right occurrence */
			raw_answer_word(&x, xh, (k << 2) | 3);
			expect_notice(&x, "answer 3 for occurrence 1 on handle 0 rejected");
			raw_answer_word(&x, xh, (k << 2) | IRQD_ANSWER_NONE);
			expect_notice(&x, "answer 0 for occurrence 1 on handle 0 rejected");
			/* a slot that is not attached */
			raw_answer_word(&x, 7, (k << 2) | IRQD_HANDLED);
			expect_notice(&x, "on handle 7 rejected");
			bad += 4;
		}
		/* none of that counted as an answer: the line waits for both */
		struct irqd_line_stats ls = line_stats(honest, "sim0");
		assert_true(ls.flags & IRQD_LINE_MASKED);
		assert_int_equal(ls.handled + ls.not_mine, 2 * (k - 1));

		assert_int_equal(irqd_simdev_service(dev), 1);
		assert_int_equal(irqd_answer(honest, hh, k, IRQD_HANDLED), 0);
		raw_answer_word(&x, xh, (k << 2) | IRQD_NOT_MINE);
		assert_true(WAIT_UNTIL(!(line_stats(honest, "sim0").flags & IRQD_LINE_MASKED), 10000));

		if (k % 10 == 1) {
			/* the same answer written twice, after irqd took the first */
			assert_int_equal(irqd_client_stats(honest, xidx, &xs), 0);
			assert_int_equal(xs.index, xidx);
			assert_int_equal(xs.answers, k);
			raw_answer_word(&x, xh, (k << 2) | IRQD_NOT_MINE);
			expect_notice(&x, "rejected: not owed, already given or unknown");
			bad++;
		}
		if (k % 10 == 5) {
			/* an answer for an occurrence long past */
			raw_answer_word(&x, xh, ((k - 3) << 2) | IRQD_HANDLED);
			expect_notice(&x, "rejected");
			bad++;
		}
	}

	struct irqd_line_stats ls = line_stats(honest, "sim0");
	assert_int_equal(ls.raised, N);
	assert_int_equal(ls.delivered, 2 * N);
	assert_int_equal(ls.handled, N);
	assert_int_equal(ls.not_mine, N);
	assert_int_equal(ls.unhandled, 0);
	assert_int_equal(ls.stalls, 0);
	assert_int_equal(ls.masked_now, 0);
	/* the stats round trip above went through the delivery thread: every notice is sent */
	union msg m;
	assert_int_equal(recv_with_fds(x.sock, m.b, sizeof(m.b), NULL, NULL, 0), -ETIMEDOUT);
	assert_int_equal(irqd_client_stats(honest, xidx, &xs), 0);
	assert_int_equal(xs.bad_answers, bad);
	assert_int_equal(xs.answers, N);
	assert_int_equal(xs.notifications, N);
	struct irqd_client_stats hs;
	for (uint32_t i = 0; irqd_client_stats(honest, i, &hs) == 0; i = hs.index + 1)
		if (hs.index != xidx)
			assert_int_equal(hs.bad_answers, 0);
	printf("  %u garbage answers rejected with a notice each, %llu occurrences exact\n", bad,
	       (unsigned long long)N);

	raw_close(&x);
	irqd_simdev_close(dev);
	irqd_disconnect(devc);
	irqd_disconnect(honest);
	irqd_stop(&p);
}

/* ---- flood ---------------------------------------------------------------------------------- */

#define FLOOD_N 200000u
#define FLOOD_EVENTS 10000u

/* A client that keeps writing garbage answers is explained the first ones, then disconnected
 * after BAD_ANSWERS_MAX (256); an honest client on the same line never notices. */
static void test_bad_answer_flood(void **state)
{
	(void)state;
	struct irqd_proc p;
	irqd_start(&p, 2, NULL);
	struct irqd_client *honest = client(&p), *devc = client(&p);
	uint32_t hh;
	assert_int_equal(irqd_attach(honest, "sim0", IRQD_ATTACH_SHARED, NULL, &hh), 0);
	struct irqd_simdev *dev;
	assert_int_equal(irqd_simdev_open(devc, "sim0", &dev), 0);
	struct raw x;
	raw_hello(&x, p.sock);
	uint32_t xh = raw_attach(&x, "sim0", IRQD_ATTACH_SHARED);
	for (unsigned i = 0; i < 257; i++) { /* the 257th is one too many */
		raw_answer_word(&x, xh, ((1000ull + i) << 2) | IRQD_HANDLED);
		/* one at a time, so that irqd sees each (it reads one answer word per slot) */
		assert_true(WAIT_UNTIL(!atomic_load(&x.shm->answered[xh / 64]), 10000));
	}
	/* 16 explanations, then the verdict (an error with req_id 0: the library must not
	 * reconnect), then the end of the connection */
	for (int i = 0; i < 16; i++)
		expect_notice(&x, "rejected");
	expect_error(x.sock, 0, EPROTO, "more than 256 bad answers: disconnected");
	union msg m;
	assert_int_equal(recv_with_fds(x.sock, m.b, sizeof(m.b), NULL, NULL, 10000), 0);
	/* its attachment is gone: the honest client alone serves the line, exactly */
	assert_true(WAIT_UNTIL(line_stats(honest, "sim0").attachments == 1, 10000));
	for (uint64_t k = 1; k <= 5; k++)
		roundtrip(honest, hh, dev, "sim0", k);
	raw_close(&x);
	irqd_simdev_close(dev);
	irqd_disconnect(devc);
	irqd_disconnect(honest);
	irqd_stop(&p);
}

struct flood_result {
	uint32_t sent, replies, errors;
	double seconds;
};

/* Child: LINE_INFO requests as fast as the socket takes them (non-blocking; on EAGAIN it reads
 * replies and tries again). It bounds its own requests in flight with a small send buffer, so
 * that irqd, which never blocks on a client, always has room for the replies. */
static int flooder(const struct irqd_proc *p, void *arg)
{
	int *pipes = arg; /* [0]: write results, [1]: read "exit" */
	struct raw r;
	if (raw_hello_try(&r, p->sock) < 0)
		return 1;
	int sndbuf = 16384;
	setsockopt(r.sock, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf));
	struct flood_result res = { 0 };
	struct irqd_line_query q;
	union msg m;
	uint64_t t0 = mono_ns(), end = t0 + 120 * 1000000000ull;
	while (res.replies < FLOOD_N && mono_ns() < end) {
		bool progress = false;
		if (res.sent < FLOOD_N) {
			line_query(&q, IRQD_MSG_LINE_INFO, res.sent + 1, "sim0");
			ssize_t n = send(r.sock, &q, sizeof(q), MSG_DONTWAIT | MSG_NOSIGNAL);
			if (n == (ssize_t)sizeof(q)) {
				res.sent++;
				progress = true;
			} else if (errno != EAGAIN) {
				break;
			}
		}
		ssize_t n;
		while ((n = recv(r.sock, m.b, sizeof(m.b), MSG_DONTWAIT)) > 0) {
			progress = true;
			if (n == sizeof(struct irqd_line_info) &&
			    m.h.type == (IRQD_MSG_LINE_INFO | IRQD_MSG_REPLY) &&
			    m.h.req_id == res.replies + 1 && !strcmp(m.info.name, "sim0"))
				res.replies++;
			else
				res.errors++;
		}
		if (n == 0)
			break;
		if (!progress) {
			struct pollfd pfd = { .fd = r.sock,
					      .events = POLLIN | (res.sent < FLOOD_N ? POLLOUT : 0) };
			poll(&pfd, 1, 100);
		}
	}
	res.seconds = (double)(mono_ns() - t0) / 1e9;
	if (write(pipes[0], &res, sizeof(res)) != sizeof(res))
		return 2;
	char c;
	if (read(pipes[1], &c, 1) != 1) /* stay connected until the parent looked at our stats */
		return 3;
	raw_close(&r);
	return 0;
}

/* Child: a driver on edge line sim1 counting events until FLOOD_EVENTS; seq must be 1, 2, ... */
static int counter(const struct irqd_proc *p, void *arg)
{
	int *pipes = arg; /* [0]: write "attached" then the total */
	struct irqd_client *c;
	if (irqd_connect(p->sock, &c) < 0)
		return 10;
	uint32_t h;
	if (irqd_attach(c, "sim1", IRQD_ATTACH_SHARED, NULL, &h) < 0)
		return 11;
	uint64_t total = 0, seq = 0;
	if (write(pipes[0], &total, sizeof(total)) != sizeof(total))
		return 12;
	uint64_t end = mono_ns() + 120 * 1000000000ull;
	while (total < FLOOD_EVENTS && mono_ns() < end) {
		struct irqd_event ev[16];
		int n = irqd_wait(c, ev, 16, 1000);
		if (n < 0)
			return 13;
		for (int i = 0; i < n; i++) {
			if (ev[i].handle != h || ev[i].seq != ++seq || ev[i].occurrence)
				return 14;
			total += ev[i].count;
		}
	}
	if (write(pipes[0], &total, sizeof(total)) != sizeof(total))
		return 15;
	irqd_disconnect(c);
	return total == FLOOD_EVENTS ? 0 : 16;
}

static double lookup_p50_us(struct irqd_client *c, struct irqd_simdev *dev, unsigned raise_each)
{
	uint64_t lat[200];
	for (int i = 0; i < 200; i++) {
		struct irqd_line_desc d;
		uint64_t t = mono_ns();
		assert_int_equal(irqd_line_lookup(c, "sim1", &d), 0);
		lat[i] = mono_ns() - t;
		assert_int_equal(d.id, 1);
		for (unsigned k = 0; k < raise_each; k++)
			assert_int_equal(irqd_simdev_raise(dev, 1), 0);
	}
	qsort(lat, 200, sizeof(lat[0]), cmp_u64);
	return (double)lat[100] / 1e3;
}

static bool readable(int fd)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	return poll(&pfd, 1, 0) == 1;
}

static void test_flood(void **state)
{
	(void)state;
	struct irqd_proc p;
	irqd_start(&p, 2, "line sim1 trigger=edge\n");
	struct irqd_client *c = client(&p);
	struct irqd_simdev *dev;
	assert_int_equal(irqd_simdev_open(c, "sim1", &dev), 0);

	int cres[2], fres[2], fgo[2];
	assert_int_equal(pipe(cres), 0);
	assert_int_equal(pipe(fres), 0);
	assert_int_equal(pipe(fgo), 0);
	int carg[1] = { cres[1] };
	pid_t cpid = spawn(counter, &p, carg);
	uint64_t v;
	assert_int_equal(read(cres[0], &v, sizeof(v)), sizeof(v)); /* attached */
	assert_int_equal(line_stats(c, "sim1").attachments, 1);

	/* the same work in both measurements (a lookup, then events raised to the counter), once
	 * without the flood and once with it: half the events each */
	double idle = lookup_p50_us(c, dev, FLOOD_EVENTS / 400);

	int farg[2] = { fres[1], fgo[0] };
	pid_t fpid = spawn(flooder, &p, farg);
	/* the flood is on once the flooder has used up its burst */
	struct irqd_client_stats fs;
	assert_true(WAIT_UNTIL(session_of_pid(c, fpid, &fs) && fs.requests > 3000, 20000));
	double busy = lookup_p50_us(c, dev, FLOOD_EVENTS / 400);
	/* ... and still on when the measurement ended */
	assert_false(readable(fres[0]));
	printf("  irqd_line_lookup p50: %.1f us idle, %.1f us while another client floods\n", idle,
	       busy);

	/* every event, exactly once */
	assert_int_equal(reap_within(cpid, 120000), 0);
	assert_int_equal(read(cres[0], &v, sizeof(v)), sizeof(v));
	assert_int_equal(v, FLOOD_EVENTS);
	struct irqd_line_stats ls = line_stats(c, "sim1");
	assert_int_equal(ls.raised, FLOOD_EVENTS);
	assert_int_equal(ls.delivered, FLOOD_EVENTS);
	assert_int_equal(ls.dropped, 0);

	/* every flood request answered, in order, and no faster than the token bucket allows:
	 * 2,000 at once, then 20,000 per second */
	struct flood_result res;
	if (!WAIT_UNTIL(readable(fres[0]), 120000)) {
		kill(fpid, SIGKILL);
		fail_msg("the flooder did not finish");
	}
	assert_int_equal(read(fres[0], &res, sizeof(res)), sizeof(res));
	printf("  flooder: %u requests sent, %u answered in %.2f s (%.0f/s)\n", res.sent,
	       res.replies, res.seconds, res.replies / res.seconds);
	assert_int_equal(res.sent, FLOOD_N);
	assert_int_equal(res.replies, FLOOD_N);
	assert_int_equal(res.errors, 0);
	assert_true(res.seconds >= (FLOOD_N - 2000.0) / 20000.0 - 0.05);
	assert_true(session_of_pid(c, fpid, &fs));
	assert_int_equal(fs.requests, FLOOD_N + 1);
	assert_int_equal(fs.errors, 0);
	assert_int_equal(write(fgo[1], "x", 1), 1);
	assert_int_equal(reap_within(fpid, 10000), 0);

	close(cres[0]);
	close(cres[1]);
	close(fres[0]);
	close(fres[1]);
	close(fgo[0]);
	close(fgo[1]);
	irqd_simdev_close(dev);
	irqd_disconnect(c);
	irqd_stop(&p);
}

/* ---- max clients ----------------------------------------------------------------------------- */

#define REFUSALS 10000

static int knock(const struct irqd_proc *p, void *arg)
{
	(void)arg;
	for (int i = 0; i < REFUSALS; i++) {
		struct irqd_client *c = NULL;
		int r = irqd_connect(p->sock, &c);
		if (r != -EUSERS || !strstr(irqd_last_error(), "irqd has 8 clients, the configured maximum")) {
			fprintf(stderr, "attempt %d: irqd_connect gave %d: %s\n", i, r,
				irqd_last_error());
			if (r == 0)
				irqd_disconnect(c);
			return 1;
		}
	}
	return 0;
}

static void test_max_clients(void **state)
{
	(void)state;
	struct irqd_proc p;
	irqd_start(&p, 2, "max-clients 8\n");
	struct irqd_client *c[8];
	c[0] = client(&p);
	/* the harness's readiness probe is gone: we are alone */
	assert_true(WAIT_UNTIL(count_sessions(c[0]) == 1, 10000));
	int fds_alone = fd_count(p.pid);
	for (int i = 1; i < 8; i++)
		c[i] = client(&p);
	assert_int_equal(count_sessions(c[0]), 8);
	uint32_t h;
	assert_int_equal(irqd_attach(c[7], "sim0", IRQD_ATTACH_SHARED, NULL, &h), 0);
	int fds_full = fd_count(p.pid);

	/* in a child, so that a hang is caught */
	assert_int_equal(reap_within(spawn(knock, &p, NULL), 120000), 0);
	assert_int_equal(count_sessions(c[0]), 8);
	/* no refused connection left anything behind */
	assert_true(WAIT_UNTIL(fd_count(p.pid) == fds_full, 10000));

	/* one leaves, one more gets in, and the limit holds again */
	irqd_disconnect(c[3]);
	struct irqd_client *n = NULL;
	assert_true(WAIT_UNTIL(irqd_connect(p.sock, &n) == 0, 10000));
	struct irqd_client *x = NULL;
	assert_int_equal(irqd_connect(p.sock, &x), -EUSERS);
	c[3] = n;
	assert_int_equal(count_sessions(c[0]), 8);
	struct irqd_line_desc d;
	for (int i = 0; i < 8; i++)
		assert_int_equal(irqd_line_lookup(c[i], "sim0", &d), 0);
	assert_int_equal(d.attachments, 1);
	for (int i = 1; i < 8; i++)
		irqd_disconnect(c[i]);
	assert_true(WAIT_UNTIL(count_sessions(c[0]) == 1, 10000));
	assert_true(WAIT_UNTIL(fd_count(p.pid) == fds_alone, 10000));
	irqd_disconnect(c[0]);
	irqd_stop(&p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_hello_rules, harness_teardown),
		cmocka_unit_test_teardown(test_malformed_requests, harness_teardown),
		cmocka_unit_test_teardown(test_malformed_disconnect, harness_teardown),
		cmocka_unit_test_teardown(test_hostile_shm, harness_teardown),
		cmocka_unit_test_teardown(test_bad_answer_flood, harness_teardown),
		cmocka_unit_test_teardown(test_flood, harness_teardown),
		cmocka_unit_test_teardown(test_max_clients, harness_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
