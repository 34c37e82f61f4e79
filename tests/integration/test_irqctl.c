/*
 * test_irqctl.c - the irqctl command line against a real irqd: each command runs as a real
 * process (build/bin/irqctl --socket SOCK ...); its exit status, stdout and stderr are checked.
 * irqctl's contract (irqctl.c): exit status 0 on success; otherwise one line on stderr and a
 * non-zero status.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "sharer.h"

/* ---- a failing test leaves a background irqctl running: the teardown ends it, and (through
 * harness_teardown) the test's irqd ------------------------------------------------------------ */

static pid_t bg_pid; /* a background irqctl, if any */

static char tmux_sock[64];

static int teardown(void **state)
{
	if (tmux_sock[0]) {
		char cmd[128];
		snprintf(cmd, sizeof(cmd), "tmux -L %s kill-server 2>/dev/null", tmux_sock);
		if (system(cmd) < 0)
			(void)0;
	}
	if (bg_pid > 0) {
		kill(bg_pid, SIGKILL);
		waitpid(bg_pid, NULL, 0);
		bg_pid = 0;
	}
	return harness_teardown(state);
}

/* ---- running programs ---------------------------------------------------------------------------- */

struct proc {
	pid_t pid;
	int out, err; /* read ends of its stdout and stderr */
};

static void proc_start(struct proc *pr, char *const argv[])
{
	int o[2], e[2];
	assert_int_equal(pipe2(o, O_CLOEXEC), 0);
	assert_int_equal(pipe2(e, O_CLOEXEC), 0);
	fflush(NULL);
	pr->pid = fork();
	assert_true(pr->pid >= 0);
	if (pr->pid == 0) {
		dup2(o[1], 1);
		dup2(e[1], 2);
		int null = open("/dev/null", O_RDONLY);
		dup2(null, 0);
		execvp(argv[0], argv);
		_exit(127);
	}
	close(o[1]);
	close(e[1]);
	pr->out = o[0];
	pr->err = e[0];
}

/* Read what is available from fd into buf (appending at *n) within timeout_ms; false at EOF. */
static bool drain(int fd, char *buf, size_t len, size_t *n, int timeout_ms)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	if (poll(&pfd, 1, timeout_ms) != 1)
		return true;
	char sink[4096];
	ssize_t r;
	if (*n + 1 < len)
		r = read(fd, buf + *n, len - 1 - *n);
	else
		r = read(fd, sink, sizeof(sink));
	if (r <= 0)
		return false;
	if (*n + 1 < len)
		*n += (size_t)r;
	buf[*n] = 0;
	return true;
}

/* Collect all output until the program exits (at most timeout_ms: then it is killed and the test
 * fails). Returns the exit status. */
