/*
 * config.h - irqd's configuration file and access policy.
 *
 * One directive per line, '#' starts a comment:
 *   socket PATH                 control socket (the command line's --socket wins)
 *   socket-mode OCTAL           permissions of the socket (default 0600)
 *   socket-group NAME|GID       group of the socket
 *   max-clients N               connections beyond N are refused (default 256)
 *   ack-deadline-ms N           default ack deadline of level lines (default 1000)
 *   sim-lines N                 simulated lines sim0..simN-1 (the command line's --sim wins)
 *   rt-priority N               run the delivery thread SCHED_FIFO at priority N (1..99), as
 *                               Linux runs its interrupt threads (at 50); 0, the default: not
 *                               (needs CAP_SYS_NICE; without it irqd says so and runs normally)
 *   slice-us N                  the delivery thread's scheduler slice when it is not SCHED_FIFO
 *                               (util/sched_slice.h): with a slice shorter than ordinary
 *                               work's it preempts that work when an interrupt wakes it, instead
 *                               of waiting for the work's slice to end; 100 to 100000, or 0 for
 *                               the kernel's default (default 100, the shortest the kernel allows)
 *   profile on|off              keep latency histograms of every line from the start (default
 *                               off: a line is profiled while a client asks, `irqctl profile`)
 *   device vfio|uio BDF [irq=msix|msi|intx]
 *                               a PCI device (e.g. 0000:00:03.0) whose interrupts irqd manages:
 *                               bound to vfio-pci, a line per vector of its MSI-X, MSI or INTx
 *                               (default: the best it has), vfio:BDF/msixN, .../msiN, .../intx;
 *                               bound to uio_pci_generic, its INTx as uio:BDF/intx
 *   line NAME [trigger=level|edge] [ack-deadline-ms=N]
 *                               properties of a sim line (default: level)
 *   allow PATTERN WHO [admin]   who may use lines whose name matches the glob PATTERN:
 *                               WHO is any, uid=N, gid=N, user=NAME or group=NAME; "admin"
 *                               adds enable, line-wide coalescing, sim device access and stats
 *                               of other clients. Root and irqd's own user may do everything.
 */
#ifndef IRQD_CONFIG_H
#define IRQD_CONFIG_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "irqd/proto.h"

#define CONFIG_MAX_RULES 128
#define CONFIG_MAX_LINES 256
#define CONFIG_MAX_DEVICES 32

struct config_rule {
	char pattern[IRQD_NAME_MAX];
	enum { WHO_ANY, WHO_UID, WHO_GID } who;
	uint32_t id;
	bool admin;
};

struct config_line {
	char name[IRQD_NAME_MAX];
	bool level;
	uint32_t ack_deadline_ms;  /* 0: the global default */
};

struct config_device {
	bool vfio;                 /* else uio */
	char bdf[16];              /* domain:bus:device.function */
	char irq[8];               /* vfio: "msix", "msi", "intx", "" for the best */
};

struct config {
	char socket[108];
	uint32_t socket_mode;
	gid_t socket_gid;          /* (gid_t)-1: unchanged */
	uint32_t max_clients;
	uint32_t ack_deadline_ms;
	uint32_t sim_lines;
	bool profile;
	uint32_t rt_priority;
	uint32_t slice_us;
	unsigned n_rules, n_lines, n_devices;
	struct config_rule rules[CONFIG_MAX_RULES];
	struct config_line lines[CONFIG_MAX_LINES];
	struct config_device devices[CONFIG_MAX_DEVICES];
};

void config_defaults(struct config *cfg);
/* Parses text (NUL-terminated) on top of what cfg holds. 0, or -EINVAL with "LINE: reason" in
 * err. Never reads outside text, whatever it holds. */
int config_parse(struct config *cfg, const char *text, char *err, size_t errlen);
int config_load(struct config *cfg, const char *path, char *err, size_t errlen);

/* The properties configured for a sim line, or NULL. */
const struct config_line *config_line(const struct config *cfg, const char *name);

/* Access: may this peer use the line (admin: the administrative right)? */
bool policy_allows(const struct config *cfg, uid_t self, uid_t uid, const gid_t *gids,
		   int ngids, const char *line, bool admin);

#endif
