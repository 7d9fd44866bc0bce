/* net/shared.c — dealing a SHARED or KEY_SHARED named subscription's events over its
 * consumers (see shared.h). Every function but shared_new and shared_free takes the
 * state's mutex: consumers on any reactors. */
#include "net/shared.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "net/named.h"

struct shared_state *shared_new(struct named_sub *ns, bool key_shared, bool resumed)
{
	struct shared_state *st = calloc(1, sizeof(*st));

	if (!st)
		return NULL;
	st->part = calloc(ns->topic->partitions, sizeof(*st->part));
	if (!st->part) {
		free(st);
		return NULL;
	}
	pthread_mutex_init(&st->lock, NULL);
	st->named = ns;
	st->topic = ns->topic;
	st->parts = ns->topic->partitions;
	st->key_shared = key_shared;
	st->at_most_once = ns->hdr->delivery == NAMED_AT_MOST_ONCE;
	if (!resumed)
		return st;	/* its first consumer places it */
	/* From the file: after the last Ack, and what was sent after it is sent again,
	 * counted (shared_persist wrote the highest count of the range). */
	for (uint32_t p = 0; p < st->parts; p++) {
		struct named_redelivery un[NAMED_SEGS];
		uint32_t n = named_unacked(ns, p, un, NAMED_SEGS);
		struct shared_part *sp = &st->part[p];

		sp->base = sp->next = named_acked(ns, p);
		if (n == 0)
			continue;
		sp->win = calloc(SHARED_WINDOW, sizeof(*sp->win));
		if (!sp->win)
			continue;	/* dealt as new: their counts are lost, not them */
		/* Within the window and the log (shorter after a power loss: the rest is
		 * dealt as new when it comes); KEY_SHARED: each with its key again. */
		for (uint32_t i = 0; i < n; i++)
			for (uint64_t o = un[i].first; o < un[i].end && o - sp->base < SHARED_WINDOW;
			     o++) {
				struct shared_entry *e = &sp->win[o % SHARED_WINDOW];
				struct log_ref ref;

				if (log_read(ns->topic->part[p].log, o, &ref) < 0)
					break;
				*e = (struct shared_entry){ .key_hash = ref.entry->key_hash,
							    .count = (uint32_t)un[i].count,
							    .state = SHARED_PENDING };
				sp->next = o + 1;
				sp->pending++;
				if (e->count > sp->max_count)
					sp->max_count = e->count;
			}
	}
	st->placed = true;
	return st;
}

void shared_free(struct shared_state *st)
{
	if (!st)
		return;
	for (uint32_t p = 0; p < st->parts; p++)
		free(st->part[p].win);
	for (uint32_t i = 0; i < SHARED_CONSUMERS_MAX; i++)
		free(st->c[i].queue);
	free(st->part);
	pthread_mutex_destroy(&st->lock);
	free(st);
}

void shared_place(struct shared_state *st, const uint64_t *offsets)
{
	pthread_mutex_lock(&st->lock);
	if (!st->placed) {
		for (uint32_t p = 0; p < st->parts; p++) {
			st->part[p].base = st->part[p].next = offsets[p];
			named_start(st->named, p, offsets[p]);
		}
		named_started(st->named);
		st->placed = true;
	}
	pthread_mutex_unlock(&st->lock);
}

/* The partition's durable cursor: base, and that [base, next) was sent, with the highest
 * count any of its events reached (a resumed consumer may have seen an event fewer times
 * than it is then told, never more). */
static void shared_persist(struct shared_state *st, uint32_t p)
{
	const struct shared_part *sp = &st->part[p];

	named_mark(st->named, p, sp->base, sp->max_count ? sp->next : sp->base, sp->max_count);
}

