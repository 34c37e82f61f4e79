/*
 * tests/unit/test_pci.c - `irqctl pci` (irqctl/pci.h) checked against the machine it runs on.
 *
 * The expectations are built without libpciaccess: every /sys/bus/pci/devices entry's raw
 * `config` file is parsed here by a deliberately simple capability walker, and its `vendor`,
 * `device`, `class` and `irq` files and `driver` symlink are read directly. pci_irq_scan must
 * report exactly that set of functions, in bus order, with the same values; pci_irq_print's text
 * and JSON forms are checked field by field against the same expectations.
 *
 * Malformed capability lists cannot be found on a healthy machine, so the last tests interpose
 * pci_device_cfg_read_u8/u16/u32 (this executable's definitions win over libpciaccess.so's) and,
 * while `fake_cfg` is set, answer every configuration read from a synthetic 256-byte space.
 * Otherwise the calls are forwarded to the real library.
 *
 * Run as root to cover capabilities: other users see only the first 64 bytes of `config`, and
 * then both sides agree on "no capabilities". Skips when the machine has no PCI functions.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <pciaccess.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pci.h"

#define SYSFS "/sys/bus/pci/devices"

/* What one function should look like, computed from sysfs only. */
struct expect {
	char addr[24];               /* DDDD:BB:DD.F, the sysfs directory name */
	unsigned vendor, device, class_code;
	unsigned pin, line;          /* pin 0 = none */
	bool has_msi, msi64, msimask;
	unsigned msi_vec;
	bool has_msix;
	unsigned msix_vec;
	bool intx_dis;
	long irq;                    /* sysfs `irq`: the kernel's IRQ, shown in messages only */
	char driver[64];
};

static struct expect *exp_v;
static size_t exp_n;

/* ---- reading sysfs ------------------------------------------------------------------------ */

static bool read_hex_file(const char *dir, const char *name, unsigned *out)
{
	char path[PATH_MAX], buf[64];
	FILE *f;
	bool ok;

	snprintf(path, sizeof(path), SYSFS "/%s/%s", dir, name);
	f = fopen(path, "r");
	if (!f)
		return false;
	ok = fgets(buf, sizeof(buf), f) != NULL;
	fclose(f);
	if (ok) {
		char *end;
		errno = 0;
		unsigned long v = strtoul(buf, &end, 16);  /* "0x1af4\n" */
		ok = errno == 0 && end != buf && v <= 0xffffffu;
		*out = (unsigned)v;
	}
	return ok;
}

/*
 * An independent reading of PCI Local Bus 3.0 §6.7/§6.8: step through the list with a visited
 * table, give up below 0x40, after 48 entries, or at the end of what could be read; the first
 * capability of each ID counts.
 */
static void parse_config(const uint8_t *c, size_t len, struct expect *e)
{
	unsigned cmd = c[4] | c[5] << 8, status = c[6] | c[7] << 8;
	unsigned msi = 0, msix = 0;
	bool pcie = false;

	e->pin = c[0x3d] <= 4 ? c[0x3d] : 0;
	e->line = c[0x3c];
	if (status & 0x10) {
		bool visited[256] = { false };
		unsigned p = c[(c[0x0e] & 0x7f) == 2 ? 0x14 : 0x34];

		for (int steps = 0; steps < 48; steps++) {
			p &= ~3u;
			if (p < 0x40 || p + 1 >= len || visited[p])
				break;
			visited[p] = true;
			if (c[p] == 0x05 && !msi)
				msi = p;
			if (c[p] == 0x11 && !msix)
				msix = p;
			if (c[p] == 0x10)
				pcie = true;
			p = c[p + 1];
		}
	}
	if (msi && msi + 3 < len) {
		unsigned ctl = c[msi + 2] | c[msi + 3] << 8;
		e->has_msi = true;
		e->msi_vec = 1u << ((ctl >> 1) & 7);
		e->msi64 = ctl & 0x80;
		e->msimask = ctl & 0x100;
	}
	if (msix && msix + 3 < len) {
		e->has_msix = true;
		e->msix_vec = ((c[msix + 2] | c[msix + 3] << 8) & 0x7ff) + 1;
	}
	e->intx_dis = e->pin && (pcie || (cmd & 0x400));
}

