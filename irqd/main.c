/*
 * irqd - the interrupt and event server.
 *
 *   irqd [--socket PATH] [--sim N] [--config FILE] [--foreground]
 *
 * Sets up the line table (sim lines from --sim or the configuration), the control socket and
 * the delivery thread, then serves until SIGTERM or SIGINT. Started by systemd with a socket
 * unit, it serves the socket systemd hands over (sd_listen_fds) and says when it is ready
 * (sd_notify); on its own it creates the socket.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <grp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <systemd/sd-daemon.h>
#include <urcu/urcu-memb.h>

#include "config.h"
#include "irqd.h"

static struct server srv;

static void on_signal(int sig)
{
	(void)sig;
	atomic_store(&srv.stop, 1);
}

static void usage(FILE *f)
{
	fprintf(f, "usage: irqd [--socket PATH] [--sim N] [--config FILE] [--foreground]\n"
		   "  --socket PATH   control socket (default $%s, else %s)\n"
		   "  --sim N         create simulated lines sim0..simN-1\n"
		   "  --config FILE   configuration and access policy (see irqd(8))\n"
		   "  --foreground    stay attached to the terminal\n",
		IRQD_SOCKET_ENV, IRQD_DEFAULT_SOCKET);
}

/* A socket path nobody answers on is stale (a crashed irqd): remove it. A live one is an error. */
static int listen_on(const char *path, const struct config *cfg)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	if (strlen(path) >= sizeof(sa.sun_path)) {
		fprintf(stderr, "irqd: socket path too long: %s\n", path);
		return -1;
	}
	strcpy(sa.sun_path, path);
	int probe = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (probe >= 0 && connect(probe, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
		fprintf(stderr, "irqd: another irqd is serving %s\n", path);
		close(probe);
		return -1;
	}
	if (probe >= 0)
		close(probe);
	unlink(path);
	if (!strcmp(path, IRQD_DEFAULT_SOCKET))
		mkdir("/run/irqd", 0755);
	int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	mode_t old = umask(0177); /* never world-writable, even for an instant */
	int r = fd < 0 ? -1 : bind(fd, (struct sockaddr *)&sa, sizeof(sa));
	umask(old);
	if (r < 0 || chmod(path, cfg->socket_mode) < 0 ||
	    (cfg->socket_gid != (gid_t)-1 && chown(path, (uid_t)-1, cfg->socket_gid) < 0) ||
	    listen(fd, 128) < 0) {
		fprintf(stderr, "irqd: cannot serve on %s: %s\n", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

/* The socket systemd passed (socket activation): 1 and *fd, 0 if none, -1 if unusable. */
static int activated_socket(int *fd)
{
	int n = sd_listen_fds(1);
	if (n == 0)
		return 0;
	if (n != 1 || sd_is_socket_unix(SD_LISTEN_FDS_START, SOCK_SEQPACKET, 1, NULL, 0) <= 0) {
		fprintf(stderr, "irqd: systemd passed %d sockets; irqd takes one listening "
				"AF_UNIX SOCK_SEQPACKET socket (ListenSequentialPacket=)\n", n);
		return -1;
	}
	*fd = SD_LISTEN_FDS_START;
	if (fcntl(*fd, F_SETFD, FD_CLOEXEC) < 0 ||
	    fcntl(*fd, F_SETFL, fcntl(*fd, F_GETFL) | O_NONBLOCK) < 0) {
		perror("irqd: activated socket");
		return -1;
	}
	return 1;
}

/* The status page clients read to know whether to ring: shared read-only. */
static int status_page(void)
{
	int fd = memfd_create("irqd-status", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (fd < 0 || ftruncate(fd, sizeof(struct irqd_status)) < 0)
		return -1;
	srv.status = mmap(NULL, sizeof(struct irqd_status), PROT_READ | PROT_WRITE, MAP_SHARED,
			  fd, 0);
	if (srv.status == MAP_FAILED)
		return -1;
	/* A read-only descriptor is not enough: a client can open /proc/self/fd/N read-write
	 * (a memfd is mode 0777) and clear server_waiting for everybody. From here on only our
	 * own mapping can write the page. */
	if (fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_FUTURE_WRITE | F_SEAL_SEAL) < 0)
		return -1;
	srv.status->magic = IRQD_SHM_MAGIC;
	char path[64];
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	int ro = open(path, O_RDONLY | O_CLOEXEC);
	close(fd);
	return ro;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "sim", required_argument, NULL, 'n' },
		{ "config", required_argument, NULL, 'c' },
		{ "foreground", no_argument, NULL, 'f' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	static struct config cfg;
	config_defaults(&cfg);
	const char *socket_path = NULL, *config_path = NULL;
	long sim = -1;
	bool foreground = false;
	int o;
	while ((o = getopt_long(argc, argv, "s:n:c:fh", opts, NULL)) != -1) {
		char *end;
		switch (o) {
		case 's':
			socket_path = optarg;
			break;
		case 'n':
			sim = strtol(optarg, &end, 10);
			if (*end || sim < 0 || sim > IRQD_LINES_MAX / 2) {
				fprintf(stderr, "irqd: --sim takes 0..%d\n", IRQD_LINES_MAX / 2);
				return 2;
			}
			break;
		case 'c':
			config_path = optarg;
			break;
		case 'f':
			foreground = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return 2;
	}
	char err[320];
	if (config_path && config_load(&cfg, config_path, err, sizeof(err))) {
		fprintf(stderr, "irqd: %s\n", err);
		return 2;
	}
	if (!socket_path)
		socket_path = getenv(IRQD_SOCKET_ENV);
	if (!socket_path)
		socket_path = cfg.socket[0] ? cfg.socket : IRQD_DEFAULT_SOCKET;
	if (sim >= 0)
		cfg.sim_lines = (uint32_t)sim;

	srv.cfg = &cfg;
	srv.self_uid = geteuid();
	srv.start_ns = now_ns();
	CDS_INIT_LIST_HEAD(&srv.sessions);
	cds_wfcq_init(&srv.cmd_head, &srv.cmd_tail);
	srv.cmd_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	srv.done_fd = eventfd(0, EFD_CLOEXEC);
	srv.status_fd = status_page();
	if (srv.cmd_fd < 0 || srv.done_fd < 0 || srv.status_fd < 0) {
		perror("irqd: setup");
		return 1;
	}
	int activated = activated_socket(&srv.listen_fd);
	if (activated < 0)
		return 1;
	if (!activated)
		srv.listen_fd = listen_on(socket_path, &cfg);
	if (srv.listen_fd < 0)
		return 1;
	/* under systemd (activated, or Type=notify) the service manager does the daemon's job */
	if (!foreground && !activated && !getenv("NOTIFY_SOCKET") && daemon(0, 0) < 0) {
		perror("irqd: daemon");
		return 1;
	}

	/* Signals go to the control thread only: block them while the delivery thread starts.
	 * SIGTERM and SIGINT stay blocked (here and in every thread created from now on, such as
	 * liburcu's call_rcu thread): server_run takes them only inside its epoll_pwait, so a
	 * stop request can neither run in another thread nor slip in between the check of
	 * srv.stop and the wait, and be lost while irqd sleeps. */
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	int r = delivery_start(&srv);
	sigaddset(&old, SIGTERM);
	sigaddset(&old, SIGINT);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (r < 0) {
		fprintf(stderr, "irqd: delivery thread: %s\n", strerror(-r));
		return 1;
	}
	struct sigaction sa = { .sa_handler = on_signal };
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	urcu_memb_register_thread();
	for (uint32_t i = 0; i < cfg.sim_lines; i++) {
		char name[IRQD_NAME_MAX];
		snprintf(name, sizeof(name), "sim%u", i);
		if (!server_line_add(&srv, name, IRQD_LEVEL)) {
			fprintf(stderr, "irqd: cannot create line %s\n", name);
			return 1;
		}
	}
	urcu_memb_unregister_thread();
	if (foreground)
		fprintf(stderr, "irqd: serving %s with %u simulated lines\n",
			activated ? "the socket systemd passed" : socket_path, cfg.sim_lines);
	sd_notifyf(0, "READY=1\nSTATUS=serving %u lines", cfg.sim_lines);
	r = server_run(&srv);
	sd_notify(0, "STOPPING=1");
	delivery_stop(&srv);
	urcu_memb_barrier();
	if (!activated)   /* systemd's socket stays for the next activation */
		unlink(socket_path);
	return r < 0 ? 1 : 0;
}
