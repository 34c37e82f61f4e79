/*
 * The virtio-blk driver task on GNU Mach (virtio-blk-pci 1af4:1042, modern only), for the boot
 * tests mach_vblk_poll, mach_vblk_irq and mach_vblk_device. Usage: vblk_drv ROLE [ARG]
 *   poll [FIRST]   completions by polling the used ring (device interrupts suppressed): 64
 *                  sectors FIRST.. (default 4096) written (each "irqd virtio-blk mach sector N"
 *                  padded to 512 bytes with '.', last byte '\n'), in two batches of 32
 *                  requests, flushed, read back one request per sector and again as one
 *                  64-sector request, compared. Verdict mach_vblk_poll.
 *   irq [FIRST]    the same with completions by interrupt: the device's INTx line through
 *                  irqd (line "vblk"; this task is started suspended, irqd registers its
 *                  ports here and resumes it); ISR status read at each occurrence, answered
 *                  HANDLED. Verdict mach_vblk_irq, with irqd's line counters.
 *   device CLIENT  as irq, then serves the Mach device interface (device.defs, server side):
 *                  a "device master" port whose device_open("vblk0") gives the disk's device
 *                  port; device_read / device_write / device_read_inband /
 *                  device_write_inband in 512-byte records, device_get_status DEV_GET_SIZE /
 *                  DEV_GET_RECORDS, device_close. The master port is registered in the client
 *                  task (CLIENT: its task port from the boot script; mach_ports_register slot
 *                  0), which is then resumed and gives the verdict (vblk_client.c).
 * Requests of the device interface are served one at a time, synchronously (the reply goes out
 * when the device has completed the request; each device_write is followed by a FLUSH).
 */
#include <mrt/mrt.h>
#include <mrt/test.h>
#include <mach/mach_port.h>
#include <mach/mach_interface.h>
#include <mach/mig_errors.h>
#include <device/device_types.h>
#include <errno.h>
#include <irqd/client.h>
#include "device_S.h"			/* the server side of device.defs (MIG) */

#include "virtio.h"
#include "vblk_mach.h"
#include "virtio_pci_mach.h"

#define NSECT 64
#define BATCH 32

static const char *role = "?";
static struct vblk blk;

static void fill_sector(char *s, uint64_t n)
{
	int k = snprintf(s, 512, "irqd virtio-blk mach sector %llu ", (unsigned long long)n);
	memset(s + k, '.', 511 - (size_t)k);
	s[511] = '\n';
}

static int run(uint32_t type, uint64_t first, char *buf, unsigned per_req, const char *what)
{
	for (unsigned done = 0; done < NSECT;) {
		for (unsigned q = 0; q < BATCH && done < NSECT; q++, done += per_req) {
			int r = vblk_queue(&blk, type, first + done, buf + done * 512, per_req * 512);
			if (r < 0) {
				printf("vblk_drv %s: %s: queue: %d\n", role, what, r);
				return r;
			}
		}
		vblk_kick(&blk);
		int r = vblk_wait_all(&blk, 5000);
		if (r < 0) {
			printf("vblk_drv %s: %s: wait: %d (%s)\n", role, what, r,
			       r == -EIO ? "device status not OK" : "timeout or protocol");
			return r;
		}
	}
	return 0;
}

