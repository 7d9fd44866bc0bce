/* shm/shm_internal.h — the reader handle and what the library's files share. Not
 * installed. */
#ifndef FANOUT_SHM_INTERNAL_H
#define FANOUT_SHM_INTERNAL_H

#include <limits.h>
#include <time.h>

#include "shm/fanout_shm.h"
#include "shm/ring_format.h"
#include "shm/shm_log.h"

/* fanout_shm_poll's internal "look again" (a padding record, a switch of mode). */
#define SHM_RETRY 3
/* Steps one poll may take before answering NONE: paddings, switches, duplicates. */
#define SHM_POLL_STEPS_MAX 64

enum shm_pending {
	SHM_PENDING_NONE = 0,
	SHM_PENDING_RING,		/* an event pointing into the ring */
	SHM_PENDING_LOG,		/* an event pointing into a log mapping */
};

struct fanout_shm {
	/* The ring, as validated at open (never re-read from the shared header). */
	const struct shm_ring_header *h;	/* read-only mapping */
	struct shm_reader_area *area;		/* read-write mapping of the reader area */
	struct shm_reader_slot *slot;
	const struct shm_journal_entry *journal;
	const uint8_t *data;
	uint64_t capacity, mask, journal_entries, journal_mask, record_max;
	uint64_t file_bytes;
	bool owns_mapping;
	uint32_t slot_index, partitions;
	pid_t writer_pid;
	uint64_t writer_start_ticks;

	/* Cursor: the next record is seq; in ring mode it is at pos. */
	uint64_t seq, pos;
	uint64_t wpos_seen;		/* the last write_pos loaded (acquire) */
	bool journal_mode;
	enum shm_pending pending;
	uint64_t pending_next_pos;	/* ring mode: where the record after it starts */
	uint32_t pending_partition;
	uint64_t pending_offset;

	uint32_t spin;
	uint64_t next_alive_check_ns;	/* CLOCK_MONOTONIC */
	struct shm_log *log;		/* NULL: no recovery (no data_dir) */
	uint64_t *next_offset;		/* per partition: one past the last delivered */
	uint64_t *floor;		/* per partition: drop below (resume); NULL = none */
	struct fanout_shm_stats st;

	int control_fd;			/* attached handles: the connection to fanoutd */
	uint8_t *control_buf;
	size_t control_len, control_cap;

	char errmsg[512];
	char path[PATH_MAX];
	char topic[SHM_TOPIC_BYTES];
	char data_dir[SHM_DATA_DIR_BYTES];
};

/* Formats errmsg. */
void shm_reader_say(struct fanout_shm *r, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* True when poll has something to return (or a mode switch to make). */
bool shm_reader_ready(const struct fanout_shm *r);

/* A reader over a ring another part of this process already mapped (the writer's mapping:
 * tests under ThreadSanitizer use it, so the sanitizer sees both sides at one address).
 * base must be a validated ring of file_bytes bytes; nothing is unmapped at close. */
int shm_reader_open_mapped(struct fanout_shm **out, void *base, const char *path,
			   const struct fanout_shm_opts *o, char *err, size_t errlen);

/* Reads what arrived on an attached handle's control connection without blocking:
 * 0 when nothing ended the subscription, -FANOUT_SHM_E_SERVER (an Error),
 * -FANOUT_SHM_E_CLOSED (the server closed it) or -errno. */
int shm_control_check(struct fanout_shm *r);

static inline uint64_t shm_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

#endif
