/* core/log.c — the partition log: opening and recovering a log directory, the writer's
 * reserve/commit/publish path, and the readers' segment lookup. The files of one segment
 * are core/log_segment.c's.
 *
 * Recovery reads every kept frame once (crc32c and varint prefix), so opening costs one
 * pass over the data. Nothing here calls fsync: a committed frame survives the death of
 * the process (the page cache holds it) but not of the machine. */
#include "core/log.h"

#include "core/crc32c.h"
#include "core/executor.h"
#include "core/frame.h"
#include "core/log_hot.h"
#include "core/log_segment.h"

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

static void log_free(struct log *log, bool keep_hot);
static int log_start_hot(struct log *log);

/* Counts the kept frames of a segment (into *count, their bytes into *pos). In the last
 * segment the first bad or empty entry is the end and everything after it is cut; in an
 * earlier one the first empty entry is the end (the writer rolled: the next frame did not
 * fit) and a bad one is corruption. */
static int recover_scan(struct log *log, struct log_segment *seg, bool last,
			uint64_t *count, uint64_t *pos)
{
	uint64_t i = log_segment_scan(seg, pos), torn_entries = 0, torn_bytes = 0;
	char path[LOG_PATH_BYTES];
	int r;

	*count = i;
	if (!last) {
		log_segment_path(path, log->dir, seg->base_offset, "idx");
		log->recovery.corrupt_offset = seg->base_offset + i;
		if (i < seg->entry_capacity && seg->entries[i].len != 0)
			return log_segment_corrupt(path, "bad entry before the last segment");
		return 0;
	}
	if ((r = log_segment_cut(seg, i, *pos, &torn_entries, &torn_bytes)) < 0)
		return r;
	if (torn_entries || torn_bytes)
		fprintf(stderr, "log: %s: cut torn tail at offset %" PRIu64 " (%" PRIu64
			" entries, %" PRIu64 " bytes)\n", log->dir, seg->base_offset + i,
			torn_entries, torn_bytes);
	log->recovery.torn_entries += torn_entries;
	log->recovery.torn_bytes += torn_bytes;
	return 0;
}

/* Offsets never wrap: a segment's base must leave room below 2^64 for every offset the
 * log may append after it. 2^63 is beyond any real log (292 years at 10^9 events/s); a
 * larger base only comes from a damaged or foreign file name. */
#define LOG_BASE_OFFSET_MAX (UINT64_MAX >> 1)

/* Loads, checks and scans one listed segment and appends it to the log. */
static int log_recover_seg(struct log *log, const struct log_segment_name *name, bool last)
{
	uint32_t n = atomic_load_explicit(&log->nsegs, memory_order_relaxed);
	struct log_segment *seg = NULL;
	char path[LOG_PATH_BYTES];
	uint64_t count, pos;
	int r;

	if (name->base > LOG_BASE_OFFSET_MAX) {	/* checked before a fresh one is recreated */
		log_segment_path(path, log->dir, name->base, name->has_log ? "log" : "idx");
		return log_segment_corrupt(path, "base offset out of range");
	}
	/* Where a corruption found from here on starts: this segment's first offset. */
	log->recovery.corrupt_offset = n ? log->next : name->base;
	if ((r = log_segment_load(log, name, last, &seg)) < 0)
		return r;
	/* Not shared yet: relaxed is enough, and log_close frees what is listed here. */
	log->segs[n] = seg;
	atomic_store_explicit(&log->nsegs, n + 1, memory_order_relaxed);
	if (n > 0 && seg->base_offset != log->next) {
		log_segment_path(path, log->dir, seg->base_offset, "idx");
		return log_segment_corrupt(path, "base offset does not follow on");
	}
	/* write_pos still holds where the previous segment's frames end. */
	seg->base_bytes = n ? log->segs[n - 1]->base_bytes + log->write_pos : 0;
	if ((r = recover_scan(log, seg, last, &count, &pos)) < 0)
		return r;
	log->next = seg->base_offset + count;
	log->write_pos = (uint32_t)pos;
	log->recovery.frames += count;
	log->recovery.segments++;
	seg->disk_entries = count;	/* what its disk files hold: all of it */
	seg->disk_bytes = pos;
	/* Counted as synced from here on (log_synced): a killed process's last bytes, the
	 * hot files copied just now, are not yet. */
	if (log->config.fsync != LOG_FSYNC_NEVER && seg->log_fd >= 0 && seg->idx_fd >= 0 &&
	    (fdatasync(seg->log_fd) < 0 || fdatasync(seg->idx_fd) < 0)) {
		r = -errno;
		log_segment_path(path, log->dir, seg->base_offset, "log");
		fprintf(stderr, "log: %s: cannot sync: %s\n", path, strerror(-r));
		return r;
	}
	log_segment_close_fds(seg);	/* sealed: the mapping is all it needs */
	return 0;
}

