/* ingest/publish.c — a published batch from its wire bytes to the log: scan (the view of
 * each event), the rare protobuf-c fallback, validation, routing to a partition, and the
 * encode-once append straight from the publisher's bytes. */
#include "ingest/publish.h"

#include <assert.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/frame.h"
#include "core/headroom.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/probes.h"
#include "ingest/route.h"
#include "ingest/split.h"

__attribute__((format(printf, 3, 4)))
static int publish_fail(struct publish_error *err, Fanout__V1__ErrorCode code,
			const char *fmt, ...)
{
	va_list ap;

	err->code = code;
	err->retry_after_ms = 0;
	va_start(ap, fmt);
	vsnprintf(err->message, sizeof(err->message), fmt, ap);
	va_end(ap);
	return -1;
}

static size_t publish_repack_cap(uint32_t max_frame_bytes)
{
	return (size_t)max_frame_bytes * PUBLISH_STORE_FACTOR + PUBLISH_STORE_SLACK;
}

int publish_init(struct publish_ctx *ctx, uint32_t max_frame_bytes, struct arena *decode)
{
	ctx->max_frame_bytes = max_frame_bytes;
	ctx->decode = decode;
	ctx->scanned = mem_map(PUBLISH_BATCH_MAX * sizeof(*ctx->scanned));
	ctx->stored = mem_map(PUBLISH_BATCH_MAX * sizeof(*ctx->stored));
	ctx->resolved = mem_map(PUBLISH_BATCH_MAX * sizeof(*ctx->resolved));
	ctx->repack_cap = publish_repack_cap(max_frame_bytes);
	ctx->repack = mem_map(ctx->repack_cap);
	ctx->views = ctx->scanned;
	if (!ctx->scanned || !ctx->stored || !ctx->resolved || !ctx->repack) {
		publish_free(ctx);
		return -ENOMEM;
	}
	return 0;
}

void publish_free(struct publish_ctx *ctx)
{
	mem_unmap(ctx->scanned, PUBLISH_BATCH_MAX * sizeof(*ctx->scanned));
	mem_unmap(ctx->stored, PUBLISH_BATCH_MAX * sizeof(*ctx->stored));
	mem_unmap(ctx->resolved, PUBLISH_BATCH_MAX * sizeof(*ctx->resolved));
	mem_unmap(ctx->repack, ctx->repack_cap);
	ctx->scanned = ctx->stored = ctx->views = NULL;
	ctx->resolved = NULL;
	ctx->repack = NULL;
}

/* ---- reading the batch --------------------------------------------------------------- */

/* Room for the next stored event's bytes in the repack buffer, or an error naming the
 * bound (what a batch may store: PUBLISH_STORE_FACTOR times its frame). */
static int publish_room(struct publish_ctx *ctx, size_t need, size_t limit, size_t origin,
			struct publish_error *err)
{
	if (need <= limit - ctx->repack_used)
		return 0;
	return publish_fail(err, FANOUT__V1__ERROR_CODE__ERROR_CODE_INVALID_EVENT,
			    "events[%zu]: the batch would store more than %zu bytes (%u times "
			    "its frame): fewer decisions or shorter lists", origin, limit,
			    PUBLISH_STORE_FACTOR);
}

/* Appends stored event m: the scan of bytes the batch's expansion wrote, from the
 * publisher's event origin (decision d of it, or ROUTE_NOT_SPLIT). */
static int publish_rescan(struct publish_ctx *ctx, uint32_t m, const uint8_t *p, size_t n,
			  uint32_t origin, uint16_t d, struct publish_error *err)
{
	struct event_view *v = &ctx->stored[m];

	if (wire_scan_event(p, n, v, origin, err) < 0)
		return -1;
	/* What the expansion writes is in order and split: more of it is our bug. */
	if (v->reorder || v->fallback)
		return publish_fail(err, FANOUT__V1__ERROR_CODE__ERROR_CODE_INTERNAL,
				    "events[%u]: cannot lay out the event", origin);
	if (ctx->route) {
		ctx->route->origin[m] = origin;
		ctx->route->decision[m] = d;
	}
	return 0;
}

/* A coordination_completed (events[i], its view v): split into decisions by
 * ingest/split.c (protobuf-c), each packed and scanned as a stored event from *m on. */
