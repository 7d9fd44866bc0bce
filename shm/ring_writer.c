/* shm/ring_writer.c — the writer of a shared-memory ring: file creation (exclusive, exact
 * mode, preallocated, mapped and prefaulted), the per-record write path (no allocation, no
 * syscall), batched futex wakes, reader reports, and removal. The start-up sweep of stale
 * rings is shm/ring_sweep.c. */
#include "shm/ring_writer.h"

#include "shm/proc_ident.h"
#include "shm/ring_format.h"
#include "shm/ring_memfd.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/futex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

struct shm_ring_writer {
	struct shm_ring_header *h;
	struct shm_reader_area *readers;
	struct shm_journal_entry *journal;
	uint8_t *data;
	uint64_t capacity, mask, journal_mask, record_max;
	uint64_t pos, seq;		/* private copies of write_pos / write_seq */
	uint64_t woken_seq;		/* seq at the last shm_ring_wake */
	uint64_t file_bytes;
	bool memfd;			/* two sealed memfds, no file */
	int fds[2];			/* a memfd ring's, until taken; -1 after */
	char path[PATH_MAX];		/* the file, or "memfd:NAME" */
};

static uint64_t round_pow2(uint64_t v)
{
	uint64_t p = 1;

	while (p < v)
		p <<= 1;
	return p;
}

static uint64_t now_ns(clockid_t clock)
{
	struct timespec ts;

	clock_gettime(clock, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Checks the options and works out capacity and journal size. */
static int opts_check(const struct shm_ring_opts *o, uint64_t *capacity, uint64_t *journal)
{
	if (!o->name || !o->name[0] || o->name[0] == '.' || strchr(o->name, '/'))
		return -EINVAL;
	if (o->bytes > SHM_CAPACITY_MAX || o->partitions > SHM_PARTITIONS_MAX)
		return -EINVAL;
	if ((o->topic && strlen(o->topic) >= SHM_TOPIC_BYTES) ||
	    (o->data_dir && strlen(o->data_dir) >= SHM_DATA_DIR_BYTES))
		return -ENAMETOOLONG;
	*capacity = round_pow2(o->bytes < SHM_CAPACITY_MIN ? SHM_CAPACITY_MIN : o->bytes);
	/* One entry per smallest record: the journal covers at least a full data area. */
	*journal = round_pow2(o->journal_entries ? o->journal_entries :
			      *capacity / SHM_RECORD_ALIGN);
	if (*journal < SHM_JOURNAL_MIN)
		*journal = SHM_JOURNAL_MIN;
	return *journal > SHM_JOURNAL_MAX ? -EINVAL : 0;
}

/* Creates the file exactly as asked: O_EXCL, the mode whatever the umask, the group,
 * every byte allocated now (so a full /dev/shm fails here, not with SIGBUS later). */
static int file_create(const char *path, const struct shm_ring_opts *o, uint64_t bytes)
{
	mode_t mode = o->mode ? o->mode : 0600;
	int fd, r;

	do
		fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode);
	while (fd < 0 && errno == EINTR);
	if (fd < 0)
		return -errno;
	if (fchmod(fd, mode) < 0 || (o->set_group && fchown(fd, (uid_t)-1, o->group) < 0)) {
		r = -errno;
		goto err;
	}
	do
		r = posix_fallocate(fd, 0, (off_t)bytes);
	while (r == EINTR);
	/* A file system without fallocate still gets the size; MAP_POPULATE then faults
	 * every page in, which is where such a file system would fail. */
	if (r == EOPNOTSUPP && ftruncate(fd, (off_t)bytes) == 0)
		r = 0;
	if (r) {
		r = -r;
		goto err;
	}
	return fd;
err:
	close(fd);
	unlink(path);
	return r;
}

/* Removes what the ring holds: the file's name, the memfds not handed over, the mapping,
 * the handle. Readers keep their own mappings. */
static void ring_release(struct shm_ring_writer *w)
{
	if (!w->memfd)
		unlink(w->path);
	for (int i = 0; i < 2; i++)
		if (w->fds[i] >= 0)
			close(w->fds[i]);
	munmap(w->h, w->file_bytes);
	free(w);
}

/* Writes the identity; magic last, with release order (FORMAT.md: header page). */
static int header_init(struct shm_ring_writer *w, const struct shm_ring_opts *o,
		       uint64_t journal)
{
	struct shm_ring_header *h = w->h;
	uint64_t ticks;
	int r = shm_proc_start_ticks(getpid(), &ticks, NULL);

	if (r < 0)
		return r;
	h->version = SHM_RING_VERSION;
	h->header_bytes = SHM_HEADER_BYTES;
	h->file_bytes = w->file_bytes;
	h->capacity = w->capacity;
	h->journal_entries = journal;
	h->slots_offset = SHM_SLOTS_OFFSET;
	h->journal_offset = SHM_JOURNAL_OFFSET;
	h->data_offset = shm_data_offset(journal);
	h->record_align = SHM_RECORD_ALIGN;
	h->record_header_bytes = sizeof(struct shm_record);
	h->journal_entry_bytes = sizeof(struct shm_journal_entry);
	h->slot_count = SHM_SLOT_COUNT;
	h->slot_bytes = sizeof(struct shm_reader_slot);
	h->partitions = o->partitions;
	h->flags = o->memfd ? SHM_FLAG_MEMFD : 0;
	/* The start time before the pid: a sweep that sees the pid sees the time too. */
	h->writer_start_ticks = ticks;
	SHM_FENCE(memory_order_release);
	h->writer_pid = (uint32_t)getpid();
	h->create_ns = now_ns(CLOCK_REALTIME);
	snprintf(h->topic, sizeof(h->topic), "%s", o->topic ? o->topic : "");
	snprintf(h->data_dir, sizeof(h->data_dir), "%s", o->data_dir ? o->data_dir : "");
	atomic_store_explicit(&h->state, SHM_STATE_OPEN, memory_order_relaxed);
	atomic_store_explicit(&h->magic, SHM_RING_MAGIC,
			      memory_order_release);
	return 0;
}

/* Creates the file and maps it whole, prefaulted: the write path never takes a page
 * fault. The mapping keeps the file; the descriptor is closed. */
static int file_map(const char *path, const struct shm_ring_opts *o, uint64_t bytes,
		    void **map)
{
	int fd = file_create(path, o, bytes), r = 0;

	if (fd < 0)
		return fd;
	*map = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, 0);
	if (*map == MAP_FAILED) {
		r = -errno;
		unlink(path);
	}
	close(fd);
	return r;
}