/* Moves base past the acked events at its front. */
static void shared_advance(struct shared_state *st, uint32_t p)
{
	struct shared_part *sp = &st->part[p];
	uint64_t was = sp->base;

	while (sp->base < sp->next && sp->win[sp->base % SHARED_WINDOW].state == SHARED_ACKED) {
		sp->win[sp->base % SHARED_WINDOW] = (struct shared_entry){ 0 };
		sp->base++;
	}
	if (sp->base != was)
		shared_persist(st, p);
}

/* What consumer slot sent since its last call: counted, and its ack timeout starts. */
static void shared_record_sent(struct shared_state *st, int slot, const struct shared_sent *sent,
			       int64_t now_ns)
{
	struct shared_consumer *c = &st->c[slot];

	for (uint32_t i = sent->from; i != sent->to; i++) {
		uint64_t v = sent->ring[i & sent->mask];
		uint32_t p = (uint32_t)(v >> SHARED_SHIFT);
		uint64_t o = v & ((1ull << SHARED_SHIFT) - 1);
		struct shared_part *sp = &st->part[p];
		struct shared_entry *e;

		if (p >= st->parts || o < sp->base || o >= sp->next)
			continue;
		e = &sp->win[o % SHARED_WINDOW];
		if (e->state != SHARED_QUEUED || e->consumer != slot)
			continue;	/* acked meanwhile */
		if (++e->count > sp->max_count)
			sp->max_count = e->count;
		if (st->at_most_once) {	/* sent is done with */
			e->state = SHARED_ACKED;
			c->held--;
			continue;
		}
		e->state = SHARED_SENT;
		if (c->ack_timeout_ns) {
			e->deadline_ns = now_ns + c->ack_timeout_ns;
			if (st->expire_at == 0 || e->deadline_ns < st->expire_at)
				st->expire_at = e->deadline_ns;
		}
	}
	if (st->at_most_once && sent->from != sent->to)
		for (uint32_t p = 0; p < st->parts; p++)
			shared_advance(st, p);
}

/* Puts an entry back to be dealt again. */
static void shared_put_back(struct shared_state *st, struct shared_part *sp,
			    struct shared_entry *e)
{
	st->c[e->consumer].held--;
	e->state = SHARED_PENDING;
	e->deadline_ns = 0;
	sp->pending++;
}

/* Sent events past their ack timeout go back. Returns true when some did. */
static bool shared_expire(struct shared_state *st, int64_t now_ns)
{
	int64_t next = 0;
	bool any = false;

	if (st->expire_at == 0 || now_ns < st->expire_at)
		return false;
	for (uint32_t p = 0; p < st->parts; p++) {
		struct shared_part *sp = &st->part[p];

		for (uint64_t o = sp->base; o < sp->next; o++) {
			struct shared_entry *e = &sp->win[o % SHARED_WINDOW];

			if (e->state != SHARED_SENT || e->deadline_ns == 0)
				continue;
			if (e->deadline_ns <= now_ns) {
				shared_put_back(st, sp, e);
				any = true;
			} else if (next == 0 || e->deadline_ns < next) {
				next = e->deadline_ns;
			}
		}
	}
	st->expire_at = next;
	return any;
}

static bool shared_room(const struct shared_state *st, uint32_t slot)
{
	return st->c[slot].used && st->c[slot].held < SHARED_PERMITS;
}

/* KEY_SHARED: the consumer owning a key's hash range. */
static uint32_t shared_owner(const struct shared_state *st, uint64_t key_hash)
{
	return st->order[((key_hash >> 32) * st->n) >> 32];
}

/* KEY_SHARED: whether key_hash has events in flight at a consumer other than slot,
 * dealt before the last change of consumers (after it, every key's events went to its
 * owner of now). */
static bool shared_key_elsewhere(const struct shared_part *sp, uint64_t key_hash, uint32_t slot)
{
	uint64_t end = sp->drain_to < sp->next ? sp->drain_to : sp->next;

	for (uint64_t o = sp->base; o < end; o++) {
		const struct shared_entry *e = &sp->win[o % SHARED_WINDOW];

		if ((e->state == SHARED_QUEUED || e->state == SHARED_SENT) &&
		    e->key_hash == key_hash && e->consumer != slot)
			return true;
	}
	return false;
}