/* The sector test of mach_vblk_poll and mach_vblk_irq; fills detail with the figures. */
static void sector_test(uint64_t first, char *detail, size_t dlen)
{
	char *wbuf = vblk_buf(&blk, NSECT * 512), *rbuf = vblk_buf(&blk, NSECT * 512);
	if (!wbuf || !rbuf)
		mrt_die("data buffers in the arena");
	mrt_check(blk.capacity >= first + NSECT, "the disk holds the test sectors");
	mrt_check(!blk.read_only, "the disk is writable");
	for (unsigned i = 0; i < NSECT; i++)
		fill_sector(wbuf + i * 512, first + i);

	uint64_t hz = mrt_tsc_hz(50);
	uint64_t t0 = mrt_rdtsc();
	if (run(VIRTIO_BLK_T_OUT, first, wbuf, 1, "write") < 0)
		mrt_die("64 one-sector writes");
	uint64_t t1 = mrt_rdtsc();
	if (blk.flush) {
		if (vblk_queue(&blk, VIRTIO_BLK_T_FLUSH, 0, NULL, 0) < 0)
			mrt_die("flush queued");
		vblk_kick(&blk);
		mrt_check(vblk_wait_all(&blk, 5000) == 0, "flush completed OK");
	}
	if (run(VIRTIO_BLK_T_IN, first, rbuf, 1, "read") < 0)
		mrt_die("64 one-sector reads");
	uint64_t t2 = mrt_rdtsc();
	mrt_check(memcmp(wbuf, rbuf, NSECT * 512) == 0, "one-sector reads give what was written");
	memset(rbuf, 0, NSECT * 512);
	if (run(VIRTIO_BLK_T_IN, first, rbuf, NSECT, "big read") < 0)
		mrt_die("one 64-sector read");
	mrt_check(memcmp(wbuf, rbuf, NSECT * 512) == 0, "the 64-sector read gives what was written");
	mrt_check(blk.st.sectors_written == NSECT && blk.st.sectors_read == 2 * NSECT,
	      "sector counts");
	mrt_check(blk.errors == 0, "no request failed");
	mrt_check(blk.vq.stats.device_errors == 0, "no impossible used entry");
	printf("vblk_drv %s: %s, capacity %llu sectors, features 0x%llx (EVENT_IDX %d, FLUSH %d, "
	       "ACCESS_PLATFORM %d), arena phys 0x%llx\n",
	       role, blk.dev->name, (unsigned long long)blk.capacity,
	       (unsigned long long)blk.dev->features, virtio_has(blk.dev, VIRTIO_F_EVENT_IDX),
	       blk.flush, virtio_has(blk.dev, VIRTIO_F_ACCESS_PLATFORM),
	       (unsigned long long)vpm_arena_phys(blk.dev));
	printf("vblk_drv %s: requests %llu (written %llu, read %llu sectors, flushes %llu); "
	       "notifies %llu suppressed %llu; occurrences %llu (ISR empty %llu, nothing new %llu); "
	       "64 writes %llu us, flush + 64 reads %llu us\n",
	       role, (unsigned long long)blk.st.requests, (unsigned long long)blk.st.sectors_written,
	       (unsigned long long)blk.st.sectors_read, (unsigned long long)blk.st.flushes,
	       (unsigned long long)blk.vq.stats.notifies,
	       (unsigned long long)blk.vq.stats.notifies_suppressed,
	       (unsigned long long)blk.st.occurrences, (unsigned long long)blk.st.isr_empty,
	       (unsigned long long)blk.st.no_progress, hz ? (unsigned long long)((t1 - t0) * 1000000 / hz) : 0,
	       hz ? (unsigned long long)((t2 - t1) * 1000000 / hz) : 0);
	snprintf(detail, dlen, "sectors %llu..%llu written, flushed, read back (%llu requests, "
		 "%llu interrupts)", (unsigned long long)first,
		 (unsigned long long)(first + NSECT - 1), (unsigned long long)blk.st.requests,
		 (unsigned long long)blk.st.occurrences);
}

static void irq_checks(void)
{
	struct irqd_line_stats st;
	int r = irqd_line_stats(blk.irqd, "vblk", &st);
	if (r < 0) {
		printf("vblk_drv %s: irqd_line_stats: %d: %s\n", role, r, irqd_last_error());
		mrt_check(0, "irqd_line_stats");
		return;
	}
	printf("vblk_drv %s: irqd line vblk (kernel irq %u): raised %llu delivered %llu handled "
	       "%llu not_mine %llu unhandled %llu\n", role, vpm_intx_line(blk.dev),
	       (unsigned long long)st.raised, (unsigned long long)st.delivered,
	       (unsigned long long)st.handled, (unsigned long long)st.not_mine,
	       (unsigned long long)st.unhandled);
	mrt_check(blk.st.occurrences > 0, "at least one interrupt");
	mrt_check(blk.st.isr_empty == 0, "the ISR status was set at every occurrence");
	mrt_check(st.handled == blk.st.occurrences, "irqd counted each HANDLED answer");
	mrt_check(st.not_mine == 0 && st.unhandled == 0, "no NOT_MINE or unhandled occurrence");
}

