/* shm/shm_reader.c — opening a ring as a reader: the header is read with pread and checked
 * field by field before anything is mapped (a bad file is an error message, never a
 * SIGBUS), then the ring is mapped read-only and the reader area read-write, and a slot is
 * claimed. Also closing, counters and descriptions. Polling is shm/shm_poll.c, waiting
 * shm/shm_wait.c. */
#include "shm/shm_internal.h"

#include "shm/proc_ident.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

void shm_reader_say(struct fanout_shm *r, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(r->errmsg, sizeof(r->errmsg), fmt, ap);
	va_end(ap);
}

static int fail(char *err, size_t errlen, int rc, const char *path, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));

static int fail(char *err, size_t errlen, int rc, const char *path, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (!err || !errlen)
		return rc;
	n = snprintf(err, errlen, "%s: ", path);
	if (n >= 0 && (size_t)n < errlen) {
		va_start(ap, fmt);
		vsnprintf(err + n, errlen - (size_t)n, fmt, ap);
		va_end(ap);
	}
	return rc;
}

void fanout_shm_opts_init(struct fanout_shm_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->start = FANOUT_SHM_START_LATEST;
	o->spin_iterations = FANOUT_SHM_SPIN_DEFAULT;
}

static bool nul_terminated(const char *s, size_t cap)
{
	return memchr(s, '\0', cap) != NULL;
}

/* Every size and offset the reader relies on, against this library's format. */
static int header_check(const struct shm_ring_header *h, uint64_t file_size,
			const char *path, char *err, size_t errlen)
{
	uint64_t magic = atomic_load_explicit(&h->magic, memory_order_relaxed);

	if (magic == 0)
		return fail(err, errlen, -FANOUT_SHM_E_MAGIC, path,
			    "not a fanout ring yet (no magic: its creation did not finish)");
	if (magic != SHM_RING_MAGIC)
		return fail(err, errlen, -FANOUT_SHM_E_MAGIC, path,
			    "not a fanout ring (magic 0x%016" PRIx64 ")", magic);
	if (h->version != SHM_RING_VERSION)
		return fail(err, errlen, -FANOUT_SHM_E_VERSION, path,
			    "ring format version %" PRIu32 ", this library reads version %u",
			    h->version, SHM_RING_VERSION);
	if (h->header_bytes != SHM_HEADER_BYTES || h->record_align != SHM_RECORD_ALIGN ||
	    h->record_header_bytes != sizeof(struct shm_record) ||
	    h->journal_entry_bytes != sizeof(struct shm_journal_entry) ||
	    h->slot_count != SHM_SLOT_COUNT || h->slot_bytes != sizeof(struct shm_reader_slot) ||
	    h->slots_offset != SHM_SLOTS_OFFSET || h->journal_offset != SHM_JOURNAL_OFFSET)
		return fail(err, errlen, -FANOUT_SHM_E_LAYOUT, path,
			    "header, record, journal or slot sizes differ from format version %u",
			    SHM_RING_VERSION);
	if (!shm_is_pow2(h->capacity) || h->capacity < SHM_CAPACITY_MIN ||
	    h->capacity > SHM_CAPACITY_MAX || !shm_is_pow2(h->journal_entries) ||
	    h->journal_entries < SHM_JOURNAL_MIN || h->journal_entries > SHM_JOURNAL_MAX ||
	    h->data_offset != shm_data_offset(h->journal_entries) ||
	    h->file_bytes != h->data_offset + h->capacity ||
	    h->partitions > SHM_PARTITIONS_MAX || !nul_terminated(h->topic, sizeof(h->topic)) ||
	    !nul_terminated(h->data_dir, sizeof(h->data_dir)))
		return fail(err, errlen, -FANOUT_SHM_E_LAYOUT, path,
			    "header sizes out of range or inconsistent (capacity %" PRIu64
			    ", journal %" PRIu64 " entries, file %" PRIu64 " bytes)",
			    h->capacity, h->journal_entries, h->file_bytes);
	if (file_size < h->file_bytes)
		return fail(err, errlen, -FANOUT_SHM_E_TRUNCATED, path,
			    "truncated: the file is %" PRIu64 " bytes, its header says %" PRIu64,
			    file_size, h->file_bytes);
	return 0;
}