/* SHARED: the consumer the next event goes to, or -1 when none has permits left. */
static int shared_next_rr(struct shared_state *st)
{
	if (st->run < SHARED_RUN && shared_room(st, st->rr))
		return (int)st->rr;
	for (uint32_t i = 1; i <= SHARED_CONSUMERS_MAX; i++) {
		uint32_t c = (st->rr + i) % SHARED_CONSUMERS_MAX;

		if (shared_room(st, c)) {
			st->rr = c;
			st->run = 0;
			return (int)c;
		}
	}
	return -1;
}

/* Deals entry e (offset o of partition p) to consumer slot. */
static void shared_deal_to(struct shared_state *st, uint32_t p, uint64_t o,
			   struct shared_entry *e, uint32_t slot)
{
	struct shared_consumer *c = &st->c[slot];

	e->consumer = (uint8_t)slot;
	e->state = SHARED_QUEUED;
	c->queue[c->tail++ & (SHARED_PERMITS - 1)] = (uint64_t)p << SHARED_SHIFT | o;
	c->held++;
	st->run++;
}

/* Which consumer gets an event of key_hash in partition sp: -1 when it must wait
 * (*stop: and its partition behind it) or none has permits (*stop_all). */
static int shared_choose(struct shared_state *st, const struct shared_part *sp,
			 uint64_t key_hash, bool *stop, bool *stop_all)
{
	uint32_t slot;

	if (!st->key_shared) {
		int c = shared_next_rr(st);

		*stop_all = c < 0;
		return c;
	}
	slot = shared_owner(st, key_hash);
	if (!shared_room(st, slot) ||
	    (sp->base < sp->drain_to && shared_key_elsewhere(sp, key_hash, slot))) {
		*stop = true;
		return -1;
	}
	return (int)slot;
}

/* Deals what waits: events put back first, in offset order, then new ones. Returns the
 * consumers (slot bit mask) dealt to. */
static uint64_t shared_deal(struct shared_state *st)
{
	uint64_t dealt = 0;
	bool stop_all = false;

	if (!st->placed || st->n == 0)
		return 0;
	for (uint32_t i = 0; i < st->parts && !stop_all; i++) {
		uint32_t p = (st->next_part + i) % st->parts;
		struct shared_part *sp = &st->part[p];
		const struct log *log = st->topic->part[p].log;
		uint64_t tail = log_tail(log);
		bool stop = false;
		int slot;

		for (uint64_t o = sp->base; sp->pending && o < sp->next && !stop && !stop_all; o++) {
			struct shared_entry *e = &sp->win[o % SHARED_WINDOW];

			if (e->state != SHARED_PENDING)
				continue;
			slot = shared_choose(st, sp, e->key_hash, &stop, &stop_all);
			if (slot < 0)
				break;
			sp->pending--;
			shared_deal_to(st, p, o, e, (uint32_t)slot);
			st->redelivered++;
			dealt |= 1ull << slot;
		}
		if (stop || stop_all)
			continue;
		if (sp->next < tail && !sp->win &&
		    !(sp->win = calloc(SHARED_WINDOW, sizeof(*sp->win))))
			continue;	/* out of memory: dealt later */
		if (sp->next < log_first(log)) {	/* cut below it (fanout-repair) */
			sp->base = sp->next = log_first(log);
			shared_persist(st, p);
		}
		while (sp->next < tail && sp->next - sp->base < SHARED_WINDOW) {
			struct shared_entry *e = &sp->win[sp->next % SHARED_WINDOW];
			struct log_ref ref;
			uint64_t key = 0;

			if (st->key_shared) {
				if (log_read(log, sp->next, &ref) < 0)
					break;
				key = ref.entry->key_hash;
			}
			slot = shared_choose(st, sp, key, &stop, &stop_all);
			if (slot < 0)
				break;
			*e = (struct shared_entry){ .key_hash = key };
			shared_deal_to(st, p, sp->next, e, (uint32_t)slot);
			sp->next++;
			dealt |= 1ull << slot;
		}
	}
	st->next_part = st->parts ? (st->next_part + 1) % st->parts : 0;
	return dealt;
}

