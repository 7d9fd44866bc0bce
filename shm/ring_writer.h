/* shm/ring_writer.h — the server side of a shared-memory ring (shm/FORMAT.md): creates the
 * ring file, copies frames into it, wakes sleeping readers, reports readers' lag, removes
 * the file; and, at start-up, sweeps rings left by a server that died.
 *
 * Concurrency: one thread (the subscription's owner reactor) calls shm_ring_write and
 * shm_ring_wake; shm_ring_readers may run on any thread (it only reads reader slots);
 * shm_ring_create, shm_ring_destroy and shm_ring_sweep are control-plane calls. Functions
 * return 0 or -errno unless they say otherwise. */
#ifndef FANOUT_SHM_RING_WRITER_H
#define FANOUT_SHM_RING_WRITER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define SHM_RING_DIR_DEFAULT "/dev/shm"

struct shm_ring_writer;

struct shm_ring_opts {
	bool memfd;			/* two sealed memfds, no file (shm/ring_memfd.h): dir,
					 * mode and group do not apply; readers get the
					 * descriptors from shm_ring_take_fds */
	const char *dir;		/* NULL = SHM_RING_DIR_DEFAULT */
	const char *name;		/* file name in dir (the memfd's name): no '/', not
					 * starting with '.' */
	uint64_t bytes;			/* data area; rounded up to a power of two, at least
					 * 64 KiB; above 64 GiB is -EINVAL */
	uint32_t journal_entries;	/* 0 = bytes / 64; rounded up to a power of two,
					 * at least 1024 */
	mode_t mode;			/* 0 = 0600; set with fchmod, whatever the umask */
	bool set_group;			/* chown the file to group (a zeroed struct must not
					 * mean "group 0") */
	gid_t group;
	const char *topic;		/* at most 255 bytes; NULL = "" */
	uint32_t partitions;		/* the topic's partition count, for readers */
	const char *data_dir;		/* the server's data directory, where readers recover
					 * lapped frames; NULL or "" = no recovery; < 1024 bytes */
};

/* What shm_ring_readers reports for one claimed reader slot. */
struct shm_reader_info {
	uint32_t slot;
	pid_t pid;
	uint64_t start_ticks;
	uint64_t seq, pos;		/* where the reader is (its last published progress) */
	uint64_t lag_records, lag_bytes;/* behind the writer's published position */
	uint64_t lost, recovered;	/* events it reported lost / read back from the log */
	uint64_t heartbeat_age_ns;	/* since its last poll or wait (CLOCK_MONOTONIC) */
	bool alive;			/* pid with that start time still runs */
	bool sleeping;			/* inside FUTEX_WAIT */
};

/* Creates dir/name with O_EXCL at its full size (posix_fallocate), maps it (MAP_POPULATE)
 * and writes the header; the ring is open for readers once this returns. The file's path
 * goes to path (path_cap bytes; may be NULL). With o->memfd, the ring is two sealed memfds
 * instead and path gets "memfd:NAME". Returns 0, -EEXIST, -EINVAL (bad name or sizes),
 * -ENAMETOOLONG (topic, data_dir or path), -ENOSPC, or another -errno; on failure nothing
 * is left behind. Control plane. */
int shm_ring_create(struct shm_ring_writer **out, const struct shm_ring_opts *o, char *path,
		    size_t path_cap);

/* The memory a ring made with o takes (its whole layout, and the reader area again for
 * a memfd ring), for budgets checked before creating it; 0 when o is invalid. */
uint64_t shm_ring_footprint(const struct shm_ring_opts *o);

/* Hands over a memfd ring's descriptors, once: ring_fd (the ring: map it read-only) and
 * area_fd (the reader area: map it read-write at SHM_SLOTS_OFFSET of the view); the
 * caller closes them (the writer's mapping keeps the ring alive). Returns 0, or -EBADF
 * for a file ring or when they were taken already. Control plane. */
int shm_ring_take_fds(struct shm_ring_writer *w, int *ring_fd, int *area_fd);

/* Copies one frame (the varint-delimited ServerMessage, as in the log) into the ring as the
 * next record, with its partition, offset and receive time, and publishes it. Never blocks
 * and never allocates: a reader that is too slow is lapped (shm/FORMAT.md). The frame must
 * already be committed to the partition log, so that lapped readers can recover it.
 * Returns 0, or -EMSGSIZE when the record can never fit (len 0 or over capacity / 4).
 * Caller: the writer thread. */
int shm_ring_write(struct shm_ring_writer *w, const uint8_t *frame, uint32_t len,
		   uint32_t partition, uint64_t offset, uint64_t recv_ns);

/* Wakes readers sleeping in FUTEX_WAIT, once per batch of writes: one atomic increment,
 * and the futex syscall only when some reader is waiting. Nothing when nothing was
 * written since the last call. Caller: the writer thread. */
void shm_ring_wake(struct shm_ring_writer *w);

/* Whether any reader slot is claimed (a few loads; no /proc). Any thread. */
bool shm_ring_has_reader(const struct shm_ring_writer *w);

/* Fills out with up to max claimed reader slots; returns how many. Reads /proc for each
 * reader's liveness: control plane, any thread. */
uint32_t shm_ring_readers(const struct shm_ring_writer *w, struct shm_reader_info *out,
			  uint32_t max);

/* Records written so far and the ring's file path. Any thread. */
uint64_t shm_ring_written(const struct shm_ring_writer *w);
const char *shm_ring_path(const struct shm_ring_writer *w);

/* The writer's own mapping of the whole file, for a reader in the same process that
 * should share it (the ThreadSanitizer tests: one address for both sides). */
void *shm_ring_base(const struct shm_ring_writer *w);

/* Marks the ring closed (readers see no more records are coming), wakes every waiter,
 * unlinks the file (closes the memfds not handed over) and unmaps it. Readers keep their own mappings. NULL is fine.
 * Caller: the writer thread, or the control plane once the writer has stopped. */
void shm_ring_destroy(struct shm_ring_writer *w);

/* Called by shm_ring_sweep for each file whose name starts with prefix: removed says
 * whether it was unlinked, why says why (or why it was kept). */
typedef void shm_sweep_report_fn(void *ctx, const char *path, bool removed, const char *why);

/* At start-up: removes every ring file in dir (NULL = SHM_RING_DIR_DEFAULT) whose name
 * starts with prefix and whose writer (pid + start time) is gone. Files that are not rings,
 * or whose writer is alive, are kept. report may be NULL. Returns how many files were
 * removed, or -errno when dir cannot be read. Control plane. */
int shm_ring_sweep(const char *dir, const char *prefix, shm_sweep_report_fn *report,
		   void *ctx);

#endif
