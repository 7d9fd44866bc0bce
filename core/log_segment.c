/* core/log_segment.c — one segment of a partition log: its .log/.idx file pair. Creates
 * segments, loads and validates existing ones, finds the frames a segment keeps, and cuts
 * a torn tail.
 *
 * Holes in the sparse files are skipped with SEEK_DATA/SEEK_HOLE, so cutting never faults
 * in, or allocates, the unused part of a segment. */
#include "core/log_segment.h"

#include "core/crc32c.h"
#include "core/frame.h"
#include "core/headroom.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

static_assert(sizeof(size_t) >= 8, "segments up to 4 GiB are mapped whole");
static_assert(sizeof(struct log_index_header) == 64 && sizeof(struct log_entry) == 96,
	      "entry i of a .idx sits at byte 64 + 96 * i");

void log_segment_path(char *buf, const char *dir, uint64_t base, const char *ext)
{
	snprintf(buf, LOG_PATH_BYTES, "%s/%020" PRIu64 ".%s", dir, base, ext);
}

/* Every descriptor a segment holds is counted (core/headroom.h): refused here, with a
 * reason, before the process runs out. */
static int open_retry(const char *path, int flags)
{
	int fd = headroom_check(1, 0);

	if (fd < 0)
		return fd;
	do
		fd = open(path, flags | O_CLOEXEC, 0644);
	while (fd < 0 && errno == EINTR);
	if (fd < 0)
		return -errno;
	headroom_fds_add(1);
	return fd;
}

static int truncate_retry(int fd, uint64_t bytes)
{
	int r;

	do
		r = ftruncate(fd, (off_t)bytes);
	while (r < 0 && errno == EINTR);
	return r < 0 ? -errno : 0;
}

static uint64_t idx_file_bytes(uint64_t entry_capacity)
{
	return sizeof(struct log_index_header) + entry_capacity * sizeof(struct log_entry);
}

uint64_t log_segment_idx_bytes(const struct log_segment *seg)
{
	return idx_file_bytes(seg->entry_capacity);
}

static void close_fd(int *fd)
{
	if (*fd >= 0) {
		close(*fd);
		headroom_fds_add(-1);
	}
	*fd = -1;
}

void log_segment_close_fds(struct log_segment *seg)
{
	close_fd(&seg->log_fd);
	close_fd(&seg->idx_fd);
	close_fd(&seg->hot_log_fd);
	close_fd(&seg->hot_idx_fd);
}

void log_segment_free(struct log_segment *seg)
{
	if (!seg)
		return;
	/* log_segment_map made both or neither. */
	assert(!seg->data == !seg->header);
	if (seg->data) {
		munmap(seg->data, seg->log_bytes);
		munmap(seg->header, idx_file_bytes(seg->entry_capacity));
		headroom_maps_add(-2);
	}
	log_segment_close_fds(seg);
	free(seg);
}

static struct log_segment *seg_alloc(uint64_t base)
{
	struct log_segment *seg = calloc(1, sizeof(*seg));

	if (seg) {
		seg->base_offset = base;
		seg->log_fd = seg->idx_fd = seg->hot_log_fd = seg->hot_idx_fd = -1;
	}
	return seg;
}

int log_mkdir_p(const char *dir)
{
	char path[1024];
	struct stat st;

	if (snprintf(path, sizeof(path), "%s", dir) >= (int)sizeof(path))
		return -ENAMETOOLONG;
	for (char *p = path + 1; ; p++) {
		char c = *p;

		if (c != '/' && c != '\0')
			continue;
		*p = '\0';
		if (mkdir(path, 0755) < 0 && errno != EEXIST)
			return -errno;
		*p = c;
		if (c == '\0')
			break;
	}
	if (stat(path, &st) < 0)
		return -errno;
	return S_ISDIR(st.st_mode) ? 0 : -ENOTDIR;
}

int log_segment_size_files(const struct log_segment *seg, int log_fd, int idx_fd)
{
	int r = truncate_retry(log_fd, seg->log_bytes);

	return r < 0 ? r : truncate_retry(idx_fd, idx_file_bytes(seg->entry_capacity));
}

