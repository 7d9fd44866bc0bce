/* fanout_shm.h — libfanout-shm: read fanout events from a shared-memory ring on the same
 * host as fanoutd (the ring format is shm/FORMAT.md).
 *
 * A reader handle (struct fanout_shm) maps one ring and owns one of its 64 reader slots.
 * Records are read in place: fanout_shm_poll returns a pointer into the ring, and after
 * using the bytes the caller calls fanout_shm_validate to learn whether the writer, which
 * never waits for readers, overwrote them meanwhile (then they are delivered again, from
 * the partition log). A reader that falls a whole ring behind is told exactly which events
 * it missed and gets them back from the partition logs on disk, in order, through the same
 * poll; what cannot come back is reported as a gap with an exact count.
 *
 * Threads: a handle belongs to one thread at a time; different handles (even on one ring)
 * are independent. Do not use a handle in a child after fork.
 * Errors: functions returning int return >= 0 on success and a negative value on failure:
 * -errno, or -FANOUT_SHM_E_* below; fanout_shm_strerror names either, and
 * fanout_shm_errmsg (or the err buffer of the opening calls) says what exactly. */
#ifndef FANOUT_SHM_H
#define FANOUT_SHM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

#define FANOUT_SHM_API __attribute__((visibility("default")))

struct fanout_shm;
struct ProtobufCAllocator;
struct Fanout__V1__ServerMessage;	/* fanout.pb-c.h, generated from fanout.proto */
struct Fanout__V1__Filter;

/* Errors beyond errno (returned negated). */
enum fanout_shm_error {
	FANOUT_SHM_E_MAGIC = 10001,	/* not a fanout ring, or its creation never finished */
	FANOUT_SHM_E_VERSION,		/* a ring of another format version */
	FANOUT_SHM_E_TRUNCATED,		/* the file is shorter than its header says */
	FANOUT_SHM_E_LAYOUT,		/* header sizes out of range or inconsistent */
	FANOUT_SHM_E_NOSLOT,		/* all 64 reader slots are held by live readers */
	FANOUT_SHM_E_WRITER_DEAD,	/* the writer process died; every record was read */
	FANOUT_SHM_E_CLOSED,		/* the ring was closed (subscription or server ended);
					 * every record was read */
	FANOUT_SHM_E_CORRUPT,		/* a record that breaks the format */
	FANOUT_SHM_E_SERVER,		/* the server answered with an Error (see errmsg) */
	FANOUT_SHM_E_PROTOCOL,		/* the server's answer broke the protocol */
	FANOUT_SHM_E_UNSEALED,		/* ring descriptors not sealed against resizing */
};

/* What fanout_shm_poll returns (besides errors). */
#define FANOUT_SHM_NONE  0		/* nothing new now */
#define FANOUT_SHM_EVENT 1		/* rec holds an event */
#define FANOUT_SHM_GAP   2		/* rec reports lost events (rec->lost) */

/* fanout_shm_record.flags */
#define FANOUT_SHM_RECOVERED     0x1u	/* EVENT read back from the partition log after a lap */
#define FANOUT_SHM_OFFSET_KNOWN  0x2u	/* GAP: one event, at rec->partition / rec->offset,
					 * that the log no longer holds; without this flag the
					 * journal was lapped and the lost offsets are unknown */

/* Where a new reader starts. */
enum fanout_shm_start {
	FANOUT_SHM_START_LATEST = 0,	/* with the first record written after opening */
	FANOUT_SHM_START_FIRST = 1,	/* with the ring's first record ever: what the ring no
					 * longer holds comes back from the log, or is a gap */
};

#define FANOUT_SHM_SPIN_DEFAULT 20000u	/* ~50-100 us of polling before sleeping */
#define FANOUT_SHM_SPIN_FOREVER UINT32_MAX	/* never sleep: lowest latency, one busy core */

struct fanout_shm_opts {
	enum fanout_shm_start start;
	/* fanout_shm_wait polls this many times before sleeping on the futex: 0 sleeps at
	 * once (least CPU), FANOUT_SHM_SPIN_FOREVER never sleeps (least latency). */
	uint32_t spin_iterations;
	/* Where the partition logs are, for recovery; NULL = the directory the ring's header
	 * names (the server's data directory). */
	const char *data_dir;
};

/* One event (or gap) from fanout_shm_poll. For an EVENT from the ring, frame points into
 * the shared mapping and is only trustworthy once fanout_shm_validate says so. */
struct fanout_shm_record {
	const uint8_t *frame;		/* the wire frame: varint length + ServerMessage */
	uint32_t frame_len;
	const uint8_t *body;		/* the ServerMessage bytes inside frame */
	uint32_t body_len;
	uint32_t partition;
	uint32_t flags;			/* FANOUT_SHM_RECOVERED, FANOUT_SHM_OFFSET_KNOWN */
	uint64_t offset;		/* the event's partition offset */
	uint64_t recv_ns;		/* server receive time, CLOCK_REALTIME ns */
	uint64_t seq;			/* ring sequence (of the first lost event for a GAP) */
	uint64_t lost;			/* GAP: how many events were lost here */
};

