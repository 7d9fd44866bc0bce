/* core/log_retain.c — retention: whole sealed segments leave a log from its front, in two
 * steps. log_retire moves log_first past them and deletes their files (a restart no
 * longer sees them); readers below log_first are moved up (log_cursor_peek: -ESTALE).
 * Their memory may still be read by sends queued before (their iovecs point into it),
 * so log_reclaim replaces it with anonymous zero pages only after a grace period the
 * caller establishes (every reactor's sends from before the retire completed: core/
 * reactor.h, reactor_grace). Until then the page cache and disk blocks stay held by the
 * mappings. Caller: one retaining thread (the admin plane's). */
#include "core/log_retain.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "core/log_segment.h"

/* Segments that may go at all: sealed (never the writer's) and wholly copied to disk,
 * their memory the disk files' (the executor is done with them but for a sync, which
 * an unlinked file still takes). Returns the index one past the last candidate. */
static uint32_t retain_limit(const struct log *log)
{
	uint32_t n = atomic_load_explicit(&log->nsegs, memory_order_acquire);
	uint32_t disk = atomic_load_explicit(&log->disk_seg, memory_order_acquire);
	uint32_t lim = n ? n - 1 : 0, i;

	lim = disk < lim ? disk : lim;
	for (i = log->first_seg; i < lim; i++)
		if (atomic_load_explicit(&log->segs[i]->hot, memory_order_acquire))
			break;	/* still in hot memory: the executor moves it first */
	return i;
}

/* What segment i takes on disk: its frames and its index entries (sealed: the next
 * one's base tells both). */
static uint64_t seg_storage(const struct log *log, uint32_t i)
{
	const struct log_segment *a = log->segs[i], *b = log->segs[i + 1];

	return b->base_bytes - a->base_bytes +
	       (b->base_offset - a->base_offset) * sizeof(struct log_entry);
}

uint64_t log_retain_plan(const struct log *log, int64_t cutoff_ns, uint64_t max_bytes)
{
	uint32_t lim = retain_limit(log), i = log->first_seg;
	uint64_t first = log_first(log);
	/* As the topic stats count storage: frames and index entries. */
	uint64_t total = log_bytes_behind(log, first) +
			 (log_tail(log) - first) * sizeof(struct log_entry);

	for (; i < lim; i++) {
		const struct log_segment *next = log->segs[i + 1];
		const struct log_entry *last;
		bool old = false, over = false;

		/* Its newest event (the one before the next segment) received before the
		 * cutoff: every one of its events was (receive times rise, but for a
		 * hand-over's microseconds; core/log.h). */
		if (cutoff_ns > 0 && next->base_offset > log->segs[i]->base_offset) {
			last = &log->segs[i]->entries[next->base_offset - 1 - log->segs[i]->base_offset];
			old = (int64_t)last->recv_ns < cutoff_ns;
		}
		over = max_bytes > 0 && total - seg_storage(log, i) >= max_bytes;
		if (!old && !over)
			break;
		total -= seg_storage(log, i);
	}
	return log->segs[i]->base_offset;
}

int log_retire(struct log *log, uint64_t before, uint64_t grace_gen)
{
	uint32_t lim = retain_limit(log), i = log->first_seg;
	uint64_t events = 0, bytes = 0;
	char path[LOG_PATH_BYTES];
	int failed = 0;
	uint32_t count;

	while (i < lim && log->segs[i + 1]->base_offset <= before) {
		events += log->segs[i + 1]->base_offset - log->segs[i]->base_offset;
		bytes += log->segs[i + 1]->base_bytes - log->segs[i]->base_bytes;
		i++;
	}
	count = i - log->first_seg;
	if (count == 0)
		return 0;
	/* First, then the files: a reader that saw the old first reads mapped memory, which
	 * stays until log_reclaim; a restart finds neither file. */
	atomic_store_explicit(&log->first, log->segs[i]->base_offset, memory_order_release);
	for (uint32_t k = log->first_seg; k < i; k++) {
		log_segment_path(path, log->dir, log->segs[k]->base_offset, "idx");
		if (unlink(path) < 0 && errno != ENOENT)	/* the index first: recovery */
			failed = -errno;	/* starts from the oldest whole pair */
		log_segment_path(path, log->dir, log->segs[k]->base_offset, "log");
		if (unlink(path) < 0 && errno != ENOENT)
			failed = -errno;
	}
	if (failed)
		fprintf(stderr, "log: %s: retention could not delete every file of %u segments "
			"(%s); they are no longer served and go at the next start\n", log->dir,
			count, strerror(-failed));
	log->reclaim_upto = i;
	log->reclaim_gen = grace_gen;
	atomic_fetch_add_explicit(&log->retired_events, events, memory_order_relaxed);
	atomic_fetch_add_explicit(&log->retired_bytes, bytes, memory_order_relaxed);
	log->first_seg = i;
	return (int)count;
}

uint32_t log_reclaim(struct log *log, uint64_t grace_done)
{
	uint32_t n = 0;

	if (log->reclaim_gen > grace_done)
		return 0;
	for (; log->reclaimed_seg < log->reclaim_upto; log->reclaimed_seg++, n++) {
		struct log_segment *seg = log->segs[log->reclaimed_seg];
		void *p;

		/* The same addresses, zero pages: a stale pointer reads zeros, never faults;
		 * the file's pages and blocks go with the old mapping. */
		p = mmap(seg->data, seg->log_bytes, PROT_READ,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED | MAP_NORESERVE, -1, 0);
		if (p != MAP_FAILED)
			p = mmap(seg->header, log_segment_idx_bytes(seg), PROT_READ,
				 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED | MAP_NORESERVE, -1, 0);
		if (p == MAP_FAILED) {	/* kept as it is: a later pass tries again */
			fprintf(stderr, "log: %s: cannot release a deleted segment's memory: %s\n",
				log->dir, strerror(errno));
			break;
		}
	}
	return n;
}

bool log_reclaim_pending(const struct log *log)
{
	return log->reclaimed_seg < log->reclaim_upto;
}