/* Maps both files once log_bytes and entry_capacity are known; they stay mapped until
 * log_close so frame pointers handed to readers never dangle. */
int log_segment_map(struct log_segment *seg, int log_fd, int idx_fd, bool writable)
{
	int prot = PROT_READ | (writable ? PROT_WRITE : 0);
	void *log_map, *idx_map;
	int r = headroom_check(0, 2);

	if (r < 0)
		return r;	/* before the kernel's limit makes an mmap fail */
	log_map = mmap(NULL, seg->log_bytes, prot, MAP_SHARED, log_fd, 0);
	if (log_map == MAP_FAILED)
		return -errno;
	idx_map = mmap(NULL, idx_file_bytes(seg->entry_capacity), prot, MAP_SHARED, idx_fd, 0);
	if (idx_map == MAP_FAILED) {
		r = -errno;
		munmap(log_map, seg->log_bytes);
		return r;
	}
	headroom_maps_add(2);
	seg->data = log_map;
	seg->header = idx_map;
	seg->entries = (struct log_entry *)(seg->header + 1);
	return 0;
}

static int pwrite_all(int fd, const void *p, size_t n, off_t at)
{
	const uint8_t *b = p;

	while (n > 0) {
		ssize_t w = pwrite(fd, b, n, at);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -errno;
		if (w == 0)
			return -EIO;
		b += w;
		n -= (size_t)w;
		at += w;
	}
	return 0;
}

/* Creates both files of a new, empty segment at full (sparse) size. The header goes in
 * with one pwrite before anything else touches the .idx, so a process that dies here
 * leaves a header that is either complete or all zeros, never half written. */
int log_segment_create(const struct log *log, uint64_t base, struct log_segment **out)
{
	struct log_segment *seg = seg_alloc(base);
	struct log_index_header h = {
		.magic = LOG_INDEX_MAGIC,
		.version = LOG_INDEX_VERSION,
		.entry_bytes = sizeof(struct log_entry),
		.base_offset = base,
		.log_bytes = log->config.segment_bytes,
		.entry_capacity = log->config.segment_bytes / sizeof(struct log_entry),
	};
	char path[LOG_PATH_BYTES];
	int r = -ENOMEM;

	if (!seg)
		return r;
	seg->log_bytes = h.log_bytes;
	seg->entry_capacity = h.entry_capacity;
	log_segment_path(path, log->dir, base, "log");
	/* O_EXCL: an existing file of this name is never silently reused. */
	if ((r = seg->log_fd = open_retry(path, O_RDWR | O_CREAT | O_EXCL)) < 0) {
		log_segment_free(seg);
		return r;
	}
	if ((r = truncate_retry(seg->log_fd, seg->log_bytes)) < 0)
		goto err;
	log_segment_path(path, log->dir, base, "idx");
	if ((r = seg->idx_fd = open_retry(path, O_RDWR | O_CREAT | O_EXCL)) < 0)
		goto err;
	if ((r = truncate_retry(seg->idx_fd, idx_file_bytes(h.entry_capacity))) < 0 ||
	    (r = pwrite_all(seg->idx_fd, &h, sizeof(h), 0)) < 0 ||
	    (r = log_segment_map(seg, seg->log_fd, seg->idx_fd, true)) < 0)
		goto err;
	*out = seg;
	return 0;
err:
	/* Remove what this call created, so that a retry does not fail with EEXIST. */
	log_segment_path(path, log->dir, base, "log");
	unlink(path);
	if (seg->idx_fd >= 0) {
		log_segment_path(path, log->dir, base, "idx");
		unlink(path);
	}
	log_segment_free(seg);
	return r;
}

/* Per thread: the corruption a log_open on this thread found last. */
static _Thread_local struct log_fault segment_fault;

int log_segment_corrupt(const char *path, const char *what)
{
	fprintf(stderr, "log: %s: %s\n", path, what);
	snprintf(segment_fault.file, sizeof(segment_fault.file), "%s", path);
	snprintf(segment_fault.what, sizeof(segment_fault.what), "%s", what);
	return -EUCLEAN;
}

