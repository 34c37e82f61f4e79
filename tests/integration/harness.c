/* harness.c - see harness.h */
#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "peers/peer.h"
#include "util/unixmsg.h"

/* ---- what the current test started: harness_teardown() ends what is still recorded ---------- */

static struct irqd_proc live_irqd; /* a copy: the test's own may be gone; pid 0: none */
static pid_t live_kids[HARNESS_MAX_CHILDREN];

static void forget_child(pid_t pid)
{
	for (unsigned i = 0; i < HARNESS_MAX_CHILDREN; i++)
		if (live_kids[i] == pid)
			live_kids[i] = 0;
}

static void remove_dir(const char *dir)
{
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (system(cmd) != 0)
		(void)0;
}

int harness_teardown(void **state)
{
	(void)state;
	for (unsigned i = 0; i < HARNESS_MAX_CHILDREN; i++)
		if (live_kids[i] > 0) {
			kill(live_kids[i], SIGKILL);
			waitpid(live_kids[i], NULL, 0);
			live_kids[i] = 0;
		}
	if (live_irqd.pid > 0) {
		kill(live_irqd.pid, SIGKILL);
		waitpid(live_irqd.pid, NULL, 0);
		remove_dir(live_irqd.dir);
		live_irqd.pid = 0;
	}
	peer_stop_all();
	return 0;
}

uint64_t mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

const char *build_bin(const char *name)
{
	static char path[PATH_MAX];
	char self[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	assert_true(n > 0);
	self[n] = 0;
	/* BUILD/tests/test_x -> BUILD/bin/NAME */
	snprintf(path, sizeof(path), "%s/../bin/%s", dirname(self), name);
	return path;
}

/* Run irqd as p says; returns once it answers. */
static void irqd_launch(struct irqd_proc *p)
{
	char conf[128], simn[16], bin[PATH_MAX];
	snprintf(conf, sizeof(conf), "%s/irqd.conf", p->dir);
	snprintf(simn, sizeof(simn), "%d", p->sim);
	snprintf(bin, sizeof(bin), "%s", build_bin("irqd"));
	p->pid = fork();
	assert_true(p->pid >= 0);
	if (p->pid == 0) {
		int fd = open(p->log, O_WRONLY | O_CREAT | O_APPEND, 0644);
		dup2(fd, 2);
		char *argv[] = { bin, "--socket", p->sock, "--sim", simn, "--foreground",
				 p->config ? "--config" : NULL, conf, NULL };
		execv(bin, argv);
		_exit(127);
	}
	live_irqd = *p;
	struct irqd_client *c = NULL;
	/* bounded generously: sanitizer builds on a loaded 2-core machine start slowly */
	bool up = WAIT_UNTIL(irqd_connect(p->sock, &c) == 0, 30000);
	if (!up) {
		char buf[512] = "";
		FILE *f = fopen(p->log, "r");
		if (f) {
			size_t n = fread(buf, 1, sizeof(buf) - 1, f);
			buf[n] = 0;
			fclose(f);
		}
		fail_msg("irqd did not come up on %s: %s", p->sock, buf);
	}
	irqd_disconnect(c);
}

void irqd_start(struct irqd_proc *p, int sim, const char *config)
{
	memset(p, 0, sizeof(*p));
	snprintf(p->dir, sizeof(p->dir), "/tmp/irqd-test.XXXXXX");
	assert_non_null(mkdtemp(p->dir));
	chmod(p->dir, 0755);
	snprintf(p->sock, sizeof(p->sock), "%s/irqd.sock", p->dir);
	snprintf(p->log, sizeof(p->log), "%s/irqd.log", p->dir);
	p->sim = sim;
	p->config = config != NULL;
	if (config) {
		char conf[128];
		snprintf(conf, sizeof(conf), "%s/irqd.conf", p->dir);
		FILE *f = fopen(conf, "w");
		assert_non_null(f);
		fputs(config, f);
		fclose(f);
	}
	irqd_launch(p);
}

int irqd_run_config(const char *conf, char *out, size_t len)
{
	char dir[] = "/tmp/irqd-dev.XXXXXX", path[64], sock[64], log[64];
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/irqd.conf", dir);
	snprintf(sock, sizeof(sock), "%s/irqd.sock", dir);
	snprintf(log, sizeof(log), "%s/log", dir);
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs(conf, f);
	fclose(f);
	char bin[4096];
	snprintf(bin, sizeof(bin), "%s", build_bin("irqd"));
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		dup2(fd, 2);
		execl(bin, bin, "--socket", sock, "--foreground", "--config", path, (char *)NULL);
		_exit(127);
	}
	int st;
	assert_int_equal(waitpid(pid, &st, 0), pid);
	f = fopen(log, "r");
	assert_non_null(f);
	size_t n = fread(out, 1, len - 1, f);
	out[n] = 0;
	fclose(f);
	assert_int_not_equal(access(sock, F_OK), 0); /* no socket left behind */
	char cmd[64];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	assert_int_equal(system(cmd), 0);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

void irqd_kill(struct irqd_proc *p)
{
	assert_int_equal(kill(p->pid, SIGKILL), 0);
	assert_int_equal(waitpid(p->pid, NULL, 0), p->pid);
	live_irqd.pid = 0;
	p->pid = 0;
}

void irqd_restart(struct irqd_proc *p)
{
	irqd_launch(p);
}

void irqd_stop(struct irqd_proc *p)
{
	assert_int_equal(kill(p->pid, SIGTERM), 0);
	int st;
	assert_int_equal(waitpid(p->pid, &st, 0), p->pid);
	if (live_irqd.pid == p->pid)
		live_irqd.pid = 0; /* reaped: nothing left for the teardown but the directory */
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		char cmd[256];
		snprintf(cmd, sizeof(cmd), "cat %s >&2", p->log);
		if (system(cmd) < 0)
			(void)0;
		fail_msg("irqd did not exit cleanly: status 0x%x", st);
	}
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", p->dir);
	if (system(cmd) != 0)
		(void)0;
}