/* Reads the header of the ring open at fd into *h and checks it against fd's size.
 * Returns 0 or an error (err says which, naming path). */
static int header_read(int fd, const char *path, struct shm_ring_header *h, char *err,
		       size_t errlen)
{
	struct stat st;
	ssize_t n;

	if (fstat(fd, &st) < 0)
		return fail(err, errlen, -errno, path, "fstat: %s", strerror(errno));
	if (st.st_size < (off_t)sizeof(*h))
		return fail(err, errlen, -FANOUT_SHM_E_TRUNCATED, path,
			    "truncated: %lld bytes, less than a ring header (%zu)",
			    (long long)st.st_size, sizeof(*h));
	do
		n = pread(fd, h, sizeof(*h), 0);
	while (n < 0 && errno == EINTR);
	if (n != (ssize_t)sizeof(*h))
		return fail(err, errlen, n < 0 ? -errno : -EIO, path, "cannot read the header");
	return header_check(h, (uint64_t)st.st_size, path, err, errlen);
}

/* Opens path and reads its header into *h, checking it. Returns the fd or an error. */
static int file_open_checked(const char *path, struct shm_ring_header *h, char *err,
			     size_t errlen)
{
	int fd, r;

	do
		fd = open(path, O_RDWR | O_CLOEXEC);
	while (fd < 0 && errno == EINTR);
	if (fd < 0)
		return fail(err, errlen, -errno, path, "%s%s", strerror(errno),
			    errno == EACCES ? " (rings are readable by the server's user, and its "
					      "group if it grants one)" : "");
	if ((r = header_read(fd, path, h, err, errlen)) < 0) {
		close(fd);
		return r;
	}
	return fd;
}

/* A memfd ring's descriptors must be sealed against resizing (shm/FORMAT.md): otherwise
 * anyone holding them could truncate the ring under this reader (SIGBUS). The reader
 * area must also be whole. Returns 0 or an error naming what is missing. */
static int fds_check(int ring_fd, int area_fd, const char *path, char *err, size_t errlen)
{
	int need = F_SEAL_SHRINK | F_SEAL_GROW;
	int rs = fcntl(ring_fd, F_GET_SEALS), as = fcntl(area_fd, F_GET_SEALS);
	struct stat st;

	if (rs < 0 || as < 0)
		return fail(err, errlen, -errno, path, "F_GET_SEALS: %s (not memfds?)",
			    strerror(errno));
	if ((rs & need) != need || (as & need) != need)
		return fail(err, errlen, -FANOUT_SHM_E_UNSEALED, path, "the %s descriptor is "
			    "not sealed against shrinking and growing (seals 0x%x): another "
			    "holder could truncate it", (rs & need) != need ? "ring" : "reader area",
			    (rs & need) != need ? rs : as);
	if (fstat(area_fd, &st) < 0)
		return fail(err, errlen, -errno, path, "fstat: %s", strerror(errno));
	if (st.st_size < (off_t)SHM_READER_AREA_BYTES)
		return fail(err, errlen, -FANOUT_SHM_E_TRUNCATED, path, "reader area of %lld "
			    "bytes, less than %u", (long long)st.st_size, SHM_READER_AREA_BYTES);
	return 0;
}