static int publish_split(struct publish_ctx *ctx, const struct event_view *v, uint32_t i,
			 uint32_t *m, size_t limit, struct publish_error *err)
{
	Fanout__V1__Event *parent = fanout__v1__event__unpack(&ctx->decode->pb, v->len, v->bytes);
	Fanout__V1__Event **out = ctx->route->events + *m;
	size_t k;

	if (!parent)	/* the wire was valid: only the arena can have run out */
		return publish_fail(err, FANOUT__V1__ERROR_CODE__ERROR_CODE_FRAME_TOO_LARGE,
				    "events[%u]: the coordination_completed decodes too large", i);
	if (split_coordination(parent, i, &ctx->route->scratch, out, PUBLISH_BATCH_MAX - *m, &k,
			       err) < 0)
		return -1;
	for (size_t d = 0; d < k; d++) {
		size_t size = protobuf_c_message_get_packed_size(&out[d]->base);

		if (publish_room(ctx, size, limit, i, err) < 0)
			return -1;
		protobuf_c_message_pack(&out[d]->base, ctx->repack + ctx->repack_used);
		if (publish_rescan(ctx, *m, ctx->repack + ctx->repack_used, size, i, (uint16_t)d,
				   err) < 0)
			return -1;
		ctx->repack_used += size;
		(*m)++;
	}
	return 0;
}

/* The batch holds events to put in order or to split: the stored list is built in
 * ctx->stored — the others as scanned, a reordered one from its bytes in field order
 * (wire_reorder_event: nothing decoded, doubles bit for bit), a coordination_completed
 * by its decisions. Its strings were checked on the wire already. */
static int publish_expand(struct publish_ctx *ctx, size_t len, uint32_t n,
			  struct publish_error *err)
{
	size_t limit = (size_t)len * PUBLISH_STORE_FACTOR + PUBLISH_STORE_SLACK, size;
	uint32_t m = 0;

	if (limit > ctx->repack_cap)
		limit = ctx->repack_cap;
	ctx->repack_used = 0;
	arena_reset(ctx->decode);
	if (ctx->route)
		ctx->route->split = true;	/* origin[] says where each stored one came from */
	for (uint32_t i = 0; i < n; i++) {
		const struct event_view *v = &ctx->scanned[i];

		if (v->fallback && ctx->route) {
			if (publish_split(ctx, v, i, &m, limit, err) < 0)
				return -1;
			continue;
		}
		if (m == PUBLISH_BATCH_MAX)
			return publish_fail(err, FANOUT__V1__ERROR_CODE__ERROR_CODE_INVALID_EVENT,
					    "events[%u]: with the decisions of its "
					    "coordination_completed events the batch holds more "
					    "than %u events to store", i, PUBLISH_BATCH_MAX);
		if (!v->reorder) {	/* as scanned (a coordination_completed with no
					 * route: wire_check_event refuses it) */
			ctx->stored[m] = *v;
			if (ctx->route) {
				ctx->route->origin[m] = i;
				ctx->route->decision[m] = ROUTE_NOT_SPLIT;
			}
			m++;
			continue;
		}
		if (publish_room(ctx, v->len, limit, i, err) < 0 ||
		    wire_reorder_event(v->bytes, v->len, ctx->repack + ctx->repack_used,
				       limit - ctx->repack_used, &size) < 0 ||
		    publish_rescan(ctx, m, ctx->repack + ctx->repack_used, size, i,
				   ROUTE_NOT_SPLIT, err) < 0)
			return err->message[0] ? -1 : publish_fail(err,
				FANOUT__V1__ERROR_CODE__ERROR_CODE_INVALID_EVENT,
				"events[%u]: more than 256 fields out of order", i);
		ctx->repack_used += size;
		m++;
	}
	ctx->views = ctx->stored;
	ctx->n = m;
	return 0;
}

int publish_scan(struct publish_ctx *ctx, const uint8_t *batch, size_t len,
		 uint64_t *sequence, struct publish_error *err)
{
	struct wire_batch b;
	int rc;

	ctx->n = 0;
	ctx->views = ctx->scanned;
	if (ctx->route)
		route_begin(ctx->route);
	rc = wire_scan_batch(batch, len, ctx->scanned, PUBLISH_BATCH_MAX, &b, err);
	*sequence = b.sequence;
	if (rc < 0)
		return -1;
	if (b.n_fallback || b.n_reorder) {
		err->message[0] = '\0';
		ctx->fallbacks += b.n_fallback;
		return publish_expand(ctx, len, b.n, err);
	}
	ctx->n = b.n;
	return 0;
}