/* The reactors of the consumers in slots (a bit mask), but the one of slot self. */
static uint64_t shared_reactors(const struct shared_state *st, uint64_t slots, int self)
{
	uint64_t mask = 0;

	for (uint32_t i = 0; i < SHARED_CONSUMERS_MAX; i++)
		if ((slots >> i & 1) && (int)i != self && st->c[i].used)
			mask |= 1ull << st->c[i].reactor;
	return mask;
}

/* Every consumer's slot, as a mask. */
static uint64_t shared_all(const struct shared_state *st)
{
	uint64_t m = 0;

	for (uint32_t i = 0; i < st->n; i++)
		m |= 1ull << st->order[i];
	return m;
}

/* Consumers came or went: KEY_SHARED ranges moved; what was dealt so far drains first
 * for keys that moved. */
static void shared_changed(struct shared_state *st)
{
	for (uint32_t p = 0; p < st->parts; p++)
		st->part[p].drain_to = st->part[p].next;
	st->rr = st->n ? st->order[0] : 0;
	st->run = SHARED_RUN;	/* the next event starts a run */
}

int shared_join(struct shared_state *st, uint32_t reactor, int64_t ack_timeout_ns)
{
	int rc = -EBUSY;

	pthread_mutex_lock(&st->lock);
	for (uint32_t i = 0; i < SHARED_CONSUMERS_MAX; i++) {
		struct shared_consumer *c = &st->c[i];

		if (c->used)
			continue;
		if (!c->queue && !(c->queue = malloc(SHARED_PERMITS * sizeof(*c->queue)))) {
			rc = -ENOMEM;
			break;
		}
		c->used = true;
		c->reactor = reactor;
		c->ack_timeout_ns = ack_timeout_ns;
		c->head = c->tail = c->held = 0;
		st->order[st->n++] = (uint8_t)i;
		shared_changed(st);
		rc = (int)i;
		break;
	}
	pthread_mutex_unlock(&st->lock);
	return rc;
}

uint64_t shared_leave(struct shared_state *st, int slot, const struct shared_sent *sent)
{
	uint64_t wake;
	uint32_t i;

	pthread_mutex_lock(&st->lock);
	shared_record_sent(st, slot, sent, 0);
	for (uint32_t p = 0; p < st->parts; p++) {
		struct shared_part *sp = &st->part[p];

		for (uint64_t o = sp->base; o < sp->next; o++) {
			struct shared_entry *e = &sp->win[o % SHARED_WINDOW];

			if ((e->state == SHARED_QUEUED || e->state == SHARED_SENT) &&
			    e->consumer == slot)
				shared_put_back(st, sp, e);
		}
	}
	st->c[slot].used = false;
	for (i = 0; i < st->n && st->order[i] != slot; i++)
		;
	if (i < st->n) {
		memmove(&st->order[i], &st->order[i + 1], st->n - i - 1);
		st->n--;
	}
	shared_changed(st);
	wake = shared_reactors(st, shared_all(st), -1);	/* they take what it held */
	pthread_mutex_unlock(&st->lock);
	return wake;
}

