/* core/log.h — a partition log: wire frames appended to mmap'd segment files, with a
 * sidecar index of fixed 96-byte entries (position, receive time, hashes and the fields
 * filters need).
 *
 * The writer never waits on the disk. The segment it appends to is *hot*: its two files
 * live in the log's hot directory on a memory file system (tmpfs: --hot-dir, default
 * under /dev/shm), faulted in ahead of the writer and never written back. The executor
 * thread (core/executor.h, log_persist) copies committed frames and entries to the
 * segment's files in the log directory in order, makes the next hot segment ready once
 * the current one is half full, and once a sealed segment is wholly on disk maps its disk files
 * over the same addresses (MAP_FIXED: readers' pointers stay valid, the bytes are the
 * same) and removes the hot files. A killed process leaves its hot files, which log_open
 * copies to disk first: an appended frame survives the death of the process.
 *
 * Concurrency: one writer thread (the partition's owner reactor) calls log_reserve,
 * log_commit and log_publish. Any thread may read offsets below log_tail(): the writer
 * publishes the tail with a release store after the frames and their index entries are
 * written, readers load it with acquire, so a reader never sees a half-written frame.
 * Segments are never unmapped while the log is open, so frame pointers stay valid until
 * log_close. Retention (core/log_retain.c) moves log_first past whole sealed segments and
 * deletes their files; once no send can still read them, their mappings become
 * anonymous zero pages at the same addresses (pointers stay valid; the bytes are gone).
 *
 * On disk, in the log's directory:
 *   <base offset, 20 digits>.log  frames back to back from byte 0: the file is itself a
 *                                 delimited ServerMessage stream (zero bytes after the end)
 *   <base offset, 20 digits>.idx  a 64-byte struct log_index_header, then one 96-byte
 *                                 struct log_entry per frame, in offset order
 * Both files are created at full size (sparse) and mapped shared. In the hot directory a
 * segment is hot-<n>.log / hot-<n>.idx, same format; its header's base offset is
 * LOG_BASE_UNSET while it is prepared and not yet taken by the writer. */
#ifndef FANOUT_CORE_LOG_H
#define FANOUT_CORE_LOG_H

#include <assert.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define LOG_INDEX_MAGIC   0x5849544f4e414646ull	/* "FFANOTIX" little-endian */
#define LOG_INDEX_VERSION 3u	/* 2: 96-byte entries; 3: their hashes keyed (core/keyhash.h) */
/* Still 3 with portfolio_hash and LOG_ENTRY_TRADE: both only add meaning to bits version 3
 * always wrote as 0 (reserved1; unused flag bits), and 0 reads right in old entries: no
 * portfolio, not a trade. An old server reading new entries ignores both. */
/* Version 2 held unkeyed FNV-1a hashes, which decide partitions and filters: its logs are
 * refused (-EPROTONOSUPPORT, the file named), never read with the wrong hash. */
#define LOG_INDEX_VERSION_FNV 2u
#define LOG_SEGMENTS_MAX  4096u	/* segments per partition; log_reserve fails past it */
#define LOG_SEGMENT_BYTES_DEFAULT (64ull << 20)
#define LOG_SEGMENT_BYTES_MIN     (64ull << 10)
#define LOG_READERS_MAX   64u	/* reactors that can read a log: bits of log.readers */
#define LOG_BASE_UNSET    UINT64_MAX	/* a prepared hot segment's header base offset */
#define LOG_HOT_AHEAD_BYTES (8u << 20)	/* .log bytes the executor keeps faulted ahead of
					 * a busy writer (a quiet one: as many as it wrote) */
#define LOG_HOT_STEP_BYTES  (256u << 10)	/* what the writer faults itself, past that */
#define LOG_HOT_FIRST_BYTES (256u << 10)	/* .log bytes (and index entries for as many)
						 * faulted in when a segment is made: what an
						 * idle partition holds (in whole pages) */
/* Sealed segments the disk has not taken yet stay in hot memory; past either bound the
 * writer refuses appends (-ENOSPC: LOG_FULL) until the executor catches up. */
#define LOG_HOT_SEALED_MAX  64u
#define LOG_HOT_SEALED_BYTES (1ull << 30)