/* ---- topics ------------------------------------------------------------------------- */

/* Finds the topic an event names. NULL with *create set: it does not exist yet and policy
 * lets this batch create it, once the whole batch is valid (a rejected batch creates
 * nothing). NULL without: err says why. */
static struct topic *publish_topic(struct publish_ctx *ctx, struct wire_str name, size_t i,
				   struct topic *prev, bool *create, struct publish_error *err)
{
	struct topic *tp;

	*create = false;
	if (prev && prev->name_len == name.len && memcmp(prev->name, name.p, name.len) == 0)
		return prev;	/* batches usually hold one topic */
	tp = topic_find(ctx->topics, name.p, name.len);
	if (tp && topic_disabled(tp)) {	/* the admin plane's switch: once per topic per batch */
		publish_fail(err, FANOUT__V1__ERROR_CODE__ERROR_CODE_UNKNOWN_TOPIC,
			     "events[%zu].distribution.topic '%.*s': the topic is disabled", i,
			     (int)name.len, name.p);
		return NULL;
	}
	if (tp)
		return tp;
	if (!ctx->auto_create) {
		publish_fail(err, FANOUT__V1__ERROR_CODE__ERROR_CODE_UNKNOWN_TOPIC,
			     "events[%zu].distribution.topic '%.*s': no such topic "
			     "(auto-create is off)", i, (int)name.len, name.p);
		return NULL;
	}
	*create = true;
	return NULL;
}

/* Creates one topic for event i, within the connection's quota. Returns 0 with *tp, or
 * -1 with err. */
static int publish_create_topic(struct publish_ctx *ctx, size_t i, struct wire_str name,
				struct topic **tp, struct publish_error *err)
{
	const char *why;
	int rc = ctx->quota ? topic_quota_take(ctx->quota, clock_monotonic_ns(), &why) : 0;

	if (rc < 0)
		return publish_fail(err, FANOUT__V1__ERROR_CODE__ERROR_CODE_UNKNOWN_TOPIC,
				    "events[%zu].distribution.topic '%.*s': no such topic, and %s",
				    route_origin(ctx->route, i), (int)name.len, name.p, why);
	rc = topic_create(ctx->topics, name.p, name.len, ctx->default_partitions, tp);
	if (rc < 0 && ctx->quota)
		topic_quota_undo(ctx->quota);	/* made by another, or not at all */
	if (rc == -ENOSPC)
		return publish_fail(err, FANOUT__V1__ERROR_CODE__ERROR_CODE_UNKNOWN_TOPIC,
				    "events[%zu].distribution.topic '%.*s': no such topic, and the "
				    "server's limit of %u topics is reached",
				    route_origin(ctx->route, i), (int)name.len, name.p,
				    ctx->topics->max);
	if (rc == -EBUSY)	/* the admin plane is deleting the old one */
		return publish_fail(err, FANOUT__V1__ERROR_CODE__ERROR_CODE_UNKNOWN_TOPIC,
				    "events[%zu].distribution.topic '%.*s': a topic of that name "
				    "is being deleted; retry", route_origin(ctx->route, i),
				    (int)name.len, name.p);
	if (rc < 0 && rc != -EEXIST)
		return publish_fail(err, headroom_refused(rc) ?
				    FANOUT__V1__ERROR_CODE__ERROR_CODE_UNKNOWN_TOPIC :
				    FANOUT__V1__ERROR_CODE__ERROR_CODE_INTERNAL,
				    "events[%zu]: cannot create topic '%.*s': %s",
				    route_origin(ctx->route, i), (int)name.len, name.p,
				    headroom_strerror(rc));
	return 0;
}

/* Creates the topics a valid batch names for the first time (bounded by the table's max
 * and the connection's quota). */
static int publish_create_topics(struct publish_ctx *ctx, struct publish_error *err)
{
	for (size_t i = 0; i < ctx->n; i++) {
		struct wire_str name = ctx->views[i].topic;
		struct topic *tp;

		if (ctx->resolved[i])
			continue;
		tp = topic_find(ctx->topics, name.p, name.len);	/* an earlier event made it */
		if (!tp && publish_create_topic(ctx, i, name, &tp, err) < 0)
			return -1;
		ctx->resolved[i] = tp;
	}
	return 0;
}

