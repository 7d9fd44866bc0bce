/* core/log_persist.c — the executor's work on a log (core/log.h): copying what the
 * writer published to the disk files, moving a sealed segment that is wholly on disk
 * from its hot memory to its disk files, and keeping the next hot segment ready. */
#include "core/log.h"

#include "core/log_hot.h"
#include "core/log_segment.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#ifndef MADV_POPULATE_READ
#define MADV_POPULATE_READ 22	/* Linux 5.14 */
#endif

/* Brings [0, bytes) of a file into the page cache and waits for it (readahead(2) neither
 * waits nor reads past the device's window). Best effort: a reader faults in the rest. */
static void persist_read_in(int fd, uint64_t bytes)
{
	void *p;

	if (bytes == 0)
		return;
	p = mmap(NULL, bytes, PROT_READ, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED)
		return;
	if (madvise(p, bytes, MADV_POPULATE_READ) < 0)
		(void)readahead(fd, 0, bytes);	/* an old kernel: the hint at least */
	munmap(p, bytes);
}

/* Maps the disk files over the hot mapping of a sealed segment wholly copied to them:
 * the same addresses, the same bytes, so readers never notice; then the hot files go.
 * MAP_FIXED replaces a mapping atomically for every thread of the process. */
static int persist_swap(struct log *log, struct log_segment *seg)
{
	size_t idx_bytes = sizeof(struct log_index_header) +
			   seg->entry_capacity * sizeof(struct log_entry);
	void *p;

	/* Written around the page cache: read it in here (waiting for it), not in a
	 * reader's fault on a reactor. */
	if (seg->disk_direct) {
		persist_read_in(seg->log_fd, seg->disk_bytes);
		persist_read_in(seg->idx_fd, sizeof(struct log_index_header) +
				seg->disk_entries * sizeof(struct log_entry));
	}
	p = mmap(seg->data, seg->log_bytes, PROT_READ, MAP_SHARED | MAP_FIXED, seg->log_fd, 0);
	if (p == MAP_FAILED)
		return -errno;
	p = mmap(seg->header, idx_bytes, PROT_READ, MAP_SHARED | MAP_FIXED, seg->idx_fd, 0);
	if (p == MAP_FAILED)
		return -errno;
	log_hot_remove(log, seg);	/* closes every descriptor of the segment */
	return 0;
}

/* Copies segment k's published entries up to end (an offset) to its disk files. */
static int persist_copy(struct log *log, struct log_segment *seg, uint64_t end)
{
	int r;

	if (end <= seg->base_offset + seg->disk_entries)
		return 0;
	if (seg->log_fd < 0 && (r = log_segment_disk_open(log, seg, true)) < 0)
		return r;
	return log_segment_disk_write(seg, end - seg->base_offset);
}

/* How far ahead of the writer the active segment is kept faulted in: as far as the log
 * has written so far, from LOG_HOT_STEP_BYTES up to LOG_HOT_AHEAD_BYTES. A busy log gets
 * the whole lead after its first megabytes; a log that has taken a few events keeps the
 * memory its segment was made with (every such topic would otherwise hold 16 MiB of the
 * memory file system: 8 MiB of frames and 8 MiB of index). */
static uint64_t persist_lead_bytes(const struct log_segment *last, uint64_t used_bytes)
{
	uint64_t written = last->base_bytes + used_bytes;

	if (written < LOG_HOT_STEP_BYTES)
		return LOG_HOT_STEP_BYTES;
	return written < LOG_HOT_AHEAD_BYTES ? written : LOG_HOT_AHEAD_BYTES;
}

/* Keeps the active segment faulted in ahead of the writer and, once it is half used, the
 * next hot segment made (an idle log holds one segment, not two). */
static int persist_ahead(struct log *log, uint32_t n, uint64_t tail)
{
	struct log_segment *last = n ? log->segs[n - 1] : NULL, *seg;
	uint64_t used_bytes = 0, used = 0, lead;
	int r;

	if (!last || !atomic_load_explicit(&last->hot, memory_order_acquire))
		return 0;
	if (tail > last->base_offset) {
		const struct log_entry *e = &last->entries[tail - 1 - last->base_offset];

		used = tail - last->base_offset;
		used_bytes = (uint64_t)e->pos + e->len;
	}
	lead = persist_lead_bytes(last, used_bytes);
	r = log_hot_ready(last, used_bytes + lead, used + lead / sizeof(struct log_entry));
	if (r < 0)
		return r;
	if (atomic_load_explicit(&log->prepared, memory_order_acquire) ||
	    (used_bytes * 2 < last->log_bytes && used * 2 < last->entry_capacity))
		return 0;
	if ((r = log_hot_create(log, &seg)) < 0)
		return r;
	atomic_store_explicit(&log->prepared, seg, memory_order_release);
	return 0;
}