/* Parses "<20 digits>.log" or ".idx"; anything else in the directory is not ours. */
static bool name_parse(const char *s, uint64_t *base, bool *is_log)
{
	char canon[LOG_NAME_DIGITS + 1];

	if (strlen(s) != LOG_NAME_DIGITS + 4 || s[LOG_NAME_DIGITS] != '.' ||
	    strspn(s, "0123456789") != LOG_NAME_DIGITS)
		return false;
	if (strcmp(s + LOG_NAME_DIGITS, ".log") && strcmp(s + LOG_NAME_DIGITS, ".idx"))
		return false;
	errno = 0;
	*base = strtoull(s, NULL, 10);
	snprintf(canon, sizeof(canon), "%020" PRIu64, *base);
	*is_log = s[LOG_NAME_DIGITS + 1] == 'l';
	return errno == 0 && memcmp(canon, s, LOG_NAME_DIGITS) == 0;
}

static int name_cmp(const void *a, const void *b)
{
	const struct log_segment_name *x = a, *y = b;

	return x->base < y->base ? -1 : x->base > y->base;
}

/* Lists the segments in dir, sorted by base offset, one row per base. names has room
 * for LOG_SEGMENTS_MAX * 2 rows (a .log and an .idx each, before merging). */
static int dir_list(const char *dir, struct log_segment_name *names, uint32_t *count)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	uint32_t n = 0, m = 0;
	int r = 0;

	if (!d)
		return -errno;
	while ((errno = 0, de = readdir(d))) {
		struct log_segment_name sn = { 0 };
		bool is_log;

		if (!name_parse(de->d_name, &sn.base, &is_log))
			continue;
		if (n == LOG_SEGMENTS_MAX * 2) {
			r = log_segment_corrupt(dir, "too many segment files");
			goto err;
		}
		sn.has_log = is_log;
		sn.has_idx = !is_log;
		names[n++] = sn;
	}
	if (errno) {
		r = -errno;
		goto err;
	}
	qsort(names, n, sizeof(*names), name_cmp);
	/* Merge the .log and .idx rows of a base. */
	for (uint32_t i = 0; i < n; i++) {
		if (m > 0 && names[m - 1].base == names[i].base) {
			names[m - 1].has_log |= names[i].has_log;
			names[m - 1].has_idx |= names[i].has_idx;
		} else {
			names[m++] = names[i];
		}
	}
	if (m > LOG_SEGMENTS_MAX)
		r = log_segment_corrupt(dir, "more than LOG_SEGMENTS_MAX segments");
	*count = m;
err:
	closedir(d);
	return r;
}

static int log_recover(struct log *log)
{
	struct log_segment_name *names = calloc(LOG_SEGMENTS_MAX * 2, sizeof(*names));
	uint32_t n = 0;
	int r = -ENOMEM;

	if (!names)
		goto err;
	if ((r = dir_list(log->dir, names, &n)) < 0)
		goto err;
	for (uint32_t i = 0; i < n; i++)
		if ((r = log_recover_seg(log, &names[i], i + 1 == n)) < 0)
			goto err;
	atomic_store_explicit(&log->first, n ? log->segs[0]->base_offset : 0, memory_order_relaxed);
	atomic_store_explicit(&log->tail, log->next, memory_order_relaxed);
err:
	free(names);
	return r;
}

int log_open(struct log **out, const char *dir, const struct log_config *config)
{
	return log_open_report(out, dir, config, NULL);
}

