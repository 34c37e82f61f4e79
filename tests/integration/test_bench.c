/*
 * test_bench.c - bench_irqd as a process (BUILD/bench/bench_irqd with BUILD/bin/irqd): a
 * selection that names no row is refused with the list of rows; a selection of throughput rows
 * only runs (it used to divide by zero shuffling no latency row); a short real run prints its
 * row and writes results.json; and no run leaves an irqd or its files behind.
 */
#include <dirent.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"

static char out_dir[] = "/tmp/irqd-test-bench.XXXXXX";

/* What a run of bench_irqd left in /tmp (its irqd's directories) and in the process table
 * (an irqd serving one of them); end: kill those irqds, so that a failed test leaves none. */
static int leftovers(bool end)
{
	int n = 0;
	DIR *d = opendir("/tmp");
	assert_non_null(d);
	for (struct dirent *e; (e = readdir(d));)
		n += !strncmp(e->d_name, "irqd-bench.", 11);
	closedir(d);
	d = opendir("/proc");
	assert_non_null(d);
	for (struct dirent *e; (e = readdir(d));) {
		char path[300], cmd[512];
		snprintf(path, sizeof(path), "/proc/%s/cmdline", e->d_name);
		FILE *f = fopen(path, "r");
		if (!f)
			continue;
		size_t len = fread(cmd, 1, sizeof(cmd) - 1, f);
		fclose(f);
		for (size_t i = 0; i < len; i++)
			cmd[i] = cmd[i] ? cmd[i] : ' ';
		cmd[len] = 0;
		if (strstr(cmd, "--socket /tmp/irqd-bench.")) {
			n++;
			if (end)
				kill(atoi(e->d_name), SIGKILL);
		}
	}
	closedir(d);
	return n;
}

/* Runs bench_irqd with these arguments; its stdout and stderr in out, its exit status back.
 * They go through a file: an irqd the run left behind would keep a pipe open for ever. */
static int bench(char *out, size_t len, const char *args)
{
	char bin[PATH_MAX], irqd[PATH_MAX], log[PATH_MAX], cmd[4 * PATH_MAX];
	snprintf(bin, sizeof(bin), "%s", build_bin("../bench/bench_irqd"));
	snprintf(irqd, sizeof(irqd), "%s", build_bin("irqd"));
	snprintf(log, sizeof(log), "%s/log", out_dir);
	snprintf(cmd, sizeof(cmd), "%s --irqd %s --out %s %s >%s 2>&1", bin, irqd, out_dir, args, log);
	char *argv[] = { "/bin/sh", "-c", cmd, NULL };
	int before = leftovers(false);
	char none[8];
	int st = run_capture(none, sizeof(none), argv);
	FILE *f = fopen(log, "r");
	assert_non_null(f);
	out[fread(out, 1, len - 1, f)] = 0;
	fclose(f);
	printf("  bench_irqd %s -> %d\n", args, st);
	int left = leftovers(true);
	if (left != before)
		fail_msg("the run left %d irqd processes and directories behind (%d before)", left,
			 before);
	return st;
}

static void test_no_row(void **state)
{
	(void)state;
	char out[8192];
	assert_int_equal(bench(out, sizeof(out), "--only '=no such row'"), 2);
	assert_non_null(strstr(out, "bench_irqd: --only \"=no such row\" names no row; the rows:"));
	assert_non_null(strstr(out, "  irqd shared level, 1 sharer (latency at 2 kHz)"));
}

static void test_throughput_rows_only(void **state)
{
	(void)state;
	char out[8192];
	assert_int_equal(bench(out, sizeof(out), "--only 'usecs 50' --burst 2000"), 0);
	assert_non_null(strstr(out, "| irqd edge, usecs 50 | max rate |"));
	assert_non_null(strstr(out, "| irqd edge, usecs 50 | 1,488,095/s |"));
	assert_null(strstr(out, "| YES |"));
}

static void test_short_run(void **state)
{
	(void)state;
	char out[8192];
	assert_int_equal(bench(out, sizeof(out), "--only '=irqd shared level, 1 sharer' "
						 "--events 100 --rounds 1"), 0);
	assert_non_null(strstr(out, "| irqd shared level, 1 sharer | latency at 2 kHz | 1 |"));
	assert_non_null(strstr(out, "Targets: not evaluated (--only)"));
	char path[PATH_MAX], json[16384];
	snprintf(path, sizeof(path), "%s/results.json", out_dir);
	FILE *f = fopen(path, "r");
	assert_non_null(f);
	size_t n = fread(json, 1, sizeof(json) - 1, f);
	fclose(f);
	json[n] = 0;
	assert_non_null(strstr(json, "\"row\":\"irqd shared level, 1 sharer\""));
	assert_non_null(strstr(json, "\"events\":100"));
	assert_non_null(strstr(json, "\"waiter_slice_us\":"));
}

static int setup(void **state)
{
	(void)state;
	return mkdtemp(out_dir) ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	char cmd[PATH_MAX];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", out_dir);
	return system(cmd) == 0 ? 0 : -1;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_no_row),
		cmocka_unit_test(test_throughput_rows_only),
		cmocka_unit_test(test_short_run),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