/* Claims a free slot, or one whose reader is dead (pid + start time). */
static int slot_claim(struct fanout_shm *r)
{
	uint64_t ticks, me;
	int rc = shm_proc_start_ticks(getpid(), &ticks, NULL);

	if (rc < 0)
		return rc;
	me = shm_owner_word(getpid(), ticks);
	for (uint32_t i = 0; i < SHM_SLOT_COUNT; i++) {
		struct shm_reader_slot *s = &r->area->slots[i];
		uint64_t o = atomic_load_explicit(&s->owner, memory_order_acquire);

		if (o != 0 && shm_owner_alive(o))
			continue;
		/* Another claimer may race for the same dead slot: the CAS picks one. */
		if (!atomic_compare_exchange_strong_explicit(&s->owner, &o, me,
							     memory_order_acq_rel,
							     memory_order_acquire))
			continue;
		s->start_ticks = ticks;
		s->pid = (uint32_t)getpid();
		atomic_store_explicit(&s->seq, r->seq, memory_order_relaxed);
		atomic_store_explicit(&s->pos, r->pos, memory_order_relaxed);
		atomic_store_explicit(&s->heartbeat_ns, shm_now_ns(), memory_order_relaxed);
		atomic_store_explicit(&s->lost, 0, memory_order_relaxed);
		atomic_store_explicit(&s->recovered, 0, memory_order_relaxed);
		atomic_store_explicit(&s->flags, 0, memory_order_relaxed);
		r->slot = s;
		r->slot_index = i;
		return 0;
	}
	return -FANOUT_SHM_E_NOSLOT;
}

/* Fills the handle from a validated header mapped at base, reader area at area. */
static int reader_init(struct fanout_shm *r, const struct fanout_shm_opts *o,
		       const struct shm_ring_header *copy)
{
	const uint8_t *base = (const uint8_t *)r->h;

	r->capacity = copy->capacity;
	r->mask = copy->capacity - 1;
	r->journal_entries = copy->journal_entries;
	r->journal_mask = copy->journal_entries - 1;
	r->record_max = shm_record_bytes_max(copy->capacity);
	r->file_bytes = copy->file_bytes;
	r->partitions = copy->partitions;
	r->writer_pid = (pid_t)copy->writer_pid;
	r->writer_start_ticks = copy->writer_start_ticks;
	r->journal = (const struct shm_journal_entry *)(base + SHM_JOURNAL_OFFSET);
	r->data = base + copy->data_offset;
	r->spin = o->spin_iterations;
	r->control_fd = -1;
	memcpy(r->topic, copy->topic, sizeof(r->topic));
	snprintf(r->data_dir, sizeof(r->data_dir), "%s", o->data_dir ? o->data_dir : copy->data_dir);
	/* Both starts go through the journal: its entry for the first record names where
	 * that record is, so no record boundary has to be found in the data. */
	r->journal_mode = true;
	r->seq = o->start == FANOUT_SHM_START_FIRST ? 0 :
		 atomic_load_explicit(&r->h->write_seq, memory_order_acquire);
	if (r->partitions) {
		r->next_offset = calloc(r->partitions, sizeof(*r->next_offset));
		if (!r->next_offset)
			return -ENOMEM;
		if (r->data_dir[0] &&
		    shm_log_open(&r->log, r->data_dir, r->topic, r->partitions) < 0)
			r->log = NULL;	/* recovery off; lapped events become gaps */
	}
	return slot_claim(r);
}

static struct fanout_shm *reader_alloc(const char *path)
{
	struct fanout_shm *r = calloc(1, sizeof(*r));

	if (r)
		snprintf(r->path, sizeof(r->path), "%s", path);
	return r;
}

/* Maps a checked ring (header copy) from ring_fd read-only, and its reader area from
 * area_fd at area_off read-write, then claims a slot. Returns 0, or an error with
 * nothing left mapped or claimed. */
