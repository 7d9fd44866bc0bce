/* tests/shm/shm_harness.h — what the shm tests share: temporary ring and data
 * directories, a publisher that appends real frames to real partition logs (core/log)
 * and copies them into a ring, as fanoutd will, forked children, and checks that a record
 * is exactly event i. Event i goes to partition i % partitions at offset i / partitions. */
#ifndef FANOUT_TESTS_SHM_HARNESS_H
#define FANOUT_TESTS_SHM_HARNESS_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "core/log.h"
#include "shm/fanout_shm.h"
#include "shm/ring_writer.h"

#define HARNESS_TOPIC "md/equities"	/* has a '/', so the %2F directory name is exercised */
#define HARNESS_PARTITIONS_MAX 8u
#define HARNESS_FRAME_MAX 4096u
#define HARNESS_SEGMENT_BYTES (1u << 20)

struct shm_fixture {
	char ring_dir[64];	/* under /dev/shm: real shared memory */
	char data_dir[64];	/* under /tmp: the "server's" data directory */
};

/* cmocka group/test setup and teardown: make and remove both directories. */
int shm_fixture_setup(void **state);
int shm_fixture_teardown(void **state);

struct pub {
	struct log *logs[HARNESS_PARTITIONS_MAX];	/* NULL: no logs (nothing to recover) */
	uint32_t partitions;
	struct shm_ring_writer *w;
	uint64_t n;					/* events published */
	uint32_t payload;				/* bytes of padding in each event */
	char path[PATH_MAX];
};

struct pub_opts {
	const char *name;
	uint64_t ring_bytes;
	uint32_t journal_entries;	/* 0 = default */
	uint32_t partitions;		/* 0 = 1 */
	uint32_t payload;		/* 0 = 100 */
	bool no_logs;
	bool memfd;			/* two sealed memfds (fanoutd's rings), not a file */
};

/* Creates the ring (and the partition logs unless no_logs); a memfd ring's descriptors
 * are taken with shm_ring_take_fds(p->w, ...). Returns 0 or -errno. */
int pub_open(struct pub *p, const struct shm_fixture *f, const struct pub_opts *o);

/* Publishes event p->n: to its partition log first (committed and published), then into
 * the ring. wake: call shm_ring_wake after it. Returns 0 or -errno. */
int pub_event(struct pub *p, bool wake);

/* Publishes n events, waking once per batch of 64. */
int pub_events(struct pub *p, uint64_t n);

/* Destroys the ring (unlinks it) and closes the logs. */
void pub_close(struct pub *p);

/* Writes the frame of event i (delimited ServerMessage{event}) into dst; returns its
 * bytes. */
uint32_t event_frame(uint8_t *dst, uint64_t i, uint32_t partition, uint64_t offset,
		     uint32_t payload);

/* 0 when rec is an intact-looking event i (partition, offset, event_id "e<i>");
 * else -1 and a line on stderr. */
int check_event(const struct fanout_shm_record *rec, uint64_t i, uint32_t partitions);

/* What read_expect saw. */
struct read_tally {
	uint64_t events, recovered, torn, gaps, lost;
};

/* Reads events first .. first + n - 1 in order from r (validating each), within
 * timeout_ns overall. GAP records fail the read. Returns 0 or -1 (reason on stderr). */
int read_expect(struct fanout_shm *r, uint64_t first, uint64_t n, uint32_t partitions,
		int64_t timeout_ns, struct read_tally *t);

/* Forks; the child runs fn(arg) and _exits with its result. Returns the pid. */
pid_t fork_child(int (*fn)(void *), void *arg);

/* Waits for pid: its exit status, or 128 + signal. */
int wait_child(pid_t pid);

/* One byte through a pipe: the tests' synchronisation between processes. */
void pipe_signal(int fd);
int pipe_wait(int fd, int timeout_ms);	/* 0, or -1 on timeout/EOF */

#endif
