/*
 * peers/peer.h - the real devices the drivers are tested and measured against, started and
 * stopped here so that tests and benchmarks leave no process, socket or runtime file behind:
 * qemu-storage-daemon exporting vhost-user-blk, dpdk-testpmd with a vhost or virtio-user port,
 * and bench/netgen (librte_vhost with a rate cap).
 *
 * Each peer runs in its own temporary directory (socket, log, image). Readiness is the
 * vhost-user socket appearing (polled, bounded), never a sleep.
 */
#ifndef PEERS_PEER_H
#define PEERS_PEER_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

struct peer {
	pid_t pid;
	char name[32];
	char dir[64];    /* removed by peer_stop */
	char sock[128];  /* dir/<name>.sock */
	char log[128];   /* dir/log: the peer's stdout and stderr */
	char prefix[48]; /* DPDK --file-prefix (its /var/run/dpdk/<prefix> is removed too) */
};

/* A fresh directory for a peer (before starting it, e.g. to put an image there). */
int peer_init(struct peer *p, const char *name);
/* qemu-storage-daemon exporting `image` (raw) as vhost-user-blk on p->sock; writable. With
 * direct_io it reads and writes the image with O_DIRECT (cache.direct=on): every request goes
 * to the host's disk, past its page cache. */
int peer_start_qsd(struct peer *p, const char *image, bool direct_io);
/* dpdk-testpmd with one port, vdev (e.g. "net_vhost0,iface=@SOCK@,queues=1,client=0" for a
 * device, "net_virtio_user0,path=PATH,queues=1" for DPDK's polling driver) in forward_mode
 * (txonly, rxonly, io) with 64-byte frames, statistics every second on its log; its
 * forwarding core (which always spins) on CPU fwd_cpu (0 or 1), the main core on the other. */
int peer_start_testpmd(struct peer *p, const char *vdev, const char *forward_mode, int fwd_cpu,
		       int wait_sock);
/* Any program with its arguments (argv NULL-terminated); "@SOCK@" and "@PREFIX@" in an
 * argument are replaced by p->sock and p->prefix. Waits for p->sock unless wait_sock is 0. */
int peer_start(struct peer *p, char *const argv[], int wait_sock);
/* Waits up to ms for the peer to exit by itself: its exit status, -ETIMEDOUT. The directory
 * (and log) stay until peer_stop. */
int peer_wait(struct peer *p, int ms);
/* SIGTERM (SIGKILL after 5 s), reap; returns the exit status or 128+signal. Removes the
 * directory and DPDK runtime files. */
int peer_stop(struct peer *p);
/* Stops every peer started by this process and not yet stopped (a failed test's teardown). */
void peer_stop_all(void);
/* SIGKILL and reap (a device crash); the directory stays for a restart. */
void peer_kill(struct peer *p);
/* Every thread of process pid onto CPU cpu (threads created later inherit it). */
void peer_pin(pid_t pid, int cpu);
/* User + system CPU seconds process pid has used so far (/proc/PID/stat, clock ticks); 0 if
 * it is gone. pid 0: this process, to the microsecond (getrusage). */
double peer_cpu_seconds(pid_t pid);
/* A number from the JSON report a peer ends with ("key":N in its log's last lines), or -1. */
double peer_report(const struct peer *p, const char *key);
/* The last lines of the log, for failure messages. */
const char *peer_log_tail(const struct peer *p);
/* Path of the program, or NULL if it is not installed. */
const char *peer_which(const char *prog);

#endif
