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

#include "core/clock.h"
#include "core/frame_key.h"
#include "ingest/publish.h"

#define PRODUCER_SLOTS_BYTES 8192u	/* PRODUCER_SLOTS records, padded to pages */
#define PRODUCER_AREA_AT (sizeof(struct producer_header) + PRODUCER_SLOTS_BYTES)
#define PRODUCER_FILE_BYTES (PRODUCER_AREA_AT + (size_t)PRODUCER_SLOTS * PRODUCER_SLOT_BYTES)
#define PRODUCER_TMP ".tmp"		/* a file being made: removed at start-up */

static_assert(sizeof(struct producer_slot) == 64, "a record is part of the file format");
static_assert(sizeof(struct producer_header) == 4096, "the header is one page");
static_assert(PRODUCER_SLOTS * sizeof(struct producer_slot) <= PRODUCER_SLOTS_BYTES,
	      "records fit their pages");
static_assert(PRODUCER_BATCH_MAX == PUBLISH_BATCH_MAX, "a record holds any batch");
static_assert(PRODUCER_SLOT_BYTES % 4096 == 0, "records' rooms are whole pages");

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
	if (id[0] == '.') {	/* hidden files are not producers' (nor . and ..) */
		*why = "a producer id does not start with '.'";
		return -EINVAL;
	}
	return 0;
}

static void producer_unmap(struct producer *p)
{
	if (p->h)
		munmap(p->h, p->map_len);
	if (p->fd >= 0)
		close(p->fd);
	pthread_mutex_destroy(&p->lock);
	free(p);
}

static struct producer *producer_new(const char *id, size_t len)
{
	struct producer *p = calloc(1, sizeof(*p));

	if (!p)
		return NULL;
	memcpy(p->id, id, len);
	p->id_len = (uint32_t)len;
	p->fd = -1;
	pthread_mutex_init(&p->lock, NULL);
	return p;
}

static int producer_mmap(struct producer *p)
{
	void *m = mmap(NULL, PRODUCER_FILE_BYTES, PROT_READ | PROT_WRITE, MAP_SHARED, p->fd, 0);

	if (m == MAP_FAILED)
		return -errno;
	p->h = m;
	p->map_len = PRODUCER_FILE_BYTES;
	p->slot = (struct producer_slot *)((uint8_t *)m + sizeof(struct producer_header));
	p->area = (uint8_t *)m + PRODUCER_AREA_AT;
	return 0;
}

/* Makes dir/<id>.state: written whole under a temporary name, then renamed. */
static int producer_create(struct producer *p, const char *dir)
{
	char tmp[700], path[700];
	int rc;

	snprintf(tmp, sizeof(tmp), "%s/%s.state" PRODUCER_TMP, dir, p->id);
	snprintf(path, sizeof(path), "%s/%s.state", dir, p->id);
	p->fd = open(tmp, O_RDWR | O_CLOEXEC | O_CREAT | O_TRUNC, 0640);
	if (p->fd < 0)
		return -errno;
	/* Sparse: records' rooms get blocks as batches need them (no SIGBUS on a full
	 * disk: nothing is stored where there are none). */
	if (ftruncate(p->fd, (off_t)PRODUCER_FILE_BYTES) < 0)
		rc = -errno;
	else
		rc = -posix_fallocate(p->fd, 0, (off_t)PRODUCER_AREA_AT);
	if (rc == 0)
		rc = producer_mmap(p);
	if (rc == 0) {
		p->h->magic = PRODUCER_MAGIC;
		p->h->version = PRODUCER_VERSION;
		p->h->slots = PRODUCER_SLOTS;
		p->h->id_len = p->id_len;
		memcpy(p->h->id, p->id, p->id_len);
		if (rename(tmp, path) < 0)
			rc = -errno;
	}
	if (rc < 0)
		(void)unlink(tmp);
	return rc;
}

/* Maps an existing file. Returns 0, or -EUCLEAN for a file that is not a producer file of
 * this id, or -errno. */
