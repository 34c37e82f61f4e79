/*
 * irqd/proto.h - the irqd wire protocol and shared-memory layout (server and client library).
 *
 * Control travels over an AF_UNIX SOCK_SEQPACKET socket: one request message, one reply (or
 * error) message, each starting with struct irqd_msg_hdr; file descriptors ride along as
 * SCM_RIGHTS. Interrupts never use the socket: at HELLO the server hands the client
 *   - a session memfd (struct irqd_shm): one mailbox slot per attachment, ready/answer bitmaps;
 *   - a status memfd, read-only (struct irqd_status): is the server asleep?
 *   - a wake eventfd (server -> client) and a doorbell eventfd (client -> server).
 * A notification is a slot write plus a bit in `ready`; the client is woken (wake eventfd, or
 * futex) only if it said it sleeps (client_waiting). An answer is a slot write plus a bit in `answered`;
 * the doorbell is written only if the server sleeps (server_waiting). Both sides publish their
 * data, then (sequentially consistent) read the other's sleeping flag; the sleeper sets its flag,
 * then re-reads the data before sleeping, so no wake-up is lost (the Dekker pattern).
 *
 * All integers are host-endian: the socket never leaves the machine.
 */
#ifndef IRQD_PROTO_H
#define IRQD_PROTO_H

#include <stdatomic.h>
#include <stdint.h>

#define IRQD_PROTO_VERSION 2
#define IRQD_DEFAULT_SOCKET "/run/irqd/irqd.sock"
#define IRQD_SOCKET_ENV "IRQD_SOCKET"
#define IRQD_RECONNECT_ENV "IRQD_RECONNECT" /* "0": the client library does not reconnect */

#define IRQD_NAME_MAX 48          /* line names, including the NUL */
#define IRQD_ERRMSG_MAX 160
#define IRQD_MSG_MAX 4096         /* no valid message is longer */
#define IRQD_SLOTS 1024           /* attachments per session */
#define IRQD_LINES_MAX 4096

enum irqd_msg_type {
	IRQD_MSG_HELLO = 1,      /* -> irqd_hello_reply + 4 fds: shm, status, wake, doorbell */
	IRQD_MSG_LINE_INFO,      /* irqd_line_query -> irqd_line_info */
	IRQD_MSG_ATTACH,         /* irqd_attach_req -> irqd_attach_reply (+1 fd if DIRECT) */
	IRQD_MSG_DETACH,         /* irqd_handle_req -> empty */
	IRQD_MSG_MASK,           /* irqd_handle_req -> empty */
	IRQD_MSG_UNMASK,         /* irqd_handle_req -> empty */
	IRQD_MSG_PASS,           /* irqd_handle_req -> irqd_pass_reply */
	IRQD_MSG_ACCEPT,         /* irqd_accept_req -> irqd_attach_reply */
	IRQD_MSG_COALESCE,       /* irqd_coalesce_req -> empty */
	IRQD_MSG_ENABLE,         /* irqd_line_query -> empty */
	IRQD_MSG_LINE_STATS,     /* irqd_line_query -> irqd_line_stats */
	IRQD_MSG_CLIENT_STATS,   /* irqd_client_query -> irqd_client_stats */
	IRQD_MSG_SIM_OPEN,       /* irqd_line_query -> irqd_line_info + 2 fds: device memfd, eventfd */
	IRQD_MSG_LINE_CREATE,    /* irqd_line_create_req + 1 fd (an eventfd), or for a sim line 2 fds
				  * (its eventfd, its device page memfd) -> irqd_line_info */
	IRQD_MSG_LINE_DELETE,    /* irqd_line_query -> empty */
	IRQD_MSG_PROFILE,        /* irqd_profile_req -> empty, or (READ) + 1 fd: irqd_profile_dump */
	IRQD_MSG_SERVER_STATS,   /* irqd_msg_hdr -> irqd_server_stats */
	IRQD_MSG_TYPE_END,
	IRQD_MSG_REPLY = 0x4000, /* reply type = request type | IRQD_MSG_REPLY */
	IRQD_MSG_ERROR = 0x7fff, /* irqd_error: the request failed; with req_id 0, irqd refuses or
				  * cuts off the connection (it never closes one for cause unsaid:
				  * a connection that ends without it means irqd itself ended) */
	IRQD_MSG_NOTICE = 0x7ffe,/* irqd_error, unsolicited: a protocol fault seen in shared memory */
};

