/* net/subscriber.c — cursors, routing-key matching and gathering frames for a send. */
#include "net/subscriber.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/frame.h"
#include "core/keyhash.h"
#include "core/probes.h"
#include "fanout.pb-c.h"
#include "ingest/event_encode.h"

static bool sub_match(struct subscription *s, const struct log_ref *ref, struct arena *a);

/* The first of the sorted exact-key hashes equal to h, or npatterns. */
static uint32_t sub_key_find(const struct subscription *s, uint64_t h)
{
	uint32_t lo = 0, hi = s->npatterns;

	while (lo < hi) {
		uint32_t mid = (lo + hi) / 2;

		if (s->key_hashes[mid] < h)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < s->npatterns && s->key_hashes[lo] == h ? lo : s->npatterns;
}

/* An exact-key subscription: the frame's key is one of its keys. The hash narrows it to
 * one pattern (patterns are sorted like their hashes); the bytes decide, so a key that
 * only shares a hash is never delivered. */
static bool sub_exact_wants(const struct subscription *s, const struct log_ref *ref)
{
	uint64_t h = ref->entry->key_hash;
	uint32_t i = sub_key_find(s, h), klen;
	const char *key;

	if (i == s->npatterns || event_frame_key(ref->frame, ref->len, &key, &klen) < 0)
		return false;
	for (; i < s->npatterns && s->key_hashes[i] == h; i++)
		if (s->key_lens[i] == klen && memcmp(s->patterns[i].text, key, klen) == 0)
			return true;
	return false;
}

struct sub_hashed {
	uint64_t hash;
	uint32_t index;
};

static int sub_hashed_cmp(const void *a, const void *b)
{
	const struct sub_hashed *x = a, *y = b;

	return x->hash < y->hash ? -1 : x->hash > y->hash;
}

/* Sorts an exact-key subscription's patterns by their keys' hashes, into key_hashes. */
static int sub_sort_keys(struct subscription *s)
{
	uint32_t n = s->npatterns;
	struct sub_hashed *h = malloc(n * sizeof(*h));
	struct pattern *sorted = malloc(n * sizeof(*sorted));

	s->key_hashes = malloc(n * sizeof(*s->key_hashes));
	s->key_lens = malloc(n * sizeof(*s->key_lens));
	if (!h || !sorted || !s->key_hashes || !s->key_lens) {
		free(h);
		free(sorted);
		return -1;
	}
	for (uint32_t i = 0; i < n; i++)
		h[i] = (struct sub_hashed){
			.hash = keyhash_bytes(s->patterns[i].text, strlen(s->patterns[i].text)),
			.index = i,
		};
	qsort(h, n, sizeof(*h), sub_hashed_cmp);
	for (uint32_t i = 0; i < n; i++) {
		sorted[i] = s->patterns[h[i].index];
		s->key_hashes[i] = h[i].hash;
		s->key_lens[i] = (uint32_t)strlen(sorted[i].text);
	}
	memcpy(s->patterns, sorted, n * sizeof(*sorted));
	free(h);
	free(sorted);
	return 0;
}

/* Whether a frame is for this subscription: the filter on the index entry first (no
 * decoding), then the routing-key patterns. */
static bool sub_wants(struct subscription *s, const struct log_ref *ref, struct arena *a)
{
	if (s->key_hashes && sub_key_find(s, ref->entry->key_hash) == s->npatterns)
		return false;	/* the keys of other subscriptions, by hash alone */
	if (!s->filter.empty && !filter_match(&s->filter, ref->entry))
		return false;
	if (s->key_hashes)
		return sub_exact_wants(s, ref);
	return s->npatterns == 0 || sub_match(s, ref, a);
}

struct sub_snap_ctx {
	struct subscription *s;
	struct arena *arena;
	uint32_t partition;
	bool overflow;
	bool over_budget;	/* the overflow was the budget's refusal */
};

/* Takes bytes from the subscription's budget (none: always). */
static bool sub_take(struct subscription *s, enum budget_kind kind, uint64_t bytes)
{
	return !s->budget || budget_take(s->budget, kind, bytes);
}

static void sub_give(struct subscription *s, enum budget_kind kind, uint64_t bytes)
{
	if (s->budget && bytes)
		budget_give(s->budget, kind, bytes);
}

/* Doubles the snapshot's room (from the budget). Returns 0, or -1 (c says why). */
static int sub_snap_grow(struct sub_snap_ctx *c)
{
	struct subscription *s = c->s;
	uint32_t cap = s->snap_cap ? s->snap_cap * 2 : 256;
	struct sub_snap *snap;

	if (cap > SUB_SNAPSHOT_MAX)
		return -1;
	if (!sub_take(s, BUDGET_SNAPSHOTS, (uint64_t)(cap - s->snap_cap) * sizeof(*snap))) {
		c->over_budget = true;
		return -1;
	}
	snap = realloc(s->snap, cap * sizeof(*snap));
	if (!snap) {
		sub_give(s, BUDGET_SNAPSHOTS, (uint64_t)(cap - s->snap_cap) * sizeof(*snap));
		return -1;
	}
	s->snap = snap;
	s->snap_cap = cap;
	return 0;
}

/* latest_each callback: keeps a key's newest event when it precedes the live stream. */
static bool sub_snap_key(void *p, uint64_t offset)
{
	struct sub_snap_ctx *c = p;
	struct subscription *s = c->s;
	const struct log *log = s->topic->part[c->partition].log;
	struct log_ref ref;

	if (offset >= s->cursors[c->partition].offset || log_read(log, offset, &ref) < 0)
		return true;	/* the live stream sends it, or retention dropped it */
	if (!sub_wants(s, &ref, c->arena))
		return true;
	if (s->nsnap == s->snap_cap && sub_snap_grow(c) < 0) {
		c->overflow = true;
		return false;
	}
	s->snap[s->nsnap++] = (struct sub_snap){ .partition = c->partition, .offset = offset };
	return true;
}

static int sub_snap_cmp(const void *a, const void *b)
{
	const struct sub_snap *x = a, *y = b;

	if (x->partition != y->partition)
		return x->partition < y->partition ? -1 : 1;
	return x->offset < y->offset ? -1 : x->offset > y->offset;
}

/* A walk racing the table's writer can meet one offset twice (a node evicted and reused
 * meanwhile, a colliding key moved): each event goes out once. Sorted first. */
static void sub_snap_dedupe(struct subscription *s)
{
	uint32_t out = 0;

	for (uint32_t i = 0; i < s->nsnap; i++)
		if (out == 0 || sub_snap_cmp(&s->snap[out - 1], &s->snap[i]) != 0)
			s->snap[out++] = s->snap[i];
	s->nsnap = out;
}

/* Collects the newest event of each matching key, in offset order per partition. */
static enum sub_error sub_snapshot(struct subscription *s, struct arena *a, const char **why)
{
	struct sub_snap_ctx c = { .s = s, .arena = a };

	for (uint32_t p = 0; p < s->topic->partitions && !c.overflow; p++) {
		uint32_t before = s->nsnap, tries = 0;

		c.partition = p;
		/* Another reactor may be growing the table: walk it again until a walk saw
		 * one array from start to end. */
		while (!latest_each(&s->topic->part[p].latest, sub_snap_key, &c) && !c.overflow) {
			s->nsnap = before;
			if (++tries == SUB_SNAPSHOT_TRIES) {
				*why = "snapshot: the key table kept growing under it; try again";
				return SUB_TOO_LARGE;
			}
		}
	}
	if (c.overflow && c.over_budget) {
		*why = "snapshot would take the reactor past its memory budget; narrow the "
		       "patterns or try again later";
		return SUB_OVER_BUDGET;
	}
	if (c.overflow) {
		*why = "snapshot would exceed 1048576 keys or memory; narrow the patterns";
		return SUB_TOO_LARGE;
	}
	if (s->nsnap > 1)	/* none matched: snap is NULL, which qsort may not be given */
		qsort(s->snap, s->nsnap, sizeof(*s->snap), sub_snap_cmp);
	sub_snap_dedupe(s);
	return SUB_OK;
}

/* Compiles patterns and allocates the match cache. */
static enum sub_error sub_patterns(struct subscription *s, const struct sub_request *req,
				   const char **why)
{
	if (req->npatterns > SUB_PATTERNS_MAX) {
		*why = "more than 64 patterns";
		return SUB_BAD_PATTERN;
	}
	if (req->npatterns == 0)
		return SUB_OK;
	s->patterns = calloc(req->npatterns, sizeof(*s->patterns));
	s->cache = calloc(SUB_MATCH_CACHE, sizeof(*s->cache));
	if (!s->patterns || !s->cache) {
		*why = "out of memory";
		return SUB_NO_MEMORY;
	}
	for (size_t i = 0; i < req->npatterns; i++)
		if (pattern_compile(&s->patterns[i], req->patterns[i], strlen(req->patterns[i]),
				    why) < 0)
			return SUB_BAD_PATTERN;
	s->npatterns = (uint32_t)req->npatterns;
	s->indexed = true;	/* routed to, not scanning: see subscriber.h */
	for (uint32_t i = 0; i < s->npatterns; i++)
		s->wild = s->wild || !s->patterns[i].exact;
	if (!s->wild && sub_sort_keys(s) < 0) {	/* scans skip other keys by hash */
		*why = "out of memory";
		return SUB_NO_MEMORY;
	}
	if (s->indexed) {
		s->ring = malloc(SUB_RING * sizeof(*s->ring));
		s->ring_cap = SUB_RING;
		if (!s->ring) {
			*why = "out of memory";
			return SUB_NO_MEMORY;
		}
		s->scan = true;	/* from the start position to the tails first */
	}
	return SUB_OK;
}

static enum sub_error sub_start_check(const struct sub_request *req, const char **why)
{
	bool timestamp = req->start == FANOUT__V1__START_POSITION__START_POSITION_TIMESTAMP;

	if (timestamp && req->start_time_ns <= 0) {
		*why = "START_POSITION_TIMESTAMP needs start_time_ns (ns since the epoch, > 0)";
		return SUB_BAD_START;
	}
	if (!timestamp && req->start_time_ns != 0) {
		*why = "start_time_ns is only for START_POSITION_TIMESTAMP";
		return SUB_BAD_START;
	}
	if (req->nstart_offsets == 0)
		return SUB_OK;
	if (req->start != FANOUT__V1__START_POSITION__START_POSITION_OFFSET) {
		*why = "start_offsets is only for START_POSITION_OFFSET";
		return SUB_BAD_START;
	}
	if (req->nstart_offsets > req->topic->partitions) {
		*why = "start_offsets lists more partitions than the topic has";
		return SUB_BAD_START;
	}
	return SUB_OK;
}

enum sub_error sub_init(struct subscription *s, const struct sub_request *req, struct arena *a,
			const char **why)
{
	struct topic *tp = req->topic;
	enum sub_error err;
	int rc;

	memset(s, 0, sizeof(*s));
	s->id = req->id;
	s->topic = tp;
	s->live_from_ns = clock_realtime_ns();
	s->budget = req->budget;
	if (!sub_take(s, BUDGET_SUBSCRIPTIONS, sub_request_bytes(req))) {
		*why = "a subscription would take the reactor past its memory budget";
		return SUB_OVER_BUDGET;
	}
	s->charged = sub_request_bytes(req);
	err = sub_start_check(req, why);
	if (err != SUB_OK)
		goto fail;
	err = sub_patterns(s, req, why);
	if (err != SUB_OK)
		goto fail;
	rc = filter_compile(&s->filter, req->filter, why);
	if (rc < 0) {
		err = rc == -ENOMEM ? SUB_NO_MEMORY : SUB_BAD_FILTER;
		goto fail;
	}
	s->cursors = calloc(tp->partitions, sizeof(*s->cursors));
	if (!s->cursors) {
		*why = "out of memory";
		err = SUB_NO_MEMORY;
		goto fail;
	}
	for (uint32_t p = 0; p < tp->partitions; p++) {
		const struct log *log = tp->part[p].log;
		uint64_t at = log_tail(log);

		if (req->start == FANOUT__V1__START_POSITION__START_POSITION_EARLIEST)
			at = log_first(log);
		else if (req->start == FANOUT__V1__START_POSITION__START_POSITION_OFFSET)
			at = p < req->nstart_offsets ? req->start_offsets[p] : req->start_offset;
		else if (req->start == FANOUT__V1__START_POSITION__START_POSITION_TIMESTAMP)
			at = log_offset_at_time(log, req->start_time_ns);
		log_cursor_seek(log, &s->cursors[p], at);
	}
	if (req->snapshot) {
		err = sub_snapshot(s, a, why);
		if (err != SUB_OK)
			goto fail;
	}
	return SUB_OK;
fail:
	sub_free(s);
	return err;
}

uint64_t sub_request_bytes(const struct sub_request *req)
{
	const Fanout__V1__Filter *f = req->filter;
	uint64_t n = req->npatterns > SUB_PATTERNS_MAX ? 0 : req->npatterns;
	uint64_t bytes = sizeof(struct subscription) +
			 (uint64_t)req->topic->partitions * sizeof(struct log_cursor);

	if (n)	/* patterns, exact keys' arrays and index entries, match cache, first ring */
		bytes += n * (sizeof(struct pattern) + sizeof(uint64_t) + sizeof(uint32_t) +
			      64 + PATTERN_BYTES_MAX) +
			 SUB_MATCH_CACHE * sizeof(struct sub_match_slot) + SUB_RING * sizeof(uint64_t);
	if (f)	/* one hash per listed value */
		bytes += sizeof(uint64_t) * (f->n_symbols + f->n_exchanges + f->n_currencies +
					     f->n_actions + f->n_order_ids + f->n_portfolio_ids);
	return bytes;
}

void sub_free(struct subscription *s)
{
	sub_give(s, BUDGET_SUBSCRIPTIONS, s->charged);
	sub_give(s, BUDGET_SNAPSHOTS, (uint64_t)s->snap_cap * sizeof(*s->snap));
	if (s->ring_cap > SUB_RING)
		sub_give(s, BUDGET_RINGS, (uint64_t)(s->ring_cap - SUB_RING) * sizeof(*s->ring));
	free(s->cursors);
	free(s->patterns);
	free(s->cache);
	free(s->ring);
	free(s->key_hashes);
	free(s->key_lens);
	free(s->snap);
	filter_free(&s->filter);
	memset(s, 0, sizeof(*s));
}

bool sub_pending(const struct subscription *s)
{
	if (s->snap_pos < s->nsnap)
		return true;
	if (s->indexed && !s->scan)
		return s->ring_head != s->ring_tail;
	for (uint32_t p = 0; p < s->topic->partitions; p++)
		if (s->cursors[p].offset < log_tail(s->topic->part[p].log))
			return true;
	return false;
}

int sub_frame_key(const struct log_ref *ref, struct arena *a, const char **key, size_t *len)
{
	uint32_t klen;

	(void)a;	/* nothing decoded: the key is read off the frame */
	if (event_frame_key(ref->frame, ref->len, key, &klen) < 0)
		return -EINVAL;
	*len = klen;
	return 0;
}

bool sub_key_matches(const struct subscription *s, const char *key, size_t len)
{
	for (uint32_t i = 0; i < s->npatterns; i++)
		if (pattern_match(&s->patterns[i], key, len))
			return true;
	return s->npatterns == 0;
}

/* Matches a frame's routing key against the patterns, remembering the answer per key:
 * the slot is found by the key's hash and trusted only when its key's bytes (kept as a
 * pointer into the log, which outlives the subscription) are the frame's. */
static bool sub_match(struct subscription *s, const struct log_ref *ref, struct arena *a)
{
	struct sub_match_slot *slot = &s->cache[ref->entry->key_hash & (SUB_MATCH_CACHE - 1)];
	const char *key;
	size_t len;
	bool hit;

	if (sub_frame_key(ref, a, &key, &len) < 0)
		return false;
	if (slot->state && slot->key_hash == ref->entry->key_hash && slot->klen == len &&
	    memcmp(slot->key, key, len) == 0)
		return slot->state == 2;
	hit = sub_key_matches(s, key, len);
	slot->key_hash = ref->entry->key_hash;
	slot->key = key;
	slot->klen = (uint32_t)len;
	slot->state = hit ? 2 : 1;
	return hit;
}

/* Adds a frame to the gather, merged into the last iovec when adjacent in memory.
 * Returns false (nothing added) when the gather is full. */
static bool sub_gather_add(struct subscription *s, struct sub_gather *g,
			   const struct log_ref *ref, uint32_t p, uint64_t offset)
{
	struct iovec *last = g->niov ? &g->iov[g->niov - 1] : NULL;

	bool audited = ref->entry->flags & LOG_ENTRY_AUDIT_REQUIRED;
	bool taken = true;

	if (g->bytes + ref->len > g->bytes_max && g->bytes > 0)
		return false;
	if (audited && g->naudit == g->audit_max) {
		g->audit_blocked = true;	/* no record, no send: it waits for room */
		return false;
	}
	if (g->emit) {
		taken = g->emit(g->emit_ctx, ref, p, offset);
	} else if (last && (const uint8_t *)last->iov_base + last->iov_len == ref->frame) {
		last->iov_len += ref->len;
	} else if (g->niov == g->iov_max) {
		return false;
	} else {
		g->iov[g->niov].iov_base = (void *)ref->frame;
		g->iov[g->niov].iov_len = ref->len;
		g->niov++;
	}
	s->audit_sent += audited;
	if (audited)
		g->audit[g->naudit++] = (struct audit_rec){
			.serial = s->stats.serial, .topic = s->topic, .offset = offset,
			.partition = p, .kind = taken ? AUDIT_DELIVERED : AUDIT_FAILED,
		};
	g->bytes += ref->len;
	/* Admin stats (net/stats.h): the one count per delivered frame. */
	s->stats.bytes_out += ref->len;
	topic_out_count(&s->topic->part[p], s->stats.reactor, ref->len);
	return true;
}

/* A frame went into the gather: the reactor's latency sample counts it (net/latency.h)
 * when it is live — received since the subscription began — and, for a subscription to
 * a topic with a priority, the priority class's too. A snapshot's frames, and a
 * replay's or a resume's history, say how old the history is, not how fast the server
 * delivers. */
static inline void sub_gather_timed(const struct subscription *s, struct sub_gather *g,
				    const struct log_ref *ref)
{
	if (g->latency && (int64_t)ref->entry->recv_ns >= s->live_from_ns) {
		net_latency_tick(g->latency, ref->entry->recv_ns);
		if (s->priority && g->latency_priority)
			net_latency_tick(g->latency_priority, ref->entry->recv_ns);
	}
}

bool sub_note_gap(struct subscription *s, uint32_t p, uint64_t first, uint64_t end)
{
	struct sub_gap *last = s->ngaps ? &s->gaps[s->ngaps - 1] : NULL;

	if (last && last->partition == p && first <= last->end) {
		last->end = end > last->end ? end : last->end;
		return true;
	}
	if (s->ngaps == SUB_GAPS_MAX)
		return false;
	s->gaps[s->ngaps++] = (struct sub_gap){ .partition = p, .first = first, .end = end };
	return true;
}

/* Gathers from one partition; returns frames added, sets *full when g has no room. */
static uint32_t sub_gather_part(struct subscription *s, uint32_t p, struct sub_gather *g,
				uint32_t *scanned, bool *full)
{
	const struct log *log = s->topic->part[p].log;
	struct log_cursor *cur = &s->cursors[p];
	struct log_ref ref;
	uint32_t added = 0;
	int rc;

	while (*scanned < SUB_SCAN_MAX) {
		uint64_t at = cur->offset;

		if (s->ngaps == SUB_GAPS_MAX) {	/* the session tells of these first */
			*full = true;
			return added;
		}
		if ((rc = log_cursor_peek(log, cur, &ref)) == -ESTALE) {	/* retention */
			(void)sub_note_gap(s, p, at, cur->offset);	/* room: checked above */
			continue;
		}
		if (rc < 0)
			break;
		(*scanned)++;
		if (sub_wants(s, &ref, g->arena)) {
			if (!sub_gather_add(s, g, &ref, p, cur->offset)) {
				*full = true;
				return added;
			}
			sub_gather_timed(s, g, &ref);
			added++;
		}
		log_cursor_next(cur);
	}
	return added;
}

/* Gathers the snapshot's frames; returns frames added, sets *full when g has no room. */
static uint32_t sub_gather_snap(struct subscription *s, struct sub_gather *g, bool *full)
{
	uint32_t added = 0;

	while (s->snap_pos < s->nsnap) {
		const struct sub_snap *sn = &s->snap[s->snap_pos];
		struct log_ref ref;

		if (log_read(s->topic->part[sn->partition].log, sn->offset, &ref) == 0) {
			if (!sub_gather_add(s, g, &ref, sn->partition, sn->offset)) {
				*full = true;
				return added;
			}
			added++;
		}
		s->snap_pos++;
	}
	free(s->snap);	/* sent: the snapshot's memory goes back at once */
	sub_give(s, BUDGET_SNAPSHOTS, (uint64_t)s->snap_cap * sizeof(*s->snap));
	s->snap = NULL;
	s->nsnap = s->snap_pos = s->snap_cap = 0;
	return added;
}

/* Doubles a full ring (its entries keep their order), up to SUB_RING_MAX: a reader that
 * falls behind for a moment stays routed instead of scanning the log. Returns 0, or -1
 * at the bound or out of memory. */
static int sub_ring_grow(struct subscription *s)
{
	uint32_t n = s->ring_tail - s->ring_head, cap = s->ring_cap * 2;
	uint64_t *ring;

	if (cap > SUB_RING_MAX ||
	    !sub_take(s, BUDGET_RINGS, (uint64_t)(cap - s->ring_cap) * sizeof(*ring)))
		return -1;	/* it scans the log instead: no memory needed */
	if (!(ring = malloc(cap * sizeof(*ring)))) {
		sub_give(s, BUDGET_RINGS, (uint64_t)(cap - s->ring_cap) * sizeof(*ring));
		return -1;
	}
	for (uint32_t i = 0; i < n; i++)
		ring[i] = s->ring[(s->ring_head + i) & (s->ring_cap - 1)];
	free(s->ring);
	s->ring = ring;
	s->ring_cap = cap;
	s->ring_head = 0;
	s->ring_tail = n;
	return 0;
}

enum sub_push_result sub_push(struct subscription *s, uint32_t p, uint64_t offset)
{
	if (s->scan)
		return SUB_PUSH_IGNORED;	/* the scan under way reaches this offset too */
	if (offset < s->cursors[p].offset)
		return SUB_PUSH_IGNORED;	/* a scan sent it already */
	if (s->ring_tail - s->ring_head == s->ring_cap && sub_ring_grow(s) < 0)
		return SUB_PUSH_FULL;
	s->ring[s->ring_tail++ & (s->ring_cap - 1)] = (uint64_t)p << SUB_RING_SHIFT | offset;
	return SUB_PUSH_QUEUED;
}

void sub_restart(struct subscription *s, const uint64_t *offsets)
{
	for (uint32_t p = 0; p < s->topic->partitions; p++)
		log_cursor_seek(s->topic->part[p].log, &s->cursors[p], offsets[p]);
	if (s->indexed) {	/* offsets routed before are behind or past it: scan */
		s->ring_head = s->ring_tail;
		s->scan = true;
	}
	s->reseek = false;	/* sought just now */
}

void sub_overflow(struct subscription *s, const uint64_t *offered)
{
	/* Below its cursor a subscription has been sent, or does not want, everything; below
	 * offered[q] everything was offered to it, so what it wants is sent or on the ring. */
	for (uint32_t q = 0; q < s->topic->partitions; q++)
		if (offered[q] > s->cursors[q].offset)
			s->cursors[q].offset = offered[q];
	/* The ring holds each partition's entries in offset order: the first one seen for a
	 * partition is its oldest. Walking from the newest leaves the oldest in place. */
	for (uint32_t i = s->ring_tail; i-- != s->ring_head;) {
		uint64_t e = s->ring[i & (s->ring_cap - 1)];

		s->cursors[e >> SUB_RING_SHIFT].offset = e & ((1ull << SUB_RING_SHIFT) - 1);
	}
	s->ring_head = s->ring_tail;
	s->scan = true;
	s->reseek = true;
}

int sub_claimed(struct subscription *s)
{
	if (!s->ring) {
		s->ring = malloc(SUB_RING * sizeof(*s->ring));
		if (!s->ring)
			return -ENOMEM;
		s->ring_cap = SUB_RING;
	}
	s->indexed = true;
	s->scan = false;
	s->claimed = true;
	s->ring_head = s->ring_tail = 0;
	return 0;
}

uint32_t sub_ring_room(const struct subscription *s)
{
	return s->ring_cap - (s->ring_tail - s->ring_head);
}

void sub_push_claimed(struct subscription *s, uint64_t entry)
{
	assert(sub_ring_room(s) > 0);
	s->ring[s->ring_tail++ & (s->ring_cap - 1)] = entry;
}

bool sub_wants_at(struct subscription *s, uint32_t p, uint64_t offset, struct arena *a)
{
	struct log_ref ref;

	return log_read(s->topic->part[p].log, offset, &ref) == 0 && sub_wants(s, &ref, a);
}

/* Sends from the ring: the offsets the interest table found for this subscription's
 * keys, still checked (hash collisions, filter). Returns frames added. */
static uint32_t sub_gather_ring(struct subscription *s, struct sub_gather *g, bool *full)
{
	uint32_t added = 0;

	while (s->ring_head != s->ring_tail) {
		uint64_t e = s->ring[s->ring_head & (s->ring_cap - 1)];
		uint32_t p = (uint32_t)(e >> SUB_RING_SHIFT);
		uint64_t offset = e & ((1ull << SUB_RING_SHIFT) - 1);
		struct log_ref ref;

		/* Retention deleted it (a claimed one's dealer drops it, untold). */
		if (offset < log_first(s->topic->part[p].log) && !s->claimed &&
		    !sub_note_gap(s, p, offset, offset + 1)) {
			*full = true;	/* told first, then the rest */
			break;
		}
		if (log_read(s->topic->part[p].log, offset, &ref) == 0 &&
		    sub_wants(s, &ref, g->arena)) {
			if (!sub_gather_add(s, g, &ref, p, offset)) {
				*full = true;
				break;
			}
			sub_gather_timed(s, g, &ref);
			added++;
		}
		s->cursors[p].offset = offset + 1;	/* a later scan resumes here */
		s->ring_head++;
	}
	return added;
}

/* Points the cursors at their offsets' segments after the offsets moved (reseek). */
static void sub_reseek(struct subscription *s)
{
	if (!s->reseek)
		return;
	for (uint32_t p = 0; p < s->topic->partitions; p++)
		log_cursor_seek(s->topic->part[p].log, &s->cursors[p], s->cursors[p].offset);
	s->reseek = false;
}

/* A scan that caught up with every tail hands an indexed subscription back to its ring. */
static void sub_scan_done(struct subscription *s)
{
	for (uint32_t p = 0; p < s->topic->partitions; p++)
		if (s->cursors[p].offset < log_tail(s->topic->part[p].log))
			return;
	s->scan = false;
	s->ring_head = s->ring_tail;	/* nothing was pushed while scanning */
}

uint32_t sub_gather(struct subscription *s, struct sub_gather *g)
{
	uint32_t parts = s->topic->partitions, added = 0, scanned = 0;
	bool full = false;

	if (s->snap)
		added += sub_gather_snap(s, g, &full);
	if (s->indexed && !s->scan) {
		if (!full)
			added += sub_gather_ring(s, g, &full);
		goto done;
	}
	sub_reseek(s);	/* cursors' offsets moved on the ring: find their segments */
	for (uint32_t i = 0; i < parts && !full && scanned < SUB_SCAN_MAX; i++) {
		uint32_t p = (s->next_part + i) % parts;

		added += sub_gather_part(s, p, g, &scanned, &full);
	}
	if (!full && scanned >= SUB_SCAN_MAX)
		g->more = true;
	if (s->indexed && !full)	/* the bound may have been hit right at the tails */
		sub_scan_done(s);
done:
	s->next_part = (s->next_part + 1) % parts;
	s->delivered += added;
	if (added)
		PROBE_ROUTE(s->id, added);
	return added;
}

void sub_measure_lag(struct subscription *s)
{
	s->lag_events = 0;
	s->lag_bytes = 0;
	if (s->indexed && !s->scan) {	/* behind by what waits on the ring */
		if (s->ring_head != s->ring_tail) {
			uint64_t e = s->ring[s->ring_head & (s->ring_cap - 1)];

			s->lag_events = s->ring_tail - s->ring_head;
			s->lag_bytes = log_bytes_behind(s->topic->part[e >> SUB_RING_SHIFT].log,
							e & ((1ull << SUB_RING_SHIFT) - 1));
		}
		return;
	}
	for (uint32_t p = 0; p < s->topic->partitions; p++) {
		const struct log *log = s->topic->part[p].log;
		uint64_t at = s->cursors[p].offset, tail = log_tail(log);
		uint64_t events = tail > at ? tail - at : 0;
		uint64_t bytes = events ? log_bytes_behind(log, at) : 0;

		s->lag_events = events > s->lag_events ? events : s->lag_events;
		s->lag_bytes = bytes > s->lag_bytes ? bytes : s->lag_bytes;
	}
}

bool sub_audit_owed(struct subscription *s, const uint64_t *end, uint32_t max,
		    struct arena *a, void (*owed)(void *ctx, uint32_t p, uint64_t offset),
		    void *ctx)
{
	uint32_t examined = 0;
	bool done = true;

	sub_reseek(s);
	for (uint32_t p = 0; p < s->topic->partitions; p++) {
		const struct log *log = s->topic->part[p].log;
		struct log_cursor *cur = &s->cursors[p];
		struct log_ref ref;

		while (cur->offset < end[p] && examined < max &&
		       log_cursor_peek(log, cur, &ref) == 0) {
			examined++;
			/* The flag first: most events are not audited, and need no match. Only
			 * events received since it began are owed: a replay it left is not. */
			if ((ref.entry->flags & LOG_ENTRY_AUDIT_REQUIRED) &&
			    (int64_t)ref.entry->recv_ns >= s->stats.since_ns && sub_wants(s, &ref, a))
				owed(ctx, p, cur->offset);
			log_cursor_next(cur);
		}
		if (cur->offset < end[p] && examined < max)
			cur->offset = end[p];	/* nothing readable below end: nothing owed */
		done = done && cur->offset >= end[p];
	}
	return done;
}
