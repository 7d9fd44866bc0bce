/* net/producer.c — idempotent producers' records (see producer.h). */
#include "net/producer.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/frame_key.h"

#define PRODUCER_SLOTS_BYTES 8192u	/* PRODUCER_SLOTS records, padded to pages */
#define PRODUCER_FILE_BYTES (sizeof(struct producer_header) + PRODUCER_SLOTS_BYTES + \
			     PRODUCER_AREA_BYTES)

static_assert(sizeof(struct producer_slot) == 64, "a record is part of the file format");
static_assert(sizeof(struct producer_header) == 4096, "the header is one page");
static_assert(PRODUCER_SLOTS * sizeof(struct producer_slot) <= PRODUCER_SLOTS_BYTES,
	      "records fit their pages");

int producer_id_check(const char *id, size_t len, const char **why)
{
	if (len == 0 || len > PRODUCER_ID_MAX) {
		*why = "a producer id is 1..64 bytes";
		return -EINVAL;
	}
	for (size_t i = 0; i < len; i++) {
		if (!id[i] || !strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
				      "0123456789._-", id[i])) {
			*why = "a producer id is made of A-Z a-z 0-9 . _ -";
			return -EINVAL;
		}
	}
	if ((len == 1 && id[0] == '.') || (len == 2 && id[0] == '.' && id[1] == '.')) {
		*why = "a producer id is not . or ..";
		return -EINVAL;
	}
	return 0;
}

static void producer_unmap(struct producer *p)
{
	if (p->h)
		munmap(p->h, p->map_len);
	pthread_mutex_destroy(&p->lock);
	free(p);
}

/* Maps the file at path (making it when create). Returns 0 or -errno; -EUCLEAN for a
 * file that is not a producer file of this id. */
static int producer_map(struct producer *p, const char *path, bool create)
{
	int fd = open(path, O_RDWR | O_CLOEXEC | (create ? O_CREAT | O_EXCL : 0), 0640), rc = 0;
	struct stat st;
	void *m;

	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0) {
		rc = -errno;
		goto out;
	}
	if (create && (rc = -posix_fallocate(fd, 0, (off_t)PRODUCER_FILE_BYTES)) < 0) {
		(void)unlink(path);	/* blocks now: a store never meets a full disk */
		goto out;
	}
	if (!create && (size_t)st.st_size != PRODUCER_FILE_BYTES) {
		rc = -EUCLEAN;
		goto out;
	}
	m = mmap(NULL, PRODUCER_FILE_BYTES, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (m == MAP_FAILED) {
		rc = -errno;
		if (create)
			(void)unlink(path);
		goto out;
	}
	p->h = m;
	p->map_len = PRODUCER_FILE_BYTES;
	p->slot = (struct producer_slot *)((uint8_t *)m + sizeof(struct producer_header));
	p->area = (uint8_t *)m + sizeof(struct producer_header) + PRODUCER_SLOTS_BYTES;
	if (create) {
		p->h->version = PRODUCER_VERSION;
		p->h->slots = PRODUCER_SLOTS;
		p->h->id_len = p->id_len;
		memcpy(p->h->id, p->id, p->id_len);
		atomic_thread_fence(memory_order_release);
		p->h->magic = PRODUCER_MAGIC;	/* last: a file without it is made again */
	} else if (p->h->magic != PRODUCER_MAGIC || p->h->version != PRODUCER_VERSION ||
		   p->h->slots != PRODUCER_SLOTS || p->h->id_len != p->id_len ||
		   memcmp(p->h->id, p->id, p->id_len) != 0 ||
		   p->h->area_head > PRODUCER_AREA_BYTES) {
		rc = -EUCLEAN;
	}
out:
	close(fd);
	return rc;
}

static struct producer *producer_new(const char *id, size_t len)
{
	struct producer *p = calloc(1, sizeof(*p));

	if (!p)
		return NULL;
	memcpy(p->id, id, len);
	p->id_len = (uint32_t)len;
	pthread_mutex_init(&p->lock, NULL);
	return p;
}

/* ---- records ------------------------------------------------------------------------ */

static uint64_t *slot_offsets(struct producer *p, const struct producer_slot *s)
{
	return (uint64_t *)(p->area + s->area_off);
}