uint64_t shm_ring_footprint(const struct shm_ring_opts *o)
{
	uint64_t capacity, journal;

	if (opts_check(o, &capacity, &journal) < 0)
		return 0;
	return shm_data_offset(journal) + capacity + (o->memfd ? SHM_READER_AREA_BYTES : 0);
}

int shm_ring_create(struct shm_ring_writer **out, const struct shm_ring_opts *o, char *path,
		    size_t path_cap)
{
	struct shm_ring_writer *w;
	uint64_t capacity, journal;
	void *map = NULL;
	int r, n;

	if ((r = opts_check(o, &capacity, &journal)) < 0)
		return r;
	if (!(w = calloc(1, sizeof(*w))))
		return -ENOMEM;
	w->memfd = o->memfd;
	w->fds[0] = w->fds[1] = -1;
	n = o->memfd ? snprintf(w->path, sizeof(w->path), "memfd:%s", o->name) :
	    snprintf(w->path, sizeof(w->path), "%s/%s", o->dir ? o->dir : SHM_RING_DIR_DEFAULT,
		     o->name);
	if (n < 0 || (size_t)n >= sizeof(w->path) || (path && (size_t)n >= path_cap)) {
		free(w);
		return -ENAMETOOLONG;
	}
	w->capacity = capacity;
	w->mask = capacity - 1;
	w->journal_mask = journal - 1;
	w->record_max = shm_record_bytes_max(capacity);
	w->file_bytes = shm_data_offset(journal) + capacity;
	r = o->memfd ? shm_memfd_ring_create(o->name, w->file_bytes, &map, w->fds) :
	    file_map(w->path, o, w->file_bytes, &map);
	if (r < 0) {
		free(w);
		return r;
	}
	w->h = map;
	w->readers = (struct shm_reader_area *)((uint8_t *)map + SHM_SLOTS_OFFSET);
	w->journal = (struct shm_journal_entry *)((uint8_t *)map + SHM_JOURNAL_OFFSET);
	w->data = (uint8_t *)map + shm_data_offset(journal);
	if ((r = header_init(w, o, journal)) < 0) {
		ring_release(w);
		return r;
	}
	if (path)
		memcpy(path, w->path, (size_t)n + 1);
	*out = w;
	return 0;
}

int shm_ring_take_fds(struct shm_ring_writer *w, int *ring_fd, int *area_fd)
{
	if (w->fds[0] < 0)
		return -EBADF;
	*ring_fd = w->fds[0];
	*area_fd = w->fds[1];
	w->fds[0] = w->fds[1] = -1;
	return 0;
}

static void record_put(struct shm_ring_writer *w, uint64_t pos, uint32_t frame_len,
		       uint32_t partition, uint64_t offset, uint64_t recv_ns)
{
	struct shm_record *rec = (struct shm_record *)(w->data + (pos & w->mask));

	rec->frame_len = frame_len;
	rec->partition = partition;
	rec->seq = w->seq;
	rec->offset = offset;
	rec->recv_ns = recv_ns;
}