void log_segment_last_fault(struct log_fault *fault)
{
	memcpy(fault->file, segment_fault.file, sizeof(fault->file));
	memcpy(fault->what, segment_fault.what, sizeof(fault->what));
}

int log_segment_old_format(const char *path)
{
	fprintf(stderr, "log: %s: index format version %u, written by an older fanout with "
		"unkeyed hashes; this fanoutd reads version %u only (hashes keyed by the data "
		"dir's HASHKEY). Move the data dir aside, or serve it with the older fanoutd\n",
		path, LOG_INDEX_VERSION_FNV, LOG_INDEX_VERSION);
	return -EPROTONOSUPPORT;
}

/* Checks a header read from path against the file name and the file sizes. */
static int header_check(const char *path, const struct log_index_header *h, uint64_t base,
			const struct stat *log_st, const struct stat *idx_st)
{
	if (h->magic == LOG_INDEX_MAGIC && h->version == LOG_INDEX_VERSION_FNV)
		return log_segment_old_format(path);
	if (h->magic != LOG_INDEX_MAGIC || h->version != LOG_INDEX_VERSION ||
	    h->entry_bytes != sizeof(struct log_entry))
		return log_segment_corrupt(path, "bad header (magic, version or entry size)");
	if (h->base_offset != base)
		return log_segment_corrupt(path, "header base offset does not match file name");
	if (h->log_bytes == 0 || h->log_bytes > UINT32_MAX || h->entry_capacity == 0 ||
	    h->entry_capacity > (UINT64_MAX - sizeof(*h)) / sizeof(struct log_entry))
		return log_segment_corrupt(path, "index header sizes out of range");
	if ((uint64_t)log_st->st_size != h->log_bytes ||
	    (uint64_t)idx_st->st_size != idx_file_bytes(h->entry_capacity))
		return log_segment_corrupt(path, "file sizes do not match the index header");
	return 0;
}

/* Reads a segment's header: 1 when it is absent or all zeros (the process died while
 * creating the segment), 0 when it is present, or -errno. A zero header with a non-zero
 * first entry is not a crash at creation (the header is written before any entry), so
 * it counts as present and fails header_check. */
static int header_read(int fd, const struct stat *st, struct log_index_header *h)
{
	static const uint8_t zero[sizeof(*h) + sizeof(struct log_entry)];
	uint8_t buf[sizeof(zero)];
	size_t want = (uint64_t)st->st_size < sizeof(buf) ? sizeof(*h) : sizeof(buf);
	ssize_t n;

	if ((uint64_t)st->st_size < sizeof(*h))
		return 1;
	do
		n = pread(fd, buf, want, 0);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	if ((size_t)n != want)
		return -EIO;
	memcpy(h, buf, sizeof(*h));
	return memcmp(buf, zero, want) == 0;
}

/* Replaces a last segment whose creation never finished with a fresh, empty one. No
 * frame can have been committed to it: commits only follow a completed header. */
static int seg_recreate(const struct log *log, uint64_t base, struct log_segment **out)
{
	char path[LOG_PATH_BYTES];

	log_segment_path(path, log->dir, base, "log");
	if (unlink(path) < 0 && errno != ENOENT)
		return -errno;
	log_segment_path(path, log->dir, base, "idx");
	if (unlink(path) < 0 && errno != ENOENT)
		return -errno;
	return log_segment_create(log, base, out);
}

/* Opens, validates and maps an existing segment. */
int log_segment_load(const struct log *log, const struct log_segment_name *name, bool last,
		    struct log_segment **out)
{
	struct log_segment *seg = seg_alloc(name->base);
	struct log_index_header h = { 0 };
	struct stat log_st = { 0 }, idx_st = { 0 };
	char path[LOG_PATH_BYTES];
	int r = -ENOMEM, fresh = 1;