static bool load_function(const char *name, struct expect *e)
{
	char path[PATH_MAX], target[PATH_MAX];
	uint8_t cfg[4096];
	size_t len;
	unsigned irq;
	ssize_t n;
	FILE *f;

	memset(e, 0, sizeof(*e));
	snprintf(e->addr, sizeof(e->addr), "%s", name);
	snprintf(path, sizeof(path), SYSFS "/%s/config", name);
	f = fopen(path, "rb");
	if (!f)
		return false;
	len = fread(cfg, 1, sizeof(cfg), f);
	fclose(f);
	if (len < 64)
		return false;
	if (!read_hex_file(name, "vendor", &e->vendor) ||
	    !read_hex_file(name, "device", &e->device) ||
	    !read_hex_file(name, "class", &e->class_code))
		return false;
	snprintf(path, sizeof(path), SYSFS "/%s/irq", name);
	f = fopen(path, "r");
	e->irq = -1;
	if (f) {
		if (fscanf(f, "%u", &irq) == 1)
			e->irq = irq;
		fclose(f);
	}
	parse_config(cfg, len, e);

	snprintf(path, sizeof(path), SYSFS "/%s/driver", name);
	n = readlink(path, target, sizeof(target) - 1);
	if (n > 0) {
		target[n] = '\0';
		const char *slash = strrchr(target, '/');
		snprintf(e->driver, sizeof(e->driver), "%.63s", slash ? slash + 1 : target);
	}
	return true;
}

static int cmp_addr(const void *a, const void *b)
{
	return strcmp(((const struct expect *)a)->addr, ((const struct expect *)b)->addr);
}

static int load_all(void **state)
{
	DIR *d = opendir(SYSFS);
	struct dirent *de;
	size_t cap = 0;

	(void)state;
	if (!d)
		return 0;  /* no PCI at all: every test skips */
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		if (exp_n == cap) {
			cap = cap ? cap * 2 : 32;
			exp_v = realloc(exp_v, cap * sizeof(*exp_v));
			if (!exp_v)
				abort();
		}
		if (!load_function(de->d_name, &exp_v[exp_n])) {
			fprintf(stderr, "test_pci: cannot read %s/%s\n", SYSFS, de->d_name);
			closedir(d);
			return -1;
		}
		exp_n++;
	}
	closedir(d);
	/* Fixed-width lower-case hex names sort as bus order. */
	qsort(exp_v, exp_n, sizeof(*exp_v), cmp_addr);
	return 0;
}

static int free_all(void **state)
{
	(void)state;
	free(exp_v);
	exp_v = NULL;
	exp_n = 0;
	return 0;
}

/* ---- interposed configuration reads (for malformed lists) ---------------------------------- */

static const uint8_t *fake_cfg;  /* non-NULL: every function's config space reads as this */
static unsigned fake_reads;

typedef int (*rd8_fn)(struct pci_device *, uint8_t *, pciaddr_t);
typedef int (*rd16_fn)(struct pci_device *, uint16_t *, pciaddr_t);
typedef int (*rd32_fn)(struct pci_device *, uint32_t *, pciaddr_t);

static bool fake_read(void *data, pciaddr_t off, unsigned size)
{
	uint32_t v = 0;

	fake_reads++;
	if (off + size > 256)
		return false;
	for (unsigned i = 0; i < size; i++)
		v |= (uint32_t)fake_cfg[off + i] << (8 * i);
	if (size == 1)
		*(uint8_t *)data = (uint8_t)v;
	else if (size == 2)
		*(uint16_t *)data = (uint16_t)v;
	else
		*(uint32_t *)data = v;
	return true;
}