struct irqd_msg_hdr {
	uint16_t type;
	uint16_t reserved;
	uint32_t len;      /* whole message, header included */
	uint32_t req_id;   /* echoed in the reply */
	uint32_t reserved2;
};

struct irqd_error {
	struct irqd_msg_hdr hdr;
	int32_t err;                    /* positive errno value */
	char msg[IRQD_ERRMSG_MAX];      /* NUL-terminated, one line */
};

struct irqd_hello {
	struct irqd_msg_hdr hdr;
	uint32_t version;
};
struct irqd_hello_reply {
	struct irqd_msg_hdr hdr;
	uint32_t version;
	uint32_t slots;
	uint64_t shm_size;
	uint64_t status_size;
};

/* Select a line by id, by name (id = IRQD_LINE_BY_NAME) or the next one after id
 * (IRQD_LINE_NEXT flag: Omega0's first/next; id = IRQD_LINE_FIRST for the first). */
#define IRQD_LINE_BY_NAME 0xffffffffu
#define IRQD_LINE_FIRST 0xfffffffeu
#define IRQD_QUERY_NEXT 1u
struct irqd_line_query {
	struct irqd_msg_hdr hdr;
	uint32_t id;
	uint32_t flags;
	char name[IRQD_NAME_MAX];
};

enum irqd_trigger { IRQD_EDGE = 0, IRQD_LEVEL = 1 };

struct irqd_line_info {
	struct irqd_msg_hdr hdr;
	uint32_t id;
	uint32_t trigger;        /* enum irqd_trigger */
	uint32_t attachments;
	uint32_t flags;          /* IRQD_LINE_* */
	char name[IRQD_NAME_MAX];
	char source[16];         /* "sim", "eventfd", ... */
};
#define IRQD_LINE_EXCLUSIVE 1u  /* someone holds it exclusively */
#define IRQD_LINE_MASKED 2u
#define IRQD_LINE_DISABLED 4u

/* Attach flags */
#define IRQD_ATTACH_SHARED 0u
#define IRQD_ATTACH_EXCLUSIVE 1u
#define IRQD_ATTACH_DIRECT 2u   /* exclusive edge lines: wait on the source eventfd itself */

struct irqd_coalesce_params {
	uint32_t usecs;
	uint32_t frames;
	uint32_t adaptive;
	uint32_t reserved;
};

struct irqd_attach_req {
	struct irqd_msg_hdr hdr;
	struct irqd_line_query line;   /* its hdr is unused */
	uint32_t flags;
	uint32_t want_handle;  /* 0: any free handle; h + 1: handle h or EBUSY (the client library
				* re-attaching after irqd restarted keeps its handles) */
	struct irqd_coalesce_params coalesce;
};
struct irqd_attach_reply {
	struct irqd_msg_hdr hdr;
	uint32_t handle;     /* slot index */
	uint32_t line;
	uint32_t trigger;
	uint32_t flags;      /* IRQD_ATTACH_* in force */
};

struct irqd_handle_req {
	struct irqd_msg_hdr hdr;
	uint32_t handle;
	uint32_t reserved;
};

struct irqd_pass_reply {
	struct irqd_msg_hdr hdr;
	uint64_t token;      /* present it with ACCEPT from the receiving client */
};
struct irqd_accept_req {
	struct irqd_msg_hdr hdr;
	uint64_t token;
};

/* Coalescing of one attachment (handle), or of every attachment of a line (by line query,
 * handle = IRQD_HANDLE_LINE) as `irqctl coalesce` does. */
#define IRQD_HANDLE_LINE 0xffffffffu
struct irqd_coalesce_req {
	struct irqd_msg_hdr hdr;
	uint32_t handle;
	uint32_t reserved;
	struct irqd_line_query line;
	struct irqd_coalesce_params params;
};

struct irqd_line_stats {
	struct irqd_msg_hdr hdr;
	uint32_t id;
	uint32_t trigger;
	uint32_t attachments;
	uint32_t flags;          /* IRQD_LINE_* */
	char name[IRQD_NAME_MAX];
	uint64_t raised, delivered, handled, not_mine, unhandled, stalls, dropped, disables;
	uint64_t masked_now, mask_refs;
	uint64_t wakeups;        /* wake eventfd writes for this line's notifications */
	uint64_t direct_events;  /* events clients read directly from the source */
};