	if (!seg)
		goto err;
	log_segment_path(path, log->dir, name->base, "idx");
	/* The .log is created first, so an .idx alone is not a crash at creation. */
	if (!name->has_log) {
		r = log_segment_corrupt(path, "the .log file is missing");
		goto err;
	}
	if (name->has_idx) {
		log_segment_path(path, log->dir, name->base, "log");
		if ((r = seg->log_fd = open_retry(path, O_RDWR)) < 0)
			goto err;
		log_segment_path(path, log->dir, name->base, "idx");
		if ((r = seg->idx_fd = open_retry(path, O_RDWR)) < 0)
			goto err;
		if (fstat(seg->log_fd, &log_st) < 0 || fstat(seg->idx_fd, &idx_st) < 0) {
			r = -errno;
			goto err;
		}
		if ((r = fresh = header_read(seg->idx_fd, &idx_st, &h)) < 0)
			goto err;
	}
	if (fresh) {
		/* Only the last segment can have been in creation when the process died. */
		r = last ? 0 : log_segment_corrupt(path, "missing or empty, not the last");
		log_segment_free(seg);
		return r < 0 ? r : seg_recreate(log, name->base, out);
	}
	if ((r = header_check(path, &h, name->base, &log_st, &idx_st)) < 0)
		goto err;
	seg->log_bytes = h.log_bytes;
	seg->entry_capacity = h.entry_capacity;
	if ((r = log_segment_map(seg, seg->log_fd, seg->idx_fd, true)) < 0)
		goto err;
	*out = seg;
	return 0;
err:
	log_segment_free(seg);
	return r;
}

/* An entry is a kept frame when it claims the next bytes of the .log, the bytes match its
 * crc, and they parse as exactly one delimited frame. */
static bool entry_good(const struct log_segment *seg, const struct log_entry *e,
		       uint64_t pos)
{
	/* frame_parse returns an int; no real frame is near INT32_MAX (FRAME_BYTES_LIMIT). */
	uint32_t max_body = seg->log_bytes < INT32_MAX ? (uint32_t)seg->log_bytes : INT32_MAX;
	struct frame_view v = { 0 };

	if (e->len == 0 || e->pos != pos || (uint64_t)e->pos + e->len > seg->log_bytes)
		return false;
	if (crc32c(0, seg->data + e->pos, e->len) != e->crc)
		return false;
	return frame_parse(seg->data + e->pos, e->len, max_body, &v) == (int)e->len;
}

/* Finds the next data extent of fd within [from, to): 1 and [*start, *end), 0 if only
 * holes are left (they read as zeros, so there is nothing in them to cut), or -errno. */
static int data_extent(int fd, uint64_t from, uint64_t to, uint64_t *start, uint64_t *end)
{
	off_t d, h;

	if (from >= to)
		return 0;
	d = lseek(fd, (off_t)from, SEEK_DATA);
	if (d < 0)
		return errno == ENXIO ? 0 : -errno;
	if ((uint64_t)d >= to)
		return 0;
	h = lseek(fd, d, SEEK_HOLE);
	if (h < 0)
		return -errno;
	*start = (uint64_t)d;
	*end = (uint64_t)h < to ? (uint64_t)h : to;
	return 1;
}

/* Zeroes every non-zero index entry from entry i on; counts those that claimed a frame. */
static int idx_cut(struct log_segment *seg, uint64_t i, uint64_t *torn_entries)
{
	static const struct log_entry zero;
	uint64_t from = idx_file_bytes(i), to = idx_file_bytes(seg->entry_capacity);
	uint64_t start = 0, end = 0;
	int r;

	while ((r = data_extent(seg->idx_fd, from, to, &start, &end)) > 0) {
		/* Extents are block aligned, entries are not: take every entry that overlaps
		 * the extent (reading a hole through the mapping gives zeros). */
		uint64_t hdr = sizeof(struct log_index_header);
		uint64_t first = start <= hdr ? 0 : (start - hdr) / sizeof(zero);
		uint64_t last = end <= hdr ? 0 : (end - hdr + sizeof(zero) - 1) / sizeof(zero);

		first = first < i ? i : first;
		last = last > seg->entry_capacity ? seg->entry_capacity : last;
		for (uint64_t k = first; k < last; k++) {
			struct log_entry *e = &seg->entries[k];

			if (memcmp(e, &zero, sizeof(zero)) == 0)
				continue;
			*torn_entries += e->len != 0;
			memset(e, 0, sizeof(*e));
		}
		from = end;
	}
	return r;
}