uint32_t shared_take(struct shared_state *st, int slot, const struct shared_sent *sent,
		     uint64_t *out, uint32_t max, struct shared_taken *redo, uint32_t *nredo,
		     bool (*wants)(void *ctx, uint32_t p, uint64_t offset), void *ctx,
		     int64_t now_ns, uint64_t *wake)
{
	struct shared_consumer *c = &st->c[slot];
	uint32_t n = 0;
	uint64_t dealt;

	*nredo = 0;
	pthread_mutex_lock(&st->lock);
	shared_record_sent(st, slot, sent, now_ns);
	shared_expire(st, now_ns);
	dealt = shared_deal(st);
	*wake = shared_reactors(st, dealt, slot);
	while (n < max && c->head != c->tail) {
		uint64_t v = c->queue[c->head++ & (SHARED_PERMITS - 1)];
		uint32_t p = (uint32_t)(v >> SHARED_SHIFT);
		uint64_t o = v & ((1ull << SHARED_SHIFT) - 1);
		struct shared_part *sp = &st->part[p];
		struct shared_entry *e = &sp->win[o % SHARED_WINDOW];

		if (o < sp->base || e->state != SHARED_QUEUED || e->consumer != slot)
			continue;	/* acked before it was taken (a stray Ack) */
		if (!wants(ctx, p, o)) {	/* its filter does not take it: done with */
			e->state = SHARED_ACKED;
			c->held--;
			shared_advance(st, p);
			continue;
		}
		if (e->count && *nredo < max)
			redo[(*nredo)++] = (struct shared_taken){ .entry = v, .count = e->count };
		out[n++] = v;
	}
	pthread_mutex_unlock(&st->lock);
	return n;
}

/* Acks offset o of sp if consumer slot holds it. */
static void shared_ack_one(struct shared_state *st, struct shared_part *sp, int slot,
			   uint64_t o)
{
	struct shared_entry *e;

	if (o < sp->base || o >= sp->next)
		return;
	e = &sp->win[o % SHARED_WINDOW];
	if ((e->state == SHARED_SENT || e->state == SHARED_QUEUED) && e->consumer == slot) {
		e->state = SHARED_ACKED;
		st->c[slot].held--;
	}
}

uint64_t shared_ack(struct shared_state *st, int slot, const struct shared_sent *sent,
		    uint32_t p, uint64_t offset, uint64_t count, const uint64_t *more,
		    size_t nmore, int64_t now_ns)
{
	struct shared_consumer *c = &st->c[slot];
	struct shared_part *sp;
	uint64_t lo, hi, wake = 0;
	bool full;

	pthread_mutex_lock(&st->lock);
	shared_record_sent(st, slot, sent, now_ns);
	if (p >= st->parts) {	/* a partition the topic lacks: ignored, as ever */
		pthread_mutex_unlock(&st->lock);
		return 0;
	}
	sp = &st->part[p];
	full = c->held >= SHARED_PERMITS || sp->next - sp->base >= SHARED_WINDOW;
	lo = offset > sp->base ? offset : sp->base;
	hi = count > UINT64_MAX - offset ? UINT64_MAX : offset + count;
	hi = hi < sp->next ? hi : sp->next;
	for (uint64_t o = lo; o < hi; o++)	/* within the window: bounded */
		shared_ack_one(st, sp, slot, o);
	for (size_t i = 0; i < nmore; i++)
		shared_ack_one(st, sp, slot, more[i]);
	shared_advance(st, p);
	/* Permits or window room again, or a moved key's events done with: the others may
	 * be dealt what waited. */
	if (full || sp->pending || sp->base < sp->drain_to)
		wake = shared_reactors(st, shared_all(st), -1);
	pthread_mutex_unlock(&st->lock);
	return wake;
}

uint64_t shared_base(struct shared_state *st, uint32_t p)
{
	uint64_t b;

	pthread_mutex_lock(&st->lock);
	b = st->part[p].base;
	pthread_mutex_unlock(&st->lock);
	return b;
}

uint32_t shared_held(struct shared_state *st, int slot)
{
	uint32_t h;

	pthread_mutex_lock(&st->lock);
	h = st->c[slot].held;
	pthread_mutex_unlock(&st->lock);
	return h;
}