int pci_device_cfg_read_u8(struct pci_device *dev, uint8_t *data, pciaddr_t off)
{
	static rd8_fn real;

	if (fake_cfg)
		return fake_read(data, off, 1) ? 0 : ENXIO;
	if (!real)
		real = (rd8_fn)dlsym(RTLD_NEXT, "pci_device_cfg_read_u8");
	return real(dev, data, off);
}

int pci_device_cfg_read_u16(struct pci_device *dev, uint16_t *data, pciaddr_t off)
{
	static rd16_fn real;

	if (fake_cfg)
		return fake_read(data, off, 2) ? 0 : ENXIO;
	if (!real)
		real = (rd16_fn)dlsym(RTLD_NEXT, "pci_device_cfg_read_u16");
	return real(dev, data, off);
}

int pci_device_cfg_read_u32(struct pci_device *dev, uint32_t *data, pciaddr_t off)
{
	static rd32_fn real;

	if (fake_cfg)
		return fake_read(data, off, 4) ? 0 : ENXIO;
	if (!real)
		real = (rd32_fn)dlsym(RTLD_NEXT, "pci_device_cfg_read_u32");
	return real(dev, data, off);
}

/* ---- collecting scan results -------------------------------------------------------------- */

struct got {
	struct pci_irq_info v[4096];
	size_t n;
};

static void gather(const struct pci_irq_info *info, void *arg)
{
	struct got *g = arg;

	assert_true(g->n < sizeof(g->v) / sizeof(g->v[0]));
	g->v[g->n++] = *info;
}

static struct got *scan_all(void)
{
	struct got *g = calloc(1, sizeof(*g));
	int rc;

	assert_non_null(g);
	rc = pci_irq_scan(gather, g);
	assert_true(rc >= 0);
	assert_int_equal((size_t)rc, g->n);
	return g;
}

#define CHECK(e, field, got, want) do {                                                        \
	if ((unsigned long)(got) != (unsigned long)(want))                                     \
		fail_msg("%s (irq %ld): %s is %lu, expected %lu", (e)->addr, (e)->irq, field,  \
			 (unsigned long)(got), (unsigned long)(want));                         \
} while (0)

static void compare(const struct expect *e, const struct pci_irq_info *p)
{
	char addr[24];

	snprintf(addr, sizeof(addr), "%04x:%02x:%02x.%x", p->domain, p->bus, p->dev, p->func);
	if (strcmp(addr, e->addr) != 0)
		fail_msg("scan reported %s where sysfs lists %s", addr, e->addr);
	CHECK(e, "vendor", p->vendor_id, e->vendor);
	CHECK(e, "device", p->device_id, e->device);
	CHECK(e, "class", p->class_code, e->class_code);
	CHECK(e, "intx_pin", p->intx_pin, e->pin);
	CHECK(e, "intx_line", p->intx_line, e->line);
	CHECK(e, "has_msi", p->has_msi, e->has_msi);
	if (e->has_msi) {
		CHECK(e, "msi_vectors", p->msi_vectors, e->msi_vec);
		CHECK(e, "msi_64bit", p->msi_64bit, e->msi64);
		CHECK(e, "msi_maskable", p->msi_maskable, e->msimask);
	}
	CHECK(e, "has_msix", p->has_msix, e->has_msix);
	if (e->has_msix)
		CHECK(e, "msix_vectors", p->msix_vectors, e->msix_vec);
	CHECK(e, "intx_disable_capable", p->intx_disable_capable, e->intx_dis);
	if (strcmp(p->driver, e->driver) != 0)
		fail_msg("%s: driver \"%s\", expected \"%s\"", e->addr, p->driver, e->driver);
}

/* ---- expected printed forms --------------------------------------------------------------- */

enum { F_DEV, F_IDS, F_CLASS, F_PIN, F_LINE, F_MSI, F_MSIX, F_DRV, NFIELDS };