/* log_entry.flags */
#define LOG_ENTRY_LATENCY_SENSITIVE 0x01u
#define LOG_ENTRY_AUDIT_REQUIRED    0x02u
#define LOG_ENTRY_TRADE             0x04u	/* market data whose kind is exactly "trade" */
#define LOG_ENTRY_PRODUCER          0x08u	/* the frame carries a producer stamp */

/* One sidecar index entry, exactly as stored in the .idx file (little-endian host).
 * Hashes are keyhash_bytes() of the string under the data directory's key (never 0), 0
 * when the event has none. */
struct log_entry {
	uint32_t pos;		/* byte position of the frame in the segment's .log */
	uint32_t len;		/* frame bytes including the varint prefix; 0 = unused slot */
	uint32_t crc;		/* crc32c of the frame bytes */
	uint8_t data_type;	/* fanout.v1.DataType */
	uint8_t flags;		/* LOG_ENTRY_* */
	uint8_t priority;	/* distribution.priority, capped at 255 */
	uint8_t reserved0;	/* 0 */
	uint64_t recv_ns;	/* server receive time, CLOCK_REALTIME ns */
	int64_t event_ns;	/* the producer's timestamp_ns */
	uint64_t key_hash;	/* routing key */
	uint64_t symbol_hash;	/* symbol (market data) | instrument_id (decision, execution) */
	uint64_t venue_hash;	/* exchange (market data) | venue (execution) | metadata.venue */
	uint64_t aux_hash;	/* currency (market data) | action (decision) */
	uint64_t order_hash;	/* order_id (execution) | decision_id (decision) */
	double price;		/* price (market data, execution); confidence (decision) */
	double volume;		/* volume (market data); quantity (execution, decision) */
	uint64_t portfolio_hash;/* portfolio_id (execution) */
};
static_assert(sizeof(struct log_entry) == 96, "index entry size is part of the format");
static_assert(offsetof(struct log_entry, recv_ns) == 16, "index entry layout");
static_assert(offsetof(struct log_entry, key_hash) == 32, "index entry layout");
static_assert(offsetof(struct log_entry, price) == 72, "index entry layout");
static_assert(offsetof(struct log_entry, volume) == 80, "index entry layout");
static_assert(offsetof(struct log_entry, portfolio_hash) == 88, "index entry layout");

struct log_index_header {
	uint64_t magic;		/* LOG_INDEX_MAGIC */
	uint32_t version;	/* LOG_INDEX_VERSION */
	uint32_t entry_bytes;	/* sizeof(struct log_entry) */
	uint64_t base_offset;	/* offset of entry 0 */
	uint64_t log_bytes;	/* capacity of the .log file */
	uint64_t entry_capacity;/* entries the .idx file holds */
	uint8_t reserved[24];
};
static_assert(sizeof(struct log_index_header) == 64, "index header is one cache line");

/* What log_commit stores beside the frame (everything in log_entry but pos/len/crc). */
struct log_fields {
	uint64_t recv_ns;
	int64_t event_ns;
	uint64_t key_hash;
	uint64_t symbol_hash;
	uint64_t venue_hash;
	uint64_t aux_hash;
	uint64_t order_hash;
	uint64_t portfolio_hash;
	double price;
	double volume;
	uint8_t data_type;
	uint8_t flags;
	uint8_t priority;
};

struct log_segment {
	uint64_t base_offset;
	uint64_t base_bytes;		/* frame bytes in all earlier segments */
	uint8_t *data;			/* mapped .log, log_bytes long */
	struct log_entry *entries;	/* mapped .idx past its header */
	struct log_index_header *header;
	uint64_t log_bytes;
	uint64_t entry_capacity;
	int log_fd, idx_fd;		/* disk files while being written, else -1 */
	/* A hot segment: its memory is hot-<hot_seq>.* in the hot directory. */
	_Atomic bool hot;
	uint32_t hot_seq;
	int hot_log_fd, hot_idx_fd;	/* its files, while hot, else -1 */
	_Atomic uint64_t ready_bytes;	/* .log bytes faulted in (writable without a fault) */
	_Atomic uint64_t ready_entries;	/* index entries likewise */
	/* The executor's: what the disk files hold, and how they are written. */
	uint64_t disk_entries, disk_bytes;
	bool disk_direct;		/* O_DIRECT: straight from hot memory, no page cache */
};

