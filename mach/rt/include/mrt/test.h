/* mrt/test.h - a boot test's verdict, read by mach/run: "WHO: FAILED: what" lines, then one
 * "MACHTEST NAME PASS|FAIL detail" line and the QEMU exit code (mrt_exit_qemu). */
#ifndef MRT_TEST_H
#define MRT_TEST_H

struct mrt_test_state {
	const char *name;   /* the MACHTEST name */
	const char *who;    /* who reports a failure */
	int failures;
};
extern struct mrt_test_state mrt_test;

/* Counts (and says) a failure unless ok. */
void mrt_check(int ok, const char *what);
/* PASS if nothing failed, then exits QEMU. */
_Noreturn void mrt_verdict(const char *detail);
/* A failure that ends the test at once. */
_Noreturn void mrt_die(const char *what);

#endif
