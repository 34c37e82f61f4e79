/*
 * fuzz_server.c - libFuzzer target: the real irqd server (control and delivery threads, in this
 * process) fed arbitrary client messages over its socket.
 *
 * An input is a sequence of messages, each a 2-byte little-endian length and that many bytes,
 * sent as they are (header, type and sizes fuzzed too) on one connection that has said HELLO.
 * After each message the harness takes whatever irqd answers (closing any descriptors that come
 * with it); after the input it asks for sim0 on the same connection, or on a new one if irqd
 * disconnected this one for abuse, and aborts if irqd does not answer: irqd must survive every
 * input and keep serving. Sanitizer reports in either irqd thread end the run.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "util/unixmsg.h"
#include "config.h"
#include "irqd.h"

static struct server srv;
static struct config cfg;
static char sock_path[108];
static int conn = -1;
static uint32_t req_id;

static void *serve(void *arg)
{
	(void)arg;
	server_run(&srv);
	return NULL;
}

/* One message from irqd within timeout_ms: its length, 0 if the connection ended, -1 on
 * timeout. Descriptors that came with it are closed. */
static ssize_t take_reply(int timeout_ms)
{
	struct pollfd p = { .fd = conn, .events = POLLIN };
	if (poll(&p, 1, timeout_ms) != 1)
		return -1;
	char buf[IRQD_MSG_MAX];
	int nfds;
	ssize_t n = unixmsg_recv(conn, buf, sizeof(buf), NULL, &nfds, 0, 0);
	return n < 0 ? 0 : n;
}

static void drain(void)
{
	while (conn >= 0 && take_reply(0) > 0)
		;
}

static int reconnect(void)
{
	if (conn >= 0)
		close(conn);
	conn = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	memcpy(sa.sun_path, sock_path, sizeof(sock_path));
	if (conn < 0 || connect(conn, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		return -1;
	struct irqd_hello h = { .hdr = { .type = IRQD_MSG_HELLO, .len = sizeof(h), .req_id = ++req_id },
				.version = IRQD_PROTO_VERSION };
	if (send(conn, &h, sizeof(h), MSG_NOSIGNAL) != sizeof(h))
		return -1;
	return take_reply(5000) > 0 ? 0 : -1;
}

/* The socket's directory, removed when libFuzzer exits. */
static char fuzz_dir[] = "/tmp/irqd-fuzz.XXXXXX";

static void remove_fuzz_dir(void)
{
	unlink(sock_path);
	rmdir(fuzz_dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	config_defaults(&cfg);
	char err[256];
	if (config_parse(&cfg, "sim-lines 4\nline sim1 trigger=edge\nline sim3 trigger=edge\n"
			       "ack-deadline-ms 50\n",
			 err, sizeof(err)) < 0) {
		fprintf(stderr, "fuzz_server: %s\n", err);
		abort();
	}
	if (!mkdtemp(fuzz_dir))
		abort();
	atexit(remove_fuzz_dir);
	snprintf(sock_path, sizeof(sock_path), "%s/irqd.sock", fuzz_dir);
	if (server_init(&srv, &cfg) < 0 || (srv.listen_fd = server_listen(sock_path, &cfg)) < 0 ||
	    delivery_start(&srv) < 0 || server_add_lines(&srv) < 0)
		abort();
	pthread_t t;
	if (pthread_create(&t, NULL, serve, NULL))
		abort();
	if (reconnect() < 0)
		abort();
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (conn < 0 && reconnect() < 0)
		abort();
	for (int msgs = 0; size >= 2 && msgs < 16 && conn >= 0; msgs++) {
		size_t len = (size_t)data[0] | (size_t)data[1] << 8;
		data += 2;
		size -= 2;
		if (len > size)
			len = size;
		if (len == 0 || len > IRQD_MSG_MAX) {
			data += len;
			size -= len;
			continue;
		}
		char msg[IRQD_MSG_MAX];
		memcpy(msg, data, len);
		data += len;
		size -= len;
		if (send(conn, msg, len, MSG_NOSIGNAL | MSG_DONTWAIT) < 0) {
			close(conn);   /* irqd hung up on us: a new connection next time */
			conn = -1;
			break;
		}
		/* every request gets an answer; take it (or what irqd says before hanging up) */
		if (take_reply(5000) == 0) {
			close(conn);
			conn = -1;
		}
		drain();
	}
	/* irqd still serves: a fresh question gets its answer */
	if (conn < 0 && reconnect() < 0) {
		fprintf(stderr, "fuzz_server: irqd no longer accepts connections\n");
		abort();
	}
	struct irqd_line_query q = { .hdr = { .type = IRQD_MSG_LINE_INFO, .len = sizeof(q),
					      .req_id = ++req_id },
				     .id = IRQD_LINE_BY_NAME, .name = "sim0" };
	if (send(conn, &q, sizeof(q), MSG_NOSIGNAL) != sizeof(q) || take_reply(10000) <= 0) {
		/* the connection may have been cut for earlier abuse: ask on a new one */
		if (reconnect() < 0 || send(conn, &q, sizeof(q), MSG_NOSIGNAL) != sizeof(q) ||
		    take_reply(10000) <= 0) {
			fprintf(stderr, "fuzz_server: irqd stopped answering\n");
			abort();
		}
	}
	drain();
	return 0;
}
