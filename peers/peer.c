/*
 * peers/peer.c - start, watch and stop the device processes.
 */
#include "peer.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define PEER_READY_MS 20000
#define PEER_STOP_MS 5000

/* Copies of every peer started and not yet stopped, for peer_stop_all. */
#define PEER_MAX_LIVE 16
static struct peer live[PEER_MAX_LIVE];

static void remember(const struct peer *p)
{
	for (int i = 0; i < PEER_MAX_LIVE; i++)
		if (live[i].dir[0] == 0 || strcmp(live[i].dir, p->dir) == 0) {
			live[i] = *p;
			return;
		}
}

static void forget(const struct peer *p)
{
	for (int i = 0; i < PEER_MAX_LIVE; i++)
		if (strcmp(live[i].dir, p->dir) == 0)
			live[i].dir[0] = 0;
}

static uint64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

int peer_init(struct peer *p, const char *name)
{
	memset(p, 0, sizeof *p);
	snprintf(p->name, sizeof p->name, "%s", name);
	snprintf(p->dir, sizeof p->dir, "/tmp/irqd-peer-XXXXXX");
	if (mkdtemp(p->dir) == NULL)
		return -errno;
	snprintf(p->sock, sizeof p->sock, "%s/%.20s.sock", p->dir, name);
	snprintf(p->log, sizeof p->log, "%s/log", p->dir);
	snprintf(p->prefix, sizeof p->prefix, "irqd-%s-%d", name, (int)getpid());
	remember(p);
	return 0;
}

const char *peer_which(const char *prog)
{
	static char path[256];
	const char *dirs[] = { "/usr/bin", "/usr/sbin", "/usr/local/bin", NULL };
	if (strchr(prog, '/'))
		return access(prog, X_OK) == 0 ? prog : NULL;
	for (int i = 0; dirs[i]; i++) {
		snprintf(path, sizeof path, "%s/%s", dirs[i], prog);
		if (access(path, X_OK) == 0)
			return path;
	}
	return NULL;
}

/* A unix socket at path that listens: bound is not enough (a connect between a peer's bind and
 * its listen is refused). /proc/net/unix marks listening sockets with flag __SO_ACCEPTCON
 * (0x10000); looking there connects nothing to peers that serve one client at a time. */
static int sock_listening(const char *path)
{
	FILE *f = fopen("/proc/net/unix", "r");
	if (!f)
		return 0;
	char line[512];
	int found = 0;
	size_t n = strlen(path);
	while (!found && fgets(line, sizeof line, f)) {
		size_t len = strcspn(line, "\n");
		unsigned long flags;
		if (len > n && !memcmp(line + len - n, path, n) && line[len - n - 1] == ' ' &&
		    sscanf(line, "%*s %*s %*s %lx", &flags) == 1 && (flags & 0x10000))
			found = 1;
	}
	fclose(f);
	return found;
}

int peer_start(struct peer *p, char *const argv[], int wait_sock)
{
	char *args[64];
	char storage[64][256];
	int n = 0;
	for (; argv[n] && n < 63; n++) {
		const char *a = argv[n], *at;
		char *o = storage[n];
		size_t left = sizeof storage[n];
		o[0] = 0;
		while (*a) {
			size_t used = strlen(o);
			if ((at = strstr(a, "@SOCK@")) == a || (at = strstr(a, "@PREFIX@")) == a) {
				int sock = a[1] == 'S';
				snprintf(o + used, left - used, "%s", sock ? p->sock : p->prefix);
				a += sock ? 6 : 8;
			} else {
				snprintf(o + used, left - used, "%c", *a++);
			}
		}
		args[n] = o;
	}
	args[n] = NULL;
	const char *prog = peer_which(args[0]);
	if (prog == NULL)
		return -ENOENT;
	unlink(p->sock);
	pid_t pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0) {
		int fd = open(p->log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
		int null = open("/dev/null", O_RDONLY);
		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
		}
		if (null >= 0)
			dup2(null, 0);
		setpgid(0, 0);
		execv(prog, args);
		_exit(127);
	}
	p->pid = pid;
	remember(p);
	if (!wait_sock)
		return 0;
	uint64_t end = mono_ms() + PEER_READY_MS;
	while (!sock_listening(p->sock)) {
		int st;
		if (waitpid(pid, &st, WNOHANG) == pid) {
			p->pid = 0;
			return -ECHILD;
		}
		if (mono_ms() > end) {
			peer_kill(p);
			return -ETIMEDOUT;
		}
		usleep(2000);
	}
	return 0;
}

/* The image read through io_uring (no worker thread to wake per request: twice the rate of
 * QEMU's default thread pool here), or the thread pool where io_uring is not allowed. */
int peer_start_qsd(struct peer *p, const char *image, bool direct_io)
{
	static const char *const aio[] = { "io_uring", "threads" };
	int r = -ECHILD;
	for (unsigned i = 0; i < 2 && r == -ECHILD; i++) {
		char blockdev[300];
		snprintf(blockdev, sizeof blockdev,
			 "driver=file,node-name=file0,filename=%s,cache.direct=%s,aio=%s", image,
			 direct_io ? "on" : "off", aio[i]);
		char *const argv[] = {
			"qemu-storage-daemon", "--blockdev", blockdev,
			"--blockdev", "driver=raw,node-name=disk0,file=file0",
			"--export",
			"type=vhost-user-blk,id=exp0,addr.type=unix,addr.path=@SOCK@,node-name=disk0,writable=on",
			NULL
		};
		r = peer_start(p, argv, 1);
		if (r == -ECHILD && i == 0) /* it exited: io_uring refused (the log says) */
			fprintf(stderr, "peer: qemu-storage-daemon without io_uring (%s); with threads\n",
				peer_log_tail(p));
	}
	return r;
}