struct executor;	/* core/executor.h */

/* When the disk files are made durable (fdatasync; --fsync). The executor syncs; the log
 * itself syncs a sealed segment before it moves off its hot memory, and at close. */
enum log_fsync {
	LOG_FSYNC_NEVER,	/* never: the kernel writes back when it likes */
	LOG_FSYNC_INTERVAL,	/* what is on disk, every interval */
	LOG_FSYNC_BATCH,	/* after every pass: publishes are acked once synced */
};

struct log_config {
	uint64_t segment_bytes;		/* capacity of each .log file; .idx holds
					 * segment_bytes / 96 entries */
	/* Where hot segments live: the log in data_root/X has its hot files in
	 * hot_root/X. NULL or "": in <log dir>/hot (same file system; tests, tools). */
	const char *hot_root, *data_root;
	struct executor *executor;	/* persists, prepares, swaps; NULL: log_close does */
	int fsync;			/* enum log_fsync: NEVER syncs nothing, not even
					 * sealed segments or at close */
};

/* Where log_open_report found corruption. */
struct log_fault {
	char file[640];		/* the segment file that failed its check */
	char what[160];		/* what was wrong with it */
	uint64_t offset;	/* the first offset that could not be recovered (those
				 * before it checked out) */
};

/* What log_open found and did. */
struct log_recovery {
	uint64_t segments;
	uint64_t frames;		/* complete frames kept */
	uint64_t torn_entries;		/* index entries cut from the tail */
	uint64_t torn_bytes;		/* frame bytes cut from the tail */
	uint64_t corrupt_offset;	/* -EUCLEAN: the first offset not recovered */
};

struct log {
	char dir[512];
	struct log_config config;
	struct log_segment *segs[LOG_SEGMENTS_MAX];
	_Atomic uint32_t nsegs;		/* published segment count (release/acquire) */
	_Atomic uint64_t tail;		/* published next offset (release/acquire) */
	/* Reactors with subscriptions on the log (bit r: reactor r), woken when the tail
	 * advances. Bit r and reader_refs[r] are written only by reactor r. */
	_Atomic uint64_t readers;
	uint32_t reader_refs[LOG_READERS_MAX];
	_Atomic uint64_t first;		/* first offset in the log (retention moves it) */
	/* Retention (core/log_retain.c), the retaining thread's: segments below first_seg
	 * are retired (files deleted), below reclaimed_seg their memory is zero pages too;
	 * those below reclaim_upto may be once grace generation reclaim_gen has passed. */
	uint32_t first_seg, reclaimed_seg, reclaim_upto;
	uint64_t reclaim_gen;
	_Atomic uint64_t retired_events, retired_bytes;	/* deleted by retention, in all */
	/* Writer-private state. */
	uint64_t next;			/* next offset to commit; >= tail */
	uint32_t write_pos;		/* next free byte in the last segment */
	uint32_t reserved_len;		/* bytes of the reservation in flight, 0 if none */
	uint64_t hot_stalls;		/* times the writer faulted hot memory in itself */
	uint64_t roll_stalls;		/* times it made its next segment itself */
	struct log_recovery recovery;
	/* Hot segments and persistence (core/log_persist.c). */
	char hot_dir[640];
	struct log_segment *_Atomic prepared;	/* the next segment, ready; the executor
						 * stores it, the writer takes it */
	_Atomic uint32_t hot_seq_next;	/* names of hot files */
	_Atomic uint64_t persisted;	/* offsets below are in the disk files */
	_Atomic int persist_error;	/* -errno of the last failed disk write, 0 = none */
	_Atomic uint64_t synced;	/* offsets below are synced (fdatasync) to disk */
	uint64_t sync_target;		/* the executor's: persisted when a sync began */
	struct log *sync_next;		/* the executor's list of logs to sync */
	bool in_sync;
	_Atomic uint32_t disk_seg;	/* the executor's: first segment not wholly on disk */
	_Atomic bool dirty;		/* queued for the executor */
	struct log *dirty_next;		/* the executor's dirty list */
	struct log *retry_next;		/* the executor's retry list */
	bool in_retry;
	_Atomic int ahead_error;	/* -errno of the last failure to make the next
					 * segment ready (not a refusal: the writer makes
					 * its own, or refuses, when it gets there) */
	struct executor *executor;
};