static int reader_map(struct fanout_shm *r, int ring_fd, int area_fd, off_t area_off,
		      const struct shm_ring_header *copy, const struct fanout_shm_opts *o,
		      char *err, size_t errlen)
{
	void *ro, *rw;
	int rc;

	/* Read-only for everything, so a reader cannot damage what others read; populated,
	 * so the first records do not page-fault. */
	ro = mmap(NULL, copy->file_bytes, PROT_READ, MAP_SHARED | MAP_POPULATE, ring_fd, 0);
	if (ro == MAP_FAILED)
		return fail(err, errlen, -errno, r->path, "mmap: %s", strerror(errno));
	rw = mmap(NULL, SHM_READER_AREA_BYTES, PROT_READ | PROT_WRITE, MAP_SHARED, area_fd,
		  area_off);
	if (rw == MAP_FAILED) {
		rc = fail(err, errlen, -errno, r->path, "mmap: %s", strerror(errno));
		munmap(ro, copy->file_bytes);
		return rc;
	}
	r->h = ro;
	r->area = rw;
	r->owns_mapping = true;
	if ((rc = reader_init(r, o, copy)) < 0) {
		fail(err, errlen, rc, r->path, "%s", rc == -FANOUT_SHM_E_NOSLOT ?
		     "all 64 reader slots are held by live readers" : strerror(-rc));
		if (r->slot)
			atomic_store_explicit(&r->slot->owner, 0, memory_order_release);
		munmap(ro, copy->file_bytes);
		munmap(rw, SHM_READER_AREA_BYTES);
		shm_log_close(r->log);
		free(r->next_offset);
		return rc;
	}
	return 0;
}

int fanout_shm_open(struct fanout_shm **out, const char *path, const struct fanout_shm_opts *o,
		    char *err, size_t errlen)
{
	struct fanout_shm_opts defaults;
	struct shm_ring_header *copy = malloc(sizeof(*copy));
	struct fanout_shm *r = reader_alloc(path);
	int fd = -1, rc = -ENOMEM;

	if (!o) {
		fanout_shm_opts_init(&defaults);
		o = &defaults;
	}
	if (copy && r && (rc = fd = file_open_checked(path, copy, err, errlen)) >= 0)
		rc = reader_map(r, fd, fd, SHM_SLOTS_OFFSET, copy, o, err, errlen);
	if (fd >= 0)
		close(fd);	/* the mappings keep the file */
	free(copy);
	if (rc < 0) {
		free(r);
		return rc;
	}
	*out = r;
	return 0;
}

/* What a descriptor is, for messages: its /proc link ("/memfd:NAME (deleted)" for a
 * memfd) without the " (deleted)". */
static void fd_name(int fd, char *buf, size_t cap)
{
	char link[64];
	ssize_t n;

	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	n = readlink(link, buf, cap - 1);
	if (n <= 0) {
		snprintf(buf, cap, "descriptor %d", fd);
		return;
	}
	buf[n] = '\0';
	if (n > 10 && !strcmp(buf + n - 10, " (deleted)"))
		buf[n - 10] = '\0';
	if (buf[0] == '/' && !strncmp(buf + 1, "memfd:", 6))
		memmove(buf, buf + 1, strlen(buf));
}

int fanout_shm_open_fd(struct fanout_shm **out, int ring_fd, int area_fd,
		       const struct fanout_shm_opts *o, char *err, size_t errlen)
{
	struct fanout_shm_opts defaults;
	struct shm_ring_header *copy = malloc(sizeof(*copy));
	struct fanout_shm *r = reader_alloc("");
	int rc = -ENOMEM;

	if (!o) {
		fanout_shm_opts_init(&defaults);
		o = &defaults;
	}
	if (copy && r) {
		fd_name(ring_fd, r->path, sizeof(r->path));
		if ((rc = fds_check(ring_fd, area_fd, r->path, err, errlen)) == 0 &&
		    (rc = header_read(ring_fd, r->path, copy, err, errlen)) == 0)
			rc = reader_map(r, ring_fd, area_fd, 0, copy, o, err, errlen);
	}
	free(copy);
	if (rc < 0) {
		free(r);
		return rc;
	}
	*out = r;
	return 0;
}

