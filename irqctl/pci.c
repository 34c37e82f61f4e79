/*
 * pci.c - `irqctl pci`: which interrupt mechanisms each PCI function offers, read from its
 * configuration space through libpciaccess.
 *
 * Everything here is read-only: we never write configuration space, so listing devices cannot
 * disturb a driver that owns them. The capability list is walked by hand (rather than with a
 * library helper) so that a malformed list is bounded by our own rules, documented below.
 */
#include "pci.h"
#include "util/pci_sysfs.h"

#include <errno.h>
#include <limits.h>
#include <pciaccess.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Type 0/1 header registers, PCI Local Bus 3.0 §6.2 (Figure 6-1). */
#define CFG_COMMAND        0x04
#define CFG_STATUS         0x06
#define CFG_HEADER_TYPE    0x0e
#define CFG_CAP_PTR        0x34  /* §6.7, header types 0 and 1 */
#define CFG_CARDBUS_CAP    0x14  /* header type 2 keeps its pointer here instead */
#define CFG_INT_LINE       0x3c  /* §6.2.4 */
#define CFG_INT_PIN        0x3d  /* §6.2.4 */

#define CMD_INTX_DISABLE   (1u << 10) /* §6.2.2, added by PCI 2.3 */
#define STATUS_CAP_LIST    (1u << 4)  /* §6.2.3: a capability list exists at 0x34 */

/* Capability IDs (PCI Code and ID Assignment; §6.7). */
#define CAP_ID_MSI         0x05
#define CAP_ID_PCIE        0x10
#define CAP_ID_MSIX        0x11

/* Capabilities live after the 64-byte predefined header, dword aligned (§6.7), so a 256-byte
 * space holds at most (256 - 64) / 4 = 48 of them: any longer walk must be revisiting. */
#define CAP_FIRST          0x40
#define CAP_MAX            48

/* MSI Message Control, §6.8.1.3. */
#define MSI_CTRL_MMC_SHIFT 1          /* bits 3:1 Multiple Message Capable, log2 of vectors */
#define MSI_CTRL_MMC_MASK  0x7u
#define MSI_CTRL_64BIT     (1u << 7)
#define MSI_CTRL_PVM       (1u << 8)  /* per-vector masking */

/* MSI-X Message Control, §6.8.2.3: bits 10:0 hold Table Size encoded as N-1. */
#define MSIX_CTRL_TSIZE    0x7ffu

struct caps {
	uint8_t msi, msix, pcie;  /* config offset of the first such capability, 0 if absent */
};

/*
 * Walks the capability list (§6.7). Malformed lists are common enough on broken or hot-removed
 * hardware (all-ones reads) that every step is bounded:
 *   - a pointer below 0x40 ends the walk (0 is the normal terminator; anything else would point
 *     into the predefined header, which cannot hold a capability);
 *   - the two low bits of each pointer are reserved and masked off (§6.7);
 *   - revisiting an offset ends the walk (a loop), and so does exceeding CAP_MAX entries;
 *   - a failed read ends the walk, keeping what was found so far.
 * Only the first capability of each ID is kept, as the kernel does.
 */
static void find_caps(struct pci_device *d, struct caps *c)
{
	uint16_t status;
	uint8_t hdr, ptr;
	uint64_t seen = 0;  /* one bit per dword offset (ptr >> 2), all < 64 */

	memset(c, 0, sizeof(*c));
	if (pci_device_cfg_read_u16(d, &status, CFG_STATUS) != 0 || !(status & STATUS_CAP_LIST))
		return;
	if (pci_device_cfg_read_u8(d, &hdr, CFG_HEADER_TYPE) != 0)
		return;
	/* Bit 7 of the header type only flags a multi-function device. */
	if (pci_device_cfg_read_u8(d, &ptr, (hdr & 0x7f) == 2 ? CFG_CARDBUS_CAP : CFG_CAP_PTR) != 0)
		return;

	for (int n = 0; n < CAP_MAX; n++) {
		uint8_t id, next;

		ptr &= 0xfc;
		if (ptr < CAP_FIRST)
			break;
		if (seen & (UINT64_C(1) << (ptr >> 2)))
			break;
		seen |= UINT64_C(1) << (ptr >> 2);

		if (pci_device_cfg_read_u8(d, &id, ptr) != 0 ||
		    pci_device_cfg_read_u8(d, &next, ptr + 1) != 0)
			break;
		if (id == CAP_ID_MSI && !c->msi)
			c->msi = ptr;
		else if (id == CAP_ID_MSIX && !c->msix)
			c->msix = ptr;
		else if (id == CAP_ID_PCIE && !c->pcie)
			c->pcie = ptr;
		ptr = next;
	}
}