static int proc_finish(struct proc *pr, char *out, size_t outlen, size_t *outn, char *err,
		       size_t errlen, int timeout_ms)
{
	size_t en = 0;
	err[0] = 0;
	out[*outn] = 0;
	bool o_open = true, e_open = true;
	uint64_t end = mono_ns() + (uint64_t)timeout_ms * 1000000ull;
	while ((o_open || e_open) && mono_ns() < end) {
		struct pollfd pfd[2] = { { .fd = o_open ? pr->out : -1, .events = POLLIN },
					 { .fd = e_open ? pr->err : -1, .events = POLLIN } };
		if (poll(pfd, 2, 100) <= 0)
			continue;
		if (o_open && pfd[0].revents)
			o_open = drain(pr->out, out, outlen, outn, 0);
		if (e_open && pfd[1].revents)
			e_open = drain(pr->err, err, errlen, &en, 0);
	}
	int st = 0;
	bool done = WAIT_UNTIL(waitpid(pr->pid, &st, WNOHANG) == pr->pid, o_open || e_open ? 0 : 10000);
	close(pr->out);
	close(pr->err);
	if (!done) {
		kill(pr->pid, SIGKILL);
		waitpid(pr->pid, &st, 0);
		fail_msg("%s did not finish within %d ms; stdout so far:\n%s", "program", timeout_ms, out);
	}
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

struct result {
	int status;
	char out[65536];
	char err[4096];
};
static struct result R;

static struct result *run_argv(char *const argv[])
{
	struct proc pr;
	proc_start(&pr, argv);
	size_t n = 0;
	R.status = proc_finish(&pr, R.out, sizeof(R.out), &n, R.err, sizeof(R.err), 30000);
	return &R;
}

static char irqctl_path[PATH_MAX];

/* irqctl --socket SOCK args... (NULL-terminated); sock NULL: no --socket */
static struct result *ctl(const char *sock, ...)
{
	char *argv[32];
	int n = 0;
	argv[n++] = irqctl_path;
	if (sock) {
		argv[n++] = "--socket";
		argv[n++] = (char *)sock;
	}
	va_list ap;
	va_start(ap, sock);
	for (char *a; (a = va_arg(ap, char *)) && n < 31;)
		argv[n++] = a;
	va_end(ap);
	argv[n] = NULL;
	return run_argv(argv);
}

static int count_lines(const char *s)
{
	int n = 0;
	for (; *s; s++)
		n += *s == '\n';
	return n;
}

static void expect_ok_(const struct result *r, int line)
{
	if (r->status != 0 || r->err[0])
		fail_msg("line %d: irqctl exited %d, stderr: %s", line, r->status, r->err);
}
#define expect_ok(r) expect_ok_(r, __LINE__)

/* Non-zero, and exactly one line on stderr, "irqctl: ..." containing needle. */
static void expect_fail_(const struct result *r, const char *needle, int line)
{
	if (r->status == 0 || count_lines(r->err) != 1 || strncmp(r->err, "irqctl: ", 8) ||
	    r->err[strlen(r->err) - 1] != '\n' || !strstr(r->err, needle))
		fail_msg("line %d: expected a failure with one line 'irqctl: ...%s...' on stderr; got "
			 "status %d, stderr:\n%s", line, needle, r->status, r->err);
}
#define expect_fail(r, needle) expect_fail_(r, needle, __LINE__)

/* ---- JSON ----------------------------------------------------------------------------------------- */

/* A small strict validator (RFC 8259 grammar); returns the end of the value or NULL. */
static const char *json_ws(const char *s)
{
	while (*s == ' ' || *s == '\n' || *s == '\t' || *s == '\r')
		s++;
	return s;
}

static const char *json_string(const char *s)
{
	if (*s++ != '"')
		return NULL;
	for (; *s != '"'; s++) {
		if (!*s || (unsigned char)*s < 0x20)
			return NULL;
		if (*s == '\\') {
			s++;
			if (*s == 'u') {
				for (int i = 1; i <= 4; i++)
					if (!strchr("0123456789abcdefABCDEF", s[i]) || !s[i])
						return NULL;
				s += 4;
			} else if (!*s || !strchr("\"\\/bfnrt", *s)) {
				return NULL;
			}
		}
	}
	return s + 1;
}

static const char *json_number(const char *s)
{
	if (*s == '-')
		s++;
	if (*s == '0')
		s++;
	else if (*s >= '1' && *s <= '9')
		while (*s >= '0' && *s <= '9')
			s++;
	else
		return NULL;
	if (*s == '.') {
		if (!(*++s >= '0' && *s <= '9'))
			return NULL;
		while (*s >= '0' && *s <= '9')
			s++;
	}
	if (*s == 'e' || *s == 'E') {
		if (*++s == '+' || *s == '-')
			s++;
		if (!(*s >= '0' && *s <= '9'))
			return NULL;
		while (*s >= '0' && *s <= '9')
			s++;
	}
	return s;
}

static const char *json_value(const char *s, int depth)
{
	if (depth > 64)
		return NULL;
	s = json_ws(s);
	if (*s == '{' || *s == '[') {
		char close = *s == '{' ? '}' : ']';
		s = json_ws(s + 1);
		if (*s == close)
			return s + 1;
		for (;;) {
			if (close == '}') {
				if (!(s = json_string(json_ws(s))))
					return NULL;
				s = json_ws(s);
				if (*s++ != ':')
					return NULL;
			}
			if (!(s = json_value(s, depth + 1)))
				return NULL;
			s = json_ws(s);
			if (*s == close)
				return s + 1;
			if (*s++ != ',')
				return NULL;
		}
	}
	if (*s == '"')
		return json_string(s);
	if (!strncmp(s, "true", 4))
		return s + 4;
	if (!strncmp(s, "false", 5))
		return s + 5;
	if (!strncmp(s, "null", 4))
		return s + 4;
	return json_number(s);
}

static bool json_valid(const char *s)
{
	s = json_value(s, 0);
	return s && !*json_ws(s);
}

/* Also with python3's json module, when there is a python3. */
static void python_json_check(const char *text, const char *dir, const char *script)
{
	char path[256];
	snprintf(path, sizeof(path), "%s/out.json", dir);
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	char *argv[] = { "python3", "-c", (char *)script, path, NULL };
	struct result *r = run_argv(argv);
	if (r->status == 127) {
		printf("  (no python3: JSON checked by the built-in validator only)\n");
		return;
	}
	if (r->status != 0)
		fail_msg("python3 rejected the JSON: %s\n%s", r->err, text);
}

/* ---- tests ----------------------------------------------------------------------------------------- */

static void test_lines(void **state)
{
	(void)state;
	struct irqd_proc p;
	irqd_start(&p, 4, NULL);
	struct irqd_client *c = client(&p);
	uint32_t h;
	assert_int_equal(irqd_attach(c, "sim2", IRQD_ATTACH_EXCLUSIVE, NULL, &h), 0);

	struct result *r = ctl(p.sock, "lines", NULL);
	expect_ok(r);
	assert_int_equal(count_lines(r->out), 5);
	char *save, *row = strtok_r(r->out, "\n", &save);
	char f[7][32];
	assert_int_equal(sscanf(row, "%31s %31s %31s %31s %31s %31s %31s", f[0], f[1], f[2], f[3],
				f[4], f[6], f[5]), 7);
	assert_string_equal(f[0], "ID");
	assert_string_equal(f[1], "NAME");
	assert_string_equal(f[4], "SHARERS");
	assert_string_equal(f[6], "TOTAL");
	for (int i = 0; i < 4; i++) {
		row = strtok_r(NULL, "\n", &save);
		assert_non_null(row);
		unsigned id, sharers, total;
		assert_int_equal(sscanf(row, "%u %31s %31s %31s %u %u %31s", &id, f[1], f[2], f[3],
					&sharers, &total, f[5]), 7);
		assert_int_equal(total, 0);
		char name[16];
		snprintf(name, sizeof(name), "sim%d", i);
		assert_int_equal(id, i);
		assert_string_equal(f[1], name);
		assert_string_equal(f[2], "sim");
		assert_string_equal(f[3], "level");
		assert_int_equal(sharers, i == 2 ? 1 : 0);
		assert_string_equal(f[5], i == 2 ? "exclusive" : "-");
	}
	irqd_disconnect(c);
	irqd_stop(&p);
}

static void test_stats_json(void **state)
{
	(void)state;
	struct irqd_proc p;
	irqd_start(&p, 2, "line sim0 trigger=edge\n");
	expect_ok(ctl(p.sock, "raise", "sim0", "--count", "5", NULL));

	struct result *r = ctl(p.sock, "stats", "--json", NULL);
	expect_ok(r);
	if (!json_valid(r->out))
		fail_msg("stats --json is not valid JSON:\n%s", r->out);
	/* nobody was attached: five events raised, five dropped, on sim0 only */
	assert_non_null(strstr(r->out, "{\"id\":0,\"name\":\"sim0\",\"trigger\":\"edge\",\"raised\":5,"
				       "\"delivered\":0,"));
	assert_non_null(strstr(r->out, "\"dropped\":5,"));
	assert_non_null(strstr(r->out, "{\"id\":1,\"name\":\"sim1\",\"trigger\":\"level\",\"raised\":0,"));
	assert_non_null(strstr(r->out, "],\"clients\":[{\"pid\":"));
	char out[sizeof(R.out)];
	snprintf(out, sizeof(out), "%s", r->out);
	python_json_check(out, p.dir,
			  "import json,sys\n"
			  "d = json.load(open(sys.argv[1]))\n"
			  "l = {x['name']: x for x in d['lines']}\n"
			  "assert sorted(l) == ['sim0', 'sim1'], l\n"
			  "assert l['sim0']['raised'] == 5 and l['sim0']['dropped'] == 5, l\n"
			  "assert l['sim0']['delivered'] == 0 and l['sim0']['masked'] is False, l\n"
			  "assert l['sim1']['raised'] == 0, l\n"
			  "assert len(d['clients']) == 1, d['clients']\n"
			  "assert d['clients'][0]['requests'] > 0, d['clients']\n");

	/* the same counts in the table */
	r = ctl(p.sock, "stats", NULL);
	expect_ok(r);
	char *row = strstr(r->out, "\nsim0 ");
	assert_non_null(row);
	char name[16], trig[16];
	unsigned long long raised, delivered;
	assert_int_equal(sscanf(row + 1, "%15s %15s %llu %llu", name, trig, &raised, &delivered), 4);
	assert_string_equal(trig, "edge");
	assert_int_equal(raised, 5);
	assert_int_equal(delivered, 0);
	irqd_stop(&p);
}

/* Requests irqd has served for the client with this pid (0 if it has no session). */
static uint64_t requests_of(struct irqd_client *c, pid_t pid)
{
	struct irqd_client_stats cs;
	for (uint32_t i = 0; irqd_client_stats(c, i, &cs) == 0; i = cs.index + 1)
		if (cs.pid == (uint32_t)pid)
			return cs.requests;
	return 0;
}

/* Sum of the CSV counts of rows that start with `prefix`. */
static uint64_t csv_sum(const char *path, const char *prefix)
{
	FILE *f = fopen(path, "r");
	assert_non_null(f);
	char line[256];
	uint64_t sum = 0;
	assert_non_null(fgets(line, sizeof(line), f));
	assert_string_equal(line, "who,pid,handle,stage,low_ns,high_ns,count\n");
	while (fgets(line, sizeof(line), f)) {
		unsigned long long lo, hi, n;
		const char *tail = strrchr(line, ',');
		if (strncmp(line, prefix, strlen(prefix)))
			continue;
		assert_int_equal(sscanf(line + strlen(prefix), "%llu,%llu,%llu", &lo, &hi, &n), 3);
		assert_true(lo < hi && n > 0 && tail);
		sum += n;
	}
	fclose(f);
	return sum;
}

/* `irqctl profile`: a window opened before the device raises and closed after every batch was
 * handled holds exactly those batches, in the table, the CSV, the JSON; the SVG is a drawing. */
static void test_profile(void **state)
{
	(void)state;
	enum { N = 300 };
	struct irqd_proc p;
	irqd_start(&p, 2, "line sim1 trigger=edge\n");
	struct irqd_client *c = client(&p);
	struct irqd_simdev *dev = device(c, "sim1");
	uint32_t h;
	assert_int_equal(irqd_attach(c, "sim1", IRQD_ATTACH_EXCLUSIVE, NULL, &h), 0);
	char svg[256], json[256], csv[256];
	snprintf(svg, sizeof(svg), "%s/p.svg", p.dir);
	snprintf(json, sizeof(json), "%s/p.json", p.dir);
	snprintf(csv, sizeof(csv), "%s/p.csv", p.dir);
	char *argv[] = { irqctl_path, "--socket", p.sock, "profile", "sim1", "--seconds", "5",
			 "--svg", svg, "--json", json, "--csv", csv, NULL };
	struct proc pr;
	proc_start(&pr, argv);
	bg_pid = pr.pid;
	/* HELLO, START and the first READ done: the window is open */
	assert_true(WAIT_UNTIL(requests_of(c, pr.pid) >= 3, 20000));
	for (int i = 0; i < N; i++)
		assert_int_equal(irqd_simdev_raise(dev, 1), 0);
	uint64_t events = 0, batches = 0;
	while (events < N) {
		struct irqd_event ev[16];
		int n = irqd_wait(c, ev, 16, 10000);
		assert_true(n > 0);
		for (int i = 0; i < n; i++, batches++)
			events += ev[i].count;
	}
	assert_int_equal(events, N);
	if (waitpid(pr.pid, NULL, WNOHANG) != 0)
		fail_msg("the profile window closed before the events were handled: not a measurement");
	size_t on = 0;
	R.status = proc_finish(&pr, R.out, sizeof(R.out), &on, R.err, sizeof(R.err), 30000);
	bg_pid = 0;
	expect_ok(&R);

	/* the table: a row per stage with samples, the line's and the attachment's */
	char *row = strstr(R.out, "\nline             raise-to-delivery");
	assert_non_null(row);
	unsigned long long count;
	double p50, p90, p99, p999, max;
	assert_int_equal(sscanf(row + 1, "line raise-to-delivery %llu %lf %lf %lf %lf %lf", &count,
				&p50, &p90, &p99, &p999, &max), 6);
	assert_int_equal(count, batches);
	assert_true(p50 <= p90 && p90 <= p99 && p99 <= p999 && p999 <= max);
	row = strstr(R.out, "\nline             delivery-to-handler");
	assert_non_null(row);
	assert_int_equal(sscanf(row + 1, "line delivery-to-handler %llu", &count), 1);
	assert_int_equal(count, batches);
	assert_null(strstr(R.out, "delivery-to-answer"));   /* an edge line has no answers */
	char who[64];
	snprintf(who, sizeof(who), "\npid %d h%u ", (int)getpid(), h);
	assert_non_null(strstr(R.out, who));

	/* the CSV: raw buckets adding up to the same counts */
	assert_int_equal(csv_sum(csv, "line,0,0,raise-to-delivery,"), batches);
	assert_int_equal(csv_sum(csv, "line,0,0,delivery-to-handler,"), batches);
	char prefix[96];
	snprintf(prefix, sizeof(prefix), "attachment,%d,%u,raise-to-delivery,", (int)getpid(), h);
	assert_int_equal(csv_sum(csv, prefix), batches);

	/* the JSON, with its buckets; the SVG, a document that draws the stages */
	FILE *f = fopen(json, "r");
	assert_non_null(f);
	static char text[1 << 20];
	size_t n = fread(text, 1, sizeof(text) - 1, f);
	fclose(f);
	text[n] = 0;
	if (!json_valid(text))
		fail_msg("profile JSON is not valid:\n%.2000s", text);
	char script[1024];
	snprintf(script, sizeof(script),
		 "import json,sys\n"
		 "d = json.load(open(sys.argv[1]))\n"
		 "assert d['line'] == 'sim1' and d['raised'] >= %d, d['raised']\n"
		 "line = d['sets'][0]\n"
		 "assert line['who'] == 'line'\n"
		 "s = line['stages']['raise-to-delivery']\n"
		 "assert s['count'] == %llu, s\n"
		 "assert s['p50_us'] <= s['p90_us'] <= s['p99_us'] <= s['p99.9_us'] <= s['max_us'], s\n"
		 "raw = line['raw']['raise-to-delivery']\n"
		 "assert sum(b[2] for b in raw['buckets']) == %llu\n"
		 "assert all(b[0] < b[1] for b in raw['buckets'])\n"
		 "assert d['sets'][1]['pid'] == %d\n",
		 N, (unsigned long long)batches, (unsigned long long)batches, (int)getpid());
	python_json_check(text, p.dir, script);
	char *xml[] = { "python3", "-c",
			"import sys, xml.dom.minidom as m\n"
			"d = m.parse(sys.argv[1])\n"
			"t = ' '.join(x.firstChild.data for x in d.getElementsByTagName('text') if x.firstChild)\n"
			"assert 'raise-to-delivery' in t and 'latency (us' in t, t\n"
			"assert len(d.getElementsByTagName('polyline')) == 2\n",
			svg, NULL };
	struct result *r = run_argv(xml);
	if (r->status != 0 && r->status != 127)
		fail_msg("the SVG is not what it should be: %s", r->err);

	/* a line nobody may read, and a file irqctl cannot write: one line on stderr, status 1 */
	expect_fail(ctl(p.sock, "profile", "nosuch", "--seconds", "0.1", NULL), "no line named");
	expect_fail(ctl(p.sock, "profile", "sim1", "--seconds", "0.1", "--csv", "/nonexistent/x.csv",
			NULL),
		    "/nonexistent/x.csv");
	irqd_simdev_close(dev);
	irqd_disconnect(c);
	irqd_stop(&p);
}

/* `profile on`: every line is profiled from the start, and `stats --json` carries percentiles
 * per stage, and irqd's own CPU time. */
static void test_stats_json_latency(void **state)
{
	(void)state;
	struct irqd_proc p;
	irqd_start(&p, 2, "profile on\nline sim0 trigger=edge\n");
	struct irqd_client *c = client(&p);
	struct irqd_simdev *dev = device(c, "sim0");
	uint32_t h;
	assert_int_equal(irqd_attach(c, "sim0", IRQD_ATTACH_EXCLUSIVE, NULL, &h), 0);
	uint64_t batches = 0;
	for (int i = 0; i < 20; i++) {
		assert_int_equal(irqd_simdev_raise(dev, 1), 0);
		struct irqd_event ev;
		assert_int_equal(irqd_wait(c, &ev, 1, 10000), 1);
		batches++;
	}
	struct result *r = ctl(p.sock, "stats", "--json", NULL);
	expect_ok(r);
	if (!json_valid(r->out))
		fail_msg("stats --json is not valid JSON:\n%s", r->out);
	char out[sizeof(R.out)], script[1024];
	snprintf(out, sizeof(out), "%s", r->out);
	snprintf(script, sizeof(script),
		 "import json,sys\n"
		 "d = json.load(open(sys.argv[1]))\n"
		 "l = {x['name']: x for x in d['lines']}\n"
		 "s = l['sim0']['latency']['raise-to-delivery']\n"
		 "assert s['count'] == %llu, s\n"
		 "assert 0 <= s['min_us'] <= s['p50_us'] <= s['p99_us'] <= s['max_us'], s\n"
		 "assert l['sim0']['latency']['delivery-to-handler']['count'] == %llu\n"
		 "assert l['sim1']['latency']['raise-to-delivery'] == {'count': 0}, l['sim1']\n"
		 "assert d['server']['profiled_lines'] == 2, d['server']\n"
		 "assert d['server']['cpu_delivery_ns'] > 0 and d['server']['cpu_control_ns'] > 0\n",
		 (unsigned long long)batches, (unsigned long long)batches);
	python_json_check(out, p.dir, script);
	irqd_simdev_close(dev);
	irqd_disconnect(c);
	irqd_stop(&p);
}

/* ---- irqctl top in a terminal (tmux) ------------------------------------------------------ */

static struct result *tmux(const char *a1, const char *a2, const char *a3, const char *a4)
{
	char *argv[] = { "tmux", "-L", tmux_sock, (char *)a1, (char *)a2, (char *)a3, (char *)a4,
			 NULL };
	return run_argv(argv);
}

/* The screen's text, or NULL when the session is gone. */
static const char *screen(void)
{
	struct result *r = tmux("capture-pane", "-p", "-t", "top");
	return r->status == 0 ? r->out : NULL;
}

/* The first table row's line name (after the "LINE" heading). */
static bool first_row_is(const char *s, const char *name)
{
	const char *h = s ? strstr(s, "\nLINE ") : NULL;
	const char *row = h ? strchr(h + 1, '\n') : NULL;
	return row && !strncmp(row + 1, name, strlen(name)) && row[1 + strlen(name)] == ' ';
}

static void test_top_tmux(void **state)
{
	(void)state;
	char *probe[] = { "tmux", "-V", NULL };
	if (run_argv(probe)->status != 0)
		fail_msg("tmux is not installed (scripts/install-deps installs it)");
	struct irqd_proc p;
	irqd_start(&p, 3, "line sim1 trigger=edge\n");
	snprintf(tmux_sock, sizeof(tmux_sock), "irqd-test-%d", (int)getpid());
	struct raiser rs = { .line = "sim1", .n = 100000000, .gap_ns = 1000000 };
	pid_t raiser = spawn(raiser_main, &p, &rs);
	char cmd[PATH_MAX + 256];
	snprintf(cmd, sizeof(cmd), "IRQD_SOCKET=%s %s top --interval 0.3", p.sock, irqctl_path);
	char *start[] = { "tmux", "-L", tmux_sock, "new-session", "-d", "-s", "top", "-x", "120",
			  "-y", "30", cmd, NULL };
	expect_ok(run_argv(start));
	const char *s;
	/* sorted by rate: the raised line first, with its rate, its p99 measured */
	if (!WAIT_UNTIL((s = screen()) && strstr(s, "sort: rate") && first_row_is(s, "sim1") &&
				strstr(s, "keys: r rate"),
			20000))
		fail_msg("top did not show sim1 first by rate:\n%s", s ? s : "(no screen)");
	unsigned rate = 0;
	char name[32], trig[16];
	const char *row = strchr(strstr(s, "\nLINE ") + 1, '\n') + 1;
	assert_int_equal(sscanf(row, "%31s %15s %u", name, trig, &rate), 3);
	assert_string_equal(trig, "edge");
	assert_true(rate > 0);
	/* 'n': sorted by name */
	expect_ok(tmux("send-keys", "-t", "top", "n"));
	if (!WAIT_UNTIL((s = screen()) && strstr(s, "sort: name") && first_row_is(s, "sim0"), 10000))
		fail_msg("top did not sort by name:\n%s", s ? s : "(no screen)");
	/* 'q': quits, the terminal's screen restored and the session ends with it */
	expect_ok(tmux("send-keys", "-t", "top", "q"));
	assert_true(WAIT_UNTIL(tmux("has-session", "-t", "top", NULL)->status != 0, 10000));
	tmux("kill-server", NULL, NULL, NULL);
	kill(raiser, SIGTERM);
	reap(raiser);
	irqd_stop(&p);
}

/* Not a terminal: plain tables, --count of them. */
static void test_top_plain(void **state)
{
	(void)state;
	struct irqd_proc p;
	irqd_start(&p, 2, NULL);
	struct result *r = ctl(p.sock, "top", "--interval", "0.2", "--count", "3", NULL);
	expect_ok(r);
	int tables = 0;
	for (const char *t = r->out; (t = strstr(t, "\nLINE ")); t++)
		tables++;
	assert_int_equal(tables, 3);
	assert_non_null(strstr(r->out, "sort: rate"));
	assert_null(strstr(r->out, "\033["));   /* no terminal control */
	/* lines like lsirq: --noheadings and --json */
	r = ctl(p.sock, "lines", "--noheadings", NULL);
	expect_ok(r);
	assert_int_equal(count_lines(r->out), 2);
	assert_true(!strncmp(r->out, "0 ", 2));
	r = ctl(p.sock, "lines", "--json", NULL);
	expect_ok(r);
	if (!json_valid(r->out))
		fail_msg("lines --json is not valid JSON:\n%s", r->out);
	assert_non_null(strstr(r->out, "{\"id\":1,\"name\":\"sim1\",\"source\":\"sim\""));
	irqd_stop(&p);
}

/* Read rows from a background watch until it has printed `rows` lines (bounded). */
static void read_until_lines(int fd, char *buf, size_t len, size_t *n, int lines)
{
	uint64_t end = mono_ns() + 20000000000ull;
	while (count_lines(buf) < lines && mono_ns() < end)
		if (!drain(fd, buf, len, n, 100))
			break;
	if (count_lines(buf) < lines)
		fail_msg("watch printed %d lines, expected %d:\n%s", count_lines(buf), lines, buf);
}

static void test_watch(void **state)
{
	(void)state;
	struct irqd_proc p;
	irqd_start(&p, 2, NULL);
	struct irqd_client *c = client(&p);

	char *argv[] = { irqctl_path, "--socket", p.sock, "watch", "sim0", "--count", "3", NULL };
	struct proc w;
	proc_start(&w, argv);
	bg_pid = w.pid;
	assert_true(WAIT_UNTIL(line_stats(c, "sim0").attachments == 1, 10000));
	/* its header comes after it opened the device, so it is ready to service it */
	static char out[65536];
	size_t n = 0;
	out[0] = 0;
	read_until_lines(w.out, out, sizeof(out), &n, 1);
	assert_int_equal(strncmp(out, "     SEQ LINE ", 14), 0);

	/* One level occurrence at a time: a burst raised while the line is masked is serviced as
	 * one occurrence (the device batches), and watch counts occurrences. */
	for (int k = 1; k <= 3; k++) {
		expect_ok(ctl(p.sock, "raise", "sim0", NULL));
		assert_true(WAIT_UNTIL(line_stats(c, "sim0").handled == (uint64_t)k &&
					       !(line_stats(c, "sim0").flags & IRQD_LINE_MASKED),
				       10000));
	}
	char err[4096];
	int st = proc_finish(&w, out, sizeof(out), &n, err, sizeof(err), 20000);
	bg_pid = 0;
	if (st != 0 || err[0])
		fail_msg("watch exited %d: %s", st, err);
	assert_int_equal(count_lines(out), 4);
	char *save, *row = strtok_r(out, "\n", &save);
	for (int k = 1; k <= 3; k++) {
		row = strtok_r(NULL, "\n", &save);
		unsigned long long seq, count, occ;
		char line[32], ans[32];
		double d1, d2;
		assert_int_equal(sscanf(row, "%llu %31s %llu %llu %lf %lf %31s", &seq, line, &count, &occ,
					&d1, &d2, ans), 7);
		assert_int_equal(seq, k);
		assert_string_equal(line, "sim0");
		assert_int_equal(count, 1);
		assert_int_equal(occ, k);
		assert_string_equal(ans, "handled");
		assert_true(d1 >= 0 && d2 >= d1);
	}
	struct irqd_line_stats ls = line_stats(c, "sim0");
	assert_int_equal(ls.raised, 3);
	assert_int_equal(ls.handled, 3);
	assert_int_equal(ls.unhandled, 0);
	assert_true(WAIT_UNTIL(line_stats(c, "sim0").attachments == 0, 10000));
	irqd_disconnect(c);
	irqd_stop(&p);
}

/* Two watchers sharing a level line (what `make demo` shows): each sees every occurrence and
 * both reach their --count, whichever of them serviced the device. */
static void test_watch_shared(void **state)
{
	(void)state;
	struct irqd_proc p;
	irqd_start(&p, 1, NULL);
	struct irqd_client *c = client(&p);
	char *argv[] = { irqctl_path, "--socket", p.sock, "watch", "sim0", "--shared", "--count", "5",
			 NULL };
	struct proc w[2];
	for (int i = 0; i < 2; i++)
		proc_start(&w[i], argv);
	bg_pid = w[0].pid;
	assert_true(WAIT_UNTIL(line_stats(c, "sim0").attachments == 2, 10000));
	for (uint64_t k = 1; k <= 5; k++) {
		expect_ok(ctl(p.sock, "raise", "sim0", NULL));
		assert_true(WAIT_UNTIL(line_stats(c, "sim0").handled == k &&
					       !(line_stats(c, "sim0").flags & IRQD_LINE_MASKED),
				       10000));
	}
	static char out[2][65536];
	for (int i = 0; i < 2; i++) {
		size_t n = 0;
		char err[4096];
		int st = proc_finish(&w[i], out[i], sizeof(out[i]), &n, err, sizeof(err), 20000);
		if (st != 0 || err[0])
			fail_msg("watcher %d exited %d: %s", i, st, err);
		assert_int_equal(count_lines(out[i]), 1 + 5);
	}
	bg_pid = 0;
	struct irqd_line_stats ls = line_stats(c, "sim0");
	assert_int_equal(ls.handled, 5);
	assert_int_equal(ls.not_mine, 5);
	irqd_disconnect(c);
	irqd_stop(&p);
}

/* On an edge line `raise --count 3` is three events: watch --count 3 sees exactly three (in one
 * to three notifications) and exits. */
static void test_watch_edge_burst(void **state)
{
	(void)state;
	struct irqd_proc p;
	irqd_start(&p, 2, "line sim1 trigger=edge\n");
	struct irqd_client *c = client(&p);
	char *argv[] = { irqctl_path, "--socket", p.sock, "watch", "sim1", "--count", "3", NULL };
	struct proc w;
	proc_start(&w, argv);
	bg_pid = w.pid;
	static char out[65536];
	size_t n = 0;
	out[0] = 0;
	read_until_lines(w.out, out, sizeof(out), &n, 1);
	assert_int_equal(line_stats(c, "sim1").attachments, 1);
	expect_ok(ctl(p.sock, "raise", "sim1", "--count", "3", NULL));
	char err[4096];
	int st = proc_finish(&w, out, sizeof(out), &n, err, sizeof(err), 20000);
	bg_pid = 0;
	if (st != 0 || err[0])
		fail_msg("watch exited %d: %s", st, err);
	int rows = count_lines(out) - 1;
	assert_true(rows >= 1 && rows <= 3);
	unsigned long long total = 0;
	char *save, *row = strtok_r(out, "\n", &save);
	for (int k = 1; k <= rows; k++) {
		row = strtok_r(NULL, "\n", &save);
		unsigned long long seq, count, occ;
		char line[32], ans[32];
		double d1, d2;
		assert_int_equal(sscanf(row, "%llu %31s %llu %llu %lf %lf %31s", &seq, line, &count, &occ,
					&d1, &d2, ans), 7);
		assert_int_equal(seq, k);
		assert_int_equal(occ, 0);
		assert_string_equal(ans, "-");
		total += count;
	}
	assert_int_equal(total, 3);
	struct irqd_line_stats ls = line_stats(c, "sim1");
	assert_int_equal(ls.raised, 3);
	assert_int_equal(ls.delivered, 3);
	irqd_disconnect(c);
	irqd_stop(&p);
}

static void test_coalesce_enable(void **state)
{
	(void)state;
	struct irqd_proc p;
	irqd_start(&p, 2, NULL);
	expect_ok(ctl(p.sock, "coalesce", "sim1", "--usecs", "50", "--frames", "8", NULL));
	expect_ok(ctl(p.sock, "coalesce", "sim1", "--adaptive", "on", NULL));
	expect_ok(ctl(p.sock, "coalesce", "sim1", "--usecs", "1000000", NULL));
	struct result *r = ctl(p.sock, "coalesce", "sim1", "--usecs", "99999999", NULL);
	expect_fail(r, "irqctl: sim1: coalescing out of range");
	assert_int_equal(r->out[0], 0);
	expect_fail(ctl(p.sock, "coalesce", "sim1", "--frames", "65537", NULL), "out of range");
	expect_fail(ctl(p.sock, "coalesce", "sim1", "--usecs", "5000000000", NULL), "too large");
	expect_fail(ctl(p.sock, "coalesce", "sim1", "--usecs", "-5", NULL), "bad option '--usecs'");
	expect_fail(ctl(p.sock, "coalesce", "sim1", "--adaptive", "maybe", NULL),
		    "bad option '--adaptive'");
	expect_ok(ctl(p.sock, "enable", "sim0", NULL));
	expect_ok(ctl(p.sock, "enable", "#1", NULL));
	struct irqd_client *c = client(&p);
	assert_int_equal(line_stats(c, "sim0").flags & IRQD_LINE_DISABLED, 0);
	irqd_disconnect(c);
	irqd_stop(&p);
}

static void test_errors(void **state)
{
	(void)state;
	struct irqd_proc p;
	irqd_start(&p, 2, NULL);
	/* unknown command */
	expect_fail(ctl(p.sock, "frobnicate", NULL), "frobnicate");
	expect_fail(ctl(p.sock, "frobnicate", "sim0", NULL), "");
	/* a command that needs a line, without one */
	const char *need[] = { "watch", "raise", "coalesce", "enable" };
	for (unsigned i = 0; i < 4; i++) {
		struct result *r = ctl(p.sock, need[i], NULL);
		expect_fail(r, need[i]);
		assert_int_equal(r->out[0], 0);
	}
	/* a line irqd does not have */
	expect_fail(ctl(p.sock, "raise", "nosuch", NULL), "irqctl: nosuch: no line named 'nosuch'");
	expect_fail(ctl(p.sock, "enable", "nosuch", NULL), "no line named 'nosuch'");
	expect_fail(ctl(p.sock, "watch", "nosuch", "--count", "1", NULL), "no line named 'nosuch'");
	expect_fail(ctl(p.sock, "coalesce", "nosuch", "--usecs", "5", NULL),
		    "no line named 'nosuch'");
	expect_fail(ctl(p.sock, "enable", "#77", NULL), "no line with id 77");
	/* bad options */
	expect_fail(ctl(p.sock, "lines", "--bogus", NULL), "bad option '--bogus'");
	expect_fail(ctl(p.sock, "raise", "sim0", "--count", NULL), "missing value");
	/* nothing of that reached a line */
	struct irqd_client *c = client(&p);
	assert_int_equal(line_stats(c, "sim0").raised, 0);
	irqd_disconnect(c);
	irqd_stop(&p);
}

static int sysfs_pci_functions(void)
{
	DIR *d = opendir("/sys/bus/pci/devices");
	if (!d)
		return -1;
	int n = 0;
	for (struct dirent *e; (e = readdir(d));)
		n += e->d_name[0] != '.';
	closedir(d);
	return n;
}

static void test_pci(void **state)
{
	(void)state;
	int functions = sysfs_pci_functions();
	assert_true(functions > 0); /* the machine has PCI devices */
	struct result *r = ctl(NULL, "pci", NULL);
	expect_ok(r);
	char h[8][32];
	assert_int_equal(sscanf(r->out, "%31s %31s %31s %31s %31s %31s %31s %31s", h[0], h[1], h[2],
				h[3], h[4], h[5], h[6], h[7]), 8);
	const char *want[] = { "DEVICE", "VENDOR:DEV", "CLASS", "PIN", "LINE", "MSI", "MSI-X", "DRIVER" };
	for (int i = 0; i < 8; i++)
		assert_string_equal(h[i], want[i]);
	assert_int_equal(count_lines(r->out), 1 + functions);
	/* every row names a function in domain:bus:dev.fn form */
	char *save, *row = strtok_r(r->out, "\n", &save);
	while ((row = strtok_r(NULL, "\n", &save))) {
		unsigned dom, bus, dev, fn;
		assert_int_equal(sscanf(row, "%4x:%2x:%2x.%1x", &dom, &bus, &dev, &fn), 4);
	}

	r = ctl(NULL, "pci", "--json", NULL);
	expect_ok(r);
	if (!json_valid(r->out))
		fail_msg("pci --json is not valid JSON:\n%s", r->out);
	int objects = 0;
	for (const char *s = r->out; (s = strstr(s, "{\"device\": \"")); s++)
		objects++;
	assert_int_equal(objects, functions);
	char out[sizeof(R.out)];
	snprintf(out, sizeof(out), "%s", r->out);
	char script[256];
	snprintf(script, sizeof(script),
		 "import json,sys\n"
		 "d = json.load(open(sys.argv[1]))\n"
		 "assert isinstance(d, list) and len(d) == %d, d\n"
		 "assert all(len(x['device']) == 12 for x in d), d\n",
		 functions);
	python_json_check(out, "/tmp", script);
}

static void test_no_server(void **state)
{
	(void)state;
	char dir[] = "/tmp/irqctl-test.XXXXXX";
	assert_non_null(mkdtemp(dir));
	char path[128], want[256];
	/* no socket at all */
	snprintf(path, sizeof(path), "%s/none.sock", dir);
	struct result *r = ctl(path, "lines", NULL);
	snprintf(want, sizeof(want), "irqctl: connect: irqd: cannot connect to %s: No such file", path);
	expect_fail(r, want);
	assert_int_equal(r->out[0], 0);
	/* a stale socket: bound once, nobody listens */
	snprintf(path, sizeof(path), "%s/stale.sock", dir);
	int s = socket(AF_UNIX, SOCK_SEQPACKET, 0);
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	assert_true(strlen(path) < sizeof(sa.sun_path));
	memcpy(sa.sun_path, path, strlen(path) + 1);
	assert_int_equal(bind(s, (struct sockaddr *)&sa, sizeof(sa)), 0);
	close(s);
	r = ctl(path, "stats", NULL);
	snprintf(want, sizeof(want), "irqctl: connect: irqd: cannot connect to %s: Connection refused",
		 path);
	expect_fail(r, want);
	expect_fail(ctl(path, "raise", "sim0", NULL), "Connection refused");
	/* $IRQD_SOCKET is used when --socket is not given */
	setenv(IRQD_SOCKET_ENV, path, 1);
	expect_fail(ctl(NULL, "lines", NULL), "Connection refused");
	unsetenv(IRQD_SOCKET_ENV);
	unlink(path);
	rmdir(dir);
}

int main(void)
{
	snprintf(irqctl_path, sizeof(irqctl_path), "%s", build_bin("irqctl"));
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_lines, teardown),
		cmocka_unit_test_teardown(test_stats_json, teardown),
		cmocka_unit_test_teardown(test_profile, teardown),
		cmocka_unit_test_teardown(test_stats_json_latency, teardown),
		cmocka_unit_test_teardown(test_top_tmux, teardown),
		cmocka_unit_test_teardown(test_top_plain, teardown),
		cmocka_unit_test_teardown(test_watch, teardown),
		cmocka_unit_test_teardown(test_watch_shared, teardown),
		cmocka_unit_test_teardown(test_watch_edge_burst, teardown),
		cmocka_unit_test_teardown(test_coalesce_enable, teardown),
		cmocka_unit_test_teardown(test_errors, teardown),
		cmocka_unit_test_teardown(test_pci, teardown),
		cmocka_unit_test_teardown(test_no_server, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
