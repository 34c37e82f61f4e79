/*
 * isolation.c - what irqd says, inside the QEMU guest, about a device VFIO cannot isolate:
 * booted without an IOMMU (the device has no IOMMU group, vfio-pci cannot take it), or with an
 * IOMMU without interrupt remapping (VFIO's type 1 IOMMU refuses the container). Either way
 * irqd does not start, says why and what to do in one line, and does not crash. make check-vm
 * boots the guest both ways and runs this program alone (vm.run).
 */
#include <dirent.h>
#include <stdio.h>
#include <string.h>

#include "tests/integration/harness.h"

/* Does this guest have IOMMU groups at all? */
static bool have_iommu(void)
{
	DIR *d = opendir("/sys/kernel/iommu_groups");
	struct dirent *e;
	bool any = false;
	while (d && (e = readdir(d)))
		any |= e->d_name[0] != '.';
	if (d)
		closedir(d);
	return any;
}

static void test_refused_with_reason(void **state)
{
	(void)state;
	/* the first edu device; the guest tried to bind it to vfio-pci */
	const char *bdf = "0000:00:03.0";
	char conf[64], out[1024], want[256];
	snprintf(conf, sizeof(conf), "device vfio %s\n", bdf);
	bool iommu = have_iommu();
	if (iommu)
		snprintf(want, sizeof(want), "irqd: device %s: the IOMMU has no interrupt remapping, "
			 "so VFIO will not give the device's interrupts to user space", bdf);
	else
		snprintf(want, sizeof(want), "irqd: device %s: no IOMMU group: enable the IOMMU "
			 "(intel_iommu=on or amd_iommu=on), or use the device through uio_pci_generic",
			 bdf);
	int st = irqd_run_config(conf, out, sizeof(out));
	printf("  %s: irqd exited %d: %s", iommu ? "IOMMU without interrupt remapping" : "no IOMMU",
	       st, out);
	if (st != 1 || !strstr(out, want))
		fail_msg("expected exit 1 and '%s'", want);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_refused_with_reason, harness_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