static int producer_open_file(struct producer *p, const char *path)
{
	struct stat st;
	int rc;

	p->fd = open(path, O_RDWR | O_CLOEXEC);
	if (p->fd < 0)
		return -errno;
	if (fstat(p->fd, &st) < 0)
		return -errno;
	if ((size_t)st.st_size != PRODUCER_FILE_BYTES)
		return -EUCLEAN;
	rc = producer_mmap(p);
	if (rc < 0)
		return rc;
	if (p->h->magic != PRODUCER_MAGIC || p->h->version != PRODUCER_VERSION ||
	    p->h->slots != PRODUCER_SLOTS || p->h->id_len != p->id_len ||
	    memcmp(p->h->id, p->id, p->id_len) != 0)
		return -EUCLEAN;
	return 0;
}

/* ---- records ------------------------------------------------------------------------ */

static uint64_t *slot_offsets(struct producer *p, const struct producer_slot *s)
{
	return (uint64_t *)(p->area + (size_t)(s - p->slot) * PRODUCER_SLOT_BYTES);
}

static uint32_t *slot_partitions(struct producer *p, const struct producer_slot *s)
{
	return (uint32_t *)(slot_offsets(p, s) + s->n);
}

/* Lets a record go; one of the epoch in force that was DONE raises the floor (a retry of
 * it can no longer be told apart from a new batch). Under p->lock. */
static void slot_forget(struct producer *p, struct producer_slot *s)
{
	struct producer_header *h = p->h;

	if (atomic_load_explicit(&s->state, memory_order_relaxed) == PRODUCER_DONE &&
	    s->epoch == h->epoch) {
		/* The floor first: a kill between the stores leaves it applied to the old
		 * epoch, which can claim nothing any more. */
		if (h->floor_epoch != h->epoch) {
			h->floor = s->sequence;
			h->floor_epoch = h->epoch;
		} else if (s->sequence > h->floor) {
			h->floor = s->sequence;
		}
	}
	atomic_store_explicit(&s->state, PRODUCER_FREE, memory_order_release);
}

/* Disk blocks for slot s's room to hold n entries (whole pages). Returns 0 or -errno.
 * Under p->lock. */
static int slot_room(struct producer *p, struct producer_slot *s, uint32_t n)
{
	uint32_t need = (12u * n + 4095u) & ~4095u;
	int rc;

	if (need <= s->alloc)
		return 0;
	rc = posix_fallocate(p->fd, (off_t)(PRODUCER_AREA_AT + (size_t)(s - p->slot) *
					    PRODUCER_SLOT_BYTES + s->alloc),
			     (off_t)(need - s->alloc));
	if (rc != 0)
		return -rc;
	s->alloc = need;
	return 0;
}

/* Writes slot s's record (PENDING, fields set, room allocated): n entries, merged into
 * what earlier attempts stored when it was sent again (known_valid). In place: an entry
 * goes from UINT64_MAX to its offset, never back, so a kill part-way leaves each entry
 * either as it was or as it is now. */
static void slot_done(struct producer *p, struct producer_slot *s, uint32_t n,
		      const uint32_t *partitions, const uint64_t *offsets)
{
	uint64_t *offs = slot_offsets(p, s);
	uint32_t *parts = slot_partitions(p, s), missing = 0;

	for (uint32_t i = 0; i < s->n; i++) {
		uint64_t o = i < n ? offsets[i] : UINT64_MAX;

		if (o != UINT64_MAX) {
			parts[i] = partitions[i];
			atomic_signal_fence(memory_order_release);	/* partition first */
			offs[i] = o;
		} else if (!s->known_valid) {
			offs[i] = UINT64_MAX;	/* the room held another batch's */
		}
		missing += offs[i] == UINT64_MAX;
	}
	s->missing = missing;
	/* Nothing stored: a retry stores it whole. */
	atomic_store_explicit(&s->state, missing == s->n ? PRODUCER_FREE : PRODUCER_DONE,
			      memory_order_release);
	s->known_valid = 0;	/* after: read only while PENDING */
}

