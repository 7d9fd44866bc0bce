/* core/log_hot.c — hot segments: making them in the hot directory, faulting them in,
 * removing them, and copying to disk what a killed process left in them. */
#include "core/log_hot.h"

#include "core/headroom.h"
#include "core/log_segment.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23	/* Linux 5.14 */
#endif
#define HOT_NAME "hot-"

int log_hot_dir(struct log *log)
{
	const char *hot = log->config.hot_root, *data = log->config.data_root;
	size_t dlen = data ? strlen(data) : 0;
	int n;

	if (!hot || !hot[0])
		n = snprintf(log->hot_dir, sizeof(log->hot_dir), "%s/hot", log->dir);
	else if (dlen && strncmp(log->dir, data, dlen) == 0 && log->dir[dlen] == '/')
		n = snprintf(log->hot_dir, sizeof(log->hot_dir), "%s%s", hot, log->dir + dlen);
	else
		return -EINVAL;	/* a log outside the data root has no hot place */
	return n < 0 || (size_t)n >= sizeof(log->hot_dir) ? -ENAMETOOLONG : 0;
}

static void hot_path(char *buf, size_t cap, const struct log *log, uint32_t seq,
		     const char *ext)
{
	snprintf(buf, cap, "%s/" HOT_NAME "%010" PRIu32 ".%s", log->hot_dir, seq, ext);
}

static uint64_t hot_idx_bytes(uint64_t entries)
{
	return sizeof(struct log_index_header) + entries * sizeof(struct log_entry);
}

static void hot_raise(_Atomic uint64_t *ready, uint64_t v)
{
	uint64_t cur = atomic_load_explicit(ready, memory_order_relaxed);

	while (cur < v && !atomic_compare_exchange_weak_explicit(ready, &cur, v,
								  memory_order_release,
								  memory_order_relaxed))
		;
}

/* Writes every page of [p, end) once, without changing a byte (an atomic or of 0: the
 * writer may be writing there already): under a virtual machine that maps guest pages
 * lazily (shadow paging), a page's first write costs microseconds, paid here rather
 * than by the writer on its reactor. */
static void hot_touch(uint8_t *p, uint8_t *end)
{
	for (p = (uint8_t *)((uintptr_t)p & ~(uintptr_t)4095); p < end; p += 4096)
		__atomic_fetch_or(p, 0, __ATOMIC_RELAXED);
}

/* Reserves and faults in [from, to) of a mapping of fd. */
static int hot_fault(int fd, uint8_t *base, uint64_t from, uint64_t to)
{
	uintptr_t start = (uintptr_t)(base + from) & ~(uintptr_t)4095;
	int r;

	if (from >= to)
		return 0;
	/* fallocate makes tmpfs take the pages now (ENOSPC here rather than SIGBUS on a
	 * write); MADV_POPULATE_WRITE maps them, so the writer takes no fault. */
	do
		r = fallocate(fd, 0, (off_t)from, (off_t)(to - from));
	while (r < 0 && errno == EINTR);
	if (r < 0 && errno != EOPNOTSUPP)
		return -errno;
	if (madvise((void *)start, (uintptr_t)(base + to) - start, MADV_POPULATE_WRITE) < 0 &&
	    errno != EINVAL)	/* an old kernel: the writer faults page by page */
		return errno == EFAULT || errno == ENOMEM ? -ENOSPC : -errno;
	hot_touch(base + from, base + to);
	return 0;
}

int log_hot_ready(struct log_segment *seg, uint64_t bytes, uint64_t entries)
{
	uint64_t have_b = atomic_load_explicit(&seg->ready_bytes, memory_order_relaxed);
	uint64_t have_e = atomic_load_explicit(&seg->ready_entries, memory_order_relaxed);
	int r;

	bytes = bytes < seg->log_bytes ? bytes : seg->log_bytes;
	entries = entries < seg->entry_capacity ? entries : seg->entry_capacity;
	if (bytes > have_b) {
		if ((r = hot_fault(seg->hot_log_fd, seg->data, have_b, bytes)) < 0)
			return r;
		hot_raise(&seg->ready_bytes, bytes);
	}
	if (entries > have_e) {
		if ((r = hot_fault(seg->hot_idx_fd, (uint8_t *)seg->header, hot_idx_bytes(have_e),
				   hot_idx_bytes(entries))) < 0)
			return r;
		hot_raise(&seg->ready_entries, entries);
	}
	return 0;
}

