/*
 * test_devices.c - `device vfio|uio BDF` in irqd's configuration, on a host where nothing can be
 * given to user space: every case is a clear one-line reason and a failed start, never a crash
 * or a half-started irqd. (The devices themselves are tested inside the QEMU guest: vm/.)
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "util/pci_sysfs.h"

#define EXPECT(conf, status, text)                                                             \
	do {                                                                                   \
		char out_[1024];                                                               \
		int st_ = irqd_run_config(conf, out_, sizeof(out_));                                 \
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
		char drv[64];
		pci_sysfs_link(e->d_name, "driver", drv, sizeof(drv)); /* "" if none */
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
	char bdf[16], conf[128], want[512];
	host_device(bdf, sizeof(bdf));
	if (!bdf[0])
		skip();
	snprintf(conf, sizeof(conf), "device vfio %s\n", bdf);
	/* no IOMMU (these machines): that first; with one, the binding */
	char group[128];
	snprintf(group, sizeof(group), "/sys/bus/pci/devices/%s/iommu_group", bdf);
	if (access(group, F_OK) != 0)
		snprintf(want, sizeof(want), "irqd: device %s: no IOMMU group: enable the IOMMU "
			 "(intel_iommu=on or amd_iommu=on), or use the device through "
			 "uio_pci_generic", bdf);
	else
		snprintf(want, sizeof(want), "irqd: device %s: not bound to vfio-pci (echo "
			 "vfio-pci > /sys/bus/pci/devices/%s/driver_override; echo %s > "
			 "/sys/bus/pci/drivers_probe)", bdf, bdf, bdf);
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