static uint32_t *slot_partitions(struct producer *p, const struct producer_slot *s)
{
	return (uint32_t *)(p->area + s->area_off + 8u * s->n);
}

/* Lets a record go; one of the epoch in force that was DONE raises the floor (a retry of
 * it can no longer be told apart from a new batch). Under p->lock. */
static void slot_forget(struct producer *p, struct producer_slot *s)
{
	if (atomic_load_explicit(&s->state, memory_order_relaxed) == PRODUCER_DONE &&
	    s->epoch == p->h->epoch && s->sequence > p->h->floor)
		p->h->floor = s->sequence;
	atomic_store_explicit(&s->state, PRODUCER_FREE, memory_order_release);
}

static uint32_t area_bytes(uint32_t n)
{
	return (12u * n + 7u) & ~7u;
}

static bool area_overlaps(const struct producer_slot *s, uint32_t at, uint32_t bytes)
{
	return s->area_off < at + bytes && at < s->area_off + area_bytes(s->n);
}

/* Room for a record's n entries in the ring area, at its head: past the entries a batch
 * being sent again still needs (area_live), over answered records (forgotten first).
 * Returns the area offset. Under p->lock. */
static uint32_t area_take(struct producer *p, uint32_t n)
{
	uint32_t bytes = area_bytes(n), at = p->h->area_head;
	bool moved = true;

	assert(bytes <= PRODUCER_AREA_BYTES);
	for (uint32_t tries = 0; moved && tries <= PRODUCER_SLOTS + 1; tries++) {
		moved = false;
		if (at + bytes > PRODUCER_AREA_BYTES)
			at = 0;
		for (uint32_t i = 0; i < PRODUCER_SLOTS && !moved; i++) {
			const struct producer_slot *c = &p->slot[i];

			if (c->area_live && area_overlaps(c, at, bytes) &&
			    atomic_load_explicit(&c->state, memory_order_relaxed) ==
			    PRODUCER_PENDING) {
				at = c->area_off + area_bytes(c->n);
				moved = true;
			}
		}
	}
	if (at + bytes > PRODUCER_AREA_BYTES)
		at = 0;
	for (uint32_t i = 0; i < PRODUCER_SLOTS; i++) {
		struct producer_slot *c = &p->slot[i];
		uint32_t st = atomic_load_explicit(&c->state, memory_order_relaxed);

		if (!area_overlaps(c, at, bytes))
			continue;
		if (st == PRODUCER_DONE)
			slot_forget(p, c);
		else if (st == PRODUCER_PENDING)
			c->area_live = 0;	/* no room left around it (pathological) */
	}
	p->h->area_head = at + bytes;
	return at;
}

/* Writes a DONE record for slot s (PENDING, fields set): n entries, merged with what
 * earlier attempts stored when it was sent again. */
static void slot_done(struct producer *p, struct producer_slot *s, uint32_t n,
		      const uint32_t *partitions, const uint64_t *offsets)
{
	uint32_t old = s->area_off, at, missing = 0, stored = 0;
	const uint64_t *old_off;
	const uint32_t *old_part;

	for (uint32_t i = 0; i < n && i < s->n; i++)
		stored += offsets[i] != UINT64_MAX;
	if (stored == 0 && !s->area_live) {	/* nothing stored: a retry stores it whole */
		atomic_store_explicit(&s->state, PRODUCER_FREE, memory_order_release);
		return;
	}
	at = area_take(p, s->n);	/* keeps the old entries while area_live */
	old_off = s->area_live ? (const uint64_t *)(p->area + old) : NULL;
	old_part = (const uint32_t *)(p->area + old + 8u * s->n);
	s->area_off = at;
	for (uint32_t i = 0; i < s->n; i++) {
		uint64_t o = i < n ? offsets[i] : UINT64_MAX;
		uint32_t q = i < n ? partitions[i] : 0;

		if (o == UINT64_MAX && old_off && old_off[i] != UINT64_MAX) {
			o = old_off[i];
			q = old_part[i];
		}
		slot_offsets(p, s)[i] = o;
		slot_partitions(p, s)[i] = q;
		missing += o == UINT64_MAX;
	}
	s->missing = missing;
	s->area_live = 0;
	/* Nothing stored: a retry stores it whole. */
	atomic_store_explicit(&s->state, missing == s->n ? PRODUCER_FREE : PRODUCER_DONE,
			      memory_order_release);
}