/* Per-client statistics, enumerated like lines (index from 0, IRQD_QUERY_NEXT semantics). */
struct irqd_client_query {
	struct irqd_msg_hdr hdr;
	uint32_t index;
	uint32_t reserved;
};
struct irqd_client_stats {
	struct irqd_msg_hdr hdr;
	uint32_t index;          /* pass back +1 to get the next */
	uint32_t pid, uid, gid;
	uint32_t attachments;
	uint32_t reserved;
	uint64_t notifications, events, wakeups, answers, bad_answers, requests, errors;
};

struct irqd_line_create_req {
	struct irqd_msg_hdr hdr;
	char name[IRQD_NAME_MAX];    /* "" -> efdN */
	uint32_t source;             /* IRQD_CREATE_* */
	uint32_t trigger;            /* enum irqd_trigger: IRQD_EDGE for an eventfd line */
};
/* An edge line from an eventfd (VFIO, vhost-user, KVM), or a simulated line whose device (the
 * register page, struct irqd_simdev_page, and its eventfd) belongs to the creator and so
 * outlives irqd: a level line still asserted when irqd restarts fires again. */
#define IRQD_CREATE_EVENTFD 0u
#define IRQD_CREATE_SIM 1u
/* A level line from a pair of eventfds, as KVM's irqfd resampler and VFIO's INTx have them: the
 * kernel signals the first on an assertion and masks the line; irqd writes the second (VFIO:
 * ACTION_UNMASK, DATA_EVENTFD) to unmask it after the last answer. */
#define IRQD_CREATE_RESAMPLE 2u

/*
 * Latency profiling. While a line is profiled (IRQD_PROFILE_START by any client, or `profile on`
 * in irqd's configuration), irqd keeps a log-linear histogram per stage for the line and for
 * each of its attachments: 2^IRQD_HIST_SUB_BITS buckets per power of two of nanoseconds, so a
 * bucket is at most 1/64 of its value wide (about 1% precision); bucket b covers
 * [low(b), low(b + 1)) with low(b) = b below 64 and (64 + b % 64) << (b / 64 - 1) above.
 * READ answers with a sealed memfd holding a struct irqd_profile_dump.
 */
#define IRQD_HIST_SUB_BITS 6
#define IRQD_HIST_MAX_EXP 36
#define IRQD_HIST_BUCKETS (((IRQD_HIST_MAX_EXP - IRQD_HIST_SUB_BITS) + 1) << IRQD_HIST_SUB_BITS)

enum irqd_stage {
	IRQD_STAGE_RAISE_DELIVER,    /* device raise -> irqd published the batch (first event) */
	IRQD_STAGE_DELIVER_HANDLER,  /* published -> the client library handed it to the driver */
	IRQD_STAGE_DELIVER_ANSWER,   /* published -> irqd saw the answer (level lines) */
	IRQD_STAGES
};

enum irqd_profile_op { IRQD_PROFILE_START = 1, IRQD_PROFILE_STOP, IRQD_PROFILE_READ };
struct irqd_profile_req {
	struct irqd_msg_hdr hdr;
	struct irqd_line_query line;   /* its hdr is unused */
	uint32_t op;                   /* enum irqd_profile_op */
	uint32_t reserved;
};

struct irqd_hist {
	uint64_t count, sum, min, max;  /* nanoseconds; min is UINT64_MAX when empty */
	uint64_t bucket[IRQD_HIST_BUCKETS];
};

struct irqd_profile_set {
	uint32_t handle;                /* IRQD_HANDLE_LINE: the whole line; else an attachment */
	uint32_t pid;                   /* the attachment's client */
	struct irqd_hist stage[IRQD_STAGES];
};

#define IRQD_PROFILE_MAGIC 0x70726f66u /* "prof" */
struct irqd_profile_dump {
	uint32_t magic;
	uint32_t n_sets;                /* set[0] is the line, then one per attachment */
	uint64_t since_ns;              /* profiling began (CLOCK_MONOTONIC) */
	uint64_t taken_ns;              /* this dump was taken */
	uint64_t cpu_control_ns, cpu_delivery_ns;   /* server threads' CPU time, ever */
	struct irqd_line_stats stats;   /* the line's counters at taken_ns */
	struct irqd_profile_set set[];
};

struct irqd_server_stats {
	struct irqd_msg_hdr hdr;
	uint64_t uptime_ns;
	uint64_t cpu_control_ns, cpu_delivery_ns;
	uint32_t lines, clients;
	uint32_t profiled_lines, reserved;
};

/* ---- shared memory ------------------------------------------------------------------------ */

#define IRQD_SHM_MAGIC 0x69727164u /* "irqd" */