struct irqd_client *client(const struct irqd_proc *p)
{
	struct irqd_client *c;
	int r = irqd_connect(p->sock, &c);
	if (r < 0)
		fail_msg("connect: %s", irqd_last_error());
	return c;
}

pid_t spawn(int (*fn)(const struct irqd_proc *, void *), const struct irqd_proc *p, void *arg)
{
	fflush(NULL);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		_exit(fn(p, arg));
	for (unsigned i = 0; i < HARNESS_MAX_CHILDREN; i++)
		if (!live_kids[i]) {
			live_kids[i] = pid;
			return pid;
		}
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	fail_msg("more than %d live children", HARNESS_MAX_CHILDREN);
	return -1;
}

int reap(pid_t pid)
{
	int st;
	pid_t r = waitpid(pid, &st, 0);
	forget_child(pid);
	if (r != pid)
		return -1;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

int reap_within(pid_t pid, int ms)
{
	int st = 0;
	if (!WAIT_UNTIL(waitpid(pid, &st, WNOHANG) == pid, ms)) {
		kill(pid, SIGKILL);
		waitpid(pid, &st, 0);
		forget_child(pid);
		fail_msg("child %d did not finish within %d ms", (int)pid, ms);
	}
	forget_child(pid);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

int run_capture(char *out, size_t len, char *const argv[])
{
	int pfd[2];
	assert_int_equal(pipe(pfd), 0);
	fflush(NULL);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		dup2(pfd[1], 1);
		close(pfd[0]);
		close(pfd[1]); /* only stdout: a daemon the program leaves must not hold the pipe */
		execv(argv[0], argv);
		_exit(127);
	}
	close(pfd[1]);
	size_t n = 0;
	ssize_t r;
	while (n + 1 < len && (r = read(pfd[0], out + n, len - 1 - n)) > 0)
		n += (size_t)r;
	out[n] = 0;
	char sink[4096];
	while (read(pfd[0], sink, sizeof(sink)) > 0)
		;
	close(pfd[0]);
	return reap(pid);
}

struct irqd_line_stats line_stats(struct irqd_client *c, const char *line)
{
	struct irqd_line_stats st;
	int r = irqd_line_stats(c, line, &st);
	if (r < 0)
		fail_msg("stats %s: %s", line, irqd_last_error());
	return st;
}

void signals_counted_once(struct irqd_client *c, const char *line,
			  uint64_t (*take_count)(void *driver), void *driver)
{
	struct irqd_line_stats ls;
	uint64_t counted = 0;
	bool settled = WAIT_UNTIL((counted = take_count(driver), ls = line_stats(c, line),
				   ls.raised == ls.delivered && counted == ls.delivered), 5000);
	if (!settled)
		fail_msg("%s: irqd raised %llu, delivered %llu; the driver counted %llu", line,
			 (unsigned long long)ls.raised, (unsigned long long)ls.delivered,
			 (unsigned long long)counted);
}

struct irqd_simdev *device(struct irqd_client *c, const char *line)
{
	struct irqd_simdev *dev;
	if (irqd_simdev_open(c, line, &dev) < 0)
		fail_msg("simdev %s: %s", line, irqd_last_error());
	return dev;
}

bool unmasked(struct irqd_client *c, const char *line)
{
	return !(line_stats(c, line).flags & IRQD_LINE_MASKED);
}

uint64_t wait_unmasked(struct irqd_client *c, const char *line, int timeout_ms)
{
	if (!WAIT_UNTIL(unmasked(c, line), timeout_ms))
		fail_msg("%s stays masked", line);
	return mono_ns();
}

int count_sessions(struct irqd_client *c)
{
	struct irqd_client_stats st;
	int n = 0;
	for (uint32_t i = 0; irqd_client_stats(c, i, &st) == 0; i = st.index + 1)
		n++;
	return n;
}

void *shared_page(size_t len)
{
	void *m = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	assert_true(m != MAP_FAILED);
	memset(m, 0, len);
	return m;
}

uint64_t xorshift(uint64_t *x)
{
	*x ^= *x << 13;
	*x ^= *x >> 7;
	*x ^= *x << 17;
	return *x;
}

int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

void sun_set(struct sockaddr_un *sa, const char *path)
{
	size_t n = strlen(path);
	if (n >= sizeof(sa->sun_path))
		n = sizeof(sa->sun_path) - 1;
	memcpy(sa->sun_path, path, n);
	sa->sun_path[n] = 0;
}

ssize_t recv_with_fds(int sock, void *buf, size_t len, int *fds, int *nfds, int timeout_ms)
{
	struct pollfd pfd = { .fd = sock, .events = POLLIN };
	int pr;
	do
		pr = poll(&pfd, 1, timeout_ms);
	while (pr < 0 && errno == EINTR);
	if (pr == 0)
		return -ETIMEDOUT;
	if (pr < 0)
		return -errno;
	int own[8], got;
	ssize_t n = unixmsg_recv(sock, buf, len, fds ? fds : own, &got, fds ? 8 : 0, MSG_DONTWAIT);
	if (n >= 0 && nfds)
		*nfds = got;
	return n;
}

void note_error(_Atomic uint64_t *errors, char *err, size_t len, const char *fmt, ...)
{
	if (atomic_fetch_add(errors, 1) == 0) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(err, len, fmt, ap);
		va_end(ap);
	}
}
