/* The smallest task: prints its arguments, the kernel's uptime when main started and a line,
 * and reports pass to QEMU.
 * Arguments (after the two ports): "fail" reports a failure instead (to check that mach/run
 * maps it to exit status 1); "hang" reports nothing (mach/run must time out: status 2). */
#include <mrt/mrt.h>

int main(int argc, char **argv)
{
	int fail = 0, hang = 0;
	uint64_t up = mrt_uptime_ns();

	for (int i = 0; i < argc; i++)
		printf("hello: argv[%d] = \"%s\"\n", i, argv[i]);
	for (int i = MRT_FIRST_ARG; i < argc; i++) {
		if (strcmp(argv[i], "fail") == 0)
			fail = 1;
		else if (strcmp(argv[i], "hang") == 0)
			hang = 1;
	}
	printf("hello: task %u, host %u, device master %u\n", mach_task_self(), mrt_host_priv,
	       mrt_device_master);
	printf("hello: kernel uptime at main: %llu ms\n", (unsigned long long)(up / 1000000));
	printf("hello from a GNU Mach task\n");
	if (hang) {
		printf("hello: hanging on purpose\n");
		mrt_task_exit(0);
	}
	printf("MACHTEST hello %s%s\n", fail ? "FAIL" : "PASS", fail ? " (asked to fail)" : "");
	mrt_exit_qemu(fail ? MRT_QEMU_FAIL : MRT_QEMU_PASS);
}