int shm_ring_write(struct shm_ring_writer *w, const uint8_t *frame, uint32_t len,
		   uint32_t partition, uint64_t offset, uint64_t recv_ns)
{
	struct shm_ring_header *h = w->h;
	uint64_t bytes = shm_record_bytes(len), at = w->pos & w->mask, start, end;
	struct shm_journal_entry *j;

	if (len == 0 || bytes > w->record_max)
		return -EMSGSIZE;
	/* A record never straddles the end of the lap: pad to the next lap first. */
	start = at + bytes > w->capacity ? w->pos + (w->capacity - at) : w->pos;
	end = start + bytes;
	/* Readers must learn that these bytes are going before any of them changes: the
	 * release fence orders the two stores before every store below (FORMAT.md). */
	atomic_store_explicit(&h->reserve_seq, w->seq + 1, memory_order_relaxed);
	atomic_store_explicit(&h->reserve_pos, end, memory_order_relaxed);
	SHM_FENCE(memory_order_release);
	j = &w->journal[w->seq & w->journal_mask];
	j->seq = w->seq;
	j->offset = offset;
	j->pos = start;
	j->partition = partition;
	j->frame_len = len;
	if (start != w->pos)
		record_put(w, w->pos, 0, 0, 0, 0);
	record_put(w, start, len, partition, offset, recv_ns);
	memcpy(w->data + (start & w->mask) + sizeof(struct shm_record), frame, len);
	w->seq++;
	w->pos = end;
	/* Release: a reader that loads either sees the journal entry and record complete.
	 * The position first: a reader that saw the new sequence (journal mode) and goes
	 * back to the ring at this record's position must find write_pos past it. */
	atomic_store_explicit(&h->write_pos, end, memory_order_release);
	atomic_store_explicit(&h->write_seq, w->seq, memory_order_release);
	return 0;
}

static long futex_wake(_Atomic uint32_t *word, int n)
{
	/* Shared futex (no FUTEX_PRIVATE_FLAG): the waiters are other processes. */
	return syscall(SYS_futex, word, FUTEX_WAKE, n, NULL, NULL, 0);
}

void shm_ring_wake(struct shm_ring_writer *w)
{
	if (w->seq == w->woken_seq)
		return;
	w->woken_seq = w->seq;
	/* Dekker with the reader's wait: the writer bumps wake then reads waiters, a reader
	 * bumps waiters then rereads write_seq; with both sequentially consistent, either the
	 * reader sees the new records or this load sees the reader waiting. */
	atomic_fetch_add_explicit(&w->h->wake, 1, memory_order_seq_cst);
	if (atomic_load_explicit(&w->readers->waiters, memory_order_seq_cst))
		futex_wake(&w->h->wake, INT_MAX);
}

bool shm_ring_has_reader(const struct shm_ring_writer *w)
{
	for (uint32_t i = 0; i < SHM_SLOT_COUNT; i++)
		if (atomic_load_explicit(&w->readers->slots[i].owner, memory_order_acquire))
			return true;
	return false;
}

uint32_t shm_ring_readers(const struct shm_ring_writer *w, struct shm_reader_info *out,
			  uint32_t max)
{
	uint64_t wseq = atomic_load_explicit(&w->h->write_seq, memory_order_acquire);
	uint64_t wpos = atomic_load_explicit(&w->h->write_pos, memory_order_acquire);
	uint64_t now = now_ns(CLOCK_MONOTONIC);
	uint32_t n = 0;

	for (uint32_t i = 0; i < SHM_SLOT_COUNT && n < max; i++) {
		struct shm_reader_slot *s = &w->readers->slots[i];
		uint64_t owner = atomic_load_explicit(&s->owner, memory_order_acquire);
		struct shm_reader_info *r = &out[n];
		uint64_t hb;

		if (!owner)
			continue;
		r->slot = i;
		r->pid = (pid_t)(owner >> 32);
		r->start_ticks = s->start_ticks;
		r->seq = atomic_load_explicit(&s->seq, memory_order_relaxed);
		r->pos = atomic_load_explicit(&s->pos, memory_order_relaxed);
		r->lag_records = wseq > r->seq ? wseq - r->seq : 0;
		r->lag_bytes = wpos > r->pos ? wpos - r->pos : 0;
		r->lost = atomic_load_explicit(&s->lost, memory_order_relaxed);
		r->recovered = atomic_load_explicit(&s->recovered, memory_order_relaxed);
		hb = atomic_load_explicit(&s->heartbeat_ns, memory_order_relaxed);
		r->heartbeat_age_ns = now > hb ? now - hb : 0;
		r->sleeping = atomic_load_explicit(&s->flags, memory_order_relaxed) &
			      SHM_SLOT_SLEEPING;
		r->alive = shm_owner_alive(owner);
		n++;
	}
	return n;
}

uint64_t shm_ring_written(const struct shm_ring_writer *w)
{
	return atomic_load_explicit(&w->h->write_seq, memory_order_acquire);
}

const char *shm_ring_path(const struct shm_ring_writer *w)
{
	return w->path;
}

void *shm_ring_base(const struct shm_ring_writer *w)
{
	return w->h;
}

void shm_ring_destroy(struct shm_ring_writer *w)
{
	if (!w)
		return;
	atomic_store_explicit(&w->h->state, SHM_STATE_CLOSED, memory_order_release);
	atomic_fetch_add_explicit(&w->h->wake, 1, memory_order_seq_cst);
	futex_wake(&w->h->wake, INT_MAX);
	ring_release(w);
}
