/* shm/shm_log.c — reads frames back from the server's partition logs, read-only, for a
 * lapped reader (shm/FORMAT.md: appendix). Everything read from disk is checked before it
 * is trusted: index header against file name and sizes, entry against the .log size, and
 * the frame against the journal (length, partition, offset). */
#include "shm/shm_log.h"

#include "shm/wire.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "shm/ring_format.h"

/* One mapped segment of one partition. */
struct log_seg {
	bool mapped;
	uint64_t base, capacity;	/* offsets [base, base + capacity) */
	const uint8_t *idx, *log;
	size_t idx_bytes, log_bytes;
};

struct shm_log {
	char dir[PATH_MAX];		/* <data_dir>/topics/<encoded topic> */
	/* Where the segments being written are (core/log.h: hot segments): the data dir's
	 * HOT file names the root, else each partition directory's "hot". */
	char hot[PATH_MAX];		/* <hot root>/topics/<encoded topic>, or "" */
	uint32_t partitions;
	struct log_seg seg[];
};

static void say(char *why, size_t whylen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, whylen, fmt, ap);
	va_end(ap);
}

/* Reads <data_dir>/HOT (the hot root fanoutd uses) into l->hot, with l->dir's
 * "/topics/<encoded topic>" tail; leaves it empty when there is none. */
static void shm_log_hot_root(struct shm_log *l, const char *data_dir)
{
	char path[PATH_MAX], root[PATH_MAX];
	/* l->dir is "<data_dir>/topics/<topic>": the tail after the data dir (which may hold
	 * "/topics/" itself). */
	const char *tail = strlen(l->dir) > strlen(data_dir) ? l->dir + strlen(data_dir) : NULL;
	ssize_t n;
	int fd;

	l->hot[0] = '\0';
	if (snprintf(path, sizeof(path), "%s/HOT", data_dir) >= (int)sizeof(path) || !tail)
		return;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	n = read(fd, root, sizeof(root) - 1);
	close(fd);
	if (n <= 0)
		return;
	root[n] = '\0';
	root[strcspn(root, "\n")] = '\0';
	if (snprintf(l->hot, sizeof(l->hot), "%s%s", root, tail) >= (int)sizeof(l->hot))
		l->hot[0] = '\0';
}

int shm_log_open(struct shm_log **out, const char *data_dir, const char *topic,
		 uint32_t partitions)
{
	struct shm_log *l;
	size_t j;
	int n;

	if (partitions == 0 || partitions > SHM_PARTITIONS_MAX)
		return -EINVAL;
	l = calloc(1, sizeof(*l) + partitions * sizeof(l->seg[0]));
	if (!l)
		return -ENOMEM;
	l->partitions = partitions;
	n = snprintf(l->dir, sizeof(l->dir), "%s/topics/", data_dir);
	if (n < 0 || (size_t)n >= sizeof(l->dir))
		goto too_long;
	/* core/topic.c writes each '/' of a topic name as "%2F". */
	j = (size_t)n;
	for (const char *c = topic; *c; c++) {
		if (j + 4 > sizeof(l->dir))
			goto too_long;
		if (*c == '/') {
			memcpy(l->dir + j, "%2F", 3);
			j += 3;
		} else {
			l->dir[j++] = *c;
		}
	}
	l->dir[j] = '\0';
	shm_log_hot_root(l, data_dir);
	*out = l;
	return 0;
too_long:
	free(l);
	return -ENAMETOOLONG;
}

static void seg_unmap(struct log_seg *s)
{
	if (s->mapped) {
		munmap((void *)s->idx, s->idx_bytes);
		munmap((void *)s->log, s->log_bytes);
	}
	memset(s, 0, sizeof(*s));
}

void shm_log_close(struct shm_log *l)
{
	if (!l)
		return;
	for (uint32_t i = 0; i < l->partitions; i++)
		seg_unmap(&l->seg[i]);
	free(l);
}

