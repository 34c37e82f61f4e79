/* mach_msg and the support routines of MIG-generated user stubs. Single-threaded. */
#include <mach/mach_types.h>
#include <mach/message.h>
#include <mach/mig_support.h>
#include <mach/mach_port.h>
#include <mach/mach_interface.h>
#include <mrt/boot.h>
#include <mrt/mig.h>
#include <mrt/traps.h>
#include <stdio.h>
#include <string.h>

/* As libmach's: an interrupted send is retried whole, an interrupted receive is resumed
 * (receive only), unless the caller asked to see interruptions. */
mach_msg_return_t mach_msg(mach_msg_header_t *msg, mach_msg_option_t option,
			   mach_msg_size_t send_size, mach_msg_size_t rcv_size,
			   mach_port_name_t rcv_name, mach_msg_timeout_t timeout,
			   mach_port_name_t notify)
{
	mach_msg_return_t mr;

	do
		mr = mach_msg_trap(msg, option, send_size, rcv_size, rcv_name, timeout, notify);
	while (mr == MACH_SEND_INTERRUPTED && !(option & MACH_SEND_INTERRUPT));
	while (mr == MACH_RCV_INTERRUPTED && !(option & MACH_RCV_INTERRUPT))
		mr = mach_msg_trap(msg, option & ~MACH_SEND_MSG, 0, rcv_size, rcv_name, timeout,
				   notify);
	return mr;
}

static mach_port_t reply_port = MACH_PORT_NULL;

mach_port_t mig_get_reply_port(void)
{
	if (reply_port == MACH_PORT_NULL)
		reply_port = mach_reply_port();
	return reply_port;
}

void mig_put_reply_port(mach_port_t port)
{
	(void)port;
}

void mig_dealloc_reply_port(mach_port_t port)
{
	/* Forget it first: destroying it is itself an RPC, which must get a fresh port. */
	if (port == reply_port)
		reply_port = MACH_PORT_NULL;
	if (MACH_PORT_VALID(port))
		(void)mach_port_destroy(mach_task_self(), port);
}

vm_size_t mig_strncpy(char *dst, const char *src, vm_size_t len)
{
	vm_size_t i;

	if (len == 0)
		return 0;
	for (i = 0; i < len - 1 && src[i] != '\0'; i++)
		dst[i] = src[i];
	dst[i] = '\0';
	return i + 1;
}

void mig_allocate(vm_address_t *addr, vm_size_t size)
{
	if (syscall_vm_allocate(mach_task_self(), addr, size, TRUE) != KERN_SUCCESS)
		*addr = 0;
}

void mig_deallocate(vm_address_t addr, vm_size_t size)
{
	(void)syscall_vm_deallocate(mach_task_self(), addr, size);
}

void mrt_mig_serve(mach_msg_header_t *in, mig_reply_header_t *out,
		   boolean_t (*demux)(mach_msg_header_t *, mach_msg_header_t *), const char *who)
{
	if (!demux(in, &out->Head))
		printf("%s: unknown message id %d\n", who, in->msgh_id);
	if (out->RetCode == MIG_NO_REPLY || !MACH_PORT_VALID(out->Head.msgh_remote_port))
		return;
	mach_msg_return_t mr = mach_msg(&out->Head, MACH_SEND_MSG | MACH_SEND_TIMEOUT,
					out->Head.msgh_size, 0, MACH_PORT_NULL, 0, MACH_PORT_NULL);
	if (mr != MACH_MSG_SUCCESS && mr != MACH_SEND_INVALID_DEST)
		printf("%s: reply: 0x%x\n", who, mr);
}
