/* net/shared.c — dealing a SHARED or KEY_SHARED named subscription's events over its
 * consumers (see shared.h). Every function but shared_new, shared_free and
 * shared_consumer_bytes takes the state's mutex: consumers on any reactors.
 *
 * An entry's life: FREE -> QUEUED (dealt: in its consumer's queue) -> TAKEN (on its
 * session's ring) -> SENT (gathered into a send) -> ACKED, or back to PENDING (its
 * consumer went, or its ack timeout passed while QUEUED or SENT) and dealt again. A
 * consumer holds (held) what is QUEUED, TAKEN or SENT to it. */
#include "net/shared.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "net/named.h"

static struct shared_entry *shared_at(const struct shared_state *st,
				      const struct shared_part *sp, uint64_t o)
{
	return &sp->win[o & st->win_mask];
}

/* The window per partition: SHARED_WINDOW_TOTAL over the partitions, a power of two in
 * SHARED_WINDOW_MIN..SHARED_WINDOW. */
static uint32_t shared_window(uint32_t parts)
{
	uint32_t w = SHARED_WINDOW;

	while (w > SHARED_WINDOW_MIN && (uint64_t)w * parts > SHARED_WINDOW_TOTAL)
		w /= 2;
	return w;
}

uint64_t shared_consumer_bytes(const struct shared_state *st)
{
	return SHARED_PERMITS * sizeof(uint64_t) +
	       (uint64_t)st->parts * st->win_size * sizeof(struct shared_entry);
}

/* From the file: after the last Ack (or the log's first offset, past it after
 * retention), and what was sent after it is dealt again, counted. */
static void shared_resume(struct shared_state *st, struct named_sub *ns)
{
	for (uint32_t p = 0; p < st->parts; p++) {
		struct named_redelivery un[NAMED_SEGS];
		uint32_t n = named_unacked(ns, p, un, NAMED_SEGS);
		struct shared_part *sp = &st->part[p];
		const struct log *log = ns->topic->part[p].log;
		uint64_t first = log_first(log);
		bool end = false;

		uint64_t tail = log_tail(log);

		sp->base = sp->next = named_acked(ns, p) > first ? named_acked(ns, p) : first;
		if (sp->base > tail) {	/* acked past the log's end (a cut log): from the end,
					 * never skipping what is appended there next */
			fprintf(stderr, "fanoutd: named subscription %s of %s: partition %u was "
				"acked to offset %llu, past the log's end %llu; it resumes there\n",
				ns->name, ns->topic->name, p, (unsigned long long)sp->base,
				(unsigned long long)tail);
			sp->base = sp->next = tail;
			named_start(ns, p, tail);
			continue;
		}
		if (n == 0 || !(sp->win = calloc(st->win_size, sizeof(*sp->win))))
			continue;	/* out of memory: dealt as new, their counts lost */
		/* Within the window and the log (shorter after a power loss: the rest is
		 * dealt as new when it comes); KEY_SHARED: each with its key again. */
		for (uint32_t i = 0; i < n && !end; i++)
			for (uint64_t o = un[i].first; o < un[i].end; o++) {
				struct shared_entry *e = shared_at(st, sp, o);
				struct log_ref ref;

				if (o < sp->base)
					continue;
				if (o - sp->base >= st->win_size || log_read(log, o, &ref) < 0) {
					end = true;
					break;
				}
				*e = (struct shared_entry){ .key_hash = ref.entry->key_hash,
							    .count = (uint32_t)un[i].count,
							    .state = SHARED_PENDING };
				sp->next = o + 1;
				sp->pending++;
				if (e->count > sp->max_count)
					sp->max_count = e->count;
			}
		/* Offsets of [base, next) the ranges skipped (none, as written): dealt too. */
		for (uint64_t o = sp->base; o < sp->next; o++)
			if (shared_at(st, sp, o)->state == SHARED_FREE) {
				struct log_ref ref;

				if (log_read(log, o, &ref) < 0)
					break;
				*shared_at(st, sp, o) = (struct shared_entry){
					.key_hash = ref.entry->key_hash, .state = SHARED_PENDING };
				sp->pending++;
			}
	}
	st->placed = true;
}

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
	st->win_size = shared_window(st->parts);
	st->win_mask = st->win_size - 1;
	st->key_shared = key_shared;
	st->at_most_once = ns->hdr->delivery == NAMED_AT_MOST_ONCE;
	if (resumed)
		shared_resume(st, ns);
	else
		st->creating = true;	/* the consumer that made it places it */
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