enum producer_verdict producer_begin(struct producer *p, uint64_t epoch, uint64_t sequence,
				     uint32_t n, int64_t recv_ns, uint64_t *known,
				     uint32_t *known_part, int *claim)
{
	enum producer_verdict v = PRODUCER_NEW;
	struct producer_slot *s = NULL;

	*claim = -1;
	if (sequence == 0)
		return PRODUCER_ZERO;
	pthread_mutex_lock(&p->lock);
	for (uint32_t i = 0; i < PRODUCER_SLOTS && !s; i++) {
		struct producer_slot *c = &p->slot[i];

		if (atomic_load_explicit(&c->state, memory_order_relaxed) != PRODUCER_FREE &&
		    c->epoch == epoch && c->sequence == sequence)
			s = c;
	}
	if (s) {
		if (atomic_load_explicit(&s->state, memory_order_relaxed) == PRODUCER_PENDING) {
			v = PRODUCER_IN_FLIGHT;
		} else if (s->n != n) {
			v = PRODUCER_OTHER_SIZE;
		} else {
			v = PRODUCER_RETRY;
			memcpy(known, slot_offsets(p, s), 8u * n);
			memcpy(known_part, slot_partitions(p, s), 4u * n);
			if (s->missing) {	/* the rest is stored now: claimed again (its
						 * receive time stays the first attempt's, its
						 * entries are kept until the record merges them) */
				s->area_live = 1;
				atomic_store_explicit(&s->state, PRODUCER_PENDING,
						      memory_order_release);
				*claim = (int)(s - p->slot);
			}
		}
		goto out;
	}
	if (epoch == p->h->epoch && sequence <= p->h->floor) {
		v = PRODUCER_TOO_OLD;
		goto out;
	}
	/* A free record, else the oldest answered one (another epoch's first). */
	for (uint32_t i = 0; i < PRODUCER_SLOTS; i++) {
		struct producer_slot *c = &p->slot[i];
		uint32_t st = atomic_load_explicit(&c->state, memory_order_relaxed);

		if (st == PRODUCER_PENDING)
			continue;
		if (st == PRODUCER_FREE) {
			s = c;
			break;
		}
		if (!s || c->epoch < s->epoch ||
		    (c->epoch == s->epoch && c->sequence < s->sequence))
			s = c;
	}
	if (!s) {
		v = PRODUCER_BUSY;
		goto out;
	}
	slot_forget(p, s);
	s->n = n;
	s->epoch = epoch;
	s->sequence = sequence;
	s->recv_ns = recv_ns;
	s->missing = n;
	s->area_live = 0;
	atomic_store_explicit(&s->state, PRODUCER_PENDING, memory_order_release);
	*claim = (int)(s - p->slot);
out:
	pthread_mutex_unlock(&p->lock);
	return v;
}

void producer_record(struct producer *p, int claim, uint32_t n, const uint32_t *partitions,
		     const uint64_t *offsets)
{
	struct producer_slot *s;

	assert(claim >= 0 && (uint32_t)claim < PRODUCER_SLOTS);
	pthread_mutex_lock(&p->lock);
	s = &p->slot[claim];
	assert(atomic_load_explicit(&s->state, memory_order_relaxed) == PRODUCER_PENDING);
	slot_done(p, s, n, partitions, offsets);
	pthread_mutex_unlock(&p->lock);
}

int producer_info_at(struct producer_registry *r, uint32_t i, struct producer_info *out)
{
	struct producer *p;

	pthread_mutex_lock(&r->lock);
	if (i >= r->n) {
		pthread_mutex_unlock(&r->lock);
		return -ENOENT;
	}
	p = r->p[i];	/* never freed while the registry is open */
	pthread_mutex_unlock(&r->lock);
	memset(out, 0, sizeof(*out));
	memcpy(out->id, p->id, p->id_len);
	pthread_mutex_lock(&p->lock);
	out->epoch = p->h->epoch;
	out->floor = p->h->floor;
	out->settled = p->settled;
	for (uint32_t k = 0; k < PRODUCER_SLOTS; k++) {
		const struct producer_slot *s = &p->slot[k];
		uint32_t st = atomic_load_explicit(&s->state, memory_order_relaxed);

		if (st == PRODUCER_FREE || s->epoch != out->epoch)
			continue;
		if (st == PRODUCER_PENDING)
			out->in_flight++;
		else
			out->remembered++;
		if (s->sequence > out->last_sequence)
			out->last_sequence = s->sequence;
		if (st == PRODUCER_DONE &&
		    (!out->oldest_sequence || s->sequence < out->oldest_sequence))
			out->oldest_sequence = s->sequence;
	}
	pthread_mutex_unlock(&p->lock);
	return 0;
}