/* ---- the Mach device interface (device.defs, server side) ---- */

boolean_t device_server(mach_msg_header_t *in, mach_msg_header_t *out);

static mach_port_t master_port, dev_port, port_set;
static unsigned opens;
static struct {
	uint64_t reads, writes, bytes_read, bytes_written, status, refused;
} ds;

static io_return_t check_range(mach_port_t device, recnum_t recnum, size_t bytes)
{
	if (device != dev_port)
		return D_NO_SUCH_DEVICE;
	if (bytes % 512) {
		ds.refused++;
		return D_INVALID_SIZE;
	}
	if (recnum > blk.capacity || bytes / 512 > blk.capacity - recnum) {
		ds.refused++;
		return D_INVALID_RECNUM;
	}
	return D_SUCCESS;
}

/* Through the bounce buffer, VBLK_BOUNCE bytes per request. */
static io_return_t transfer(uint32_t type, recnum_t recnum, char *data, size_t bytes)
{
	for (size_t done = 0; done < bytes;) {
		uint32_t n = (uint32_t)(bytes - done < VBLK_BOUNCE ? bytes - done : VBLK_BOUNCE);
		if (type == VIRTIO_BLK_T_OUT)
			memcpy(blk.bounce, data + done, n);
		if (vblk_sync(&blk, type, recnum + done / 512, n) < 0)
			return D_IO_ERROR;
		if (type == VIRTIO_BLK_T_IN)
			memcpy(data + done, blk.bounce, n);
		done += n;
	}
	if (type == VIRTIO_BLK_T_OUT && blk.flush && vblk_sync(&blk, VIRTIO_BLK_T_FLUSH, 0, 0) < 0)
		return D_IO_ERROR;
	return D_SUCCESS;
}

kern_return_t ds_device_open(mach_port_t master, mach_port_t reply, mach_msg_type_name_t rpoly,
			     dev_mode_t mode, const_dev_name_t name, mach_port_t *device,
			     mach_msg_type_name_t *device_poly)
{
	(void)reply;
	(void)rpoly;
	if (master != master_port)
		return D_INVALID_OPERATION;
	if (strcmp(name, "vblk0") != 0)
		return D_NO_SUCH_DEVICE;
	if ((mode & D_WRITE) && blk.read_only)
		return D_READ_ONLY;
	opens++;
	*device = dev_port; /* a send right made from our receive right */
	*device_poly = MACH_MSG_TYPE_MAKE_SEND;
	return D_SUCCESS;
}

kern_return_t ds_device_close(mach_port_t device)
{
	return device == dev_port ? D_SUCCESS : D_NO_SUCH_DEVICE;
}

kern_return_t ds_device_write(mach_port_t device, mach_port_t reply, mach_msg_type_name_t rpoly,
			      dev_mode_t mode, recnum_t recnum, io_buf_ptr_t data,
			      mach_msg_type_number_t count, int *written)
{
	(void)reply;
	(void)rpoly;
	(void)mode;
	io_return_t r = check_range(device, recnum, count);
	if (r == D_SUCCESS)
		r = transfer(VIRTIO_BLK_T_OUT, recnum, data, count);
	/* The data came out of line: ours to free, whatever the answer. */
	(void)vm_deallocate(mach_task_self(), (vm_address_t)data, count);
	if (r == D_SUCCESS) {
		*written = (int)count;
		ds.writes++;
		ds.bytes_written += count;
	}
	return r;
}

kern_return_t ds_device_write_inband(mach_port_t device, mach_port_t reply,
				     mach_msg_type_name_t rpoly, dev_mode_t mode, recnum_t recnum,
				     const io_buf_ptr_inband_t data, mach_msg_type_number_t count,
				     int *written)
{
	(void)reply;
	(void)rpoly;
	(void)mode;
	/* Inband data is at most 128 bytes: less than a record, so always refused. */
	io_return_t r = check_range(device, recnum, count);
	if (r == D_SUCCESS)
		r = transfer(VIRTIO_BLK_T_OUT, recnum, (char *)(uintptr_t)data, count);
	if (r == D_SUCCESS)
		*written = (int)count;
	return r;
}