/* A sealed segment's disk files are synced before their descriptors close (the sync
 * list's logs are synced through the active segment's descriptors only). A failed sync
 * has the segment copied again from hot memory (log_sync_done). */
static int persist_seal_sync(struct log *log, struct log_segment *seg)
{
	if (log->config.fsync == LOG_FSYNC_NEVER || seg->log_fd < 0 || seg->idx_fd < 0)
		return 0;
	if (fdatasync(seg->log_fd) < 0 || fdatasync(seg->idx_fd) < 0) {
		int r = -errno;

		if (atomic_load_explicit(&seg->hot, memory_order_relaxed)) {
			seg->disk_entries = 0;
			seg->disk_bytes = 0;
			atomic_store_explicit(&log->persisted, seg->base_offset,
					      memory_order_release);
		}
		return r;
	}
	return 0;
}

int log_sync_fds(struct log *log, int fds[2])
{
	uint64_t persisted = log_persisted(log);
	uint32_t k = atomic_load_explicit(&log->disk_seg, memory_order_relaxed);
	uint32_t n = atomic_load_explicit(&log->nsegs, memory_order_acquire);
	struct log_segment *seg;

	if (persisted <= log_synced(log))
		return -1;
	log->sync_target = persisted;
	if (k >= n)
		return 0;
	seg = log->segs[k];
	/* A segment whose sync failed is copied again: only what precedes it counts. */
	if (seg->base_offset + seg->disk_entries < persisted)
		log->sync_target = seg->base_offset + seg->disk_entries;
	if (seg->log_fd < 0 || seg->idx_fd < 0 || seg->base_offset >= persisted)
		return 0;	/* what waits is in sealed segments, synced as they closed */
	fds[0] = seg->log_fd;
	fds[1] = seg->idx_fd;
	return 2;
}

void log_sync_done(struct log *log, int result)
{
	uint32_t k = atomic_load_explicit(&log->disk_seg, memory_order_relaxed);

	if (result == 0) {
		if (log->sync_target > log_synced(log))	/* never backwards */
			atomic_store_explicit(&log->synced, log->sync_target, memory_order_release);
		return;
	}
	/* Written again whole from hot memory (which still holds every byte of a segment
	 * not yet moved to its disk files), then synced again. */
	if (k < atomic_load_explicit(&log->nsegs, memory_order_acquire) &&
	    atomic_load_explicit(&log->segs[k]->hot, memory_order_relaxed)) {
		log->segs[k]->disk_entries = 0;
		log->segs[k]->disk_bytes = 0;
	}
}

int log_persist(struct log *log)
{
	return log_persist_run(log, true);
}

int log_persist_run(struct log *log, bool ahead)
{
	uint64_t tail = log_tail(log);
	/* Acquire after the tail: every segment an offset below it is in. */
	uint32_t n = atomic_load_explicit(&log->nsegs, memory_order_acquire);
	uint32_t k = atomic_load_explicit(&log->disk_seg, memory_order_relaxed);
	int r = 0;

	for (; k < n; k++) {
		struct log_segment *seg = log->segs[k];
		bool sealed = k + 1 < n;
		uint64_t end = sealed ? log->segs[k + 1]->base_offset : tail;

		if (end > tail)
			end = tail;	/* committed, not yet published: the next pass */
		if ((r = persist_copy(log, seg, end)) < 0)
			break;
		atomic_store_explicit(&log->persisted, seg->base_offset + seg->disk_entries,
				      memory_order_release);
		if (!sealed || end != log->segs[k + 1]->base_offset)
			break;
		if ((r = persist_seal_sync(log, seg)) < 0)
			break;
		if (atomic_load_explicit(&seg->hot, memory_order_relaxed) &&
		    (r = persist_swap(log, seg)) < 0)
			break;
		log_segment_close_fds(seg);
	}
	atomic_store_explicit(&log->disk_seg, k, memory_order_release);
	/* Only the disk refusing bytes refuses appends; a hot fs too full to make the next
	 * segment ready is the writer's to meet (log_ready, log_roll) if it gets there. */
	atomic_store_explicit(&log->persist_error, r, memory_order_release);
	if (r == 0 && ahead)
		atomic_store_explicit(&log->ahead_error, persist_ahead(log, n, tail),
				      memory_order_relaxed);
	return r;
}