int log_open_report(struct log **out, const char *dir, const struct log_config *config,
		    struct log_fault *fault)
{
	struct log *log = NULL;
	int r = -EINVAL;

	/* Positions in an entry are uint32: a segment cannot be larger. */
	if (config->segment_bytes < LOG_SEGMENT_BYTES_MIN ||
	    config->segment_bytes > UINT32_MAX || dir[0] == '\0')
		goto err;
	r = -ENAMETOOLONG;
	if (strlen(dir) >= sizeof(log->dir))
		goto err;
	r = -ENOMEM;
	if (!(log = calloc(1, sizeof(*log))))
		goto err;
	snprintf(log->dir, sizeof(log->dir), "%s", dir);
	log->config = *config;
	log->executor = config->executor;
	if ((r = log_hot_dir(log)) < 0 || (r = log_mkdir_p(log->dir)) < 0 ||
	    (r = log_hot_recover(log)) < 0 || (r = log_recover(log)) < 0 ||
	    (r = log_start_hot(log)) < 0)
		goto err;
	*out = log;
	return 0;
err:
	if (r == -EUCLEAN && fault && log) {
		log_segment_last_fault(fault);
		fault->offset = log->recovery.corrupt_offset;
	}
	log_free(log, false);
	return r;
}

/* Frees what the log holds; with keep_hot, hot files a failed copy could not empty stay
 * for the next log_open. */
static void log_free(struct log *log, bool keep_hot)
{
	struct log_segment *prepared;

	if (!log)
		return;
	prepared = atomic_exchange(&log->prepared, NULL);
	if (prepared) {
		log_hot_remove(log, prepared);
		log_segment_free(prepared);
	}
	for (uint32_t i = 0; i < atomic_load(&log->nsegs); i++) {
		struct log_segment *seg = log->segs[i];

		if (atomic_load(&seg->hot) && !keep_hot)
			log_hot_remove(log, seg);
		log_segment_free(seg);
	}
	rmdir(log->hot_dir);	/* when empty: hot directories are made again as needed */
	free(log);
}

void log_drop(struct log *log)
{
	struct log_segment *prepared = log ? atomic_exchange(&log->prepared, NULL) : NULL;

	if (prepared)	/* never taken: nothing in it, as a recovery would find */
		log_segment_free(prepared);
	log_free(log, true);
}

void log_close(struct log *log)
{
	int r;

	if (!log)
		return;
	/* Everything to disk, the active segment too (it need not be sealed). */
	r = log_persist_run(log, false);
	if (r == 0 && log->config.fsync != LOG_FSYNC_NEVER) {
		int fds[2], k = log_sync_fds(log, fds);

		if (k == 2 && (fdatasync(fds[0]) < 0 || fdatasync(fds[1]) < 0))
			r = -errno;
		if (k >= 0)
			log_sync_done(log, r);
	}
	if (r < 0)
		fprintf(stderr, "log: %s: cannot write to disk (%s); kept in %s for the next start\n",
			log->dir, strerror(-r), log->hot_dir);
	log_free(log, r < 0);
}

/* Starts a new segment at log->next and publishes it (nsegs, release) before any offset
 * in it can be published, so a reader that sees an offset below the tail sees its
 * segment. */
/* Appends seg, taken by the writer, at log->next and publishes it (nsegs, release)
 * before any offset in it can be published, so a reader that sees an offset below the
 * tail sees its segment. */
static void log_add_hot(struct log *log, uint32_t n, struct log_segment *seg)
{
	log_hot_activate(seg, log->next);
	seg->base_bytes = n ? log->segs[n - 1]->base_bytes + log->write_pos : 0;
	log->segs[n] = seg;
	atomic_store_explicit(&log->nsegs, n + 1, memory_order_release);
	log->write_pos = 0;
}

/* At open: the writer starts a hot segment of its own at log->next (a disk segment is
 * never appended to again; recovery knows a segment may end early). An empty last disk
 * segment (a crash while it was made) would share the base: it goes. */