/* Whether a batch of this sequence must wait for a held one (the lock held); claiming
 * the held sequence itself lets the hold go: what follows is behind it again. */
static bool producer_held(struct producer *p, uint64_t epoch, uint64_t sequence)
{
	if (p->hold_seq == 0 || p->hold_epoch != epoch)
		return false;
	if (sequence > p->hold_seq)
		return true;
	if (sequence == p->hold_seq)
		p->hold_seq = 0;
	return false;
}

void producer_hold(struct producer *p, uint64_t gen, uint64_t epoch, uint64_t sequence)
{
	pthread_mutex_lock(&p->lock);
	if (atomic_load_explicit(&p->gen, memory_order_acquire) == gen &&
	    epoch == p->h->epoch && sequence != 0 &&
	    !(p->h->floor_epoch == epoch && sequence <= p->h->floor) &&
	    (p->hold_seq == 0 || p->hold_epoch != epoch || sequence < p->hold_seq)) {
		p->hold_epoch = epoch;
		p->hold_seq = sequence;
	}
	pthread_mutex_unlock(&p->lock);
}

void producer_release(struct producer *p, uint64_t epoch, uint64_t sequence)
{
	pthread_mutex_lock(&p->lock);
	if (p->hold_epoch == epoch && p->hold_seq == sequence)
		p->hold_seq = 0;
	pthread_mutex_unlock(&p->lock);
}

enum producer_verdict producer_begin(struct producer *p, uint64_t gen, uint64_t epoch,
				     uint64_t sequence, uint32_t n, int64_t recv_ns,
				     uint64_t *known, uint32_t *known_part, int *claim)
{
	enum producer_verdict v = PRODUCER_NEW;
	struct producer_slot *s = NULL;

	*claim = -1;
	if (sequence == 0)
		return PRODUCER_ZERO;
	pthread_mutex_lock(&p->lock);
	/* Under the lock: a Hello that takes the producer over is either seen here or
	 * comes after this batch is claimed (and finds it in flight). */
	if (atomic_load_explicit(&p->gen, memory_order_acquire) != gen ||
	    epoch != p->h->epoch) {
		v = PRODUCER_FENCED;
		goto out;
	}
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
			if (!s->missing) {	/* answered from the record: if it was held
						 * (SEQUENCE_IN_FLIGHT), it is done now */
				if (p->hold_seq == sequence && p->hold_epoch == epoch)
					p->hold_seq = 0;
			} else if (producer_held(p, epoch, sequence)) {
				v = PRODUCER_HELD;
			} else {	/* the rest is stored now: claimed again,
					 * what is known merged into */
				s->recv_ns = recv_ns;
				s->known_valid = 1;
				atomic_store_explicit(&s->state, PRODUCER_PENDING,
						      memory_order_release);
				*claim = (int)(s - p->slot);
			}
		}
		goto out;
	}
	if (p->h->floor_epoch == epoch && sequence <= p->h->floor) {
		v = PRODUCER_TOO_OLD;
		goto out;
	}
	if (producer_held(p, epoch, sequence)) {
		v = PRODUCER_HELD;
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
	if (slot_room(p, s, n) < 0) {	/* before anything is stored */
		v = PRODUCER_NO_SPACE;
		goto out;
	}
	slot_forget(p, s);
	s->n = n;
	s->epoch = epoch;
	s->sequence = sequence;
	s->recv_ns = recv_ns;
	s->missing = n;
	s->known_valid = 0;
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
	/* Held while it was being stored (SEQUENCE_IN_FLIGHT to a second send): stored
	 * whole now, so nothing after it can be stored before it. */
	if (p->hold_seq == s->sequence && p->hold_epoch == s->epoch && !s->missing)
		p->hold_seq = 0;
	pthread_mutex_unlock(&p->lock);
}