struct fanout_shm_stats {
	uint64_t delivered;		/* events handed out and validated (ring and log) */
	uint64_t recovered;		/* of those, read back from the partition log */
	uint64_t lost_unknown;		/* lost with offsets unknown (journal lapped) */
	uint64_t lost_known;		/* lost with offsets known (log no longer had them) */
	uint64_t laps;			/* times this reader was lapped */
	uint64_t torn;			/* records overwritten while in use (redelivered) */
	uint64_t duplicates;		/* dropped as already delivered (attach with resume) */
	uint64_t lag_records;		/* records published and not yet read, now */
	uint64_t lag_bytes;		/* their bytes in the ring, now */
};

struct fanout_shm_info {
	const char *path;
	const char *topic;
	const char *data_dir;		/* used for recovery; "" = none */
	uint32_t partitions;
	uint32_t slot;			/* the reader slot this handle owns */
	uint64_t capacity;		/* data bytes */
	uint64_t journal_entries;
	pid_t writer_pid;
};

/* Sets *o to the defaults: START_LATEST, FANOUT_SHM_SPIN_DEFAULT, data_dir NULL. */
FANOUT_SHM_API void fanout_shm_opts_init(struct fanout_shm_opts *o);

/* Opens the ring at path (it needs read and write permission: rings are 0600 to the
 * server's user unless it grants a group) and claims a reader slot, reclaiming one whose
 * reader died. The file is checked before it is mapped: magic, version, every size, and
 * the file's length. o NULL = defaults. On failure err (errlen bytes, may be NULL) says
 * what was wrong, and the return is -FANOUT_SHM_E_MAGIC, _VERSION, _TRUNCATED, _LAYOUT,
 * _NOSLOT or -errno (-ENOENT, -EACCES, ...). */
FANOUT_SHM_API int fanout_shm_open(struct fanout_shm **out, const char *path,
				   const struct fanout_shm_opts *o, char *err, size_t errlen);

/* Opens a ring passed as descriptors (what fanoutd hands over its Unix socket with a
 * SubscribeResult; shm/FORMAT.md: "Rings as sealed memfds"): ring_fd is mapped read-only,
 * area_fd (the reader area) read-write, and a slot is claimed. Both must be sealed
 * against shrinking and growing (-FANOUT_SHM_E_UNSEALED otherwise: whoever else holds
 * them could truncate the ring under this reader). The descriptors stay the caller's:
 * close them after this returns (the mappings keep the ring) or hand them on to other
 * readers. Otherwise as fanout_shm_open; info.path is "memfd:NAME". */
FANOUT_SHM_API int fanout_shm_open_fd(struct fanout_shm **out, int ring_fd, int area_fd,
				      const struct fanout_shm_opts *o, char *err,
				      size_t errlen);

/* Releases the slot, unmaps the ring, closes the control connection of an attached
 * handle (the server then removes its ring). NULL is fine. */
FANOUT_SHM_API void fanout_shm_close(struct fanout_shm *r);

/* The next event, in ring order, without copying or waiting. Returns FANOUT_SHM_EVENT
 * (*rec set: call fanout_shm_validate after using it), FANOUT_SHM_GAP (rec->lost events
 * are gone; nothing to validate), FANOUT_SHM_NONE, or -FANOUT_SHM_E_CORRUPT. Events a
 * lap made the reader miss come first, from the log, flagged FANOUT_SHM_RECOVERED.
 * A record left unvalidated is validated by the next poll (its result then cannot be
 * known: validate yourself). Never reports the writer's death: fanout_shm_wait does. */
FANOUT_SHM_API int fanout_shm_poll(struct fanout_shm *r, struct fanout_shm_record *rec);

/* Ends the use of the event rec from the last poll: returns 0 when its bytes were intact
 * the whole time, or -ESTALE when the writer overwrote them meanwhile — discard what you
 * derived from them: the next poll delivers the same event again, from the log. A GAP, a
 * recovered event, or a record already validated returns 0. */
FANOUT_SHM_API int fanout_shm_validate(struct fanout_shm *r,
				       const struct fanout_shm_record *rec);

/* Waits until poll may return something, for at most timeout_ns (< 0: no limit): spins
 * spin_iterations polls, then sleeps on the ring's futex (woken by the writer once per
 * batch), checking every 100 ms that the writer lives. Returns 1 (something to poll),
 * 0 (timed out), -FANOUT_SHM_E_WRITER_DEAD or -FANOUT_SHM_E_CLOSED (only once everything
 * the writer published was read), or, on an attached handle, -FANOUT_SHM_E_SERVER when
 * an Error arrives on the control connection. */
FANOUT_SHM_API int fanout_shm_wait(struct fanout_shm *r, int64_t timeout_ns);

/* fanout_shm_poll, waiting up to timeout_ns for something: returns as poll, or 0 after
 * the timeout, or wait's errors. */
FANOUT_SHM_API int fanout_shm_next(struct fanout_shm *r, struct fanout_shm_record *rec,
				   int64_t timeout_ns);