/*
 * One attachment's mailbox. irqd publishes at most one batch at a time: it writes the batch
 * fields, then stores `published` (release) and sets the slot's bit in `ready`. The client reads
 * the fields, then claims the batch with compare-and-swap `taken: old -> published`. While
 * published != taken irqd does not touch the batch fields: it accumulates new events privately
 * and sets `held`; the client, after taking a slot with `held` set, rings the doorbell if the
 * server sleeps. irqd may itself claim an untaken batch by the same compare-and-swap (when an
 * attachment is passed to another client): whoever wins the swap owns the batch, so a batch is
 * never lost nor handed out twice.
 */
struct irqd_shm_slot {
	/* written by irqd */
	_Atomic uint64_t published;  /* batches published in this slot, ever (slots are reused) */
	uint64_t count;              /* events (edge) or 1 occurrence (level) in the batch */
	uint64_t first_ns, last_ns;  /* raise times of the first and last event, CLOCK_MONOTONIC */
	uint64_t delivered_ns;       /* when irqd published the batch */
	uint64_t occurrence;         /* level: the occurrence to answer; 0: no answer needed */
	uint64_t seq;                /* the attachment's notification sequence number */
	uint32_t line;
	uint32_t attached;           /* 1 while the slot belongs to a live attachment */
	_Atomic uint32_t held;
	_Atomic uint64_t accepted;   /* edge events irqd took for this attachment since it was
				      * bound to this slot, published or not: if irqd dies, the
				      * client library delivers those it was not given itself */
	/* written by the client */
	_Atomic uint64_t taken __attribute__((aligned(64)));
	_Atomic uint64_t answer;     /* (occurrence << 2) | enum irqd_answer */
	_Atomic uint64_t direct_events; /* DIRECT attachments: events read from the source */
	_Atomic uint64_t handler_ns; /* when the library handed the batch to the driver: stored
				      * before `taken`, so it belongs to the batch taken */
} __attribute__((aligned(64)));

struct irqd_shm {
	uint32_t magic;
	uint32_t version;
	uint32_t slots;
	uint32_t slot_size;
	_Atomic uint32_t client_waiting;  /* how the client sleeps: IRQD_WAITING_* bits, 0 awake */
	_Atomic uint32_t doorbell_pending;/* client posted answers or freed a held slot */
	_Atomic uint32_t wake_seq;        /* futex word: irqd bumps it to wake a futex sleeper */
	_Atomic uint64_t ready[IRQD_SLOTS / 64] __attribute__((aligned(64)));
	_Atomic uint64_t answered[IRQD_SLOTS / 64] __attribute__((aligned(64)));
	struct irqd_shm_slot slot[IRQD_SLOTS];
};

struct irqd_status {
	uint32_t magic;
	_Atomic uint32_t server_waiting;  /* the delivery thread sleeps: ring the doorbell */
};

/* How a client sleeps (irqd_shm.client_waiting): irqd wakes it by the wake eventfd (the client
 * waits in epoll, e.g. on irqd_fd()), or by bumping wake_seq and FUTEX_WAKE on it (a client with
 * nothing else to wait for: a futex wake-up is cheaper than an eventfd through epoll). */
#define IRQD_WAITING_EVENTFD 1u
#define IRQD_WAITING_FUTEX 2u

/* Answers, as written into irqd_shm_slot.answer */
enum irqd_answer { IRQD_ANSWER_NONE = 0, IRQD_HANDLED = 1, IRQD_NOT_MINE = 2 };

/* ---- simulated interrupt controller: one device register page per sim line ----------------
 * The "device" (a test, a benchmark, `irqctl raise`) raises events: it records the raise time,
 * for a level line adds to `pending` (the line stays asserted while pending > 0, until a driver
 * services the device), then writes the line's eventfd. irqd is the controller: it masks,
 * unmasks, and re-fires a level line that is still asserted when unmasked. */
#define IRQD_SIMDEV_MAGIC 0x73696d64u /* "simd" */
struct irqd_simdev_page {
	uint32_t magic;
	uint32_t trigger;            /* enum irqd_trigger */
	_Atomic uint64_t raised;     /* events raised by the device, total */
	_Atomic uint64_t pending;    /* level: events not yet serviced by a driver */
	_Atomic uint64_t serviced;   /* level: events serviced by drivers, total */
	_Atomic uint64_t first_ns;   /* raise time of the oldest event irqd has not seen, 0 = none */
	_Atomic uint64_t last_ns;    /* raise time of the newest event */
};

#endif
