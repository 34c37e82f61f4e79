/* Interrupt notifications from the "irq" device. */
#include <mach/mach_types.h>
#include <mach/mach_port.h>
#include <device/device_types.h>
#include <device/device.h>
#include <device/notify.h>
#include <mrt/boot.h>
#include <mrt/irq.h>
#include <string.h>

static mach_port_t irq_device(void)
{
	static mach_port_t dev = MACH_PORT_NULL;

	if (dev == MACH_PORT_NULL)
		dev = mrt_device_open("irq", D_READ | D_WRITE);
	return dev;
}

kern_return_t mrt_irq_register(struct mrt_irq *irq, int line)
{
	kern_return_t kr;

	memset(irq, 0, sizeof(*irq));
	irq->line = line;
	irq->device = irq_device();
	if (irq->device == MACH_PORT_NULL)
		return D_NO_SUCH_DEVICE;
	kr = mach_port_allocate(mach_task_self(), MACH_PORT_RIGHT_RECEIVE, &irq->port);
	if (kr != KERN_SUCCESS)
		return kr;
	kr = device_intr_register(irq->device, line, 0, irq->port, MACH_MSG_TYPE_MAKE_SEND);
	if (kr != KERN_SUCCESS) {
		(void)mach_port_destroy(mach_task_self(), irq->port);
		irq->port = MACH_PORT_NULL;
	}
	return kr;
}

mach_msg_return_t mrt_irq_wait(struct mrt_irq *irq, mach_msg_timeout_t timeout_ms)
{
	union {
		mach_msg_header_t head;
		device_intr_notification_t intr;
		char space[256];
	} msg;
	mach_msg_return_t mr;

	mr = mach_msg(&msg.head, MACH_RCV_MSG | (timeout_ms ? MACH_RCV_TIMEOUT : 0), 0,
		      sizeof(msg), irq->port, timeout_ms, MACH_PORT_NULL);
	if (mr != MACH_MSG_SUCCESS)
		return mr;
	if (msg.head.msgh_id != DEVICE_INTR_NOTIFY || msg.intr.id != irq->line)
		return MRT_IRQ_UNEXPECTED;
	irq->received++;
	return MACH_MSG_SUCCESS;
}

kern_return_t mrt_irq_ack(struct mrt_irq *irq)
{
	return device_intr_ack(irq->device, irq->port, MACH_MSG_TYPE_MAKE_SEND);
}

void mrt_irq_release(struct mrt_irq *irq)
{
	if (MACH_PORT_VALID(irq->port))
		(void)mach_port_destroy(mach_task_self(), irq->port);
	irq->port = MACH_PORT_NULL;
}