kern_return_t ds_device_read(mach_port_t device, mach_port_t reply, mach_msg_type_name_t rpoly,
			     dev_mode_t mode, recnum_t recnum, int wanted, io_buf_ptr_t *data,
			     mach_msg_type_number_t *count)
{
	(void)reply;
	(void)rpoly;
	(void)mode;
	if (wanted < 0)
		return D_INVALID_SIZE;
	io_return_t r = check_range(device, recnum, (size_t)wanted);
	if (r != D_SUCCESS)
		return r;
	vm_address_t buf = 0;
	if (wanted > 0 && vm_allocate(mach_task_self(), &buf, (vm_size_t)wanted, TRUE))
		return D_NO_MEMORY;
	r = transfer(VIRTIO_BLK_T_IN, recnum, (char *)buf, (size_t)wanted);
	if (r != D_SUCCESS) {
		(void)vm_deallocate(mach_task_self(), buf, (vm_size_t)wanted);
		return r;
	}
	*data = (io_buf_ptr_t)buf; /* sent with dealloc: the kernel frees it here */
	*count = (mach_msg_type_number_t)wanted;
	ds.reads++;
	ds.bytes_read += (uint64_t)wanted;
	return D_SUCCESS;
}

kern_return_t ds_device_read_inband(mach_port_t device, mach_port_t reply,
				    mach_msg_type_name_t rpoly, dev_mode_t mode, recnum_t recnum,
				    int wanted, io_buf_ptr_inband_t data,
				    mach_msg_type_number_t *count)
{
	(void)reply;
	(void)rpoly;
	(void)mode;
	if (wanted < 0 || wanted > 128)
		return D_INVALID_SIZE;
	io_return_t r = check_range(device, recnum, (size_t)wanted);
	if (r == D_SUCCESS)
		r = transfer(VIRTIO_BLK_T_IN, recnum, data, (size_t)wanted);
	if (r == D_SUCCESS)
		*count = (mach_msg_type_number_t)wanted;
	return r;
}

kern_return_t ds_device_map(mach_port_t device, vm_prot_t prot, vm_offset_t offset,
			    vm_size_t size, mach_port_t *pager, int unmap)
{
	(void)device;
	(void)prot;
	(void)offset;
	(void)size;
	(void)pager;
	(void)unmap;
	return D_INVALID_OPERATION;
}

kern_return_t ds_device_set_status(mach_port_t device, dev_flavor_t flavor,
				   const dev_status_t status,
				   mach_msg_type_number_t count)
{
	(void)flavor;
	(void)status;
	(void)count;
	return device == dev_port ? D_INVALID_OPERATION : D_NO_SUCH_DEVICE;
}

kern_return_t ds_device_get_status(mach_port_t device, dev_flavor_t flavor, dev_status_t status,
				   mach_msg_type_number_t *count)
{
	if (device != dev_port)
		return D_NO_SUCH_DEVICE;
	ds.status++;
	switch (flavor) {
	case DEV_GET_SIZE:
		if (*count < DEV_GET_SIZE_COUNT)
			return D_INVALID_SIZE;
		/* bytes, in an int: disks up to 2 GiB - 512 say their size here */
		status[DEV_GET_SIZE_DEVICE_SIZE] =
			blk.capacity * 512 > 0x7fffffffull ? 0 : (int)(blk.capacity * 512);
		status[DEV_GET_SIZE_RECORD_SIZE] = 512;
		*count = DEV_GET_SIZE_COUNT;
		return D_SUCCESS;
	case DEV_GET_RECORDS:
		if (*count < DEV_GET_RECORDS_COUNT)
			return D_INVALID_SIZE;
		status[DEV_GET_RECORDS_DEVICE_RECORDS] =
			blk.capacity > 0x7fffffffull ? 0 : (int)blk.capacity;
		status[DEV_GET_RECORDS_RECORD_SIZE] = 512;
		*count = DEV_GET_RECORDS_COUNT;
		return D_SUCCESS;
	default:
		return D_INVALID_OPERATION;
	}
}

kern_return_t ds_device_set_filter(mach_port_t device, mach_port_t receive_port,
				   int priority, const filter_array_t filter,
				   mach_msg_type_number_t count)
{
	(void)device;
	(void)receive_port;
	(void)priority;
	(void)filter;
	(void)count;
	return D_INVALID_OPERATION;
}

