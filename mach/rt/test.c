/* test.c - see mrt/test.h */
#include <stdio.h>
#include <mrt/io.h>
#include <mrt/test.h>

struct mrt_test_state mrt_test = { .name = "?", .who = "?" };

void mrt_check(int ok, const char *what)
{
	if (!ok) {
		printf("%s: FAILED: %s\n", mrt_test.who, what);
		mrt_test.failures++;
	}
}

_Noreturn void mrt_verdict(const char *detail)
{
	int pass = mrt_test.failures == 0;
	printf("MACHTEST %s %s %s\n", mrt_test.name, pass ? "PASS" : "FAIL", detail);
	mrt_exit_qemu(pass ? MRT_QEMU_PASS : MRT_QEMU_FAIL);
}

_Noreturn void mrt_die(const char *what)
{
	mrt_check(0, what);
	mrt_verdict("(aborted)");
}