/* A position in the log for one reader; cheap to copy. */
struct log_cursor {
	uint64_t offset;	/* next offset to read */
	uint32_t seg;		/* index into log->segs of the segment holding offset */
};

/* A frame as read: pointers into the mapped segment, valid until log_close. */
struct log_ref {
	const uint8_t *frame;		/* varint prefix + body */
	uint32_t len;
	const struct log_entry *entry;
};

/* Opens (creating it and its directory if missing) the log in dir and recovers it: hot
 * segments a killed process left are copied to disk first; then every complete frame is
 * kept; a torn tail in the last segment is cut (entries zeroed, bytes zeroed) and counted
 * in log->recovery. A bad entry in an earlier segment is corruption: log_open fails with
 * -EUCLEAN and logs the file. The writer starts a new hot segment. Returns 0 or -errno.
 * Caller: any thread, before the log is shared. */
int log_open(struct log **out, const char *dir, const struct log_config *config);

/* log_open, and on -EUCLEAN *fault (when not NULL) says which file, what and from which
 * offset: what an operator needs to repair the log (README). Nothing is changed on disk
 * for a corrupt log beyond copying hot segments a killed process left. */
int log_open_report(struct log **out, const char *dir, const struct log_config *config,
		    struct log_fault *fault);

/* Copies what the disk files lack, removes the hot files, unmaps and closes everything
 * and frees the log. Caller: the writer, after readers and the executor stop. */
void log_close(struct log *log);

/* Frees the log as a killed process leaves it: nothing more copied to disk, hot files
 * kept for the next log_open. For tests of recovery. */
void log_drop(struct log *log);

/* Reserves frame_bytes (prefix included) for the next frame, rolling to the next hot
 * segment when the current one lacks room in its .log or .idx. *dst receives where to
 * write the frame, *offset the offset it will get. One reservation at a time; follow with
 * log_commit. Returns 0, -EMSGSIZE if frame_bytes cannot fit even an empty segment,
 * -ENOSPC past LOG_SEGMENTS_MAX, when the disk refuses the log's bytes (persist_error)
 * or LOG_HOT_SEALED_MAX sealed segments wait for it, or when the hot file system is
 * full; -HEADROOM_FDS or -HEADROOM_MAPS when the process's limits leave no room for a
 * new segment (core/headroom.h); or -errno from making a segment. Caller: the writer. */
int log_reserve(struct log *log, uint32_t frame_bytes, uint8_t **dst, uint64_t *offset);

/* Commits the reserved frame: computes its crc, writes its index entry (len last), and
 * advances the writer's offset. Not yet visible to readers: see log_publish.
 * Caller: the writer, after log_reserve succeeded and the frame bytes are written. */
void log_commit(struct log *log, const struct log_fields *fields);

/* As log_commit, for a writer that computed the frame's CRC-32C as it wrote it. */
void log_commit_crc(struct log *log, const struct log_fields *fields, uint32_t crc);

/* Makes every committed frame visible to readers (one release store) and tells the
 * executor there is something to copy. Call once per batch. Caller: the writer. */
void log_publish(struct log *log);

/* The executor's pass over one log: copies committed frames and entries the disk files
 * lack (creating them), moves wholly copied sealed segments to their disk files, makes
 * the next hot segment ready (once the active one is half full) and keeps the active one
 * faulted in ahead of the writer.
 * Returns 0, or -errno of a disk write (also in log->persist_error; retried by the next
 * pass). Caller: the executor thread (or anyone, while no executor runs). */
int log_persist(struct log *log);

/* Offsets below this are in the disk files (acquire). Any thread. */
static inline uint64_t log_persisted(const struct log *log)
{
	return atomic_load_explicit(&log->persisted, memory_order_acquire);
}

/* Offsets below this are synced to disk: they survive a power loss (acquire). With
 * LOG_FSYNC_NEVER it stays where the log was opened. Any thread. */
