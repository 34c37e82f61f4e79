/*
 * The client task of mach_vblk_device: a storeio-like user of the disk that vblk_drv serves
 * through the Mach device interface. Started suspended; vblk_drv registers its device master
 * port in this task (mach_ports_register slot 0) and resumes it. Usage: vblk_client [FIRST]
 *   device_open("vblk0") (and refused for an unknown name), device_get_status DEV_GET_SIZE
 *   and DEV_GET_RECORDS, 64 sectors FIRST.. (default 8192; "irqd virtio-blk mach device
 *   sector N" padded to 512 bytes with '.', last byte '\n') in one device_write, read back
 *   with one device_read and per sector with device_read, compared; a read past the end and a
 *   write of a partial record are refused. Verdict mach_vblk_device.
 */
#include <mrt/mrt.h>
#include <mrt/test.h>
#include <mach/mach_port.h>
#include <mach/mach_interface.h>
#include <device/device_types.h>
#include <device/device.h>

#define NSECT 64


static uint64_t us(uint64_t cycles, uint64_t hz)
{
	return hz ? cycles * 1000000ull / hz : 0;
}

int main(int argc, char **argv)
{
	mrt_test.name = "mach_vblk_device";
	mrt_test.who = "vblk_client";
	uint64_t first = 8192;
	mach_port_t *ports = NULL, master, dev = MACH_PORT_NULL, bad = MACH_PORT_NULL;
	mach_msg_type_number_t n = 0;
	kern_return_t kr;
	char detail[200];

	if (argc > MRT_FIRST_ARG)
		first = strtoul(argv[MRT_FIRST_ARG], NULL, 0);
	kr = mach_ports_lookup(mach_task_self(), &ports, &n);
	if (kr != KERN_SUCCESS || n < 1 || !MACH_PORT_VALID(ports[0]))
		mrt_die("the driver's device master port registered in this task");
	master = ports[0];

	mrt_check(device_open(master, D_READ | D_WRITE, "nodisk", &bad) == D_NO_SUCH_DEVICE,
	      "device_open of an unknown name gives D_NO_SUCH_DEVICE");
	kr = device_open(master, D_READ | D_WRITE, "vblk0", &dev);
	if (kr != D_SUCCESS) {
		printf("vblk_client: device_open vblk0: 0x%x\n", kr);
		mrt_die("device_open(vblk0)");
	}

	int st[DEV_GET_RECORDS_COUNT > DEV_GET_SIZE_COUNT ? DEV_GET_RECORDS_COUNT : DEV_GET_SIZE_COUNT];
	mach_msg_type_number_t cnt = DEV_GET_SIZE_COUNT;
	kr = device_get_status(dev, DEV_GET_SIZE, st, &cnt);
	mrt_check(kr == D_SUCCESS && cnt == DEV_GET_SIZE_COUNT, "device_get_status DEV_GET_SIZE");
	int size = st[DEV_GET_SIZE_DEVICE_SIZE], rsize = st[DEV_GET_SIZE_RECORD_SIZE];
	cnt = DEV_GET_RECORDS_COUNT;
	kr = device_get_status(dev, DEV_GET_RECORDS, st, &cnt);
	mrt_check(kr == D_SUCCESS && cnt == DEV_GET_RECORDS_COUNT, "device_get_status DEV_GET_RECORDS");
	int records = st[DEV_GET_RECORDS_DEVICE_RECORDS];
	printf("vblk_client: vblk0: DEV_GET_SIZE %d bytes, record %d; DEV_GET_RECORDS %d\n", size,
	       rsize, records);
	mrt_check(rsize == 512 && st[DEV_GET_RECORDS_RECORD_SIZE] == 512, "512-byte records");
	mrt_check(records > 0 && (uint64_t)size == (uint64_t)records * 512, "size = records * 512");
	mrt_check((uint64_t)records >= first + NSECT, "the disk holds the test sectors");

	static char wbuf[NSECT * 512];
	for (unsigned i = 0; i < NSECT; i++) {
		char *s = wbuf + i * 512;
		int k = snprintf(s, 512, "irqd virtio-blk mach device sector %llu ",
				 (unsigned long long)(first + i));
		memset(s + k, '.', 511 - (size_t)k);
		s[511] = '\n';
	}
	uint64_t hz = mrt_tsc_hz(50), t0 = mrt_rdtsc();
	int written = 0;
	kr = device_write(dev, 0, (recnum_t)first, wbuf, sizeof wbuf, &written);
	uint64_t t1 = mrt_rdtsc();
	if (kr != D_SUCCESS)
		printf("vblk_client: device_write: 0x%x\n", kr);
	mrt_check(kr == D_SUCCESS && written == (int)sizeof wbuf, "device_write of 64 records");

	io_buf_ptr_t data = NULL;
	mach_msg_type_number_t got = 0;
	kr = device_read(dev, 0, (recnum_t)first, sizeof wbuf, &data, &got);
	uint64_t t2 = mrt_rdtsc();
	mrt_check(kr == D_SUCCESS && got == sizeof wbuf, "device_read of 64 records");
	if (kr == D_SUCCESS) {
		mrt_check(memcmp(data, wbuf, sizeof wbuf) == 0, "device_read gives what was written");
		(void)vm_deallocate(mach_task_self(), (vm_address_t)data, got);
	}
	unsigned same = 0;
	for (unsigned i = 0; i < NSECT; i++) {
		data = NULL;
		got = 0;
		kr = device_read(dev, 0, (recnum_t)(first + i), 512, &data, &got);
		if (kr == D_SUCCESS && got == 512 && memcmp(data, wbuf + i * 512, 512) == 0)
			same++;
		if (kr == D_SUCCESS)
			(void)vm_deallocate(mach_task_self(), (vm_address_t)data, got);
	}
	uint64_t t3 = mrt_rdtsc();
	mrt_check(same == NSECT, "each record read on its own matches");

	data = NULL;
	kr = device_read(dev, 0, (recnum_t)records, 512, &data, &got);
	mrt_check(kr == D_INVALID_RECNUM, "a read past the end gives D_INVALID_RECNUM");
	kr = device_write(dev, 0, (recnum_t)first, wbuf, 100, &written);
	mrt_check(kr == D_INVALID_SIZE, "a write of a partial record gives D_INVALID_SIZE");
	mrt_check(device_close(dev) == D_SUCCESS, "device_close");

	printf("vblk_client: device_write 32 KiB %llu us, device_read 32 KiB %llu us, 64 "
	       "one-record device_reads %llu us (%llu us each)\n",
	       (unsigned long long)us(t1 - t0, hz), (unsigned long long)us(t2 - t1, hz),
	       (unsigned long long)us(t3 - t2, hz), (unsigned long long)us(t3 - t2, hz) / 64);
	snprintf(detail, sizeof detail, "vblk0 %d records; records %llu..%llu written with "
		 "device_write, read back with device_read", records, (unsigned long long)first,
		 (unsigned long long)(first + NSECT - 1));
	mrt_verdict(detail);
}