static int log_start_hot(struct log *log)
{
	uint32_t n = atomic_load_explicit(&log->nsegs, memory_order_relaxed);
	struct log_segment *seg;
	char path[LOG_PATH_BYTES];
	int r;

	if (n > 0 && log->segs[n - 1]->base_offset == log->next) {
		struct log_segment *empty = log->segs[--n];

		log->write_pos = n ? (uint32_t)log->segs[n - 1]->disk_bytes : 0;
		log_segment_path(path, log->dir, empty->base_offset, "log");
		unlink(path);
		log_segment_path(path, log->dir, empty->base_offset, "idx");
		unlink(path);
		log_segment_free(empty);
		atomic_store_explicit(&log->nsegs, n, memory_order_relaxed);
	}
	if (n == LOG_SEGMENTS_MAX)
		return -ENOSPC;
	if ((r = log_hot_create(log, &seg)) < 0)
		return r;
	log_add_hot(log, n, seg);
	atomic_store_explicit(&log->disk_seg, n, memory_order_relaxed);
	atomic_store_explicit(&log->persisted, log->next, memory_order_relaxed);
	/* What was recovered is synced (log_recover_seg), unless --fsync never. */
	atomic_store_explicit(&log->synced, log->config.fsync != LOG_FSYNC_NEVER ? log->next : 0,
			      memory_order_relaxed);
	if (n == 0)
		atomic_store_explicit(&log->first, log->next, memory_order_relaxed);
	return 0;
}

/* Moves the writer to the next hot segment: the one the executor made ready, else one
 * made here (counted: a burst outran the executor). */
static int log_roll(struct log *log, uint32_t n)
{
	struct log_segment *seg;
	int r;

	/* An empty last segment that is too small (segment_bytes grew since it was made):
	 * rolling would reuse its base offset. */
	if (n > 0 && log->segs[n - 1]->base_offset == log->next)
		return -EMSGSIZE;
	if (n == LOG_SEGMENTS_MAX)
		return -ENOSPC;
	/* Sealed segments the disk has not taken yet stay in memory: bounded. */
	if (log->executor) {
		uint64_t sealed = n - atomic_load_explicit(&log->disk_seg, memory_order_acquire);

		if (sealed > LOG_HOT_SEALED_MAX ||
		    sealed * log->config.segment_bytes > LOG_HOT_SEALED_BYTES)
			return -ENOSPC;
	}
	seg = atomic_exchange_explicit(&log->prepared, NULL, memory_order_acquire);
	if (!seg) {
		if ((r = log_hot_create(log, &seg)) < 0)
			return r;
		log->roll_stalls++;
	}
	log_add_hot(log, n, seg);
	if (log->executor)
		executor_dirty(log->executor, log);	/* the sealed one to disk, the next made */
	return 0;
}

/* The writer is about to write past what is faulted in: it faults the next step in
 * itself (no disk involved: a memory file system), or refuses when that memory is not
 * there. */
static int log_ready(struct log *log, struct log_segment *seg, uint32_t frame_bytes)
{
	uint64_t need = (uint64_t)log->write_pos + frame_bytes;
	uint64_t entry = log->next - seg->base_offset + 1;
	int r;

	if (need <= atomic_load_explicit(&seg->ready_bytes, memory_order_relaxed) &&
	    entry <= atomic_load_explicit(&seg->ready_entries, memory_order_relaxed))
		return 0;
	r = log_hot_ready(seg, need + LOG_HOT_STEP_BYTES,
			  entry + LOG_HOT_STEP_BYTES / sizeof(struct log_entry));
	log->hot_stalls++;
	return r;
}