int producer_info_at(struct producer_registry *r, uint32_t i, struct producer_info *out)
{
	struct producer *p;

	pthread_mutex_lock(&r->lock);	/* held: a producer is freed under it */
	if (i >= r->n) {
		pthread_mutex_unlock(&r->lock);
		return -ENOENT;
	}
	p = r->p[i];
	memset(out, 0, sizeof(*out));
	memcpy(out->id, p->id, p->id_len);
	pthread_mutex_lock(&p->lock);
	out->epoch = p->h->epoch;
	out->floor = p->h->floor_epoch == p->h->epoch ? p->h->floor : 0;
	out->settled = p->settled;
	out->held = p->hold_epoch == out->epoch ? p->hold_seq : 0;
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
	pthread_mutex_unlock(&r->lock);
	return 0;
}

/* ---- attaching ---------------------------------------------------------------------- */

/* Whether any batch of p is being stored. Under p->lock. */
static bool producer_busy(const struct producer *p)
{
	for (uint32_t k = 0; k < PRODUCER_SLOTS; k++)
		if (atomic_load_explicit(&p->slot[k].state, memory_order_relaxed) ==
		    PRODUCER_PENDING)
			return true;
	return false;
}

/* The table is full: forgets the producer idle longest (no connection, nothing in
 * flight, idle for r->evict_idle_ns at least), file and all. Returns 0, or -EMFILE when
 * none may go. Under r->lock. */
static int producer_evict(struct producer_registry *r)
{
	int64_t now = clock_realtime_ns();
	uint32_t victim = UINT32_MAX;
	char path[700];

	for (uint32_t i = 0; i < r->n; i++) {
		struct producer *p = r->p[i];
		bool busy;

		if (p->attached || now - p->idle_since_ns < r->evict_idle_ns)
			continue;
		pthread_mutex_lock(&p->lock);
		busy = producer_busy(p);
		pthread_mutex_unlock(&p->lock);
		if (!busy && (victim == UINT32_MAX ||
			      p->idle_since_ns < r->p[victim]->idle_since_ns))
			victim = i;
	}
	if (victim == UINT32_MAX)
		return -EMFILE;
	snprintf(path, sizeof(path), "%s/%s.state", r->dir, r->p[victim]->id);
	fprintf(stderr, "fanoutd: producer %s forgotten (idle longest; the server keeps %u): "
		"a batch it sends again is stored again\n", r->p[victim]->id, PRODUCERS_MAX);
	(void)unlink(path);
	producer_unmap(r->p[victim]);
	r->p[victim] = r->p[--r->n];
	return 0;
}

int producer_attach(struct producer_registry *r, const char *id, size_t len, uint64_t epoch,
		    struct producer **out, uint64_t *gen, uint64_t *epoch_out, const char **why)
{
	struct producer *p = NULL;
	int rc;