/* Driver bound to the function: basename of the sysfs "driver" symlink, "" when unbound. Uses
 * the full 32-bit domain, so it is right even where pci_irq_info's 16-bit field is not. */
static void read_driver(const struct pci_device *d, char *out, size_t outsz)
{
	char bdf[32];
	snprintf(bdf, sizeof(bdf), "%04x:%02x:%02x.%x", (unsigned)d->domain, d->bus, d->dev,
		 d->func);
	pci_sysfs_link(bdf, "driver", out, outsz); /* "" when unbound */
}

static void read_info(struct pci_device *d, struct pci_irq_info *info)
{
	struct caps c;
	uint8_t pin = 0, line = 0xff;
	uint16_t cmd = 0, ctrl;

	memset(info, 0, sizeof(*info));
	info->domain = (uint16_t)d->domain;
	info->bus = d->bus;
	info->dev = d->dev;
	info->func = d->func;
	info->vendor_id = d->vendor_id;
	info->device_id = d->device_id;
	info->class_code = d->device_class & 0xffffff;

	/* §6.2.4: Interrupt Pin 1..4 = INTA#..INTD#, 0 = none; 05h-FFh are reserved, and an
	 * all-ones read means the function is gone, so anything outside 1..4 counts as no pin. */
	if (pci_device_cfg_read_u8(d, &pin, CFG_INT_PIN) != 0 || pin > 4)
		pin = 0;
	if (pci_device_cfg_read_u8(d, &line, CFG_INT_LINE) != 0)
		line = 0xff;
	info->intx_pin = pin;
	info->intx_line = line;

	find_caps(d, &c);

	if (c.msi && pci_device_cfg_read_u16(d, &ctrl, c.msi + 2) == 0) {
		info->has_msi = true;
		/* Encodings 110b/111b are reserved (the spec stops at 32); reported as encoded. */
		info->msi_vectors = 1u << ((ctrl >> MSI_CTRL_MMC_SHIFT) & MSI_CTRL_MMC_MASK);
		info->msi_64bit = ctrl & MSI_CTRL_64BIT;
		info->msi_maskable = ctrl & MSI_CTRL_PVM;
	}
	if (c.msix && pci_device_cfg_read_u16(d, &ctrl, c.msix + 2) == 0) {
		info->has_msix = true;
		info->msix_vectors = (ctrl & MSIX_CTRL_TSIZE) + 1u;
	}

	/*
	 * Whether the PCI 2.3 Interrupt Disable bit works can only be proven by toggling it, and
	 * toggling it under a bound driver could lose or storm its interrupts. So, read-only, we
	 * say a function is INTx-disable capable when it has an INTx pin AND either
	 *   - it is PCI Express (capability 0x10): the PCIe Base spec makes Interrupt Disable
	 *     mandatory for functions that generate INTx, or
	 *   - command bit 10 currently reads back as 1: reserved bits read as 0 (§6.2.2), so a set
	 *     bit proves it is implemented.
	 * A conventional device whose bit happens to be clear is reported as not capable
	 * (a false negative, never a false positive).
	 */
	if (pci_device_cfg_read_u16(d, &cmd, CFG_COMMAND) != 0)
		cmd = 0;
	info->intx_disable_capable = pin != 0 && (c.pcie != 0 || (cmd & CMD_INTX_DISABLE));

	read_driver(d, info->driver, sizeof(info->driver));
}