int shm_reader_open_mapped(struct fanout_shm **out, void *base, const char *path,
			   const struct fanout_shm_opts *o, char *err, size_t errlen)
{
	struct fanout_shm_opts defaults;
	struct fanout_shm *r = reader_alloc(path);
	const struct shm_ring_header *h = base;
	int rc;

	if (!o) {
		fanout_shm_opts_init(&defaults);
		o = &defaults;
	}
	if (!r)
		return -ENOMEM;
	if ((rc = header_check(h, h->file_bytes, path, err, errlen)) < 0) {
		free(r);
		return rc;
	}
	r->h = h;
	r->area = (struct shm_reader_area *)((uint8_t *)base + SHM_SLOTS_OFFSET);
	if ((rc = reader_init(r, o, h)) < 0) {
		shm_log_close(r->log);
		free(r->next_offset);
		free(r);
		return rc;
	}
	*out = r;
	return 0;
}

void fanout_shm_close(struct fanout_shm *r)
{
	if (!r)
		return;
	if (r->slot)
		atomic_store_explicit(&r->slot->owner, 0, memory_order_release);
	if (r->owns_mapping) {
		munmap((void *)r->h, r->file_bytes);
		munmap(r->area, SHM_READER_AREA_BYTES);
	}
	if (r->control_fd >= 0)
		close(r->control_fd);
	shm_log_close(r->log);
	free(r->control_buf);
	free(r->next_offset);
	free(r->floor);
	free(r);
}

void fanout_shm_get_stats(const struct fanout_shm *r, struct fanout_shm_stats *out)
{
	uint64_t wseq = atomic_load_explicit(&r->h->write_seq, memory_order_acquire);
	uint64_t wpos = atomic_load_explicit(&r->h->write_pos, memory_order_acquire);

	*out = r->st;
	out->lag_records = wseq > r->seq ? wseq - r->seq : 0;
	/* In journal mode pos is stale: the lag in bytes is at least the whole ring. */
	out->lag_bytes = r->journal_mode ? (out->lag_records ? r->capacity : 0) :
		       wpos > r->pos ? wpos - r->pos : 0;
}

void fanout_shm_get_info(const struct fanout_shm *r, struct fanout_shm_info *out)
{
	out->path = r->path;
	out->topic = r->topic;
	out->data_dir = r->log ? r->data_dir : "";
	out->partitions = r->partitions;
	out->slot = r->slot_index;
	out->capacity = r->capacity;
	out->journal_entries = r->journal_entries;
	out->writer_pid = r->writer_pid;
}

uint64_t fanout_shm_next_offset(const struct fanout_shm *r, uint32_t partition)
{
	return partition < r->partitions ? r->next_offset[partition] : 0;
}

const char *fanout_shm_errmsg(const struct fanout_shm *r)
{
	return r->errmsg;
}

const char *fanout_shm_strerror(int rc)
{
	switch (-rc) {
	case FANOUT_SHM_E_MAGIC: return "not a fanout shared-memory ring";
	case FANOUT_SHM_E_VERSION: return "ring format version not supported";
	case FANOUT_SHM_E_TRUNCATED: return "ring file truncated";
	case FANOUT_SHM_E_LAYOUT: return "ring header inconsistent";
	case FANOUT_SHM_E_NOSLOT: return "no free reader slot";
	case FANOUT_SHM_E_WRITER_DEAD: return "the ring's writer died";
	case FANOUT_SHM_E_CLOSED: return "the ring was closed";
	case FANOUT_SHM_E_CORRUPT: return "corrupt ring record";
	case FANOUT_SHM_E_SERVER: return "the server refused";
	case FANOUT_SHM_E_PROTOCOL: return "unexpected answer from the server";
	case FANOUT_SHM_E_UNSEALED: return "ring descriptor not sealed against resizing";
	default: return rc < 0 ? strerror(-rc) : "success";
	}
}