/* An event for a quarantined partition (core/topic.h) fails its batch, so nothing of it
 * is appended. Only topics with a quarantined partition cost a look. */
static int publish_quarantined(struct publish_ctx *ctx, struct publish_error *err)
{
	for (size_t i = 0; i < ctx->n; i++) {
		const struct topic *tp = ctx->resolved[i];
		const struct log_fault *q;
		struct log_fields f;
		uint32_t p;

		if (!tp->quarantined)
			continue;
		event_view_fields(&ctx->views[i], 0, &f);
		p = topic_partition_for(tp, f.key_hash);
		q = tp->part[p].quarantine;
		if (q)
			return publish_fail(err,
				FANOUT__V1__ERROR_CODE__ERROR_CODE_PARTITION_QUARANTINED,
				"events[%zu]: topic '%s' partition %u is quarantined (%s: %s, from "
				"offset %llu) and not served until an operator repairs it; nothing of "
				"this batch was appended", route_origin(ctx->route, i), tp->name, p,
				q->file, q->what, (unsigned long long)q->offset);
	}
	return 0;
}

/* The publishing token may publish event i to its topic (the one it names, then the
 * one a rule routes it to). last: the topic last allowed, which most batches repeat.
 * Returns 0 or -1 with err. */
static int publish_permitted(struct publish_ctx *ctx, size_t i, struct wire_str topic,
			     bool routed, struct wire_str *last, struct publish_error *err)
{
	if (last->p && last->len == topic.len && memcmp(last->p, topic.p, topic.len) == 0)
		return 0;
	if (!auth_allows(ctx->grant, AUTH_PUBLISH, topic.p, topic.len))
		return publish_fail(err, FANOUT__V1__ERROR_CODE__ERROR_CODE_PERMISSION_DENIED,
				    "events[%zu]: token %s may not publish to topic '%.*s'%s; "
				    "nothing of this batch was stored", route_origin(ctx->route, i),
				    ctx->grant->name, (int)topic.len, topic.p,
				    routed ? " (where a routing rule sends it)" : "");
	*last = topic;
	return 0;
}

/* Checks and routes every event and resolves its topic. Returns 0 or -1 with err. */
static int publish_validate(struct publish_ctx *ctx, struct publish_error *err)
{
	struct topic *tp = NULL;
	struct wire_str allowed = { 0 };
	bool create, creates = false;

	for (size_t i = 0; i < ctx->n; i++) {
		struct event_view *v = &ctx->views[i];
		const char *named;

		if (wire_check_event(v, route_origin(ctx->route, i), err) < 0)
			return -1;
		if (ctx->grant && publish_permitted(ctx, i, v->topic, false, &allowed, err) < 0)
			return -1;
		named = v->topic.p;
		if (ctx->route && route_apply(ctx->route, v, i, err) < 0)
			return -1;
		if (ctx->grant && v->topic.p != named &&
		    publish_permitted(ctx, i, v->topic, true, &allowed, err) < 0)
			return -1;
		ctx->resolved[i] = publish_topic(ctx, v->topic, route_origin(ctx->route, i), tp,
						 &create, err);
		if (ctx->resolved[i])
			tp = ctx->resolved[i];
		else if (!create)
			return -1;
		else
			creates = true;
	}
	if (creates && publish_create_topics(ctx, err) < 0)
		return -1;
	return publish_quarantined(ctx, err);
}

/* ---- appending ---------------------------------------------------------------------- */

static void publish_touch(struct publish_ctx *ctx, struct log *log)
{
	for (uint32_t i = 0; i < ctx->ntouched; i++)
		if (ctx->touched[i] == log)
			return;
	/* Many batches in one reactor turn can touch more logs than the list holds: make
	 * what is there visible now (early, never late) and start the list again. */
	if (ctx->ntouched == PUBLISH_TOUCHED_MAX)
		publish_flush(ctx);
	ctx->touched[ctx->ntouched++] = log;
}

/* Writes a laid-out event into a partition this reactor owns. Returns 0 or -errno from
 * the log (the frame is not stored). */
