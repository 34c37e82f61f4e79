/* harness.c - see harness.h */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

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

void irqd_start(struct irqd_proc *p, int sim, const char *config)
{
	memset(p, 0, sizeof(*p));
	snprintf(p->dir, sizeof(p->dir), "/tmp/irqd-test.XXXXXX");
	assert_non_null(mkdtemp(p->dir));
	chmod(p->dir, 0755);
	snprintf(p->sock, sizeof(p->sock), "%s/irqd.sock", p->dir);
	snprintf(p->log, sizeof(p->log), "%s/irqd.log", p->dir);
	char conf[128] = "", simn[16];
	if (config) {
		snprintf(conf, sizeof(conf), "%s/irqd.conf", p->dir);
		FILE *f = fopen(conf, "w");
		assert_non_null(f);
		fputs(config, f);
		fclose(f);
	}
	snprintf(simn, sizeof(simn), "%d", sim);
	char bin[PATH_MAX];
	snprintf(bin, sizeof(bin), "%s", build_bin("irqd"));
	p->pid = fork();
	assert_true(p->pid >= 0);
	if (p->pid == 0) {
		int fd = open(p->log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		dup2(fd, 2);
		char *argv[] = { bin, "--socket", p->sock, "--sim", simn, "--foreground",
				 config ? "--config" : NULL, conf, NULL };
		execv(bin, argv);
		_exit(127);
	}
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

void irqd_stop(struct irqd_proc *p)
{
	assert_int_equal(kill(p->pid, SIGTERM), 0);
	int st;
	assert_int_equal(waitpid(p->pid, &st, 0), p->pid);
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
	return pid;
}

int reap(pid_t pid)
{
	int st;
	if (waitpid(pid, &st, 0) != pid)
		return -1;
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