int peer_start_testpmd(struct peer *p, const char *vdev, const char *forward_mode, int fwd_cpu,
		       int wait_sock)
{
	char vdev_arg[300], fwd[64], cores[16], main_core[8];
	snprintf(vdev_arg, sizeof vdev_arg, "--vdev=%s", vdev);
	snprintf(fwd, sizeof fwd, "--forward-mode=%s", forward_mode);
	/* the forwarding core on fwd_cpu, the main (statistics) core on the other one */
	snprintf(cores, sizeof cores, "%d,%d", fwd_cpu, !fwd_cpu);
	snprintf(main_core, sizeof main_core, "%d", !fwd_cpu);
	/* no hugepages (-m with --no-huge needs --total-num-mbufs), one forwarding core */
	char *const argv[] = { "dpdk-testpmd", "--no-huge", "-m", "512", "--no-pci", "-l", cores,
			       "--main-lcore", main_core, "--file-prefix", "@PREFIX@", vdev_arg, "--",
			       fwd, "--stats-period", "1", "--nb-cores=1", "--total-num-mbufs=65536",
			       "--txpkts=64", "--port-topology=loop", NULL };
	return peer_start(p, argv, wait_sock);
}

static int reap_within(pid_t pid, int ms)
{
	uint64_t end = mono_ms() + (uint64_t)ms;
	int st;
	for (;;) {
		pid_t r = waitpid(pid, &st, WNOHANG);
		if (r == pid)
			return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
		if (r < 0)
			return -errno;
		if (mono_ms() > end)
			return -ETIMEDOUT;
		usleep(1000);
	}
}

static int remove_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st, (void)flag, (void)ftw;
	return remove(path);
}

/* rm -r; a missing tree is fine. */
static int remove_tree(const char *dir)
{
	if (access(dir, F_OK) != 0)
		return 0;
	return nftw(dir, remove_one, 16, FTW_DEPTH | FTW_PHYS);
}

void peer_kill(struct peer *p)
{
	if (p->pid <= 0)
		return;
	kill(-p->pid, SIGKILL);
	kill(p->pid, SIGKILL);
	reap_within(p->pid, PEER_STOP_MS);
	p->pid = 0;
	remember(p);
}

int peer_wait(struct peer *p, int ms)
{
	if (p->pid <= 0)
		return -ECHILD;
	int rc = reap_within(p->pid, ms);
	if (rc != -ETIMEDOUT) {
		p->pid = 0;
		remember(p);
	}
	return rc;
}

int peer_stop(struct peer *p)
{
	int rc = 0;
	if (p->pid > 0) {
		kill(p->pid, SIGTERM);
		rc = reap_within(p->pid, PEER_STOP_MS);
		if (rc == -ETIMEDOUT) {
			peer_kill(p);
			rc = 128 + SIGKILL;
		}
		kill(-p->pid, SIGKILL); /* anything it left in its process group */
		p->pid = 0;
	}
	if (p->dir[0]) {
		char run[128];
		snprintf(run, sizeof run, "/var/run/dpdk/%s", p->prefix);
		remove_tree(run);
		if (remove_tree(p->dir) < 0)
			rc = rc ? rc : -EIO;
		forget(p);
		p->dir[0] = 0;
	}
	return rc;
}

void peer_stop_all(void)
{
	for (int i = 0; i < PEER_MAX_LIVE; i++)
		if (live[i].dir[0]) {
			struct peer p = live[i];
			peer_kill(&p);
			peer_stop(&p);
		}
}

const char *peer_log_tail(const struct peer *p)
{
	static char buf[1024];
	buf[0] = 0;
	int fd = open(p->log, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return buf;
	off_t size = lseek(fd, 0, SEEK_END);
	off_t from = size > (off_t)sizeof buf - 1 ? size - (off_t)sizeof buf + 1 : 0;
	ssize_t n = pread(fd, buf, sizeof buf - 1, from);
	buf[n > 0 ? n : 0] = 0;
	close(fd);
	return buf;
}

void peer_pin(pid_t pid, int cpu)
{
	char path[64];
	snprintf(path, sizeof path, "/proc/%d/task", (int)pid);
	DIR *d = opendir(path);
	if (d == NULL)
		return;
	cpu_set_t set;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	for (struct dirent *e; (e = readdir(d)) != NULL;)
		if (e->d_name[0] != '.')
			sched_setaffinity(atoi(e->d_name), sizeof set, &set);
	closedir(d);
}

double peer_cpu_seconds(pid_t pid)
{
	if (pid == 0) {
		struct rusage ru;
		getrusage(RUSAGE_SELF, &ru);
		return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
		       (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
	}
	char path[64], buf[1024];
	snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
	FILE *f = fopen(path, "r");
	if (f == NULL)
		return 0;
	size_t n = fread(buf, 1, sizeof buf - 1, f);
	fclose(f);
	buf[n] = 0;
	/* fields 14 and 15 (utime, stime), counted after the command name's closing parenthesis */
	char *p = strrchr(buf, ')');
	unsigned long ut = 0, st = 0;
	if (p == NULL || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) != 2)
		return 0;
	return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

double peer_report(const struct peer *p, const char *key)
{
	char pat[64];
	snprintf(pat, sizeof pat, "\"%s\":", key);
	const char *at = strstr(peer_log_tail(p), pat);
	return at ? strtod(at + strlen(pat), NULL) : -1;
}
