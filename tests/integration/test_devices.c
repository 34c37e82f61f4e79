/*
 * test_devices.c - `device vfio|uio BDF` in irqd's configuration, on a host where nothing can be
 * given to user space: every case is a clear one-line reason and a failed start, never a crash
 * or a half-started irqd. (The devices themselves are tested inside the QEMU guest: vm/.)
 */
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

/* Run irqd in the foreground with `conf`; its exit status, and what it said in out. */
static int irqd_with(const char *conf, char *out, size_t len)
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

#define EXPECT(conf, status, text)                                                             \
	do {                                                                                   \
		char out_[1024];                                                               \
		int st_ = irqd_with(conf, out_, sizeof(out_));                                 \
		printf("  %-40.*s -> %d: %s", (int)strcspn(conf, "\n"), conf, st_, out_);      \
		if (st_ != (status) || !strstr(out_, text))                                    \
			fail_msg("expected exit %d and '%s'", status, text);                   \
	} while (0)

/* A PCI device of this host that no VFIO or UIO driver has: "" if there is none. */
static void host_device(char *bdf, size_t len)
{
	bdf[0] = 0;
	DIR *d = opendir("/sys/bus/pci/devices");
	if (!d)
		return;
	struct dirent *e;
	while (!bdf[0] && (e = readdir(d))) {
		char link[512], drv[256] = "";
		snprintf(link, sizeof(link), "/sys/bus/pci/devices/%s/driver", e->d_name);
		ssize_t n = readlink(link, drv, sizeof(drv) - 1);
		drv[n > 0 ? n : 0] = 0;
		if (e->d_name[0] != '.' && !strstr(drv, "vfio") && !strstr(drv, "uio"))
			snprintf(bdf, len, "%.15s", e->d_name);
	}
	closedir(d);
}

static void test_config_errors(void **state)
{
	(void)state;
	EXPECT("device vfio 00:03.0\n", 2, "line 1: '00:03.0' is not a PCI address like 0000:00:03.0");
	EXPECT("device vfio 0000:00:20.0\n", 2, "is not a PCI address");
	EXPECT("device nvme 0000:00:03.0\n", 2, "device takes vfio|uio BDF [irq=msix|msi|intx]");
	EXPECT("device vfio 0000:00:03.0 irq=msiz\n", 2,
	       "unknown device option 'irq=msiz' (vfio: irq=msix|msi|intx)");
	EXPECT("device uio 0000:00:03.0 irq=msi\n", 2, "unknown device option 'irq=msi'");
	EXPECT("device vfio 0000:00:03.0\ndevice uio 0000:00:03.0\n", 2,
	       "line 2: device 0000:00:03.0 is named twice");
}

static void test_devices_not_given(void **state)
{
	(void)state;
	EXPECT("device vfio ffff:ff:1f.7\n", 1, "irqd: device ffff:ff:1f.7: no such PCI device");
	EXPECT("device uio ffff:ff:1f.7\n", 1, "irqd: device ffff:ff:1f.7: no such PCI device");
	char bdf[64], conf[128], want[256];
	host_device(bdf, sizeof(bdf));
	if (!bdf[0])
		skip();
	snprintf(conf, sizeof(conf), "device vfio %s\n", bdf);
	snprintf(want, sizeof(want), "irqd: device %s: not bound to vfio-pci (echo vfio-pci > "
		 "/sys/bus/pci/devices/%s/driver_override; echo %s > /sys/bus/pci/drivers_probe)",
		 bdf, bdf, bdf);
	EXPECT(conf, 1, want);
	snprintf(conf, sizeof(conf), "device uio %s\n", bdf);
	snprintf(want, sizeof(want), "irqd: device %s: not bound to uio_pci_generic", bdf);
	EXPECT(conf, 1, want);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_config_errors, harness_teardown),
		cmocka_unit_test_teardown(test_devices_not_given, harness_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
