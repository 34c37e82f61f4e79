/*
 * vblkctl - a client of blkd on the command line.
 *
 *   vblkctl SOCKET info                      capacity and flags
 *   vblkctl SOCKET read SECTOR BYTES         the bytes to stdout
 *   vblkctl SOCKET write SECTOR [FILE]       stdin (or FILE), zero-padded to 512 bytes
 *   vblkctl SOCKET flush
 *   vblkctl SOCKET latency [COUNT [QD]]      4 KiB random reads; where the time went, per hop
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "blkq.h"

static int usage(void)
{
	fprintf(stderr, "usage: vblkctl SOCKET info | read SECTOR BYTES | write SECTOR [FILE] | flush | "
			"latency [COUNT [QD]]\n");
	return 2;
}

static int fail(const char *what)
{
	fprintf(stderr, "vblkctl: %s: %s\n", what, blkq_last_error());
	return 1;
}

/* One request, waited for; its status. */
static int one(struct blkq *q, struct blkq_sqe *e)
{
	if (blkq_submit(q, e) < 0)
		return fail("submit");
	struct blkq_cqe c;
	int n = blkq_wait(q, &c, 1, 30000);
	if (n <= 0)
		return n ? fail("wait") : (fprintf(stderr, "vblkctl: no answer within 30 s\n"), 1);
	if (c.status < 0) {
		fprintf(stderr, "vblkctl: %s\n", strerror(-c.status));
		return 1;
	}
	return 0;
}

static int latency(struct blkq *q, unsigned count, unsigned qd, uint64_t capacity)
{
	uint64_t seed = 0x9e3779b97f4a7c15ull, done = 0, sent = 0;
	if (qd < 1 || qd > BLKQ_SLOTS)
		qd = 1;
	while (done < count) {
		while (sent < count && sent - done < qd) {
			seed ^= seed << 13, seed ^= seed >> 7, seed ^= seed << 17;
			struct blkq_sqe e = { .op = BLKQ_READ, .slot = (uint32_t)(sent % qd),
					      .sector = (seed % (capacity - 8)) & ~7ull, .len = 4096,
					      .tag = (uint32_t)sent };
			if (blkq_submit(q, &e) < 0)
				return fail("submit");
			sent++;
		}
		struct blkq_cqe c[BLKQ_DEPTH];
		int n = blkq_wait(q, c, BLKQ_DEPTH, 30000);
		if (n <= 0)
			return fail("wait");
		for (int i = 0; i < n; i++)
			if (c[i].status < 0) {
				fprintf(stderr, "vblkctl: read: %s\n", strerror(-c[i].status));
				return 1;
			}
		done += (uint64_t)n;
	}
	printf("%u reads of 4 KiB at queue depth %u\n%-40s %8s %8s %8s %10s\n", count, qd, "hop",
	       "p50 us", "p90 us", "p99 us", "count");
	for (int i = 0; i < BLKQ_HOPS; i++) {
		struct hist_snapshot s;
		hist_snapshot(&blkq_hops(q)[i], &s);
		printf("%-40s %8.1f %8.1f %8.1f %10llu\n", blkq_hop_name[i], hist_percentile(&s, 50) / 1e3,
		       hist_percentile(&s, 90) / 1e3, hist_percentile(&s, 99) / 1e3,
		       (unsigned long long)s.count);
	}
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 3)
		return usage();
	struct blkq *q;
	if (blkq_connect(argv[1], &q) < 0)
		return fail("connect");
	uint64_t capacity;
	int ro, rc;
	if (blkq_info(q, &capacity, &ro) < 0)
		return fail("info");
	const char *cmd = argv[2];
	if (!strcmp(cmd, "info")) {
		printf("capacity %llu sectors (%llu bytes)%s\n", (unsigned long long)capacity,
		       (unsigned long long)capacity * 512, ro ? ", read-only" : "");
		rc = 0;
	} else if (!strcmp(cmd, "read") && argc == 5) {
		struct blkq_sqe e = { .op = BLKQ_READ, .sector = strtoull(argv[3], NULL, 0),
				      .len = (uint32_t)strtoul(argv[4], NULL, 0) };
		rc = one(q, &e);
		if (rc == 0 && fwrite(blkq_slot(q, 0), 1, e.len, stdout) != e.len)
			rc = 1;
	} else if (!strcmp(cmd, "write") && (argc == 4 || argc == 5)) {
		FILE *in = argc == 5 ? fopen(argv[4], "rb") : stdin;
		if (in == NULL) {
			fprintf(stderr, "vblkctl: %s: %s\n", argv[4], strerror(errno));
			return 1;
		}
		char *slot = blkq_slot(q, 0);
		size_t n = fread(slot, 1, BLKQ_SLOT_BYTES, in);
		size_t len = (n + 511) & ~(size_t)511;
		memset(slot + n, 0, len - n);
		if (n == 0) {
			fprintf(stderr, "vblkctl: nothing to write\n");
			return 1;
		}
		struct blkq_sqe e = { .op = BLKQ_WRITE, .sector = strtoull(argv[3], NULL, 0),
				      .len = (uint32_t)len };
		rc = one(q, &e);
	} else if (!strcmp(cmd, "flush")) {
		rc = one(q, &(struct blkq_sqe){ .op = BLKQ_FLUSH });
	} else if (!strcmp(cmd, "latency")) {
		rc = latency(q, argc > 3 ? (unsigned)atoi(argv[3]) : 10000,
			     argc > 4 ? (unsigned)atoi(argv[4]) : 1, capacity);
	} else {
		rc = usage();
	}
	blkq_close(q);
	return rc;
}