/* One past the last non-zero byte of [start, end), or start if all are zero. Word steps
 * when aligned: an extent can be most of a segment. */
static uint64_t last_nonzero(const uint8_t *p, uint64_t start, uint64_t end)
{
	while (end > start && (end & 7))
		if (p[--end])
			return end + 1;
	while (end - start >= 8) {
		uint64_t w;

		memcpy(&w, p + end - 8, sizeof(w));
		if (w)
			break;
		end -= 8;
	}
	while (end > start && p[end - 1] == 0)
		end--;
	return end;
}

/* Zeroes .log bytes from pos to the last non-zero byte of the file. The end is found from
 * the data, not from the cut entries, because a reservation that was never committed has
 * no entry at all. Only data extents are read and written, so holes stay holes;
 * *torn_bytes is the distance from pos to one past the last non-zero byte. */
static int data_cut(struct log_segment *seg, uint64_t pos, uint64_t *torn_bytes)
{
	uint64_t from = pos, start = 0, end = 0, last_end = pos;
	int r;

	while ((r = data_extent(seg->log_fd, from, seg->log_bytes, &start, &end)) > 0) {
		uint64_t nz;

		if (start < pos)
			start = pos;
		nz = last_nonzero(seg->data, start, end);
		if (nz > start) {
			memset(seg->data + start, 0, nz - start);
			last_end = nz;
		}
		from = end;
	}
	*torn_bytes += last_end - pos;
	return r;
}

uint64_t log_segment_scan(const struct log_segment *seg, uint64_t *pos)
{
	uint64_t i;

	*pos = 0;
	for (i = 0; i < seg->entry_capacity; i++) {
		if (!entry_good(seg, &seg->entries[i], *pos))
			break;
		*pos += seg->entries[i].len;
	}
	return i;
}

int log_segment_cut(struct log_segment *seg, uint64_t i, uint64_t pos,
		    uint64_t *torn_entries, uint64_t *torn_bytes)
{
	int r;

	/* Entries first: if this process dies half way, the next recovery still finds the
	 * bytes unclaimed and cuts them again. */
	if ((r = idx_cut(seg, i, torn_entries)) < 0)
		return r;
	return data_cut(seg, pos, torn_bytes);
}

/* Opens a disk file for the persister: O_DIRECT where the file system has it, so the
 * bytes go from hot memory to the device without a copy into the page cache. */
static int disk_open_direct(const char *path, bool *direct)
{
	int fd = *direct ? open_retry(path, O_RDWR | O_CREAT | O_DIRECT) : -EINVAL;

	if (fd == -EINVAL) {	/* no O_DIRECT here (some file systems): buffered */
		*direct = false;
		return open_retry(path, O_RDWR | O_CREAT);
	}
	return fd;
}

int log_sync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC), r = 0;

	if (fd < 0)
		return -errno;
	if (fsync(fd) < 0)
		r = -errno;
	close(fd);
	return r;
}

int log_sync_dirs(const char *dir)
{
	char up[LOG_PATH_BYTES];
	int r;

	/* The partition's directory, the topic's and the topics' (a new topic's entry). */
	snprintf(up, sizeof(up), "%s", dir);
	for (int i = 0; i < 3; i++) {
		char *slash = strrchr(up, '/');

		if ((r = log_sync_dir(up)) < 0)
			return r;
		if (!slash || slash == up)
			break;
		*slash = '\0';
	}
	return 0;
}