static int cmp_info(const void *a, const void *b)
{
	const struct pci_irq_info *x = a, *y = b;
	uint32_t kx = (uint32_t)x->bus << 8 | (uint32_t)x->dev << 3 | x->func;
	uint32_t ky = (uint32_t)y->bus << 8 | (uint32_t)y->dev << 3 | y->func;

	if (x->domain != y->domain)
		return x->domain < y->domain ? -1 : 1;
	return kx < ky ? -1 : kx > ky;
}

int pci_irq_scan(void (*fn)(const struct pci_irq_info *, void *), void *arg)
{
	static const struct pci_slot_match any = {
		PCI_MATCH_ANY, PCI_MATCH_ANY, PCI_MATCH_ANY, PCI_MATCH_ANY, 0
	};
	struct pci_device_iterator *it;
	struct pci_device *d;
	struct pci_irq_info *v = NULL;
	size_t n = 0, cap = 0;
	int rc;

	rc = pci_system_init();
	if (rc != 0) {
		rc = rc > 0 ? rc : -rc;  /* libpciaccess returns a positive errno */
		fprintf(stderr, "irqctl: cannot access PCI devices (libpciaccess): %s\n",
			strerror(rc));
		pci_system_cleanup();  /* safe after a partial init; frees what was built */
		return -rc;
	}
	it = pci_slot_match_iterator_create(&any);
	if (!it) {
		pci_system_cleanup();
		fprintf(stderr, "irqctl: cannot list PCI devices: %s\n", strerror(ENOMEM));
		return -ENOMEM;
	}
	while ((d = pci_device_next(it)) != NULL) {
		/* pci_irq_info holds a 16-bit domain (pci.h); a larger one (e.g. Intel VMD,
		 * 0x10000+) would alias another domain's address, so skip it rather than lie. */
		if (d->domain > 0xffff) {
			fprintf(stderr, "irqctl: skipping %x:%02x:%02x.%x: domain above ffff\n",
				(unsigned)d->domain, d->bus, d->dev, d->func);
			continue;
		}
		if (n == cap) {
			size_t ncap = cap ? cap * 2 : 32;
			struct pci_irq_info *nv = realloc(v, ncap * sizeof(*nv));
			if (!nv) {
				rc = -ENOMEM;
				break;
			}
			v = nv;
			cap = ncap;
		}
		read_info(d, &v[n++]);
	}
	pci_iterator_destroy(it);
	/* Done with libpciaccess before calling back, so fn may do anything, even scan again. */
	pci_system_cleanup();
	if (rc < 0) {
		fprintf(stderr, "irqctl: cannot list PCI devices: %s\n", strerror(-rc));
		free(v);
		return rc;
	}

	/* The iterator follows the backend's order; the header promises bus order. */
	if (n > 1)
		qsort(v, n, sizeof(*v), cmp_info);
	for (size_t i = 0; i < n; i++)
		fn(&v[i], arg);
	free(v);
	return n > INT_MAX ? INT_MAX : (int)n;
}

/* ---- printing ------------------------------------------------------------------------- */

struct rows {
	struct pci_irq_info *v;
	size_t n, cap;
	bool oom;
};

static void collect(const struct pci_irq_info *info, void *arg)
{
	struct rows *r = arg;

	if (r->oom)
		return;
	if (r->n == r->cap) {
		size_t ncap = r->cap ? r->cap * 2 : 32;
		struct pci_irq_info *nv = realloc(r->v, ncap * sizeof(*nv));
		if (!nv) {
			r->oom = true;
			return;
		}
		r->v = nv;
		r->cap = ncap;
	}
	r->v[r->n++] = *info;
}

static void fmt_msi(const struct pci_irq_info *p, char *buf, size_t sz)
{
	if (!p->has_msi)
		snprintf(buf, sz, "-");
	else
		snprintf(buf, sz, "%u vec%s%s", p->msi_vectors, p->msi_64bit ? ",64" : "",
			 p->msi_maskable ? ",mask" : "");
}

/* Driver names come from the kernel and are plain ASCII, but escape anyway so the output stays
 * valid JSON whatever a symlink is called. */
static void json_str(FILE *out, const char *s)
{
	fputc('"', out);
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;
		if (ch == '"' || ch == '\\')
			fprintf(out, "\\%c", ch);
		else if (ch < 0x20)
			fprintf(out, "\\u%04x", ch);
		else
			fputc(ch, out);
	}
	fputc('"', out);
}