static void text_fields(const struct expect *e, char f[NFIELDS][80])
{
	snprintf(f[F_DEV], 80, "%s", e->addr);
	snprintf(f[F_IDS], 80, "%04x:%04x", e->vendor, e->device);
	snprintf(f[F_CLASS], 80, "%06x", e->class_code);
	snprintf(f[F_PIN], 80, "%c", e->pin ? 'A' + e->pin - 1 : '-');
	if (e->pin && e->line != 0xff)
		snprintf(f[F_LINE], 80, "%u", e->line);
	else
		snprintf(f[F_LINE], 80, "-");
	if (e->has_msi)
		snprintf(f[F_MSI], 80, "%u vec%s%s", e->msi_vec, e->msi64 ? ",64" : "",
			 e->msimask ? ",mask" : "");
	else
		snprintf(f[F_MSI], 80, "-");
	if (e->has_msix)
		snprintf(f[F_MSIX], 80, "%u", e->msix_vec);
	else
		snprintf(f[F_MSIX], 80, "-");
	snprintf(f[F_DRV], 80, "%s", e->driver[0] ? e->driver : "-");
}

static char *print_to_string(bool json)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	assert_non_null(f);
	assert_int_equal(pci_irq_print(f, json), 0);
	assert_int_equal(fclose(f), 0);
	assert_non_null(buf);
	assert_int_equal(strlen(buf), len);
	return buf;
}

/* Checks a text table against exps[0..n): header, one row per function in order, and each
 * cell where the header says its column starts. */
static void check_text(const char *out, const struct expect *exps, size_t n)
{
	static const char *const names[NFIELDS] = {
		"DEVICE", "VENDOR:DEV", "CLASS", "PIN", "LINE", "MSI", "MSI-X", "DRIVER"
	};
	size_t col[NFIELDS + 1];
	const char *line = out, *nl;
	size_t rows = 0;

	/* Column starts: each name followed by a space (or end of line for the last). */
	nl = strchr(line, '\n');
	assert_non_null(nl);
	for (int i = 0, from = 0; i < NFIELDS; i++) {
		const char *hit = NULL;
		size_t l = strlen(names[i]);
		for (const char *p = line + from; p + l <= nl; p++)
			if (memcmp(p, names[i], l) == 0 && (p + l == nl || p[l] == ' ')) {
				hit = p;
				break;
			}
		if (!hit)
			fail_msg("header has no %s column: %.*s", names[i], (int)(nl - line), line);
		col[i] = (size_t)(hit - line);
		from = (int)(col[i] + l);
	}
	assert_int_equal(col[F_DEV], 0);

	for (line = nl + 1; *line; line = nl + 1, rows++) {
		char want[NFIELDS][80];
		size_t linelen;

		nl = strchr(line, '\n');
		assert_non_null(nl);
		if (rows >= n)
			fail_msg("extra row: %.*s", (int)(nl - line), line);
		linelen = (size_t)(nl - line);
		text_fields(&exps[rows], want);
		for (int i = 0; i < NFIELDS; i++) {
			size_t start = col[i], end = i + 1 < NFIELDS ? col[i + 1] : linelen;
			char cell[128];

			if (start > linelen || end > linelen || end - start >= sizeof(cell))
				fail_msg("row too short for column %s: %.*s", names[i],
					 (int)linelen, line);
			/* Columns must stay separated: the cell ends in a space. */
			if (i + 1 < NFIELDS && line[end - 1] != ' ')
				fail_msg("column %s runs into the next: %.*s", names[i],
					 (int)linelen, line);
			memcpy(cell, line + start, end - start);
			cell[end - start] = '\0';
			for (size_t k = end - start; k > 0 && cell[k - 1] == ' '; k--)
				cell[k - 1] = '\0';
			if (strcmp(cell, want[i]) != 0)
				fail_msg("%s: %s column shows \"%s\", expected \"%s\"", exps[rows].addr,
					 names[i], cell, want[i]);
		}
	}
	assert_int_equal(rows, n);
}

static void expect_in(const char *obj, size_t objlen, const char *addr, const char *frag)
{
	size_t fl = strlen(frag);

	for (const char *p = obj; p + fl <= obj + objlen; p++)
		if (memcmp(p, frag, fl) == 0)
			return;
	fail_msg("%s: JSON object lacks %s: %.*s", addr, frag, (int)objlen, obj);
}