static inline uint64_t log_synced(const struct log *log)
{
	return atomic_load_explicit(&log->synced, memory_order_acquire);
}

/* The executor's sync of a log (core/log_persist.c), in two steps around an fdatasync
 * of the descriptors it may issue as it likes (io_uring, many logs at once):
 * log_sync_fds gives the descriptors of the segment holding what was copied and not
 * yet synced (0 of them when the sealed segments' own syncs covered it all, -1 when
 * nothing waits) and notes how far the sync reaches; log_sync_done(log, 0) then moves
 * log_synced there. A failed sync (log_sync_done(log, -errno)) leaves log_synced and
 * has the segment copied again whole from its hot memory before the next sync: after a
 * failed fdatasync the kernel may have dropped the dirty pages it could not write, and
 * another fdatasync would succeed without them. Caller: the executor thread. */
int log_sync_fds(struct log *log, int fds[2]);
void log_sync_done(struct log *log, int result);

/* Next offset readers may not read yet (acquire load). Any thread. */
static inline uint64_t log_tail(const struct log *log)
{
	return atomic_load_explicit(&log->tail, memory_order_acquire);
}

/* Reactor r gains a reader of the log: its bit in log_readers is set while it has one.
 * Set before reading the tail, so a tail published after the read wakes r. Reactor r's
 * thread only. */
static inline void log_reader_join(struct log *log, uint32_t r)
{
	assert(r < LOG_READERS_MAX);
	if (log->reader_refs[r]++ == 0) {
		atomic_fetch_or(&log->readers, 1ull << r);
		atomic_thread_fence(memory_order_seq_cst);	/* the bit, then the tail read */
	}
}

/* Reactor r loses a reader of the log. Reactor r's thread only. */
static inline void log_reader_leave(struct log *log, uint32_t r)
{
	assert(r < LOG_READERS_MAX && log->reader_refs[r] > 0);
	if (--log->reader_refs[r] == 0)
		atomic_fetch_and(&log->readers, ~(1ull << r));
}

/* The reactors to wake after the tail advanced. The writer calls it after publishing
 * tails and a full fence (publish_flush), so a join it misses read the new tail. */
static inline uint64_t log_readers(const struct log *log)
{
	return atomic_load_explicit(&log->readers, memory_order_relaxed);
}

/* First offset still in the log. Any thread. */
static inline uint64_t log_first(const struct log *log)
{
	return atomic_load_explicit(&log->first, memory_order_acquire);
}

/* Points cursor at offset (clamped into [log_first, log_tail]). Any thread. */
void log_cursor_seek(const struct log *log, struct log_cursor *cursor, uint64_t offset);

/* Reads the frame at cursor->offset into *ref without advancing. Returns 0, -EAGAIN
 * when cursor->offset has reached log_tail, or -ESTALE when retention deleted it: the
 * cursor is moved to log_first (nothing read; peek again). Any thread. */
int log_cursor_peek(const struct log *log, struct log_cursor *cursor, struct log_ref *ref);

/* Advances the cursor by one after a successful peek. Any thread. */
static inline void log_cursor_next(struct log_cursor *cursor)
{
	cursor->offset++;
}

/* Reads the frame at offset. Returns 0, or -ERANGE if offset is not in
 * [log_first, log_tail). Any thread. */
int log_read(const struct log *log, uint64_t offset, struct log_ref *ref);

/* The first offset in [log_first, log_tail) whose entry was received (recv_ns) at or
 * after t_ns, by binary search of the index; log_tail when there is none. Exact when
 * the receive times rise, which they do but for a batch handed over from another
 * reactor (appended after later ones) and a clock stepped back (proto: start_time_ns).
 * Any thread. */
uint64_t log_offset_at_time(const struct log *log, int64_t t_ns);

/* Frame bytes from the log's first offset ever (0, or where it was made) up to the
 * published tail, retained or not: what was appended, in all. Any thread. */
uint64_t log_bytes_total(const struct log *log);

/* Frame bytes from offset up to the published tail (0 when offset >= tail): how far a
 * reader at offset is behind, in bytes. Any thread. */
uint64_t log_bytes_behind(const struct log *log, uint64_t offset);

#endif