static int hot_mkdir(const struct log *log)
{
	struct stat st;

	if (stat(log->hot_dir, &st) == 0 && S_ISDIR(st.st_mode))
		return 0;
	return log_mkdir_p(log->hot_dir);
}

/* Counted and checked like the disk files' (log_segment.c's open_retry). */
static int hot_open(const char *path, int flags)
{
	int fd = headroom_check(1, 0);

	if (fd < 0)
		return fd;
	do
		fd = open(path, flags | O_CLOEXEC, 0600);
	while (fd < 0 && errno == EINTR);
	if (fd < 0)
		return -errno;
	headroom_fds_add(1);
	return fd;
}

int log_hot_create(struct log *log, struct log_segment **out)
{
	struct log_segment *seg = calloc(1, sizeof(*seg));
	uint32_t seq = atomic_fetch_add(&log->hot_seq_next, 1);
	char path[sizeof(log->hot_dir) + 32];
	int r = -ENOMEM;

	if (!seg)
		return r;
	seg->log_fd = seg->idx_fd = seg->hot_log_fd = seg->hot_idx_fd = -1;
	seg->base_offset = LOG_BASE_UNSET;
	seg->hot_seq = seq;
	seg->log_bytes = log->config.segment_bytes;
	seg->entry_capacity = log->config.segment_bytes / sizeof(struct log_entry);
	if ((r = hot_mkdir(log)) < 0)
		goto err;
	hot_path(path, sizeof(path), log, seq, "log");
	if ((r = seg->hot_log_fd = hot_open(path, O_RDWR | O_CREAT | O_EXCL)) < 0)
		goto err;
	hot_path(path, sizeof(path), log, seq, "idx");
	if ((r = seg->hot_idx_fd = hot_open(path, O_RDWR | O_CREAT | O_EXCL)) < 0)
		goto err;
	if ((r = log_segment_size_files(seg, seg->hot_log_fd, seg->hot_idx_fd)) < 0 ||
	    (r = log_segment_map(seg, seg->hot_log_fd, seg->hot_idx_fd, true)) < 0)
		goto err;
	/* The first pages, the header's among them, reserved before anything is written
	 * through the mapping: a full hot fs is -ENOSPC here, never a SIGBUS. */
	if ((r = log_hot_ready(seg, LOG_HOT_FIRST_BYTES,
				LOG_HOT_FIRST_BYTES / sizeof(struct log_entry))) < 0)
		goto err;
	*seg->header = (struct log_index_header){
		.magic = LOG_INDEX_MAGIC, .version = LOG_INDEX_VERSION,
		.entry_bytes = sizeof(struct log_entry), .base_offset = LOG_BASE_UNSET,
		.log_bytes = seg->log_bytes, .entry_capacity = seg->entry_capacity,
	};
	atomic_store(&seg->hot, true);
	*out = seg;
	return 0;
err:
	/* Only what this call created (O_EXCL): a name taken by someone else stays. */
	if (seg->hot_log_fd >= 0) {
		hot_path(path, sizeof(path), log, seq, "log");
		unlink(path);
	}
	if (seg->hot_idx_fd >= 0) {
		hot_path(path, sizeof(path), log, seq, "idx");
		unlink(path);
	}
	log_segment_free(seg);
	return r;
}

void log_hot_activate(struct log_segment *seg, uint64_t base)
{
	seg->base_offset = base;
	/* Release: a recovery that sees the base reads a header written before it. */
	__atomic_store_n(&seg->header->base_offset, base, __ATOMIC_RELEASE);
}