static size_t count_str(const char *hay, const char *needle)
{
	size_t n = 0;

	for (const char *p = hay; (p = strstr(p, needle)) != NULL; p += strlen(needle))
		n++;
	return n;
}

static void check_json(const char *out, const struct expect *exps, size_t n)
{
	const char *end = out + strlen(out);

	/* One array, one object per function, nothing else. */
	while (end > out && (end[-1] == '\n' || end[-1] == ' '))
		end--;
	assert_true(out[0] == '[');
	assert_true(end > out && end[-1] == ']');
	assert_int_equal(count_str(out, "{"), n);
	assert_int_equal(count_str(out, "}"), n);
	assert_int_equal(count_str(out, "\"device\":"), n);

	for (size_t i = 0; i < n; i++) {
		const struct expect *e = &exps[i];
		char key[64], frag[96];
		const char *hit, *open, *close;

		snprintf(key, sizeof(key), "\"device\": \"%s\"", e->addr);
		hit = strstr(out, key);
		if (!hit)
			fail_msg("%s missing from JSON", e->addr);
		assert_null(strstr(hit + 1, key));  /* exactly once */
		for (open = hit; open > out && *open != '{'; open--)
			;
		close = strchr(hit, '}');
		assert_true(*open == '{' && close != NULL);
		size_t len = (size_t)(close - open + 1);

		snprintf(frag, sizeof(frag), "\"vendor\": \"%04x\"", e->vendor);
		expect_in(open, len, e->addr, frag);
		snprintf(frag, sizeof(frag), "\"device_id\": \"%04x\"", e->device);
		expect_in(open, len, e->addr, frag);
		snprintf(frag, sizeof(frag), "\"class\": \"%06x\"", e->class_code);
		expect_in(open, len, e->addr, frag);
		if (e->pin)
			snprintf(frag, sizeof(frag), "\"intx_pin\": \"%c\"", 'A' + e->pin - 1);
		else
			snprintf(frag, sizeof(frag), "\"intx_pin\": null");
		expect_in(open, len, e->addr, frag);
		if (e->pin && e->line != 0xff)
			snprintf(frag, sizeof(frag), "\"intx_line\": %u,", e->line);
		else
			snprintf(frag, sizeof(frag), "\"intx_line\": null");
		expect_in(open, len, e->addr, frag);
		if (e->has_msi)
			snprintf(frag, sizeof(frag), "\"msi_vectors\": %u,", e->msi_vec);
		else
			snprintf(frag, sizeof(frag), "\"msi_vectors\": null");
		expect_in(open, len, e->addr, frag);
		snprintf(frag, sizeof(frag), "\"msi_64bit\": %s", e->msi64 ? "true" : "false");
		expect_in(open, len, e->addr, frag);
		snprintf(frag, sizeof(frag), "\"msi_maskable\": %s", e->msimask ? "true" : "false");
		expect_in(open, len, e->addr, frag);
		if (e->has_msix)
			snprintf(frag, sizeof(frag), "\"msix_vectors\": %u,", e->msix_vec);
		else
			snprintf(frag, sizeof(frag), "\"msix_vectors\": null");
		expect_in(open, len, e->addr, frag);
		snprintf(frag, sizeof(frag), "\"intx_disable_capable\": %s",
			 e->intx_dis ? "true" : "false");
		expect_in(open, len, e->addr, frag);
		snprintf(frag, sizeof(frag), "\"driver\": \"%s\"", e->driver);
		expect_in(open, len, e->addr, frag);
	}
}

/* ---- tests against the real machine --------------------------------------------------------- */

static void test_scan_matches_sysfs(void **state)
{
	struct got *g;

	(void)state;
	if (exp_n == 0)
		skip();
	/* libpciaccess is set up and torn down per scan: a second scan must see the same. */
	for (int round = 0; round < 2; round++) {
		g = scan_all();
		if (g->n != exp_n)
			fail_msg("scan found %zu functions, %s lists %zu", g->n, SYSFS, exp_n);
		/* Both lists are in bus order, so equal sets line up index by index. */
		for (size_t i = 0; i < exp_n; i++)
			compare(&exp_v[i], &g->v[i]);
		free(g);
	}
}

