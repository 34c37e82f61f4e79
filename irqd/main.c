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
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
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

	if (server_init(&srv, &cfg) < 0) {
		perror("irqd: setup");
		return 1;
	}
	int activated = activated_socket(&srv.listen_fd);
	if (activated < 0)
		return 1;
	if (!activated)
		srv.listen_fd = server_listen(socket_path, &cfg);
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

	if (server_add_lines(&srv) < 0) {
		if (!activated)
			unlink(socket_path);
		return 1;
	}
	if (foreground)
		fprintf(stderr, "irqd: serving %s with %u simulated lines and %u devices\n",
			activated ? "the socket systemd passed" : socket_path, cfg.sim_lines,
			cfg.n_devices);
	sd_notifyf(0, "READY=1\nSTATUS=serving %u lines", srv.n_lines);
	r = server_run(&srv);
	sd_notify(0, "STOPPING=1");
	delivery_stop(&srv);
	urcu_memb_barrier();
	if (!activated)   /* systemd's socket stays for the next activation */
		unlink(socket_path);
	return r < 0 ? 1 : 0;
}
