/* edu.c - see edu.h */
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "tests/integration/harness.h"
#include "tests/vm/edu.h"
#include "util/pci_sysfs.h"

#define EDU_IRQ_STATUS 0x24
#define EDU_IRQ_RAISE 0x60
#define EDU_IRQ_ACK 0x64

static bool sysfs_is(const char *bdf, const char *file, const char *want)
{
	char path[128], buf[64] = "";
	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/%s", bdf, file);
	FILE *f = fopen(path, "r");
	if (!f)
		return false;
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = 0;
	return !strncmp(buf, want, strlen(want));
}

static bool bound_to(const char *bdf, const char *driver)
{
	char bound[64];
	return pci_sysfs_link(bdf, "driver", bound, sizeof(bound)) == 0 && !strcmp(bound, driver);
}

void edu_open(const char *bdf, struct edu *e)
{
	snprintf(e->bdf, sizeof(e->bdf), "%.15s", bdf);
	char path[128];
	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/resource0", e->bdf);
	int fd = open(path, O_RDWR | O_SYNC);
	if (fd < 0)
		fail_msg("%s: %m", path);
	void *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	close(fd);
	if (p == MAP_FAILED)
		fail_msg("mmap %s: %m", path);
	e->bar0 = p;
	if ((e->bar0[0] & 0xffff) != 0x00ed) /* identification register */
		fail_msg("%s is not an edu device (id %08x)", bdf, e->bar0[0]);
}

void edu_find(unsigned k, const char *driver, struct edu *e)
{
	struct dirent **names;
	int n = scandir("/sys/bus/pci/devices", &names, NULL, alphasort);
	assert_true(n > 0);
	unsigned seen = 0;
	char bdf[16] = "";
	for (int i = 0; i < n; i++) {
		const char *d = names[i]->d_name;
		if (d[0] != '.' && sysfs_is(d, "vendor", "0x1234") && sysfs_is(d, "device", "0x11e8") &&
		    bound_to(d, driver) && seen++ == k)
			snprintf(bdf, sizeof(bdf), "%.15s", d);
		free(names[i]);
	}
	free(names);
	if (!bdf[0])
		fail_msg("no edu device #%u bound to %s (make check-vm sets them up)", k, driver);
	edu_open(bdf, e);
}

void edu_raise(struct edu *e, uint32_t bits)
{
	e->bar0[EDU_IRQ_RAISE / 4] = bits;
}

uint32_t edu_service(struct edu *e)
{
	uint32_t st = e->bar0[EDU_IRQ_STATUS / 4];
	e->bar0[EDU_IRQ_ACK / 4] = st;
	return st;
}