static int publish_write(struct publish_ctx *ctx, struct topic_partition *part,
			 uint32_t partition, const struct event_parts *e,
			 const struct log_fields *fields, uint64_t *offset)
{
	struct log *log = part->log;
	uint64_t at = log->next;	/* the offset log_reserve will assign */
	uint32_t size = event_frame_size(e, at), crc, klen;
	const char *key;
	uint8_t *dst;
	int rc;

	rc = log_reserve(log, size, &dst, offset);
	if (rc < 0)
		return rc;
	assert(*offset == at);
	rc = (int)event_frame_write(e, at, dst, &crc);
	assert((uint32_t)rc == size);
	log_commit_crc(log, fields, crc);
	if (fields->flags & LOG_ENTRY_AUDIT_REQUIRED)	/* before the tail is published */
		atomic_store_explicit(&part->audit_next, at + 1, memory_order_relaxed);
	PROBE_APPEND(partition, at, size);
	event_frame_key_at(e, at, dst, &key, &klen);
	if (latest_put(&part->latest, fields->key_hash, key, klen, at) < 0)
		ctx->latest_failures++;	/* only snapshots miss it; the event is in the log */
	publish_touch(ctx, log);
	return 0;
}

/* Takes bytes for a ticket's growth from the publishing reactor's budget. Returns 0 or
 * -EDQUOT (refused: nothing grows). */
static int publish_ticket_take(struct publish_ctx *ctx, struct publish_ticket *t, uint64_t bytes)
{
	if (!ctx->budget)
		return 0;
	if (!budget_take(ctx->budget, BUDGET_TICKETS, bytes))
		return -EDQUOT;
	t->budget = ctx->budget;
	t->charged += bytes;
	return 0;
}

/* Grows a ticket's arrays to hold n stored events, taking the growth from the budget
 * first. (Its remote events' array grows as they come: publish_keep_remote.) */
static int publish_ticket_reserve(struct publish_ctx *ctx, struct publish_ticket *t, size_t n)
{
	uint64_t more = n > t->cap ? (n - t->cap) * (sizeof(uint32_t) + sizeof(uint64_t)) : 0;

	if (more && publish_ticket_take(ctx, t, more) < 0)
		return -EDQUOT;
	if (n > t->cap) {
		uint32_t *parts = realloc(t->partitions, n * sizeof(*parts));
		uint64_t *offs;

		if (!parts)
			return -ENOMEM;
		t->partitions = parts;
		offs = realloc(t->offsets, n * sizeof(*offs));
		if (!offs)
			return -ENOMEM;
		t->offsets = offs;
		t->cap = (uint32_t)n;
	}
	return 0;
}

/* Room for one more remote event: the array doubles (from the budget) up to the batch's
 * size, so a batch whose events are all local never holds one. */
static int publish_remote_room(struct publish_ctx *ctx, struct publish_ticket *t)
{
	uint32_t cap = t->remote_cap ? t->remote_cap * 2 : 64;
	struct publish_remote *r;

	if (t->nremote < t->remote_cap)
		return 0;
	if (cap > t->cap)
		cap = t->cap;	/* never more remote events than stored ones */
	if (publish_ticket_take(ctx, t, (uint64_t)(cap - t->remote_cap) * sizeof(*r)) < 0)
		return -EDQUOT;
	r = realloc(t->remote, cap * sizeof(*r));
	if (!r)
		return -ENOMEM;	/* taken stays charged: given back with the ticket */
	t->remote = r;
	t->remote_cap = cap;
	return 0;
}

void publish_ticket_free(struct publish_ticket *t)
{
	assert(atomic_load(&t->remaining) == 0);
	free(t->partitions);
	free(t->offsets);
	free(t->remote);
	free(t->bytes);
	if (t->budget)
		budget_give(t->budget, BUDGET_TICKETS, t->charged);
	memset(t, 0, sizeof(*t));
}

void publish_ticket_reset(struct publish_ticket *t)
{
	assert(atomic_load(&t->remaining) == 0);
	t->n = 0;
	t->nremote = t->sent = 0;
	t->bytes_len = 0;
	atomic_store(&t->failed, 0);
}

/* Keeps a laid-out event for a partition another reactor owns in the ticket. The ticket's
 * byte buffer grows to the largest batch seen, then is reused. */