/* ---- attaching ---------------------------------------------------------------------- */

int producer_attach(struct producer_registry *r, const char *id, size_t len, uint64_t epoch,
		    struct producer **out, uint64_t *gen, uint64_t *epoch_out, const char **why)
{
	struct producer *p = NULL;
	char path[700];
	int rc;

	*why = "";
	if (producer_id_check(id, len, why) < 0)
		return -EINVAL;
	pthread_mutex_lock(&r->lock);
	for (uint32_t i = 0; i < r->n && !p; i++)
		if (r->p[i]->id_len == len && memcmp(r->p[i]->id, id, len) == 0)
			p = r->p[i];
	if (!p) {
		if (r->n == PRODUCERS_MAX) {
			rc = -EMFILE;
			goto out;
		}
		if (!(p = producer_new(id, len))) {
			rc = -ENOMEM;
			goto out;
		}
		if (mkdir(r->dir, 0750) < 0 && errno != EEXIST) {
			rc = -errno;
			producer_unmap(p);
			goto out;
		}
		snprintf(path, sizeof(path), "%s/%.*s.state", r->dir, (int)len, id);
		rc = producer_map(p, path, true);
		if (rc < 0) {
			producer_unmap(p);
			goto out;
		}
		r->p[r->n++] = p;
	}
	pthread_mutex_lock(&p->lock);
	if (epoch < p->h->epoch) {
		*epoch_out = p->h->epoch;
		pthread_mutex_unlock(&p->lock);
		rc = -ESTALE;
		goto out;
	}
	if (epoch > p->h->epoch) {	/* a new incarnation: its sequences start again */
		p->h->floor = 0;
		p->h->epoch = epoch;
	}
	*epoch_out = p->h->epoch;
	*gen = atomic_fetch_add_explicit(&p->gen, 1, memory_order_acq_rel) + 1;
	pthread_mutex_unlock(&p->lock);
	*out = p;
	rc = 0;
out:
	pthread_mutex_unlock(&r->lock);
	return rc;
}

/* ---- start-up ----------------------------------------------------------------------- */

/* Whether the stored frame carries p's stamp for slot s; *index receives its entry. */
static bool frame_stamped(const struct producer *p, const struct producer_slot *s,
			  const struct log_ref *ref, uint32_t *index)
{
	struct frame_stamp st;

	if (frame_stamp(ref->frame, ref->len, &st) < 0 || st.id_len != p->id_len ||
	    memcmp(st.id, p->id, p->id_len) != 0 || st.epoch != s->epoch ||
	    st.sequence != s->sequence || st.index >= s->n)
		return false;
	*index = (uint32_t)st.index;
	return true;
}

/* Looks for slot s's events in one log: stamped entries received since its first
 * attempt (a retry's events carry their own, later, receive time). */
static void settle_in(struct producer *p, struct producer_slot *s, const struct log *log,
		      uint32_t partition, uint32_t *parts, uint64_t *offs)
{
	uint64_t tail = log_tail(log);
	struct log_ref ref;
	uint32_t index;

	for (uint64_t o = log_offset_at_time(log, s->recv_ns - PRODUCER_SCAN_SLACK_NS);
	     o < tail; o++) {
		if (log_read(log, o, &ref) < 0)
			break;
		if (!(ref.entry->flags & LOG_ENTRY_PRODUCER) ||
		    ref.entry->recv_ns + PRODUCER_SCAN_SLACK_NS < (uint64_t)s->recv_ns ||
		    !frame_stamped(p, s, &ref, &index))
			continue;
		if (offs[index] == UINT64_MAX)
			p->settled_events++;
		offs[index] = o;
		parts[index] = partition;
	}
}