/* "<20 digits>.idx" → base. */
static bool idx_name(const char *s, uint64_t *base)
{
	if (strlen(s) != SHM_LOG_NAME_DIGITS + 4 || strcmp(s + SHM_LOG_NAME_DIGITS, ".idx") ||
	    strspn(s, "0123456789") != SHM_LOG_NAME_DIGITS)
		return false;
	errno = 0;
	*base = strtoull(s, NULL, 10);
	return errno == 0;
}

/* The base of the segment that would hold offset: the largest base <= offset. */
static int seg_find(const char *dir, uint64_t offset, uint64_t *base, char *why, size_t whylen)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	bool found = false;
	uint64_t b;

	if (!d) {
		int r = -errno;

		say(why, whylen, "%s: %s", dir, strerror(-r));
		return r;
	}
	while ((de = readdir(d)))
		if (idx_name(de->d_name, &b) && b <= offset && (!found || b > *base)) {
			*base = b;
			found = true;
		}
	closedir(d);
	if (!found) {
		say(why, whylen, "offset %" PRIu64 " is no longer in %s (retention)", offset, dir);
		return -ENOENT;
	}
	return 0;
}

static int map_ro(const char *path, const uint8_t **map, size_t *bytes)
{
	struct stat st;
	void *p;
	int fd = open(path, O_RDONLY | O_CLOEXEC), r = 0;

	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0) {
		r = -errno;
	} else if (st.st_size < (off_t)SHM_LOG_HEADER_BYTES) {
		r = -EUCLEAN;
	} else {
		p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED, fd, 0);
		if (p == MAP_FAILED) {
			r = -errno;
		} else {
			*map = p;
			*bytes = (size_t)st.st_size;
		}
	}
	close(fd);
	return r;
}

static uint64_t rd64(const uint8_t *p)
{
	uint64_t v;

	memcpy(&v, p, sizeof(v));
	return v;
}

static uint32_t rd32(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, sizeof(v));
	return v;
}

/* Checks the index header as core/log_segment.c does: magic, version, entry size, base
 * matching the name, sizes matching the files. */
static bool seg_header_ok(const struct log_seg *s, uint64_t base)
{
	const uint8_t *h = s->idx;
	uint64_t cap = rd64(h + SHM_LOG_HDR_CAPACITY);

	return rd64(h) == SHM_LOG_INDEX_MAGIC &&
	       rd32(h + SHM_LOG_HDR_VERSION) == SHM_LOG_INDEX_VERSION &&
	       rd32(h + SHM_LOG_HDR_ENTRY_BYTES) == SHM_LOG_ENTRY_BYTES &&
	       rd64(h + SHM_LOG_HDR_BASE) == base &&
	       rd64(h + SHM_LOG_HDR_LOG_BYTES) == s->log_bytes &&
	       cap > 0 && cap <= (SIZE_MAX - SHM_LOG_HEADER_BYTES) / SHM_LOG_ENTRY_BYTES &&
	       s->idx_bytes == SHM_LOG_HEADER_BYTES + cap * SHM_LOG_ENTRY_BYTES;
}

/* Maps the segment of partition p at base, replacing the one mapped before. */
static int seg_map(struct shm_log *l, uint32_t p, uint64_t base, char *why, size_t whylen)
{
	struct log_seg *s = &l->seg[p];
	char path[PATH_MAX + 64];
	int r;

	seg_unmap(s);
	/* l->dir is shorter than PATH_MAX, and 10 + 20 + 7 bytes follow it: no truncation. */
	snprintf(path, sizeof(path), "%.*s/%" PRIu32 "/%020" PRIu64 ".idx", PATH_MAX - 1, l->dir,
		 p, base);
	if ((r = map_ro(path, &s->idx, &s->idx_bytes)) < 0)
		goto err;
	snprintf(path, sizeof(path), "%.*s/%" PRIu32 "/%020" PRIu64 ".log", PATH_MAX - 1, l->dir,
		 p, base);
	if ((r = map_ro(path, &s->log, &s->log_bytes)) < 0) {
		munmap((void *)s->idx, s->idx_bytes);
		goto err;
	}
	s->mapped = true;
	s->base = base;
	if (!seg_header_ok(s, base)) {
		seg_unmap(s);
		r = -EUCLEAN;
		goto err;
	}
	s->capacity = rd64(s->idx + SHM_LOG_HDR_CAPACITY);
	return 0;
err:
	say(why, whylen, "%s: %s", path, r == -EUCLEAN ? "not a valid log segment" : strerror(-r));
	return r;
}