	*why = "";
	if (producer_id_check(id, len, why) < 0)
		return -EINVAL;
	pthread_mutex_lock(&r->lock);
	for (uint32_t i = 0; i < r->n && !p; i++)
		if (r->p[i]->id_len == len && memcmp(r->p[i]->id, id, len) == 0)
			p = r->p[i];
	if (!p) {
		if (r->n == PRODUCERS_MAX && (rc = producer_evict(r)) < 0)
			goto out;
		if (!(p = producer_new(id, len))) {
			rc = -ENOMEM;
			goto out;
		}
		if (mkdir(r->dir, 0750) < 0 && errno != EEXIST) {
			rc = -errno;
			producer_unmap(p);
			goto out;
		}
		rc = producer_create(p, r->dir);
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
	p->h->epoch = epoch;	/* a newer one starts over: its floor is 0 (floor_epoch) */
	*epoch_out = epoch;
	*gen = atomic_fetch_add_explicit(&p->gen, 1, memory_order_acq_rel) + 1;
	p->hold_seq = 0;	/* a new connection sends again in order, or gave up */
	pthread_mutex_unlock(&p->lock);
	p->attached++;
	*out = p;
	rc = 0;
out:
	pthread_mutex_unlock(&r->lock);
	return rc;
}

void producer_detach(struct producer_registry *r, struct producer *p)
{
	pthread_mutex_lock(&r->lock);
	assert(p->attached > 0);
	if (--p->attached == 0)
		p->idle_since_ns = clock_realtime_ns();
	pthread_mutex_unlock(&r->lock);
}

/* ---- start-up ----------------------------------------------------------------------- */

/* A record a killed server left PENDING, being settled: where its events were found. */
struct settling {
	struct producer *p;
	struct producer_slot *s;
	uint64_t *offs;
	uint32_t *parts;
};

/* Which settling record a stored frame's stamp names, if any. */
static struct settling *settling_for(struct settling *set, uint32_t n,
				     const struct frame_stamp *st)
{
	for (uint32_t k = 0; k < n; k++) {
		const struct producer *p = set[k].p;
		const struct producer_slot *s = set[k].s;

		if (st->id_len == p->id_len && memcmp(st->id, p->id, p->id_len) == 0 &&
		    st->epoch == s->epoch && st->sequence == s->sequence && st->index < s->n)
			return &set[k];
	}
	return NULL;
}

/* One pass over every partition's log from `from` (receive time): stamped entries of
 * the settling records. */
static void settle_scan(struct settling *set, uint32_t n, struct topic_table *topics,
			int64_t from, uint32_t *quarantined)
{
	ck_ht_iterator_t it = CK_HT_ITERATOR_INITIALIZER;
	ck_ht_entry_t *e;

	while (ck_ht_next(&topics->ht, &it, &e)) {
		const struct topic *tp = ck_ht_entry_value(e);

		for (uint32_t q = 0; q < tp->partitions; q++) {
			const struct log *log = tp->part[q].log;
			uint64_t tail;

			if (!log) {
				(*quarantined)++;
				continue;
			}
			tail = log_tail(log);
			for (uint64_t o = log_offset_at_time(log, from); o < tail; o++) {
				struct frame_stamp st;
				struct settling *x;
				struct log_ref ref;

				if (log_read(log, o, &ref) < 0)
					break;
				if (!(ref.entry->flags & LOG_ENTRY_PRODUCER) ||
				    frame_stamp(ref.frame, ref.len, &st) < 0 ||
				    !(x = settling_for(set, n, &st)))
					continue;
				if (x->offs[st.index] == UINT64_MAX)
					x->p->settled_events++;
				x->offs[st.index] = o;
				x->parts[st.index] = q;
			}
		}
	}
}

/* Settles every PENDING record of the registry's producers from the logs. */
static int settle_all(struct producer_registry *r, struct topic_table *topics)
{
	struct settling *set = NULL;
	uint32_t n = 0, cap = 0, quarantined = 0;
	int64_t from = INT64_MAX;
	int rc = 0;

	for (uint32_t i = 0; i < r->n && rc == 0; i++) {
		for (uint32_t k = 0; k < PRODUCER_SLOTS && rc == 0; k++) {
			struct producer_slot *s = &r->p[i]->slot[k];
			struct settling *x;

			if (atomic_load_explicit(&s->state, memory_order_relaxed) != PRODUCER_PENDING)
				continue;
			if (n == cap) {
				struct settling *grown;

				cap = cap ? 2 * cap : 64;
				grown = realloc(set, cap * sizeof(*set));
				if (!grown) {
					rc = -ENOMEM;
					break;
				}
				set = grown;
			}
			x = &set[n];
			*x = (struct settling){ .p = r->p[i], .s = s,
				.offs = malloc(8u * (s->n ? s->n : 1)),
				.parts = calloc(s->n ? s->n : 1, 4u) };
			n++;
			if (!x->offs || !x->parts) {
				rc = -ENOMEM;
				break;
			}
			for (uint32_t j = 0; j < s->n; j++)
				x->offs[j] = UINT64_MAX;
			if (s->recv_ns < from)
				from = s->recv_ns;
		}
	}
	if (rc == 0 && n > 0) {
		settle_scan(set, n, topics, from - PRODUCER_SCAN_SLACK_NS, &quarantined);
		for (uint32_t k = 0; k < n; k++) {
			slot_done(set[k].p, set[k].s, set[k].s->n, set[k].parts, set[k].offs);
			set[k].p->settled++;
		}
		if (quarantined)
			fprintf(stderr, "fanoutd: %u quarantined partitions were not searched for "
				"the events of %u unanswered producer batches: what they hold of "
				"them is stored again if the batches are sent again\n",
				quarantined, n);
	}
	for (uint32_t k = 0; k < n; k++) {
		free(set[k].offs);
		free(set[k].parts);
	}
	free(set);
	return rc;
}

/* Loads one producer file (name: <id>.state). */
static int producer_load(struct producer_registry *r, const char *name)
{
	size_t len = strlen(name) - strlen(".state");
	struct producer *p;
	int64_t newest = 0;
	const char *why;
	char path[700];
	int rc;

	if (producer_id_check(name, len, &why) < 0 || r->n == PRODUCERS_MAX)
		return -EUCLEAN;
	if (!(p = producer_new(name, len)))
		return -ENOMEM;
	snprintf(path, sizeof(path), "%s/%s", r->dir, name);
	rc = producer_open_file(p, path);
	for (uint32_t i = 0; i < PRODUCER_SLOTS && rc == 0; i++) {
		const struct producer_slot *s = &p->slot[i];
		uint32_t st = atomic_load_explicit(&s->state, memory_order_relaxed);

		if (st > PRODUCER_DONE || s->n > PRODUCER_BATCH_MAX ||
		    s->alloc > PRODUCER_SLOT_BYTES || s->alloc % 4096 ||
		    (st != PRODUCER_FREE && 12ull * s->n > s->alloc) ||
		    (st == PRODUCER_PENDING && (s->recv_ns < 0 || s->recv_ns > INT64_MAX / 2)))
			rc = -EUCLEAN;
		else if (st != PRODUCER_FREE && s->recv_ns > newest)
			newest = s->recv_ns;
	}
	if (rc < 0) {
		producer_unmap(p);
		return rc;
	}
	p->idle_since_ns = newest;	/* idle since its last batch, not since this start */
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
	r->evict_idle_ns = PRODUCER_EVICT_IDLE_NS;
	if ((size_t)snprintf(r->dir, sizeof(r->dir), "%s/producers", data_dir) >= sizeof(r->dir))
		return -ENAMETOOLONG;
	d = opendir(r->dir);
	if (!d)
		return errno == ENOENT ? 0 : -errno;
	while (rc == 0 && (de = readdir(d))) {
		size_t n = strlen(de->d_name);
		char path[700];

		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (n > strlen(PRODUCER_TMP) &&
		    !strcmp(de->d_name + n - strlen(PRODUCER_TMP), PRODUCER_TMP)) {
			snprintf(path, sizeof(path), "%s/%s", r->dir, de->d_name);
			(void)unlink(path);	/* a file a killed server was making */
			continue;
		}
		if (n <= 6 || strcmp(de->d_name + n - 6, ".state") != 0)
			rc = -EUCLEAN;
		else
			rc = producer_load(r, de->d_name);
		if (rc < 0)
			fprintf(stderr, "fanoutd: %s/%s: not a producer file this server can "
				"use (%s); move it away to start\n", r->dir, de->d_name,
				strerror(-rc));
	}
	closedir(d);
	if (rc == 0) {
		pthread_mutex_lock(&topics->create_lock);	/* ck_ht_next wants no writer */
		rc = settle_all(r, topics);
		pthread_mutex_unlock(&topics->create_lock);
	}
	for (uint32_t i = 0; rc == 0 && i < r->n; i++)
		if (r->p[i]->settled)
			fprintf(stderr, "fanoutd: producer %s: %lu batches a killed server left "
				"unanswered settled from the logs (%lu events found stored)\n",
				r->p[i]->id, (unsigned long)r->p[i]->settled,
				(unsigned long)r->p[i]->settled_events);
	return rc;
}

void producer_registry_close(struct producer_registry *r)
{
	for (uint32_t i = 0; i < r->n; i++)
		producer_unmap(r->p[i]);
	r->n = 0;
	pthread_mutex_destroy(&r->lock);
}