static int publish_keep_remote(struct publish_ctx *ctx, struct publish_ticket *t,
			       struct topic *tp, uint32_t partition, const struct event_parts *e,
			       const struct log_fields *fields, uint32_t index)
{
	struct publish_remote *r;
	struct event_parts flat;
	size_t size = event_parts_bytes(e);
	int rc = publish_remote_room(ctx, t);

	if (rc < 0)
		return rc;
	r = &t->remote[t->nremote];

	if (t->bytes_len + size > t->bytes_cap) {
		size_t cap = t->bytes_cap ? t->bytes_cap : 64u << 10;
		uint8_t *grown;

		while (cap < t->bytes_len + size)
			cap *= 2;
		if (publish_ticket_take(ctx, t, cap - t->bytes_cap) < 0)
			return -EDQUOT;
		grown = realloc(t->bytes, cap);
		if (!grown)
			return -ENOMEM;	/* taken stays charged: given back with the ticket */
		t->bytes = grown;
		t->bytes_cap = cap;
	}
	event_parts_flatten(e, t->bytes + t->bytes_len, &flat);
	r->ticket = t;
	r->topic = tp;
	r->partition = partition;
	r->index = index;
	memcpy(r->glen, e->glen, sizeof(r->glen));
	r->at = t->bytes_len;
	r->fields = *fields;
	t->bytes_len += size;
	t->partitions[index] = partition;
	t->offsets[index] = UINT64_MAX;
	t->nremote++;
	return 0;
}

void publish_remote_apply(struct publish_ctx *ctx, struct publish_remote *r)
{
	struct publish_ticket *t = r->ticket;
	struct topic_partition *part = &r->topic->part[r->partition];
	uint64_t offset = UINT64_MAX;
	struct event_parts flat;
	int rc;

	assert(part->owner == ctx->self && ctx->napplied < PUBLISH_APPLY_MAX);
	event_parts_from_flat(&flat, t->bytes + r->at, r->glen);
	rc = publish_write(ctx, part, r->partition, &flat, &r->fields, &offset);
	if (rc == 0) {
		ctx->events++;
	} else {
		int none = 0;

		offset = UINT64_MAX;
		atomic_compare_exchange_strong(&t->failed, &none, rc);
	}
	t->offsets[r->index] = offset;
	ctx->applied[ctx->napplied++] = r;
}

void publish_release(struct publish_ctx *ctx)
{
	for (uint32_t i = 0; i < ctx->napplied; i++) {
		struct publish_ticket *t = ctx->applied[i]->ticket;
		uint32_t origin = t->origin;	/* read before: at 0 the ticket is not ours */

		if (atomic_fetch_sub_explicit(&t->remaining, 1, memory_order_acq_rel) == 1)
			ctx->wake |= 1ull << origin;
	}
	ctx->napplied = 0;
}

/* A batch stopped at stored event i: events before it stand (the local ones appended, the
 * remote ones still to be handed over, t->remaining counting them). */
static void publish_partial(struct publish_ctx *ctx, struct publish_ticket *t, size_t i)
{
	t->n = (uint32_t)i;
	ctx->events += i - t->nremote - ctx->skipped;
	atomic_store_explicit(&t->remaining, t->nremote, memory_order_release);
	publish_flush(ctx);
}

/* Lays out and stores (or keeps for its owner) stored event i. */
static int publish_one(struct publish_ctx *ctx, struct publish_ticket *t, size_t i,
		       int64_t recv_ns, struct publish_error *err)
{
	const struct event_view *v = &ctx->views[i];
	struct topic *tp = ctx->resolved[i];
	struct log_fields fields;
	uint32_t p;
	int rc;

	if (ctx->known && ctx->known[i] != UINT64_MAX) {	/* stored before the retry */
		t->partitions[i] = ctx->known_part[i];
		t->offsets[i] = ctx->known[i];
		ctx->skipped++;
		return 0;
	}
	event_view_fields(v, recv_ns, &fields);
	if (ctx->stamp)
		fields.flags |= LOG_ENTRY_PRODUCER;
	p = topic_partition_for(tp, fields.key_hash);
	event_parts_make(&ctx->parts, v, p, recv_ns, ctx->stamp, (uint32_t)i);
	if (tp->part[p].owner != ctx->self) {
		rc = publish_keep_remote(ctx, t, tp, p, &ctx->parts, &fields, (uint32_t)i);
		if (rc < 0)
			return publish_fail(err, rc == -EDQUOT ?
					    FANOUT__V1__ERROR_CODE__ERROR_CODE_RESOURCE_EXHAUSTED :
					    FANOUT__V1__ERROR_CODE__ERROR_CODE_INTERNAL,
					    "events[%zu]: cannot keep it for its partition's "
					    "reactor (%s); the first %zu stored events were "
					    "appended (see the ack)", route_origin(ctx->route, i),
					    strerror(-rc), i);
		return 0;
	}
	t->partitions[i] = p;
	rc = publish_write(ctx, &tp->part[p], p, &ctx->parts, &fields, &t->offsets[i]);
	if (rc < 0)
		return publish_fail(err, FANOUT__V1__ERROR_CODE__ERROR_CODE_LOG_FULL,
				    "events[%zu]: log append failed (%s); the first %zu "
				    "stored events were appended (see the ack)",
				    route_origin(ctx->route, i), headroom_strerror(rc), i);
	return 0;
}

