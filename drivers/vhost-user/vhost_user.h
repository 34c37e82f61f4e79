/*
 * vhost-user/vhost_user.h - the vhost-user transport: the driver is the front end ("master")
 * of QEMU's vhost-user protocol (docs/interop/vhost-user.rst), the device is a back-end
 * process (DPDK's vhost PMD, qemu-storage-daemon). The arena is one memfd, given to the device
 * with SET_MEM_TABLE as a region whose guest address equals our virtual address. Kick and
 * call are eventfds; the call eventfd is the device's interrupt, which the driver hands to
 * irqd as a line.
 */
#ifndef VHOST_USER_H
#define VHOST_USER_H

#include "../virtio/transport.h"

/* Connects to the back end listening on socket_path (retrying for up to timeout_ms while it is
 * not there yet) and creates an arena of arena_size bytes. name names the device ("blk0").
 * On failure *out is NULL and errbuf (if given) holds one line. */
int vhost_user_open(const char *socket_path, const char *name, size_t arena_size,
		    int timeout_ms, struct virtio_dev **out, char *errbuf, size_t errlen);

/* The same on a socket already connected to the back end (handed over by whoever started it);
 * the device takes the socket. Such a device cannot reconnect by itself. */
int vhost_user_open_fd(int sock, const char *name, size_t arena_size, struct virtio_dev **out,
		       char *errbuf, size_t errlen);

#endif
