/* PCI configuration mechanism #1. */
#include <mrt/io.h>
#include <mrt/pci.h>

#define CONFIG_ADDRESS 0xcf8
#define CONFIG_DATA 0xcfc

kern_return_t mrt_pci_init(void)
{
	static int done;
	kern_return_t kr = KERN_SUCCESS;

	if (!done) {
		kr = mrt_io_perm(CONFIG_ADDRESS, CONFIG_DATA + 3);
		done = kr == KERN_SUCCESS;
	}
	return kr;
}

static void select_reg(uint16_t bdf, uint8_t off)
{
	outl(0x80000000u | ((uint32_t)bdf << 8) | (off & 0xfc), CONFIG_ADDRESS);
}

uint32_t mrt_pci_read32(uint16_t bdf, uint8_t off)
{
	select_reg(bdf, off);
	return inl(CONFIG_DATA);
}

uint16_t mrt_pci_read16(uint16_t bdf, uint8_t off)
{
	select_reg(bdf, off);
	return inw((uint16_t)(CONFIG_DATA + (off & 2)));
}

uint8_t mrt_pci_read8(uint16_t bdf, uint8_t off)
{
	select_reg(bdf, off);
	return inb((uint16_t)(CONFIG_DATA + (off & 3)));
}

void mrt_pci_write32(uint16_t bdf, uint8_t off, uint32_t v)
{
	select_reg(bdf, off);
	outl(v, CONFIG_DATA);
}

void mrt_pci_write16(uint16_t bdf, uint8_t off, uint16_t v)
{
	select_reg(bdf, off);
	outw(v, (uint16_t)(CONFIG_DATA + (off & 2)));
}

int mrt_pci_find(uint16_t vendor, uint16_t device, int index, uint16_t *bdf)
{
	for (unsigned bus = 0; bus < 256; bus++) {
		for (unsigned dev = 0; dev < 32; dev++) {
			unsigned nfn = 1;
			for (unsigned fn = 0; fn < nfn; fn++) {
				uint16_t b = MRT_PCI_BDF(bus, dev, fn);
				uint32_t id = mrt_pci_read32(b, MRT_PCI_VENDOR);
				if ((id & 0xffff) == 0xffff)
					continue;
				if (fn == 0 && (mrt_pci_read8(b, MRT_PCI_HEADER_TYPE) & 0x80))
					nfn = 8;
				if ((id & 0xffff) == vendor && (id >> 16) == device && index-- == 0) {
					*bdf = b;
					return 0;
				}
			}
		}
	}
	return -1;
}

int mrt_pci_bar(uint16_t bdf, int n, uint64_t *base, uint64_t *size, uint32_t *flags)
{
	uint8_t off = (uint8_t)(MRT_PCI_BAR0 + 4 * n);
	uint32_t lo = mrt_pci_read32(bdf, off), hi = 0, slo, shi = 0xffffffffu;
	uint16_t cmd = mrt_pci_read16(bdf, MRT_PCI_COMMAND);
	int is64 = !(lo & 1) && ((lo >> 1) & 3) == 2;
	uint64_t mask;

	if (n < 0 || n > 5 || (is64 && n == 5))
		return -1;
	mrt_pci_write16(bdf, MRT_PCI_COMMAND,
			(uint16_t)(cmd & ~(MRT_PCI_CMD_IO | MRT_PCI_CMD_MEM)));
	mrt_pci_write32(bdf, off, 0xffffffffu);
	slo = mrt_pci_read32(bdf, off);
	mrt_pci_write32(bdf, off, lo);
	if (is64) {
		hi = mrt_pci_read32(bdf, (uint8_t)(off + 4));
		mrt_pci_write32(bdf, (uint8_t)(off + 4), 0xffffffffu);
		shi = mrt_pci_read32(bdf, (uint8_t)(off + 4));
		mrt_pci_write32(bdf, (uint8_t)(off + 4), hi);
	}
	mrt_pci_write16(bdf, MRT_PCI_COMMAND, cmd);
	if (slo == 0 || slo == 0xffffffffu)
		return -1;
	if (lo & 1) {
		mask = (slo & ~3u) | 0xffff0000u;
		*base = lo & ~3u;
		*flags = lo & 3;
		mask |= 0xffffffff00000000ull;
	} else {
		mask = ((uint64_t)shi << 32) | (slo & ~0xfu);
		if (!is64)
			mask |= 0xffffffff00000000ull;
		*base = ((uint64_t)hi << 32) | (lo & ~0xfu);
		*flags = lo & 0xf;
	}
	*size = ~mask + 1;
	return 0;
}