int log_reserve(struct log *log, uint32_t frame_bytes, uint8_t **dst, uint64_t *offset)
{
	/* Only this thread stores nsegs: its own last store is visible with relaxed. */
	uint32_t n = atomic_load_explicit(&log->nsegs, memory_order_relaxed);
	struct log_segment *seg = n ? log->segs[n - 1] : NULL;
	int r;

	assert(log->reserved_len == 0);
	if (frame_bytes == 0)
		return -EINVAL;	/* len 0 marks an unused index slot */
	/* INT32_MAX: frame_parse returns an int; recovery could not keep a bigger frame. */
	if (frame_bytes > log->config.segment_bytes || frame_bytes > INT32_MAX)
		return -EMSGSIZE;
	/* The disk refused this log's bytes: nothing more until it takes them (LOG_FULL). */
	if (atomic_load_explicit(&log->persist_error, memory_order_relaxed))
		return -ENOSPC;
	if (!seg || log->next - seg->base_offset >= seg->entry_capacity ||
	    (uint64_t)log->write_pos + frame_bytes > seg->log_bytes) {
		if ((r = log_roll(log, n)) < 0)
			return r;
		seg = log->segs[n];
		assert(frame_bytes <= seg->log_bytes);
	}
	assert(atomic_load_explicit(&seg->hot, memory_order_relaxed));	/* the writer's own */
	if ((r = log_ready(log, seg, frame_bytes)) < 0)
		return r;
	*dst = seg->data + log->write_pos;
	*offset = log->next;
	log->reserved_len = frame_bytes;
	return 0;
}

void log_commit(struct log *log, const struct log_fields *fields)
{
	uint32_t n = atomic_load_explicit(&log->nsegs, memory_order_relaxed);
	struct log_segment *seg = log->segs[n - 1];

	log_commit_crc(log, fields, crc32c(0, seg->data + log->write_pos, log->reserved_len));
}

void log_commit_crc(struct log *log, const struct log_fields *fields, uint32_t crc)
{
	uint32_t n = atomic_load_explicit(&log->nsegs, memory_order_relaxed);
	struct log_segment *seg = log->segs[n - 1];
	uint32_t len = log->reserved_len;
	struct log_entry *e = &seg->entries[log->next - seg->base_offset];
	struct frame_view v = { 0 };

	assert(len != 0);
	assert(e->len == 0);
	/* A frame whose prefix disagrees with len would be cut, with all after it, by the
	 * next recovery: catch the writer's bug here instead. */
	assert(frame_parse(seg->data + log->write_pos, len, INT32_MAX, &v) == (int)len);
	(void)v;
	e->pos = log->write_pos;
	e->crc = crc;
	e->data_type = fields->data_type;
	e->flags = fields->flags;
	e->priority = fields->priority;
	e->reserved0 = 0;
	e->recv_ns = fields->recv_ns;
	e->key_hash = fields->key_hash;
	e->symbol_hash = fields->symbol_hash;
	e->venue_hash = fields->venue_hash;
	e->aux_hash = fields->aux_hash;
	e->order_hash = fields->order_hash;
	e->portfolio_hash = fields->portfolio_hash;
	e->event_ns = fields->event_ns;
	e->price = fields->price;
	e->volume = fields->volume;
	/* len last: a process killed before this store leaves an empty slot. */
	__atomic_store_n(&e->len, len, __ATOMIC_RELEASE);
	log->write_pos += len;
	log->next++;
	log->reserved_len = 0;
}

void log_publish(struct log *log)
{
	/* Release: frames and entries written before are visible to an acquire of tail. */
	atomic_store_explicit(&log->tail, log->next, memory_order_release);
	if (log->executor)
		executor_dirty(log->executor, log);
}

/* The segment holding offset: the last one whose base is <= offset. Needs n > 0 and
 * offset >= segs[0]->base_offset. */
static uint32_t seg_find(const struct log *log, uint32_t n, uint64_t offset)
{
	uint32_t lo = 0, hi = n;

	assert(n > 0 && offset >= log->segs[0]->base_offset);
	while (hi - lo > 1) {
		uint32_t mid = lo + (hi - lo) / 2;

		if (log->segs[mid]->base_offset <= offset)
			lo = mid;
		else
			hi = mid;
	}
	return lo;
}

static bool seg_holds(const struct log *log, uint32_t n, uint32_t i, uint64_t offset)
{
	return i < n && offset >= log->segs[i]->base_offset &&
	       (i + 1 == n || offset < log->segs[i + 1]->base_offset);
}

/* offset is below a tail loaded with acquire, so its entry and bytes are visible. */
static void ref_fill(const struct log_segment *seg, uint64_t offset, struct log_ref *ref)
{
	const struct log_entry *e = &seg->entries[offset - seg->base_offset];

	assert(offset - seg->base_offset < seg->entry_capacity);
	assert(e->len != 0);	/* published entries are committed */
	ref->frame = seg->data + e->pos;
	ref->len = e->len;
	ref->entry = e;
}