void log_hot_remove(const struct log *log, struct log_segment *seg)
{
	char path[sizeof(log->hot_dir) + 32];

	hot_path(path, sizeof(path), log, seg->hot_seq, "log");
	unlink(path);
	hot_path(path, sizeof(path), log, seg->hot_seq, "idx");
	unlink(path);
	log_segment_close_fds(seg);
	atomic_store(&seg->hot, false);
}

/* ---- recovery ---------------------------------------------------------------------- */

struct hot_found {
	uint64_t base;
	uint32_t seq;
};

static int hot_found_cmp(const void *a, const void *b)
{
	const struct hot_found *x = a, *y = b;

	return x->base < y->base ? -1 : x->base > y->base;
}

/* Reads a hot segment's header; maps it when it holds data (base set). Returns 1 with
 * *out mapped, 0 when it is to be removed, or -errno. */
static int hot_load(struct log *log, uint32_t seq, struct log_segment **out)
{
	struct log_segment *seg = calloc(1, sizeof(*seg));
	char path[sizeof(log->hot_dir) + 32];
	struct log_index_header h;
	struct stat ls, is;
	ssize_t n;
	int r = -ENOMEM;

	if (!seg)
		return r;
	seg->log_fd = seg->idx_fd = seg->hot_log_fd = seg->hot_idx_fd = -1;
	seg->hot_seq = seq;
	hot_path(path, sizeof(path), log, seq, "log");
	if ((r = seg->hot_log_fd = hot_open(path, O_RDWR)) < 0)
		goto gone;
	hot_path(path, sizeof(path), log, seq, "idx");
	if ((r = seg->hot_idx_fd = hot_open(path, O_RDWR)) < 0)
		goto gone;
	n = pread(seg->hot_idx_fd, &h, sizeof(h), 0);
	/* Prepared and never taken (base unset), or killed before the header was written
	 * (all zeros, nothing can have been committed): nothing in it. */
	if (n == 0 || (n == (ssize_t)sizeof(h) &&
		       (h.base_offset == LOG_BASE_UNSET || h.magic == 0))) {
		r = 0;
		goto gone;
	}
	if (n == (ssize_t)sizeof(h) && h.magic == LOG_INDEX_MAGIC &&
	    h.version == LOG_INDEX_VERSION_FNV) {
		r = log_segment_old_format(path);	/* its frames are not to be dropped */
		goto gone;
	}
	if (n != (ssize_t)sizeof(h) || h.magic != LOG_INDEX_MAGIC ||
	    h.version != LOG_INDEX_VERSION || h.entry_bytes != sizeof(struct log_entry) ||
	    h.log_bytes == 0 || h.log_bytes > UINT32_MAX ||
	    h.entry_capacity == 0 || h.entry_capacity > UINT32_MAX ||
	    fstat(seg->hot_log_fd, &ls) < 0 || fstat(seg->hot_idx_fd, &is) < 0 ||
	    (uint64_t)ls.st_size != h.log_bytes ||
	    (uint64_t)is.st_size != hot_idx_bytes(h.entry_capacity)) {
		/* In use once (a base was set) but not what the writer makes: kept for an
		 * operator, never removed in silence. Its base, if the header has one, is
		 * where the loss starts (no disk segment has been read yet). */
		if (n == (ssize_t)sizeof(h) && h.magic == LOG_INDEX_MAGIC)
			log->recovery.corrupt_offset = h.base_offset;
		r = log_segment_corrupt(path, "hot segment header or sizes do not check out "
					"(kept; move it away to start without it)");
		goto gone;
	}
	seg->base_offset = h.base_offset;
	seg->log_bytes = h.log_bytes;
	seg->entry_capacity = h.entry_capacity;
	if ((r = log_segment_map(seg, seg->hot_log_fd, seg->hot_idx_fd, false)) < 0)
		goto gone;
	*out = seg;
	return 1;
gone:
	log_segment_free(seg);
	return r == -ENOENT ? 0 : r;
}

/* Copies one left-over hot segment's entries (up to the first empty one) and their bytes
 * into the disk files of its base; the disk recovery then checks them as any. */