static void shared_place_locked(struct shared_state *st, const uint64_t *offsets)
{
	if (st->placed)
		return;
	for (uint32_t p = 0; p < st->parts; p++) {
		st->part[p].base = st->part[p].next = offsets[p];
		named_start(st->named, p, offsets[p]);
	}
	named_started(st->named);
	st->placed = true;
	st->creating = false;
}

void shared_place(struct shared_state *st, const uint64_t *offsets)
{
	pthread_mutex_lock(&st->lock);
	shared_place_locked(st, offsets);
	pthread_mutex_unlock(&st->lock);
}

/* Places it at the tails (a lone consumer of a subscription whose maker failed). */
static void shared_place_tails(struct shared_state *st)
{
	uint64_t *tails = calloc(st->parts, sizeof(*tails));

	for (uint32_t p = 0; tails && p < st->parts; p++)
		tails[p] = log_tail(st->topic->part[p].log);
	if (tails)
		shared_place_locked(st, tails);
	free(tails);
}

void shared_maker_failed(struct shared_state *st)
{
	pthread_mutex_lock(&st->lock);
	st->creating = false;
	if (st->n > 0)	/* others wait on it */
		shared_place_tails(st);
	pthread_mutex_unlock(&st->lock);
}

/* The partition's durable cursor: base, and that [base, next) was sent, with the highest
 * count any of its events reached (a resumed consumer may have seen an event fewer times
 * than it is then told, never more). */
static void shared_persist(struct shared_state *st, uint32_t p)
{
	struct shared_part *sp = &st->part[p];

	if (sp->base == sp->next)
		sp->max_count = 0;	/* nothing outstanding: counts start again */
	named_mark(st->named, p, sp->base, sp->max_count ? sp->next : sp->base, sp->max_count);
}

/* Moves base past the acked events at its front (the file told). Returns whether it
 * moved. */
static bool shared_advance(struct shared_state *st, uint32_t p)
{
	struct shared_part *sp = &st->part[p];
	uint64_t was = sp->base;

	while (sp->base < sp->next && shared_at(st, sp, sp->base)->state == SHARED_ACKED) {
		*shared_at(st, sp, sp->base) = (struct shared_entry){ 0 };
		sp->base++;
	}
	if (sp->base == was)
		return false;
	shared_persist(st, p);
	return true;
}

/* Retention deleted partition p below first: what was dealt there is done with (its
 * holders' permits back), and dealing goes on from first. */
static void shared_cut(struct shared_state *st, uint32_t p, uint64_t first)
{
	struct shared_part *sp = &st->part[p];
	uint64_t end = sp->next < first ? sp->next : first;

	for (uint64_t o = sp->base; o < end; o++) {
		struct shared_entry *e = shared_at(st, sp, o);

		if (e->state == SHARED_QUEUED || e->state == SHARED_TAKEN ||
		    e->state == SHARED_SENT)
			st->c[e->consumer].held--;
		else if (e->state == SHARED_PENDING)
			sp->pending--;
		if (e->state != SHARED_FREE)
			e->state = SHARED_ACKED;
	}
	if (sp->next < first) {	/* the window is empty below next: nothing to clear */
		sp->base = sp->next = first;
		shared_persist(st, p);
		return;
	}
	shared_advance(st, p);
}