static void test_print_text(void **state)
{
	char *out;

	(void)state;
	if (exp_n == 0)
		skip();
	out = print_to_string(false);
	assert_int_equal(count_str(out, "\n"), exp_n + 1);
	assert_true(strncmp(out, "DEVICE ", 7) == 0);
	check_text(out, exp_v, exp_n);
	free(out);
}

static void test_print_json(void **state)
{
	char *out;

	(void)state;
	if (exp_n == 0)
		skip();
	out = print_to_string(true);
	check_json(out, exp_v, exp_n);
	free(out);
}

/* ---- malformed capability lists (interposed reads) ------------------------------------------ */

static void put16(uint8_t *c, unsigned off, unsigned v)
{
	c[off] = v & 0xff;
	c[off + 1] = (v >> 8) & 0xff;
}

/* Scans with every function reading as cfg; each must come out as e (apart from the sysfs
 * identity fields, which libpciaccess learnt before the fake was switched on). Also prints both
 * forms from the same fake. */
static void scan_fake(const uint8_t *cfg, const struct expect *e)
{
	struct expect *exps = calloc(exp_n, sizeof(*exps));
	struct got *g;
	char *txt, *json;

	assert_non_null(exps);
	for (size_t i = 0; i < exp_n; i++) {
		exps[i] = *e;
		memcpy(exps[i].addr, exp_v[i].addr, sizeof(exps[i].addr));
		exps[i].vendor = exp_v[i].vendor;
		exps[i].device = exp_v[i].device;
		exps[i].class_code = exp_v[i].class_code;
		memcpy(exps[i].driver, exp_v[i].driver, sizeof(exps[i].driver));
	}

	fake_reads = 0;
	fake_cfg = cfg;
	g = scan_all();
	fake_cfg = NULL;
	assert_int_equal(g->n, exp_n);
	for (size_t i = 0; i < exp_n; i++)
		compare(&exps[i], &g->v[i]);
	/* A bounded walk: a handful of header reads plus at most 2 per list entry. */
	assert_true(fake_reads <= exp_n * (16 + 2 * 48));

	fake_cfg = cfg;
	txt = print_to_string(false);
	json = print_to_string(true);
	fake_cfg = NULL;
	check_text(txt, exps, exp_n);
	check_json(json, exps, exp_n);
	free(txt);
	free(json);
	free(g);
	free(exps);
}

static void test_fake_loop(void **state)
{
	uint8_t c[256] = { 0 };
	struct expect e = { .pin = 1, .line = 10, .has_msi = true, .msi_vec = 8, .msi64 = true,
			    .msimask = true, .has_msix = true, .msix_vec = 16, .intx_dis = true };

	(void)state;
	if (exp_n == 0)
		skip();
	put16(c, 0x04, 0x0406);             /* Interrupt Disable set */
	put16(c, 0x06, 0x0010);             /* capability list */
	c[0x34] = 0x40;
	c[0x3c] = 10;
	c[0x3d] = 1;
	c[0x40] = 0x05; c[0x41] = 0x50;     /* MSI -> 0x50 */
	put16(c, 0x42, 0x0186);             /* 8 vectors, 64-bit, maskable */
	c[0x50] = 0x11; c[0x51] = 0x40;     /* MSI-X -> back to 0x40: a loop */
	put16(c, 0x52, 0x000f);             /* 16 entries */
	scan_fake(c, &e);
}

static void test_fake_bad_pointers(void **state)
{
	uint8_t c[256] = { 0 };
	struct expect e = { .pin = 0, .line = 5 };

	(void)state;
	if (exp_n == 0)
		skip();
	/* Pointer into the predefined header; a reserved pin value. */
	put16(c, 0x04, 0x0400);
	put16(c, 0x06, 0x0010);
	c[0x34] = 0x20;
	c[0x20] = 0x05; c[0x21] = 0x00;
	c[0x3c] = 5;
	c[0x3d] = 7;
	scan_fake(c, &e);

	/* Status says there is no list: a plausible pointer must be ignored. */
	memset(c, 0, sizeof(c));
	c[0x34] = 0x40;
	c[0x40] = 0x05;
	c[0x3c] = 5;
	scan_fake(c, &e);
}