static int hot_copy(struct log *log, struct log_segment *hot)
{
	struct log_segment disk = *hot;
	uint64_t count = 0;
	int r;

	while (count < hot->entry_capacity && hot->entries[count].len != 0 &&
	       (uint64_t)hot->entries[count].pos + hot->entries[count].len <= hot->log_bytes)
		count++;
	if (count == 0)
		return 0;
	disk.log_fd = disk.idx_fd = disk.hot_log_fd = disk.hot_idx_fd = -1;
	disk.disk_entries = disk.disk_bytes = 0;
	if ((r = log_segment_disk_open(log, &disk, false)) == 0)
		r = log_segment_disk_write(&disk, count);
	/* Synced before the hot files go (unless --fsync never): the copy is then all. */
	if (r == 0 && log->config.fsync != LOG_FSYNC_NEVER &&
	    (fdatasync(disk.log_fd) < 0 || fdatasync(disk.idx_fd) < 0))
		r = -errno;
	log_segment_close_fds(&disk);
	return r;
}

static int hot_list(struct log *log, struct hot_found **found, uint32_t *n)
{
	DIR *d = opendir(log->hot_dir);
	struct dirent *de;
	uint32_t cap = 0;

	*found = NULL;
	*n = 0;
	if (!d)
		return errno == ENOENT ? 0 : -errno;
	while ((de = readdir(d))) {
		unsigned long seq;
		char *end;

		if (strncmp(de->d_name, HOT_NAME, strlen(HOT_NAME)) != 0 ||
		    strlen(de->d_name) != strlen(HOT_NAME) + 14)
			continue;
		seq = strtoul(de->d_name + strlen(HOT_NAME), &end, 10);
		if (strcmp(end, ".idx") != 0 && strcmp(end, ".log") != 0)
			continue;
		if (seq >= atomic_load(&log->hot_seq_next))
			atomic_store(&log->hot_seq_next, (uint32_t)seq + 1);
		if (strcmp(end, ".idx") != 0) {
			/* A .log without its .idx: killed between the two creates; nothing
			 * was ever committed to it. */
			char path[sizeof(log->hot_dir) + 32];

			hot_path(path, sizeof(path), log, (uint32_t)seq, "idx");
			if (access(path, F_OK) < 0 && errno == ENOENT) {
				hot_path(path, sizeof(path), log, (uint32_t)seq, "log");
				unlink(path);
			}
			continue;
		}
		if (*n == cap) {
			struct hot_found *g = realloc(*found, (cap ? cap * 2 : 8) * sizeof(*g));

			if (!g) {
				closedir(d);
				return -ENOMEM;
			}
			*found = g;
			cap = cap ? cap * 2 : 8;
		}
		(*found)[(*n)++] = (struct hot_found){ .seq = (uint32_t)seq };
	}
	closedir(d);
	return 0;
}

int log_hot_recover(struct log *log)
{
	struct hot_found *found;
	uint32_t n, kept = 0;
	int r = hot_list(log, &found, &n);

	for (uint32_t i = 0; r == 0 && i < n; i++) {
		struct log_segment *seg = NULL;
		struct log_segment gone = { .hot_seq = found[i].seq, .log_fd = -1, .idx_fd = -1,
					    .hot_log_fd = -1, .hot_idx_fd = -1 };
		int l = hot_load(log, found[i].seq, &seg);

		if (l < 0) {
			r = l;
		} else if (l == 0) {
			log_hot_remove(log, &gone);
		} else {
			found[kept++] = (struct hot_found){ .base = seg->base_offset,
							    .seq = found[i].seq };
			log_segment_free(seg);
		}
	}
	if (kept > 1)
		qsort(found, kept, sizeof(*found), hot_found_cmp);
	for (uint32_t i = 0; r == 0 && i < kept; i++) {
		struct log_segment *seg = NULL;
		int l = hot_load(log, found[i].seq, &seg);

		if (l <= 0) {
			r = l;
			break;
		}
		if ((r = hot_copy(log, seg)) == 0) {
			fprintf(stderr, "log: %s: copied hot segment %" PRIu64 " to disk\n",
				log->dir, seg->base_offset);
			log_hot_remove(log, seg);
		}
		log_segment_free(seg);
	}
	free(found);
	return r;
}