int publish_batch(struct publish_ctx *ctx, int64_t recv_ns, struct publish_ticket *t,
		  size_t *appended, struct publish_error *err)
{
	size_t n = ctx->n;
	int rc;

	*appended = 0;
	ctx->skipped = 0;
	publish_ticket_reset(t);
	t->origin = ctx->self;
	if (publish_validate(ctx, err) < 0) {
		ctx->rejected++;
		return -1;
	}
	rc = publish_ticket_reserve(ctx, t, n);
	if (rc == -EDQUOT)
		return publish_fail(err, FANOUT__V1__ERROR_CODE__ERROR_CODE_RESOURCE_EXHAUSTED,
				    "a batch of %zu events would take the reactor past its memory "
				    "budget; nothing was appended", n);
	if (rc < 0)
		return publish_fail(err, FANOUT__V1__ERROR_CODE__ERROR_CODE_INTERNAL,
				    "out of memory for a batch of %zu events", n);
	for (size_t i = 0; i < n; i++) {
		if (publish_one(ctx, t, i, recv_ns, err) < 0) {
			publish_partial(ctx, t, i);
			return -1;
		}
		(*appended)++;
	}
	t->n = (uint32_t)n;
	ctx->events += n - t->nremote - ctx->skipped;	/* the owners count theirs */
	ctx->batches++;
	if (t->nremote == 0)
		return 0;
	atomic_store_explicit(&t->remaining, t->nremote, memory_order_release);
	return 1;
}

int publish_answer_known(struct publish_ctx *ctx, struct publish_ticket *t,
			 struct publish_error *err)
{
	size_t n = ctx->n;
	int rc;

	assert(ctx->known && ctx->known_part);
	publish_ticket_reset(t);
	t->origin = ctx->self;
	rc = publish_ticket_reserve(ctx, t, n);
	if (rc < 0)
		return publish_fail(err, rc == -EDQUOT ?
				    FANOUT__V1__ERROR_CODE__ERROR_CODE_RESOURCE_EXHAUSTED :
				    FANOUT__V1__ERROR_CODE__ERROR_CODE_INTERNAL,
				    "cannot answer a batch of %zu events sent again (%s); it was "
				    "stored before", n, strerror(-rc));
	if (n) {
		memcpy(t->partitions, ctx->known_part, n * sizeof(*t->partitions));
		memcpy(t->offsets, ctx->known, n * sizeof(*t->offsets));
	}
	t->n = (uint32_t)n;
	return 0;
}

int publish_bytes(struct publish_ctx *ctx, const uint8_t *batch, size_t len, int64_t recv_ns,
		  struct publish_ticket *t, size_t *appended, uint64_t *sequence,
		  struct publish_error *err)
{
	*appended = 0;
	if (publish_scan(ctx, batch, len, sequence, err) < 0) {
		publish_ticket_reset(t);
		ctx->rejected++;
		return -1;
	}
	return publish_batch(ctx, recv_ns, t, appended, err);
}

void publish_flush(struct publish_ctx *ctx)
{
	if (ctx->ntouched == 0)
		return;
	for (uint32_t i = 0; i < ctx->ntouched; i++)
		log_publish(ctx->touched[i]);
	/* Tails out before reading who reads them: a reactor that joins a log (bit set, then
	 * tail read) either sees the new tail or is seen here (log_reader_join). */
	atomic_thread_fence(memory_order_seq_cst);
	for (uint32_t i = 0; i < ctx->ntouched; i++)
		ctx->wake |= log_readers(ctx->touched[i]);
	ctx->ntouched = 0;
	ctx->published = true;
}