static void test_fake_low_bits_and_pcie(void **state)
{
	uint8_t c[256] = { 0 };
	struct expect e = { .pin = 2, .line = 0xff, .intx_dis = true };

	(void)state;
	if (exp_n == 0)
		skip();
	/* 0x43: reserved low bits masked to 0x40. PCIe makes INTx disable capable even with
	 * command bit 10 clear. Line 0xff ("unknown") prints as "-". */
	put16(c, 0x06, 0x0010);
	c[0x34] = 0x43;
	c[0x3c] = 0xff;
	c[0x3d] = 2;
	c[0x40] = 0x10; c[0x41] = 0x00;
	scan_fake(c, &e);

	/* Same without PCIe and with bit 10 clear: not capable. */
	c[0x40] = 0x09;
	e.intx_dis = false;
	scan_fake(c, &e);
}

static void test_fake_cardbus(void **state)
{
	uint8_t c[256] = { 0 };
	struct expect e = { .pin = 1, .line = 3, .has_msi = true, .msi_vec = 1 };

	(void)state;
	if (exp_n == 0)
		skip();
	/* A multi-function CardBus bridge (header type 82h) keeps its list pointer at 0x14;
	 * 0x34 holds something else and must not be followed. */
	put16(c, 0x06, 0x0010);
	c[0x0e] = 0x82;
	c[0x14] = 0x80;
	c[0x34] = 0x40;
	c[0x40] = 0x11; c[0x41] = 0x00;     /* would be MSI-X if 0x34 were used */
	c[0x80] = 0x05; c[0x81] = 0x00;     /* MSI, 1 vector, 32-bit */
	c[0x3c] = 3;
	c[0x3d] = 1;
	scan_fake(c, &e);
}

static void test_fake_all_ones(void **state)
{
	uint8_t c[256];
	struct expect e = { .pin = 0, .line = 0xff };

	(void)state;
	if (exp_n == 0)
		skip();
	/* A vanished device reads all ones: list bit set, pointer 0xfc pointing at itself. */
	memset(c, 0xff, sizeof(c));
	scan_fake(c, &e);
}

static void test_fake_longest_list(void **state)
{
	uint8_t c[256] = { 0 };
	struct expect e = { .pin = 3, .line = 9, .has_msix = true, .msix_vec = 2048,
			    .intx_dis = true };

	(void)state;
	if (exp_n == 0)
		skip();
	/* 48 capabilities fill 0x40..0xff; the last (MSI-X at 0xfc) must still be reached, and
	 * its link back to 0x40 must stop the walk. */
	put16(c, 0x04, 0x0400);
	put16(c, 0x06, 0x0010);
	c[0x0e] = 0x80;                     /* multi-function bit: still a type 0 header */
	c[0x34] = 0x40;
	c[0x3c] = 9;
	c[0x3d] = 3;
	for (unsigned p = 0x40; p < 0xfc; p += 4) {
		c[p] = 0x09;                /* vendor specific */
		c[p + 1] = (uint8_t)(p + 4);
	}
	c[0xfc] = 0x11; c[0xfd] = 0x40;
	put16(c, 0xfe, 0x07ff);
	scan_fake(c, &e);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_scan_matches_sysfs),
		cmocka_unit_test(test_print_text),
		cmocka_unit_test(test_print_json),
		cmocka_unit_test(test_fake_loop),
		cmocka_unit_test(test_fake_bad_pointers),
		cmocka_unit_test(test_fake_low_bits_and_pcie),
		cmocka_unit_test(test_fake_cardbus),
		cmocka_unit_test(test_fake_all_ones),
		cmocka_unit_test(test_fake_longest_list),
	};
	return cmocka_run_group_tests(tests, load_all, free_all);
}
