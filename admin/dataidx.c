/* admin/dataidx.c — see dataidx.h. */
#include "admin/dataidx.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin/store.h"
#include "core/ck_direct.h"
#include "core/frame.h"
#include "core/keyhash.h"
#include "fanout.pb-c.h"

#define DIDX_ARENA_BYTES (8u << 20)	/* one decoded frame (frames are <= 1 MiB + slack) */
#define DIDX_FRAME_MAX   (64u << 20)
#define DIDX_OFFSET_MASK ((1ull << DIDX_LOG_OFFSET_BITS) - 1)

static uint64_t didx_ref(uint32_t log, uint64_t offset)
{
	return (uint64_t)log << DIDX_LOG_OFFSET_BITS | offset;
}

int dataidx_init(struct dataidx *d, uint64_t bytes)
{
	memset(d, 0, sizeof(*d));
	if (bytes == 0)
		return 0;
	for (int k = 0; k < DIDX_KINDS; k++)
		if (!ck_ht_init(&d->keys[k], CK_HT_MODE_DIRECT, NULL, &ck_direct_allocator, 1024,
				0x6461746169647800ull + (uint64_t)k))
			goto fail;
	if (arena_init(&d->arena, DIDX_ARENA_BYTES) < 0)
		goto fail;
	d->budget = bytes;
	d->on = true;
	return 0;
fail:
	dataidx_free(d);
	return -ENOMEM;
}

static void didx_key_free(struct didx_key *k)
{
	free(k->v);
	bar_series_free(&k->bars);
	free(k);
}

void dataidx_free(struct dataidx *d)
{
	for (int k = 0; k < DIDX_KINDS; k++) {
		ck_ht_iterator_t it = CK_HT_ITERATOR_INITIALIZER;
		ck_ht_entry_t *e;

		if (!d->keys[k].map)
			continue;
		while (ck_ht_next(&d->keys[k], &it, &e))
			didx_key_free((struct didx_key *)ck_ht_entry_value_direct(e));
		ck_ht_destroy(&d->keys[k]);
	}
	arena_free(&d->arena);
	free(d->logs);
	free(d->topics);
	memset(d, 0, sizeof(*d));
}

/* ---- topics and partitions ------------------------------------------------------- */