/* Checks the frame at [f, f+len) is one delimited Event at (p, offset). */
static bool frame_is(const uint8_t *f, uint32_t len, uint32_t p, uint64_t offset)
{
	uint32_t prefix, body, fp;
	uint64_t fo;

	return shm_wire_prefix(f, len, &prefix, &body) == 1 && (uint64_t)prefix + body == len &&
	       shm_wire_event_position(f + prefix, body, &fp, &fo) == 0 && fp == p && fo == offset;
}

/* Maps the segment that holds offset, unless the mapped one may: 1 when it had to look
 * (so a miss is final), 0 when it kept the mapped one, or -errno. A segment's index can
 * hold more entries than its .log has room for frames (the writer rolls when the .log is
 * full), so "offset - base < capacity" only says the mapped one may hold it. */
static int seg_select(struct shm_log *l, uint32_t partition, uint64_t offset, bool force,
		      char *why, size_t whylen)
{
	struct log_seg *s = &l->seg[partition];
	char dir[PATH_MAX + 16];
	uint64_t base = 0;
	int r;

	if (!force && s->mapped && offset >= s->base && offset - s->base < s->capacity)
		return 0;
	snprintf(dir, sizeof(dir), "%.*s/%" PRIu32, PATH_MAX - 1, l->dir, partition);
	if ((r = seg_find(dir, offset, &base, why, whylen)) < 0)
		return r;
	if (!s->mapped || s->base != base)
		if ((r = seg_map(l, partition, base, why, whylen)) < 0)
			return r;
	return 1;
}

/* "hot-<10 digits>.idx" */
static bool hot_name(const char *s)
{
	return strlen(s) == 18 && strncmp(s, "hot-", 4) == 0 && strspn(s + 4, "0123456789") == 10 &&
	       strcmp(s + 14, ".idx") == 0;
}

/* Maps the hot segment of partition p (the writer's, or sealed and not yet on disk)
 * that holds offset: the one with the largest base <= offset. Hot files come and go
 * (moved to disk): a vanished one is -ENOENT, and the caller looks on disk again. */
static int hot_select(struct shm_log *l, uint32_t p, uint64_t offset)
{
	struct log_seg *s = &l->seg[p];
	char dir[PATH_MAX + 16], path[PATH_MAX + 48], best[32] = "";
	uint64_t best_base = 0;
	struct dirent *de;
	DIR *d;
	int r;

	if (l->hot[0])
		snprintf(dir, sizeof(dir), "%.*s/%" PRIu32, PATH_MAX - 1, l->hot, p);
	else
		snprintf(dir, sizeof(dir), "%.*s/%" PRIu32 "/hot", PATH_MAX - 1, l->dir, p);
	if (!(d = opendir(dir)))
		return -ENOENT;
	while ((de = readdir(d))) {
		struct log_seg probe = { 0 };
		uint64_t base;

		if (!hot_name(de->d_name))
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		if (map_ro(path, &probe.idx, &probe.idx_bytes) < 0)
			continue;
		base = rd64(probe.idx + SHM_LOG_HDR_BASE);
		munmap((void *)probe.idx, probe.idx_bytes);
		if (base <= offset && (!best[0] || base > best_base)) {
			best_base = base;
			snprintf(best, sizeof(best), "%.14s", de->d_name);
		}
	}
	closedir(d);
	if (!best[0])
		return -ENOENT;
	seg_unmap(s);
	snprintf(path, sizeof(path), "%s/%s.idx", dir, best);
	if ((r = map_ro(path, &s->idx, &s->idx_bytes)) < 0)
		return r;
	snprintf(path, sizeof(path), "%s/%s.log", dir, best);
	if ((r = map_ro(path, &s->log, &s->log_bytes)) < 0) {
		munmap((void *)s->idx, s->idx_bytes);
		return r;
	}
	s->mapped = true;
	s->base = best_base;
	if (!seg_header_ok(s, best_base)) {
		seg_unmap(s);
		return -EUCLEAN;
	}
	s->capacity = rd64(s->idx + SHM_LOG_HDR_CAPACITY);
	return 0;
}