void log_cursor_seek(const struct log *log, struct log_cursor *cursor, uint64_t offset)
{
	uint64_t tail = log_tail(log);
	/* Acquire after tail: covers every segment an offset below tail can be in. */
	uint32_t n = atomic_load_explicit(&log->nsegs, memory_order_acquire);

	if (offset < log_first(log))
		offset = log_first(log);
	if (offset > tail)
		offset = tail;
	cursor->offset = offset;
	cursor->seg = n ? seg_find(log, n, offset) : 0;
}

int log_cursor_peek(const struct log *log, struct log_cursor *cursor, struct log_ref *ref)
{
	uint64_t offset = cursor->offset, tail = log_tail(log);
	uint32_t n;

	assert(offset <= tail);	/* a cursor only moves past frames it has peeked */
	if (offset == tail)
		return -EAGAIN;
	if (offset < log_first(log)) {	/* retention deleted it */
		log_cursor_seek(log, cursor, offset);
		return -ESTALE;
	}
	n = atomic_load_explicit(&log->nsegs, memory_order_acquire);
	/* Common case: same segment, or the next one right after a roll. */
	if (!seg_holds(log, n, cursor->seg, offset))
		cursor->seg = seg_holds(log, n, cursor->seg + 1, offset) ? cursor->seg + 1 :
			      seg_find(log, n, offset);
	ref_fill(log->segs[cursor->seg], offset, ref);
	return 0;
}

uint64_t log_offset_at_time(const struct log *log, int64_t t_ns)
{
	uint64_t lo = log_first(log), hi = log_tail(log);

	while (lo < hi) {	/* entry lo - 1 (if any) before t_ns, entry hi (if any) not */
		uint64_t mid = lo + (hi - lo) / 2;
		struct log_ref ref;

		/* An entry that cannot be read counts as "at or after": a start too early
		 * sends more, never skips. */
		if (log_read(log, mid, &ref) < 0 || (int64_t)ref.entry->recv_ns >= t_ns)
			hi = mid;
		else
			lo = mid + 1;
	}
	return lo;
}

int log_read(const struct log *log, uint64_t offset, struct log_ref *ref)
{
	uint64_t tail = log_tail(log);
	uint32_t n;

	if (offset < log_first(log) || offset >= tail)
		return -ERANGE;
	n = atomic_load_explicit(&log->nsegs, memory_order_acquire);
	ref_fill(log->segs[seg_find(log, n, offset)], offset, ref);
	return 0;
}

/* Cumulative byte position where the frame at offset starts; offset < tail. */
static uint64_t log_byte_pos(const struct log *log, uint32_t n, uint64_t offset)
{
	const struct log_segment *seg = log->segs[seg_find(log, n, offset)];

	return seg->base_bytes + seg->entries[offset - seg->base_offset].pos;
}

uint64_t log_bytes_total(const struct log *log)
{
	uint64_t tail = log_tail(log);
	uint32_t n = atomic_load_explicit(&log->nsegs, memory_order_acquire);
	const struct log_segment *last;
	const struct log_entry *e;

	if (n == 0 || tail == log->segs[0]->base_offset)
		return 0;
	last = log->segs[seg_find(log, n, tail - 1)];
	e = &last->entries[tail - 1 - last->base_offset];
	return last->base_bytes + e->pos + e->len;
}

uint64_t log_bytes_behind(const struct log *log, uint64_t offset)
{
	uint64_t tail = log_tail(log);
	uint32_t n = atomic_load_explicit(&log->nsegs, memory_order_acquire);
	const struct log_segment *last;
	uint64_t end;

	if (offset >= tail)
		return 0;
	if (offset < log_first(log))
		offset = log_first(log);
	last = log->segs[seg_find(log, n, tail - 1)];
	end = last->base_bytes + last->entries[tail - 1 - last->base_offset].pos +
	      last->entries[tail - 1 - last->base_offset].len;
	return end - log_byte_pos(log, n, offset);
}