/* Changes the spin count of later waits (see fanout_shm_opts). */
FANOUT_SHM_API void fanout_shm_set_spin(struct fanout_shm *r, uint32_t spin_iterations);

/* Counters since opening, and the lag now. */
FANOUT_SHM_API void fanout_shm_get_stats(const struct fanout_shm *r,
					 struct fanout_shm_stats *out);

/* The ring's description; the strings live as long as the handle. */
FANOUT_SHM_API void fanout_shm_get_info(const struct fanout_shm *r, struct fanout_shm_info *out);

/* One past the highest offset of partition delivered so far (0 before any). */
FANOUT_SHM_API uint64_t fanout_shm_next_offset(const struct fanout_shm *r, uint32_t partition);

/* What the last error or gap on this handle was about ("" if none). */
FANOUT_SHM_API const char *fanout_shm_errmsg(const struct fanout_shm *r);

/* A static description of a return code (-errno or -FANOUT_SHM_E_*). */
FANOUT_SHM_API const char *fanout_shm_strerror(int rc);

/* Decodes rec's frame as a fanout.v1.ServerMessage with protobuf-c (alloc NULL = malloc),
 * from a private copy of the bytes (memory-safe even if the writer overwrites them
 * meanwhile). Validate the record after decoding, before trusting the result. Returns the message
 * (free it with fanout_shm_decode_free) or NULL when the bytes do not decode. */
FANOUT_SHM_API struct Fanout__V1__ServerMessage *
fanout_shm_decode(const struct fanout_shm_record *rec, struct ProtobufCAllocator *alloc);
FANOUT_SHM_API void fanout_shm_decode_free(struct Fanout__V1__ServerMessage *m,
					   struct ProtobufCAllocator *alloc);

/* ---- attaching through fanoutd ----------------------------------------------------- */

#define FANOUT_SHM_RING_BYTES_DEFAULT (64ull << 20)
/* fanoutd's ring socket when it runs with its default data directory, from the directory
 * it was started in (fanoutd --shm-socket). */
#define FANOUT_SHM_SOCKET_DEFAULT "fanout-data/shm.sock"

struct fanout_shm_attach_opts {
	const char *socket_path;	/* fanoutd's Unix socket for rings (--shm-socket);
					 * NULL = FANOUT_SHM_SOCKET_DEFAULT */
	const char *topic;
	const char *const *patterns;	/* routing-key patterns; none = everything */
	size_t npatterns;
	const struct Fanout__V1__Filter *filter;	/* NULL = no content filter */
	int start;			/* fanout.v1.StartPosition: 0 latest, 1 earliest,
					 * 2 start_offsets / start_offset */
	uint64_t start_offset;		/* with 2: partitions past start_offsets */
	const uint64_t *start_offsets;	/* with 2: entry p is partition p's start (resume:
					 * fanout_shm_next_offset of each); NULL = none */
	size_t nstart_offsets;
	uint64_t ring_bytes;		/* 0 = FANOUT_SHM_RING_BYTES_DEFAULT */
	const char *client_name;	/* NULL = "libfanout-shm" */
	int timeout_ms;			/* connect and each answer; 0 = 10 s */
	/* After a server restart: the reader this one replaces. Events of a partition below
	 * what it had delivered (fanout_shm_next_offset) are dropped and counted as
	 * duplicates, so attaching with start 2 at those offsets (start_offsets) misses
	 * nothing and repeats nothing (shm/FORMAT.md: Reattaching). NULL = none. */
	const struct fanout_shm *resume;
};

/* Connects to fanoutd's Unix socket for rings, sends Hello and a Subscribe asking for a
 * ring (topic, patterns, filter, start, shm_ring_bytes), takes the ring's descriptors that
 * come with the SubscribeResult (SCM_RIGHTS) and opens them (fanout_shm_open_fd), from the
 * first record (o->start is ignored), with SubscribeResult.data_dir for recovery. Rings
 * are only for processes on the server's host whose user the server allows (its own, root,
 * or members of its --shm-group). The connection stays open for the handle's life: the
 * server removes the ring when it closes. Returns 0; -FANOUT_SHM_E_SERVER with the
 * server's Error in err (a refused peer, a budget, a size); -FANOUT_SHM_E_PROTOCOL for an
 * unexpected answer (no descriptors with the SubscribeResult); -ENOENT or -EACCES (the
 * socket), -ECONNREFUSED, -ETIMEDOUT, -EINVAL (bad options), or open's errors. */
FANOUT_SHM_API int fanout_shm_attach(struct fanout_shm **out,
				     const struct fanout_shm_attach_opts *a,
				     const struct fanout_shm_opts *o, char *err, size_t errlen);

/* The control connection's socket (-1 for a handle from fanout_shm_open), for callers
 * that poll it themselves; fanout_shm_wait watches it while it sleeps. */
FANOUT_SHM_API int fanout_shm_control_fd(const struct fanout_shm *r);

#ifdef __cplusplus
}
#endif

#endif