/* The entry of offset in the mapped segment: its position and length (0: none). */
static const uint8_t *seg_entry(const struct log_seg *s, uint64_t offset, uint32_t *pos,
				uint32_t *len)
{
	const uint8_t *e;

	*pos = *len = 0;
	if (!s->mapped || offset < s->base || offset - s->base >= s->capacity)
		return NULL;
	e = s->idx + SHM_LOG_HEADER_BYTES + (offset - s->base) * SHM_LOG_ENTRY_BYTES;
	/* A hot entry may be written as it is read: its length is stored last. */
	*len = __atomic_load_n((const uint32_t *)(e + SHM_LOG_ENTRY_LEN), __ATOMIC_ACQUIRE);
	*pos = rd32(e + SHM_LOG_ENTRY_POS);
	return e;
}

int shm_log_fetch(struct shm_log *l, uint32_t partition, uint64_t offset, uint32_t frame_len,
		  struct shm_log_frame *out, char *why, size_t whylen)
{
	struct log_seg *s;
	const uint8_t *e = NULL;
	uint32_t pos = 0, len = 0;
	int looked;

	if (partition >= l->partitions) {
		say(why, whylen, "partition %" PRIu32 " is beyond the ring's %" PRIu32,
		    partition, l->partitions);
		return -ENOENT;
	}
	s = &l->seg[partition];
	for (bool force = false;; force = true) {
		looked = seg_select(l, partition, offset, force, why, whylen);
		/* Not on disk (yet), or a disk segment still being written (its header not
		 * there yet while the disk refuses bytes): the writer's hot segments. */
		if (looked == -ENOENT || looked == -EUCLEAN ||
		    (looked >= 0 && !(e = seg_entry(s, offset, &pos, &len), len) && looked)) {
			/* Not on disk (yet): the writer's segments, then the disk once more
			 * (a hot one just moved there). */
			for (int tries = 0; tries < 3 && !len; tries++) {
				if (hot_select(l, partition, offset) == 0)
					e = seg_entry(s, offset, &pos, &len);
				if (!len && seg_select(l, partition, offset, true, why,
						       whylen) >= 0)
					e = seg_entry(s, offset, &pos, &len);
			}
			if (!len && looked < 0)
				return looked;
			break;
		}
		if (looked < 0)
			return looked;
		if (len)
			break;
	}
	if (len == 0) {
		say(why, whylen, "offset %" PRIu64 " of partition %" PRIu32 " is not in the log",
		    offset, partition);
		return -ENOENT;
	}
	if ((uint64_t)pos + len > s->log_bytes || len != frame_len ||
	    !frame_is(s->log + pos, len, partition, offset)) {
		say(why, whylen, "%s/%" PRIu32 ": the frame at offset %" PRIu64
		    " is not the one the ring's journal names", l->dir, partition, offset);
		return -EUCLEAN;
	}
	out->frame = s->log + pos;
	out->len = len;
	out->recv_ns = rd64(e + SHM_LOG_ENTRY_RECV_NS);
	return 0;
}