/* What consumer slot sent since its last call: counted, and its ack timeout starts. */
static void shared_record_sent(struct shared_state *st, int slot, const struct shared_sent *sent,
			       int64_t now_ns)
{
	struct shared_consumer *c = &st->c[slot];
	uint64_t touched = 0;	/* partitions (mod 64) whose state changed */

	for (uint32_t i = sent->from; i != sent->to; i++) {
		uint64_t v = sent->ring[i & sent->mask];
		uint32_t p = (uint32_t)(v >> SHARED_SHIFT);
		uint64_t o = v & ((1ull << SHARED_SHIFT) - 1);
		struct shared_part *sp = &st->part[p];
		struct shared_entry *e;

		if (p >= st->parts || o < sp->base || o >= sp->next)
			continue;
		e = shared_at(st, sp, o);
		if (e->state != SHARED_TAKEN || e->consumer != slot)
			continue;	/* cut by retention meanwhile */
		touched |= 1ull << (p % 64);
		if (++e->count > sp->max_count)
			sp->max_count = e->count;
		e->deadline_ns = 0;
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
	/* The file says what was sent (and AT_MOST_ONCE's cursor moves). */
	for (uint32_t p = 0; touched && p < st->parts; p++)
		if ((touched >> (p % 64) & 1) && !shared_advance(st, p))
			shared_persist(st, p);
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

/* Events past their ack timeout (sent, or dealt and not yet taken) go back. A taken one
 * waits on its session's ring (at most a ring's worth per consumer). */
static void shared_expire(struct shared_state *st, int64_t now_ns)
{
	int64_t next = 0;

	if (st->expire_at == 0 || now_ns < st->expire_at)
		return;
	for (uint32_t p = 0; p < st->parts; p++) {
		struct shared_part *sp = &st->part[p];

		for (uint64_t o = sp->base; o < sp->next; o++) {
			struct shared_entry *e = shared_at(st, sp, o);

			if ((e->state != SHARED_SENT && e->state != SHARED_QUEUED) ||
			    e->deadline_ns == 0)
				continue;
			if (e->deadline_ns <= now_ns)
				shared_put_back(st, sp, e);
			else if (next == 0 || e->deadline_ns < next)
				next = e->deadline_ns;
		}
	}
	st->expire_at = next;
}

/* Permits left, and room in its queue (entries gone back may still sit there). */
static bool shared_room(const struct shared_state *st, uint32_t slot)
{
	const struct shared_consumer *c = &st->c[slot];

	return c->used && c->held < SHARED_PERMITS && c->tail - c->head < SHARED_PERMITS;
}

/* KEY_SHARED: the consumer owning a key's hash range. */
static uint32_t shared_owner(const struct shared_state *st, uint64_t key_hash)
{
	return st->order[((key_hash >> 32) * st->n) >> 32];
}

/* KEY_SHARED: whether key_hash has events in flight at a consumer other than slot,
 * dealt before the last change of consumers (after it, every key's events went to its
 * owner of now). */
static bool shared_key_elsewhere(const struct shared_state *st, const struct shared_part *sp,
				 uint64_t key_hash, uint32_t slot)
{
	uint64_t end = sp->drain_to < sp->next ? sp->drain_to : sp->next;

	for (uint64_t o = sp->base; o < end; o++) {
		const struct shared_entry *e = shared_at(st, sp, o);

		if ((e->state == SHARED_QUEUED || e->state == SHARED_TAKEN ||
		     e->state == SHARED_SENT) && e->key_hash == key_hash && e->consumer != slot)
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

/* Deals entry e (offset o of partition p) to consumer slot; its ack timeout starts. */
static void shared_deal_to(struct shared_state *st, uint32_t p, uint64_t o,
			   struct shared_entry *e, uint32_t slot, int64_t now_ns)
{
	struct shared_consumer *c = &st->c[slot];

	e->consumer = (uint8_t)slot;
	e->state = SHARED_QUEUED;
	e->deadline_ns = c->ack_timeout_ns ? now_ns + c->ack_timeout_ns : 0;
	if (e->deadline_ns && (st->expire_at == 0 || e->deadline_ns < st->expire_at))
		st->expire_at = e->deadline_ns;
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
	    (sp->base < sp->drain_to && shared_key_elsewhere(st, sp, key_hash, slot))) {
		*stop = true;
		return -1;
	}
	return (int)slot;
}

/* Deals what waits: events put back first, in offset order, then new ones. Returns the
 * consumers (slot bit mask) dealt to. */
static uint64_t shared_deal(struct shared_state *st, int64_t now_ns)
{
	uint64_t dealt = 0;
	bool stop_all = false;

	if (!st->placed && !st->creating && st->n > 0)
		shared_place_tails(st);	/* its maker failed before a consumer came */
	if (!st->placed || st->n == 0)
		return 0;
	for (uint32_t i = 0; i < st->parts && !stop_all; i++) {
		uint32_t p = (st->next_part + i) % st->parts;
		struct shared_part *sp = &st->part[p];
		const struct log *log = st->topic->part[p].log;
		uint64_t tail = log_tail(log), first = log_first(log);
		bool stop = false;
		int slot;

		if (sp->base < first)	/* retention (or fanout-repair) cut below it */
			shared_cut(st, p, first);
		for (uint64_t o = sp->base; sp->pending && o < sp->next && !stop && !stop_all; o++) {
			struct shared_entry *e = shared_at(st, sp, o);

			if (e->state != SHARED_PENDING)
				continue;
			slot = shared_choose(st, sp, e->key_hash, &stop, &stop_all);
			if (slot < 0)
				break;
			sp->pending--;
			shared_deal_to(st, p, o, e, (uint32_t)slot, now_ns);
			st->redelivered++;
			dealt |= 1ull << slot;
		}
		if (stop || stop_all)
			continue;
		if (sp->next < tail && !sp->win &&
		    !(sp->win = calloc(st->win_size, sizeof(*sp->win))))
			continue;	/* out of memory: dealt later */
		while (sp->next < tail && sp->next - sp->base < st->win_size) {
			struct shared_entry *e = shared_at(st, sp, sp->next);
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
			shared_deal_to(st, p, sp->next, e, (uint32_t)slot, now_ns);
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
			struct shared_entry *e = shared_at(st, sp, o);

			if ((e->state == SHARED_QUEUED || e->state == SHARED_TAKEN ||
			     e->state == SHARED_SENT) && e->consumer == slot)
				shared_put_back(st, sp, e);
		}
	}
	st->c[slot].used = false;
	free(st->c[slot].queue);	/* its budget went back with it */
	st->c[slot].queue = NULL;
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
	dealt = shared_deal(st, now_ns);
	*wake = shared_reactors(st, dealt, slot);
	while (n < max && c->head != c->tail) {
		uint64_t v = c->queue[c->head++ & (SHARED_PERMITS - 1)];
		uint32_t p = (uint32_t)(v >> SHARED_SHIFT);
		uint64_t o = v & ((1ull << SHARED_SHIFT) - 1);
		struct shared_part *sp = &st->part[p];
		struct shared_entry *e = shared_at(st, sp, o);

		if (o < sp->base || o >= sp->next || e->state != SHARED_QUEUED ||
		    e->consumer != slot)
			continue;	/* went back (its timeout) or was cut meanwhile */
		if (!wants(ctx, p, o)) {	/* its filter does not take it: done with */
			e->state = SHARED_ACKED;
			c->held--;
			shared_advance(st, p);
			continue;
		}
		e->state = SHARED_TAKEN;
		e->deadline_ns = 0;	/* on the ring: it goes with the session */
		if (e->count && *nredo < max)
			redo[(*nredo)++] = (struct shared_taken){ .entry = v, .count = e->count };
		out[n++] = v;
	}
	pthread_mutex_unlock(&st->lock);
	return n;
}

/* Acks offset o of sp if it was sent to consumer slot. */
static void shared_ack_one(struct shared_state *st, struct shared_part *sp, int slot,
			   uint64_t o)
{
	struct shared_entry *e;

	if (o < sp->base || o >= sp->next)
		return;
	e = shared_at(st, sp, o);
	if (e->state == SHARED_SENT && e->consumer == slot) {
		e->state = SHARED_ACKED;
		st->c[slot].held--;
	}
}

uint64_t shared_ack(struct shared_state *st, int slot, const struct shared_sent *sent,
		    uint32_t p, uint64_t offset, uint64_t count, const uint64_t *more,
		    size_t nmore, int64_t now_ns)
{
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
	full = !shared_room(st, (uint32_t)slot) || sp->next - sp->base >= st->win_size;
	lo = offset > sp->base ? offset : sp->base;
	hi = count > UINT64_MAX - offset ? UINT64_MAX : offset + count;
	hi = hi < sp->next ? hi : sp->next;
	for (uint64_t o = lo; o < hi; o++)	/* within the window: bounded */
		shared_ack_one(st, sp, slot, o);
	for (size_t i = 0; i < nmore; i++)	/* bounded by the frame it came in */
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
