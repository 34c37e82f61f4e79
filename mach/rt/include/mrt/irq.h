/* Interrupts through the kernel's "irq" device (rt/irq.c).
 * mrt_irq_register opens the device once, makes a receive right and registers it for a line
 * (device_intr_register with a send right made from it). Each interrupt of the line arrives
 * as one message with msgh_id DEVICE_INTR_NOTIFY (100) carrying the line; the kernel keeps the
 * line masked until every port registered on it has acknowledged (mrt_irq_ack ->
 * device_intr_ack). For a level-triggered line (PCI INTx), make the device deassert first
 * (acknowledge it at the device), then mrt_irq_ack. Lines 0 and 4 are refused by the kernel. */
#ifndef MRT_IRQ_H
#define MRT_IRQ_H

#include <mach/port.h>
#include <mach/kern_return.h>
#include <mach/message.h>

struct mrt_irq {
	mach_port_t device;	/* the "irq" device */
	mach_port_t port;	/* receive right the notifications come to */
	int line;
	unsigned long received;	/* notifications taken by mrt_irq_wait */
};

/* Registers for line: 0 (KERN_SUCCESS) or the kernel's error (D_ALREADY_OPEN for 0 and 4). */
kern_return_t mrt_irq_register(struct mrt_irq *irq, int line);
/* Waits for the next notification: MACH_MSG_SUCCESS, MACH_RCV_TIMED_OUT after timeout_ms
 * (0: wait forever), another mach_msg error, or MRT_IRQ_UNEXPECTED if a message other than a
 * notification for this line arrived (it is consumed). */
#define MRT_IRQ_UNEXPECTED ((mach_msg_return_t)-1)
mach_msg_return_t mrt_irq_wait(struct mrt_irq *irq, mach_msg_timeout_t timeout_ms);
/* Unmasks the line in the kernel after a notification. */
kern_return_t mrt_irq_ack(struct mrt_irq *irq);
/* Destroys the receive right: the kernel drops the registration (and its pending acks). */
void mrt_irq_release(struct mrt_irq *irq);

#endif