kern_return_t ds_device_intr_register(mach_port_t device, int id, int flags,
				      mach_port_t receive_port)
{
	(void)device;
	(void)id;
	(void)flags;
	(void)receive_port;
	return D_INVALID_OPERATION;
}

kern_return_t ds_device_intr_ack(mach_port_t device, mach_port_t receive_port)
{
	(void)device;
	(void)receive_port;
	return D_INVALID_OPERATION;
}

static _Noreturn void serve(mach_port_t client)
{
	union {
		mach_msg_header_t head;
		char buf[8192];
	} in;
	union {
		mig_reply_header_t head;
		char buf[8192];
	} out;
	kern_return_t kr;

	if (mach_port_allocate(mach_task_self(), MACH_PORT_RIGHT_RECEIVE, &master_port) ||
	    mach_port_allocate(mach_task_self(), MACH_PORT_RIGHT_RECEIVE, &dev_port) ||
	    mach_port_allocate(mach_task_self(), MACH_PORT_RIGHT_PORT_SET, &port_set) ||
	    mach_port_move_member(mach_task_self(), master_port, port_set) ||
	    mach_port_move_member(mach_task_self(), dev_port, port_set) ||
	    mach_port_insert_right(mach_task_self(), master_port, master_port,
				   MACH_MSG_TYPE_MAKE_SEND))
		mrt_die("device ports");
	kr = mach_ports_register(client, &master_port, 1);
	if (kr != KERN_SUCCESS) {
		printf("vblk_drv: mach_ports_register(client %u): 0x%x\n", (unsigned)client, kr);
		mrt_die("the master port registered in the client");
	}
	if (task_resume(client) != KERN_SUCCESS)
		mrt_die("task_resume(client)");
	(void)mach_port_deallocate(mach_task_self(), client);
	printf("vblk_drv device: serving vblk0 (%llu records of 512 bytes) to client task\n",
	       (unsigned long long)blk.capacity);
	for (;;) {
		mach_msg_return_t mr = mach_msg(&in.head, MACH_RCV_MSG, 0, sizeof in, port_set, 0,
						MACH_PORT_NULL);
		if (mr != MACH_MSG_SUCCESS) {
			printf("vblk_drv: receive: 0x%x\n", mr);
			continue;
		}
		mrt_mig_serve(&in.head, &out.head, device_server, "vblk_drv");
	}
}

int main(int argc, char **argv)
{
	char detail[200];
	uint64_t first = 4096;
	enum vblk_mode mode;

	if (argc <= MRT_FIRST_ARG)
		mrt_die("usage: vblk_drv poll|irq|device ARG");
	role = argv[MRT_FIRST_ARG];
	static char who[64];
	snprintf(who, sizeof(who), "vblk_drv %s", role);
	mrt_test.name = "mach_vblk";
	mrt_test.who = who;
	if (strcmp(role, "poll") == 0) {
		mrt_test.name = "mach_vblk_poll";
		mode = VBLK_POLL;
	} else if (strcmp(role, "irq") == 0) {
		mrt_test.name = "mach_vblk_irq";
		mode = VBLK_IRQD;
	} else if (strcmp(role, "device") == 0) {
		mrt_test.name = "mach_vblk_device";
		mode = VBLK_IRQD;
		if (argc <= MRT_FIRST_ARG + 1)
			mrt_die("usage: vblk_drv device CLIENT-TASK");
	} else {
		mrt_die("unknown role");
	}
	if (strcmp(role, "device") != 0 && argc > MRT_FIRST_ARG + 1)
		first = strtoul(argv[MRT_FIRST_ARG + 1], NULL, 0);

	int r = vblk_open(&blk, mode, 0, 2 * NSECT * 512 + 4096);
	if (r < 0) {
		printf("vblk_drv %s: open: %d: %s\n", role, r, blk.error);
		mrt_die("virtio-blk-pci found and started");
	}
	if (strcmp(role, "device") == 0)
		serve((mach_port_t)strtoul(argv[MRT_FIRST_ARG + 1], NULL, 10));
	sector_test(first, detail, sizeof detail);
	if (mode == VBLK_IRQD)
		irq_checks();
	mrt_verdict(detail);
}