int log_segment_disk_open(const struct log *log, struct log_segment *seg, bool direct)
{
	struct log_index_header h = {
		.magic = LOG_INDEX_MAGIC,
		.version = LOG_INDEX_VERSION,
		.entry_bytes = sizeof(struct log_entry),
		.base_offset = seg->base_offset,
		.log_bytes = seg->log_bytes,
		.entry_capacity = seg->entry_capacity,
	};
	char path[LOG_PATH_BYTES];
	int r;

	if ((r = log_mkdir_p(log->dir)) < 0)
		return r;
	log_segment_path(path, log->dir, seg->base_offset, "log");
	if ((r = seg->log_fd = disk_open_direct(path, &direct)) < 0)
		return r;
	log_segment_path(path, log->dir, seg->base_offset, "idx");
	if ((r = seg->idx_fd = disk_open_direct(path, &direct)) < 0 ||
	    (r = log_segment_size_files(seg, seg->log_fd, seg->idx_fd)) < 0 ||
	    /* Direct: the header goes with the first page of the index, which holds it. */
	    (!direct && (r = pwrite_all(seg->idx_fd, &h, sizeof(h), 0)) < 0)) {
		close_fd(&seg->log_fd);
		close_fd(&seg->idx_fd);
		return r;
	}
	seg->disk_direct = direct;
	/* The new files' names, and the directory's own, durable before a sync of their
	 * bytes can count (unless --fsync never). */
	if (log->config.fsync != LOG_FSYNC_NEVER && (r = log_sync_dirs(log->dir)) < 0) {
		close_fd(&seg->log_fd);
		close_fd(&seg->idx_fd);
		return r;
	}
	return 0;
}

#define DISK_BLOCK 4096u	/* O_DIRECT alignment: address, length and offset */

/* Writes [from, to) of a file whose image is mem (file_bytes long) to fd. Direct: whole
 * blocks around the range (the block past `to` is written again by the next pass, with
 * what was appended meanwhile); a last block the file ends inside goes buffered. */
static int disk_range(int fd, bool direct, const uint8_t *mem, uint64_t file_bytes,
		      uint64_t from, uint64_t to)
{
	uint64_t a = from & ~(uint64_t)(DISK_BLOCK - 1);
	uint64_t b = (to + DISK_BLOCK - 1) & ~(uint64_t)(DISK_BLOCK - 1);
	int flags, r = 0;

	if (from >= to)
		return 0;
	if (!direct)
		return pwrite_all(fd, mem + from, to - from, (off_t)from);
	if (b > file_bytes)
		b = file_bytes & ~(uint64_t)(DISK_BLOCK - 1);
	if (b > a && (r = pwrite_all(fd, mem + a, b - a, (off_t)a)) < 0)
		return r;
	if (to <= b)
		return 0;
	flags = fcntl(fd, F_GETFL);
	if (flags < 0 || fcntl(fd, F_SETFL, flags & ~O_DIRECT) < 0)
		return -errno;
	r = pwrite_all(fd, mem + (b > from ? b : from), to - (b > from ? b : from),
		       (off_t)(b > from ? b : from));
	if (fcntl(fd, F_SETFL, flags) < 0 && r == 0)
		r = -errno;
	return r;
}

int log_segment_disk_write(struct log_segment *seg, uint64_t count)
{
	uint64_t first = seg->disk_entries, end;
	const struct log_entry *last;
	int r;

	if (count <= first)
		return 0;
	assert(count <= seg->entry_capacity);
	last = &seg->entries[count - 1];
	end = (uint64_t)last->pos + last->len;
	assert(end >= seg->disk_bytes && end <= seg->log_bytes);
	/* Bytes before the entries that claim them: a copy cut short by a crash leaves
	 * entries without bytes never, bytes without entries at worst (cut at recovery). */
	if ((r = disk_range(seg->log_fd, seg->disk_direct, seg->data, seg->log_bytes,
			    seg->disk_bytes, end)) < 0 ||
	    (r = disk_range(seg->idx_fd, seg->disk_direct, (const uint8_t *)seg->header,
			    idx_file_bytes(seg->entry_capacity),
			    first ? idx_file_bytes(first) : 0, idx_file_bytes(count))) < 0)
		return r;
	seg->disk_entries = count;
	seg->disk_bytes = end;
	return 0;
}