/* A record a killed server left PENDING: which of its events are in the logs. */
static int settle(struct producer *p, struct producer_slot *s, struct topic_table *topics)
{
	uint64_t *offs = malloc(8u * s->n);
	uint32_t *parts = calloc(s->n, 4u);
	ck_ht_iterator_t it = CK_HT_ITERATOR_INITIALIZER;
	ck_ht_entry_t *e;

	if (!offs || !parts) {
		free(offs);
		free(parts);
		return -ENOMEM;
	}
	for (uint32_t i = 0; i < s->n; i++)
		offs[i] = UINT64_MAX;
	while (ck_ht_next(&topics->ht, &it, &e)) {
		const struct topic *tp = ck_ht_entry_value(e);

		for (uint32_t q = 0; q < tp->partitions; q++)
			if (tp->part[q].log)
				settle_in(p, s, tp->part[q].log, q, parts, offs);
	}
	slot_done(p, s, s->n, parts, offs);
	p->settled++;
	free(offs);
	free(parts);
	return 0;
}

/* Loads one producer file (name: <id>.state). */
static int producer_load(struct producer_registry *r, const char *name,
			 struct topic_table *topics)
{
	size_t len = strlen(name) - strlen(".state");
	struct producer *p;
	const char *why;
	char path[700];
	int rc;

	if (producer_id_check(name, len, &why) < 0 || r->n == PRODUCERS_MAX)
		return -EUCLEAN;
	if (!(p = producer_new(name, len)))
		return -ENOMEM;
	snprintf(path, sizeof(path), "%s/%s", r->dir, name);
	rc = producer_map(p, path, false);
	for (uint32_t i = 0; i < PRODUCER_SLOTS && rc == 0; i++) {
		struct producer_slot *s = &p->slot[i];
		uint32_t st = atomic_load_explicit(&s->state, memory_order_relaxed);

		if (st > PRODUCER_DONE || s->n > (PRODUCER_AREA_BYTES / 12u) ||
		    ((st == PRODUCER_DONE || s->area_live) &&
		     s->area_off + 12ull * s->n > PRODUCER_AREA_BYTES))
			rc = -EUCLEAN;
		else if (st == PRODUCER_PENDING)
			rc = settle(p, s, topics);
	}
	if (rc < 0) {
		producer_unmap(p);
		return rc;
	}
	if (p->settled)
		fprintf(stderr, "fanoutd: producer %s: %lu batches a killed server left "
			"unanswered settled from the logs (%lu events found stored)\n", p->id,
			(unsigned long)p->settled, (unsigned long)p->settled_events);
	r->p[r->n++] = p;
	return 0;
}

int producer_registry_open(struct producer_registry *r, const char *data_dir,
			   struct topic_table *topics)
{
	struct dirent *de;
	DIR *d;
	int rc = 0;

	memset(r, 0, sizeof(*r));
	pthread_mutex_init(&r->lock, NULL);
	if ((size_t)snprintf(r->dir, sizeof(r->dir), "%s/producers", data_dir) >= sizeof(r->dir))
		return -ENAMETOOLONG;
	d = opendir(r->dir);
	if (!d)
		return errno == ENOENT ? 0 : -errno;
	pthread_mutex_lock(&topics->create_lock);	/* ck_ht_next wants no writer */
	while (rc == 0 && (de = readdir(d))) {
		size_t n = strlen(de->d_name);

		if (de->d_name[0] == '.')
			continue;
		if (n <= 6 || strcmp(de->d_name + n - 6, ".state") != 0) {
			rc = -EUCLEAN;
		} else {
			rc = producer_load(r, de->d_name, topics);
		}
		if (rc < 0)
			fprintf(stderr, "fanoutd: %s/%s: not a producer file this server can "
				"use (%s); move it away to start\n", r->dir, de->d_name,
				strerror(-rc));
	}
	pthread_mutex_unlock(&topics->create_lock);
	closedir(d);
	return rc;
}

void producer_registry_close(struct producer_registry *r)
{
	for (uint32_t i = 0; i < r->n; i++)
		producer_unmap(r->p[i]);
	r->n = 0;
	pthread_mutex_destroy(&r->lock);
}