static uint32_t didx_topic_pos(const struct dataidx *d, const struct topic *tp)
{
	uint32_t lo = 0, hi = d->ntopics;

	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;

		if ((uintptr_t)d->topics[mid].tp < (uintptr_t)tp)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static int didx_topic_add(struct dataidx *d, struct topic *tp, uint32_t at)
{
	if (d->ntopics == d->topics_cap) {
		uint32_t cap = d->topics_cap ? d->topics_cap * 2 : 64;
		struct didx_topic *t = realloc(d->topics, cap * sizeof(*t));

		if (!t)
			return -ENOMEM;
		d->topics = t;
		d->topics_cap = cap;
	}
	if (d->nlogs + tp->partitions > d->logs_cap) {
		uint32_t cap = d->logs_cap ? d->logs_cap : 64;
		struct didx_log *l;

		while (cap < d->nlogs + tp->partitions)
			cap *= 2;
		l = realloc(d->logs, cap * sizeof(*l));
		if (!l)
			return -ENOMEM;
		d->logs = l;
		d->logs_cap = cap;
	}
	if ((uint64_t)d->nlogs + tp->partitions > (1ull << (64 - DIDX_LOG_OFFSET_BITS)))
		return -ENOSPC;	/* 2^24 partitions created over one run */
	memmove(&d->topics[at + 1], &d->topics[at], (d->ntopics - at) * sizeof(d->topics[0]));
	d->topics[at] = (struct didx_topic){ .tp = tp, .first_log = d->nlogs };
	d->ntopics++;
	for (uint32_t p = 0; p < tp->partitions; p++) {
		const struct log *log = tp->part[p].log;

		d->logs[d->nlogs++] = (struct didx_log){
			.tp = tp, .partition = p, .done = log ? log_first(log) : 0,
		};
	}
	return 0;
}

static void didx_topic_drop(struct dataidx *d, uint32_t at)
{
	const struct didx_topic *t = &d->topics[at];

	for (uint32_t p = 0; p < t->tp->partitions; p++)
		d->logs[t->first_log + p].tp = NULL;
	memmove(&d->topics[at], &d->topics[at + 1], (d->ntopics - at - 1) * sizeof(d->topics[0]));
	d->ntopics--;
}

void dataidx_topic_removed(struct dataidx *d, const struct topic *tp)
{
	uint32_t at;

	if (!d->on)
		return;
	at = didx_topic_pos(d, tp);
	if (at < d->ntopics && d->topics[at].tp == tp)
		didx_topic_drop(d, at);
}

static int didx_ptr_cmp(const void *a, const void *b)
{
	uintptr_t x = (uintptr_t)*(struct topic *const *)a, y = (uintptr_t)*(struct topic *const *)b;

	return x < y ? -1 : x > y;
}

int dataidx_sync_topics(struct dataidx *d, struct topic_table *t)
{
	uint32_t cap = t->count + 64, n, i = 0, j = 0;
	struct topic **list = NULL;
	int rc = 0;

	if (!d->on)
		return 0;
	for (int tries = 0; tries < 4; tries++) {
		list = malloc(cap * sizeof(*list));
		if (!list)
			return -ENOMEM;
		n = topic_table_list(t, list, cap);
		if (n <= cap)
			break;
		free(list);
		list = NULL;
		cap = n + 64;	/* grew meanwhile */
	}
	if (!list)
		return -EAGAIN;
	qsort(list, n, sizeof(*list), didx_ptr_cmp);
	/* Both sorted by pointer: one merge adds the new and drops the gone. */
	while (rc == 0 && (i < n || j < d->ntopics)) {
		if (j < d->ntopics && (i == n || (uintptr_t)d->topics[j].tp < (uintptr_t)list[i])) {
			didx_topic_drop(d, j);
		} else if (j < d->ntopics && d->topics[j].tp == list[i]) {
			i++;
			j++;
		} else {
			rc = didx_topic_add(d, list[i++], j);
			j++;
		}
	}
	free(list);
	return rc;
}

/* ---- keys and postings ----------------------------------------------------------- */

static struct didx_key *didx_get(struct dataidx *d, enum didx_kind kind, uint64_t hash)
{
	uintptr_t key = ck_direct_key(hash);
	ck_ht_hash_t h;
	ck_ht_entry_t e;

	ck_ht_hash_direct(&h, &d->keys[kind], key);
	ck_ht_entry_key_set_direct(&e, key);
	if (!ck_ht_get_spmc(&d->keys[kind], h, &e))
		return NULL;
	return (struct didx_key *)ck_ht_entry_value_direct(&e);
}

/* Moves k to the front of the update order (most recent). */
static void didx_lru_touch(struct dataidx *d, struct didx_key *k)
{
	if (d->lru_head == k)
		return;
	if (k->lru_prev)	/* unlink (a new key is in no list yet) */
		k->lru_prev->lru_next = k->lru_next;
	if (k->lru_next)
		k->lru_next->lru_prev = k->lru_prev;
	if (d->lru_tail == k)
		d->lru_tail = k->lru_prev;
	k->lru_prev = NULL;
	k->lru_next = d->lru_head;
	if (d->lru_head)
		d->lru_head->lru_prev = k;
	d->lru_head = k;
	if (!d->lru_tail)
		d->lru_tail = k;
}

static uint64_t didx_key_bytes(const struct didx_key *k)
{
	return sizeof(*k) + (uint64_t)k->cap * sizeof(k->v[0]) +
	       (uint64_t)k->bars.cap * sizeof(struct bar);
}

/* Drops the least recently updated key to make room. False when it cannot go now: it
 * waits on the store's or Redis's list (a key that old rarely does). */
static bool didx_evict(struct dataidx *d)
{
	struct didx_key *k = d->lru_tail;
	uintptr_t key;
	ck_ht_hash_t h;
	ck_ht_entry_t e;

	if (!k || k->on_dirty || k->on_cache)
		return false;
	key = ck_direct_key(k->hash);
	ck_ht_hash_direct(&h, &d->keys[k->kind], key);
	ck_ht_entry_key_set_direct(&e, key);
	if (!ck_ht_remove_spmc(&d->keys[k->kind], h, &e))
		return false;
	d->lru_tail = k->lru_prev;
	if (d->lru_tail)
		d->lru_tail->lru_next = NULL;
	else
		d->lru_head = NULL;
	d->bytes -= didx_key_bytes(k);
	d->nkeys[k->kind]--;
	d->c.keys_evicted++;
	didx_key_free(k);
	return true;
}

/* A new key of kind for hash, named name; NULL when no room could be made or out of
 * memory. */
static struct didx_key *didx_new(struct dataidx *d, enum didx_kind kind, uint64_t hash,
				 const char *name, size_t len)
{
	uintptr_t key = ck_direct_key(hash);
	struct didx_key *k;
	ck_ht_hash_t h;
	ck_ht_entry_t e;

	if (len == 0 || len > DIDX_NAME_MAX)
		return NULL;
	for (int i = 0; i < 4 && d->bytes + sizeof(*k) > d->budget; i++)
		if (!didx_evict(d))
			break;
	if (d->bytes + sizeof(*k) > d->budget || !(k = calloc(1, sizeof(*k)))) {
		d->c.keys_refused++;
		return NULL;
	}
	memcpy(k->name, name, len);
	k->kind = (uint8_t)kind;
	k->hash = hash;
	ck_ht_hash_direct(&h, &d->keys[kind], key);
	ck_ht_entry_set_direct(&e, h, key, (uintptr_t)k);
	if (!ck_ht_put_spmc(&d->keys[kind], h, &e)) {
		free(k);
		d->c.keys_refused++;
		return NULL;
	}
	d->bytes += sizeof(*k);
	d->nkeys[kind]++;
	didx_lru_touch(d, k);
	return k;
}

struct didx_key *dataidx_find(struct dataidx *d, enum didx_kind kind, const char *name,
			      size_t len)
{
	struct didx_key *k;

	if (!d->on || len == 0 || len > DIDX_NAME_MAX)
		return NULL;
	k = didx_get(d, kind, keyhash_bytes(name, len));
	/* The hash is keyed, and the name is checked all the same. */
	if (!k || strlen(k->name) != len || memcmp(k->name, name, len) != 0)
		return NULL;
	return k;
}

uint32_t dataidx_lower(const struct didx_key *k, int64_t t)
{
	uint32_t lo = 0, hi = k->n;

	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;

		if (k->v[k->first + mid].t_ns < t)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* Makes room for one more posting at the end of k's array: compacts, grows within the
 * budget, or lets the oldest go. Returns false when k can hold none at all. */
static bool didx_room(struct dataidx *d, struct didx_key *k)
{
	if (k->n == DIDX_KEY_POSTINGS_MAX) {
		k->first++;
		k->n--;
		d->c.postings_dropped++;
	}
	if (k->first + k->n < k->cap)
		return true;
	if (k->first > 0 && k->first >= k->n / 2) {
		memmove(k->v, &k->v[k->first], k->n * sizeof(k->v[0]));
		k->first = 0;
		return true;
	}
	{
		uint32_t cap = k->cap ? k->cap * 2 : 8;
		uint64_t more;
		struct didx_posting *v;

		if (cap > DIDX_KEY_POSTINGS_MAX)
			cap = DIDX_KEY_POSTINGS_MAX;
		more = (uint64_t)(cap - k->cap) * sizeof(*v);
		/* A key with nothing yet (a new one) makes room from the least recently
		 * updated keys, as a new key's own record does; others give up their own
		 * oldest postings below. */
		for (int i = 0; k->n == 0 && i < 4 && d->bytes + more > d->budget; i++)
			if (d->lru_tail == k || !didx_evict(d))
				break;
		if (cap > k->cap && d->bytes + more <= d->budget &&
		    (v = realloc(k->v, cap * sizeof(*v))) != NULL) {
			k->v = v;
			k->cap = cap;
			d->bytes += more;
			return true;
		}
	}
	if (k->n == 0)
		return false;
	{
		/* The budget is spent: the oldest eighth gives way at once, so the move
		 * that follows is paid once per n/8 postings, not once per posting. */
		uint32_t drop = k->n / 8 ? k->n / 8 : 1;

		k->first += drop;
		k->n -= drop;
		d->c.postings_dropped += drop;
	}
	memmove(k->v, &k->v[k->first], k->n * sizeof(k->v[0]));
	k->first = 0;
	return true;
}

/* Puts k at the end of the cache list (FIFO: every key gets its turn). */
static void didx_cache_push(struct dataidx *d, struct didx_key *k)
{
	if (k->on_cache)
		return;
	k->on_cache = true;
	k->cache_next = NULL;
	if (d->cache_tail)
		d->cache_tail->cache_next = k;
	else
		d->cache_dirty = k;
	d->cache_tail = k;
}

/* Adds (t, ref) to k, in event-time order (equal times in arrival order). */
static void didx_post(struct dataidx *d, struct didx_key *k, int64_t t, uint64_t ref)
{
	struct didx_posting *v;
	uint32_t at;

	didx_lru_touch(d, k);
	if (d->cache_on && (k->kind == DIDX_SYMBOL || k->kind == DIDX_ORDER))
		didx_cache_push(d, k);
	if (!didx_room(d, k)) {
		d->c.postings_dropped++;
		return;
	}
	v = &k->v[k->first];
	at = k->n;
	if (at && v[at - 1].t_ns > t) {	/* late: a binary search, then a shift */
		uint32_t lo = 0, hi = at;

		while (lo < hi) {
			uint32_t mid = lo + (hi - lo) / 2;

			if (v[mid].t_ns <= t)
				lo = mid + 1;
			else
				hi = mid;
		}
		at = lo;
		memmove(&v[at + 1], &v[at], (k->n - at) * sizeof(v[0]));
	}
	v[at] = (struct didx_posting){ .t_ns = t, .ref = ref };
	k->n++;
}

static void didx_bar(struct dataidx *d, struct didx_key *k, int64_t t, double price,
		     double volume)
{
	struct bar_series *s = &k->bars;
	uint32_t cap = DIDX_BARS_MAX, before = s->cap;
	uint64_t unsaved = s->evicted_dirty;
	int rc;

	if (!isfinite(price) || !isfinite(volume)) {
		d->c.bars_dropped++;	/* would poison the bucket's extremes and sums */
		return;
	}
	/* Past the budget a series does not grow: its oldest bucket gives way. */
	if (s->n == s->cap && d->bytes + (uint64_t)(s->cap ? s->cap : 16) * sizeof(struct bar) >
	    d->budget)
		cap = s->n;
	rc = bar_series_add(s, t, price, volume, cap);
	if (rc < 0) {
		d->c.bars_dropped++;
		return;
	}
	d->bytes += (uint64_t)(s->cap - before) * sizeof(struct bar);
	d->c.bars_unsaved += s->evicted_dirty - unsaved;
	if (!k->on_dirty) {	/* at the end: FIFO, so every symbol gets written */
		k->on_dirty = true;
		k->dirty_next = NULL;
		if (d->dirty_tail)
			d->dirty_tail->dirty_next = k;
		else
			d->dirty = k;
		d->dirty_tail = k;
	}
}

/* ---- tailing ----------------------------------------------------------------------- */

/* The event in ref's frame, decoded into the arena (reset first); NULL if it does not
 * decode. */
static const Fanout__V1__Event *didx_decode(struct dataidx *d, const struct log_ref *ref)
{
	struct frame_view fv;
	Fanout__V1__ServerMessage *m;

	arena_reset(&d->arena);
	if (frame_parse(ref->frame, ref->len, DIDX_FRAME_MAX, &fv) <= 0)
		goto bad;
	m = fanout__v1__server_message__unpack(&d->arena.pb, fv.len, fv.body);
	if (!m || m->body_case != FANOUT__V1__SERVER_MESSAGE__BODY_EVENT)
		goto bad;
	return m->event;
bad:
	d->c.decode_errors++;
	return NULL;
}

/* The key of kind for (hash, name), made when new. */
static struct didx_key *didx_key_for(struct dataidx *d, enum didx_kind kind, uint64_t hash,
				     const char *name)
{
	struct didx_key *k = didx_get(d, kind, hash);

	if (k || !name)
		return k;
	return didx_new(d, kind, hash, name, strlen(name));
}

/* Names of a new market-data or decision key: from the frame. */
static const char *didx_name(struct dataidx *d, const struct log_ref *ref, int data_type)
{
	const Fanout__V1__Event *e = didx_decode(d, ref);

	if (!e)
		return NULL;
	if (data_type == FANOUT__V1__DATA_TYPE__DATA_TYPE_MARKET_DATA && e->market_data)
		return e->market_data->symbol;
	if (data_type == FANOUT__V1__DATA_TYPE__DATA_TYPE_COORDINATION_DECISION &&
	    e->coordination_decision)
		return e->coordination_decision->instrument_id;
	return NULL;
}

static void didx_string(struct dataidx *d, enum didx_kind kind, const char *s, int64_t t,
			uint64_t r)
{
	struct didx_key *k;

	if (!s || !*s)
		return;
	k = didx_key_for(d, kind, keyhash_bytes(s, strlen(s)), s);
	if (k && strcmp(k->name, s) != 0) {
		d->c.collisions++;	/* another name under this keyed hash: not its key */
		return;
	}
	if (k)
		didx_post(d, k, t, r);
}

static void didx_event(struct dataidx *d, uint32_t id, uint64_t off, const struct log_ref *ref)
{
	const struct log_entry *e = ref->entry;
	uint64_t r = didx_ref(id, off);
	int64_t t = e->event_ns;
	struct didx_key *k;
	const Fanout__V1__Event *ev;

	switch (e->data_type) {
	case FANOUT__V1__DATA_TYPE__DATA_TYPE_MARKET_DATA:
	case FANOUT__V1__DATA_TYPE__DATA_TYPE_COORDINATION_DECISION: {
		enum didx_kind kind = e->data_type == FANOUT__V1__DATA_TYPE__DATA_TYPE_MARKET_DATA
				      ? DIDX_SYMBOL : DIDX_INSTRUMENT;

		if (!e->symbol_hash)
			return;
		k = didx_get(d, kind, e->symbol_hash);
		if (!k) {
			const char *name = didx_name(d, ref, e->data_type);

			k = name ? didx_new(d, kind, e->symbol_hash, name, strlen(name)) : NULL;
		}
		if (!k)
			return;
		didx_post(d, k, t, r);
		if (kind == DIDX_SYMBOL && (e->flags & LOG_ENTRY_TRADE))
			didx_bar(d, k, t, e->price, e->volume);
		return;
	}
	case FANOUT__V1__DATA_TYPE__DATA_TYPE_EXECUTION:
		ev = didx_decode(d, ref);
		if (!ev || !ev->execution)
			return;
		didx_string(d, DIDX_ORDER, ev->execution->order_id, t, r);
		didx_string(d, DIDX_FILL, ev->execution->fill_id, t, r);
		didx_string(d, DIDX_PORTFOLIO, ev->execution->portfolio_id, t, r);
		return;
	default:
		return;
	}
}

uint64_t dataidx_step(struct dataidx *d, uint64_t max)
{
	uint64_t left = max, pending = 0;
	uint32_t next = UINT32_MAX;

	if (!d->on)
		return 0;
	/* Round robin: the next step starts after the partition whose events used this
	 * one up (it goes on later in that round), else at the first with events left.
	 * Under overload no partition starves behind a busy one. */
	for (uint32_t i = 0; i < d->nlogs; i++) {
		uint32_t id = (d->next_log + i) % d->nlogs;
		struct didx_log *l = &d->logs[id];
		const struct log *log = l->tp ? l->tp->part[l->partition].log : NULL;
		uint64_t tail, first;

		if (!log)
			continue;
		tail = log_tail(log);
		first = log_first(log);
		if (l->done < first)
			l->done = first;
		while (l->done < tail && left) {
			struct log_ref ref;

			if (l->done > DIDX_OFFSET_MASK)
				break;	/* 2^40 offsets: past what a posting holds */
			if (log_read(log, l->done, &ref) == 0)
				didx_event(d, id, l->done, &ref);
			l->done++;
			left--;
			d->c.events++;
		}
		if (l->done < tail && l->done <= DIDX_OFFSET_MASK) {
			if (next == UINT32_MAX)
				next = left ? id : (id + 1) % d->nlogs;
			pending += tail - l->done;
		}
	}
	if (next != UINT32_MAX)
		d->next_log = next;
	d->behind = pending;
	return pending;
}

int dataidx_read(struct dataidx *d, uint64_t ref, struct log_ref *out, struct topic **tp,
		 uint32_t *partition)
{
	uint64_t id = ref >> DIDX_LOG_OFFSET_BITS;
	const struct didx_log *l;

	if (id >= d->nlogs)
		return -ENOENT;
	l = &d->logs[id];
	if (!l->tp || !l->tp->part[l->partition].log)
		return -ENOENT;
	if (log_read(l->tp->part[l->partition].log, ref & DIDX_OFFSET_MASK, out) < 0)
		return -ENOENT;
	*tp = l->tp;
	*partition = l->partition;
	return 0;
}

void dataidx_cache_all(struct dataidx *d)
{
	static const enum didx_kind kinds[] = { DIDX_SYMBOL, DIDX_ORDER };

	if (!d->on || !d->cache_on)
		return;
	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
		ck_ht_iterator_t it = CK_HT_ITERATOR_INITIALIZER;
		ck_ht_entry_t *e;

		while (ck_ht_next(&d->keys[kinds[i]], &it, &e)) {
			struct didx_key *k = (struct didx_key *)ck_ht_entry_value_direct(e);

			didx_cache_push(d, k);
		}
	}
}

struct didx_key *dataidx_cache_pop(struct dataidx *d)
{
	struct didx_key *k = d->cache_dirty;

	if (!k)
		return NULL;
	d->cache_dirty = k->cache_next;
	if (!d->cache_dirty)
		d->cache_tail = NULL;
	k->cache_next = NULL;
	k->on_cache = false;
	return k;
}

/* ---- bars to the store -------------------------------------------------------------- */

struct didx_written {
	struct didx_key *k;
	uint32_t i;
};

static void didx_fmt(struct store_args *a, double x)
{
	snprintf(a->num[a->n], sizeof(a->num[0]), "%.17g", x);
	a->v[a->n] = a->num[a->n];
	a->n++;
}

static int didx_bar_row(struct store *st, const char *symbol, const struct bar *b)
{
	struct store_args a = { 0 };

	store_arg_str(&a, symbol);
	store_arg_i64(&a, b->start_ns);
	didx_fmt(&a, b->open);
	didx_fmt(&a, b->high);
	didx_fmt(&a, b->low);
	didx_fmt(&a, b->close);
	didx_fmt(&a, b->volume);
	didx_fmt(&a, b->notional);
	store_arg_u64(&a, b->trades);
	store_arg_i64(&a, b->open_ns);
	store_arg_i64(&a, b->close_ns);
	return store_run(st,
			 "INSERT INTO market_bars (symbol, minute_ns, open, high, low, close, volume,"
			 " notional, trades, open_ns, close_ns, updated_at) VALUES ($1, $2, $3, $4,"
			 " $5, $6, $7, $8, $9, $10, $11, @now) ON CONFLICT (symbol, minute_ns) DO"
			 " UPDATE SET open = excluded.open, high = excluded.high, low = excluded.low,"
			 " close = excluded.close, volume = excluded.volume, notional ="
			 " excluded.notional, trades = excluded.trades, open_ns = excluded.open_ns,"
			 " close_ns = excluded.close_ns, updated_at = excluded.updated_at",
			 a.n, a.v);
}

int dataidx_flush_bars(struct dataidx *d, struct store *st, uint32_t max)
{
	struct didx_written *w;
	struct didx_key *last = NULL;	/* the last key written to */
	uint32_t n = 0, keys = 0, share;
	int rc;

	if (!d->on || !d->dirty || !st->up)
		return 0;
	w = malloc(max * sizeof(*w));
	if (!w)
		return STORE_ERR;
	/* A fair share of the rows per key (at least one): a key whose bars change faster
	 * than they are written goes behind the others (below), never ahead of them for
	 * ever. */
	for (struct didx_key *k = d->dirty; k; k = k->dirty_next)
		keys++;
	share = max / keys > 1 ? max / keys : 1;
	rc = store_begin(st);
	for (struct didx_key *k = d->dirty; rc == STORE_OK && k && n < max; k = k->dirty_next) {
		uint32_t mine = 0;

		for (uint32_t i = 0; rc == STORE_OK && i < k->bars.n && n < max && mine < share;
		     i++)
			if (k->bars.v[i].dirty) {
				rc = didx_bar_row(st, k->name, &k->bars.v[i]);
				w[n++] = (struct didx_written){ k, i };
				mine++;
			}
		last = k;
	}
	if (rc == STORE_OK)
		rc = store_commit(st);
	if (rc != STORE_OK) {
		store_rollback(st);
		free(w);
		return rc;
	}
	/* Committed: those buckets are clean (nothing ran in between to move them). */
	for (uint32_t j = 0; j < n; j++) {
		w[j].k->bars.v[w[j].i].dirty = false;
		w[j].k->bars.ndirty--;
	}
	{	/* the keys still dirty: those not reached, in order, then those written */
		struct didx_key *k, *rest = last ? last->dirty_next : d->dirty;
		struct didx_key *head = NULL, **link = &head;

		d->dirty_tail = NULL;
		if (last)
			last->dirty_next = NULL;	/* the written ones end at last */
		for (int pass = 0; pass < 2; pass++) {
			k = pass == 0 ? rest : (last ? d->dirty : NULL);
			while (k) {
				struct didx_key *next = k->dirty_next;

				if (k->bars.ndirty == 0) {
					k->on_dirty = false;
					k->dirty_next = NULL;
				} else {
					*link = k;
					link = &k->dirty_next;
					d->dirty_tail = k;
				}
				k = next;
			}
		}
		*link = NULL;
		d->dirty = head;
	}
	d->c.bars_written += n;
	free(w);
	return (int)n;
}