static void print_json(FILE *out, const struct rows *r)
{
	fputs("[", out);
	for (size_t i = 0; i < r->n; i++) {
		const struct pci_irq_info *p = &r->v[i];
		bool line = p->intx_pin && p->intx_line != 0xff;

		fprintf(out, "%s\n  {\"device\": \"%04x:%02x:%02x.%x\", \"vendor\": \"%04x\", "
			"\"device_id\": \"%04x\", \"class\": \"%06x\", ",
			i ? "," : "", p->domain, p->bus, p->dev, p->func, p->vendor_id,
			p->device_id, (unsigned)p->class_code);
		if (p->intx_pin)
			fprintf(out, "\"intx_pin\": \"%c\", ", 'A' + p->intx_pin - 1);
		else
			fputs("\"intx_pin\": null, ", out);
		if (line)
			fprintf(out, "\"intx_line\": %u, ", p->intx_line);
		else
			fputs("\"intx_line\": null, ", out);
		if (p->has_msi)
			fprintf(out, "\"msi_vectors\": %u, ", p->msi_vectors);
		else
			fputs("\"msi_vectors\": null, ", out);
		fprintf(out, "\"msi_64bit\": %s, \"msi_maskable\": %s, ",
			p->msi_64bit ? "true" : "false", p->msi_maskable ? "true" : "false");
		if (p->has_msix)
			fprintf(out, "\"msix_vectors\": %u, ", p->msix_vectors);
		else
			fputs("\"msix_vectors\": null, ", out);
		fprintf(out, "\"intx_disable_capable\": %s, \"driver\": ",
			p->intx_disable_capable ? "true" : "false");
		json_str(out, p->driver);
		fputc('}', out);
	}
	fputs(r->n ? "\n]\n" : "]\n", out);
}

static void print_text(FILE *out, const struct rows *r)
{
	char msi[32];
	int msiw = 9;  /* "1 vec,64" fits; wider entries ("32 vec,64,mask") widen the column */

	for (size_t i = 0; i < r->n; i++) {
		fmt_msi(&r->v[i], msi, sizeof(msi));
		if ((int)strlen(msi) > msiw)
			msiw = (int)strlen(msi);
	}
	fprintf(out, "%-12s  %-10s  %-6s  %-3s  %-4s  %-*s  %-5s  %s\n", "DEVICE", "VENDOR:DEV",
		"CLASS", "PIN", "LINE", msiw, "MSI", "MSI-X", "DRIVER");
	for (size_t i = 0; i < r->n; i++) {
		const struct pci_irq_info *p = &r->v[i];
		char addr[16], ids[16], pin[2] = "-", line[4] = "-", msix[8] = "-";

		snprintf(addr, sizeof(addr), "%04x:%02x:%02x.%x", p->domain, p->bus, p->dev,
			 p->func);
		snprintf(ids, sizeof(ids), "%04x:%04x", p->vendor_id, p->device_id);
		if (p->intx_pin) {
			pin[0] = (char)('A' + p->intx_pin - 1);
			if (p->intx_line != 0xff)
				snprintf(line, sizeof(line), "%u", p->intx_line);
		}
		if (p->has_msix)
			snprintf(msix, sizeof(msix), "%u", p->msix_vectors);
		fmt_msi(p, msi, sizeof(msi));
		fprintf(out, "%-12s  %-10s  %06x  %-3s  %-4s  %-*s  %-5s  %s\n", addr, ids,
			(unsigned)p->class_code, pin, line, msiw, msi, msix,
			p->driver[0] ? p->driver : "-");
	}
}

int pci_irq_print(FILE *out, bool json)
{
	struct rows r = { 0 };
	int rc = pci_irq_scan(collect, &r);

	if (rc >= 0 && r.oom) {
		fprintf(stderr, "irqctl: out of memory listing PCI devices\n");
		rc = -ENOMEM;
	}
	if (rc >= 0) {
		if (json)
			print_json(out, &r);
		else
			print_text(out, &r);
		rc = fflush(out) != 0 || ferror(out) ? -EIO : 0;
	}
	free(r.v);
	return rc;
}
