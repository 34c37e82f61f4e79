/*
 * fuzz_vhost_user.c - libFuzzer target: what a vhost-user back end (a device) says to our front
 * end. The input is the byte stream of the back end's replies, served on a socket pair; the
 * front end connects (vhost_user_open_fd) and the block or network driver opens the device on
 * it (negotiation, configuration space, queue setup). Whatever the bytes, the driver must fail
 * with a one-line reason or succeed, never crash, leak or read outside its buffers.
 *
 * Input: byte 0 selects the driver (even: virtio-blk, odd: virtio-net), the rest is the stream.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "vhost-user/vhost_user.h"
#include "virtio-blk/virtio_blk.h"
#include "virtio-net/virtio_net.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1 || size > 32768)
		return 0;
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		abort();
	/* the whole stream is waiting before the front end speaks; then end of file */
	if (size > 1 && write(sv[1], data + 1, size - 1) != (ssize_t)(size - 1))
		abort();
	shutdown(sv[1], SHUT_WR);
	struct virtio_dev *dev;
	char err[200] = "";
	int r;
	if (data[0] % 2 == 0) {
		struct vblk_options o = { .queue_size = 16, .max_io = 4096, .irq = VIRTIO_IRQ_POLL };
		struct vblk *b;
		r = vhost_user_open_fd(sv[0], "fuzz", vblk_arena_size(&o), &dev, err, sizeof err);
		if (r == 0 && (r = vblk_open(dev, &o, &b, err, sizeof err)) == 0)
			vblk_close(b);
	} else {
		struct vnet_options o = { .queue_size = 16, .irq = VIRTIO_IRQ_POLL };
		struct vnet *n;
		r = vhost_user_open_fd(sv[0], "fuzz", vnet_arena_size(&o), &dev, err, sizeof err);
		if (r == 0 && (r = vnet_open(dev, &o, &n, err, sizeof err)) == 0)
			vnet_close(n);
	}
	if (r < 0 && (!err[0] || strchr(err, '\n') || !memchr(err, 0, sizeof err)))
		abort(); /* a failure always says why, in one line */
	close(sv[1]);
	return 0;
}
