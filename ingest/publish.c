/* ingest/publish.c — validation, routing to a partition, encode-once append. */
#include "ingest/publish.h"

#include <assert.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/frame.h"
#include "core/hash.h"
#include "core/log.h"
#include "core/pattern.h"
#include "core/probes.h"
#include "ingest/route.h"

static int publish_fail(struct publish_error *err, Fanout__V1__ErrorCode code,
			const char *fmt, ...)
{
	va_list ap;

	err->code = code;
	va_start(ap, fmt);
	vsnprintf(err->message, sizeof(err->message), fmt, ap);
	va_end(ap);
	return -1;
}

/* A required identifier: non-empty and bounded. */
static bool publish_id_ok(const char *s)
{
	size_t n = s ? strlen(s) : 0;

	return n > 0 && n <= PUBLISH_ID_BYTES_MAX;
}

static int publish_check_payload(Fanout__V1__Event *e, size_t i, struct publish_error *err)
{
	Fanout__V1__DataType want;
	const Fanout__V1__ErrorCode bad = FANOUT__V1__ERROR_CODE__ERROR_CODE_INVALID_EVENT;

	switch (e->payload_case) {
	case FANOUT__V1__EVENT__PAYLOAD_MARKET_DATA:
		if (!publish_id_ok(e->market_data->symbol))
			return publish_fail(err, bad, "events[%zu].market_data.symbol: required", i);
		want = FANOUT__V1__DATA_TYPE__DATA_TYPE_MARKET_DATA;
		break;
	case FANOUT__V1__EVENT__PAYLOAD_COORDINATION_DECISION:
		if (!publish_id_ok(e->coordination_decision->decision_id))
			return publish_fail(err, bad, "events[%zu].coordination_decision.decision_id: required", i);
		if (!publish_id_ok(e->coordination_decision->instrument_id))
			return publish_fail(err, bad, "events[%zu].coordination_decision.instrument_id: required", i);
		want = FANOUT__V1__DATA_TYPE__DATA_TYPE_COORDINATION_DECISION;
		break;
	case FANOUT__V1__EVENT__PAYLOAD_EXECUTION:
		if (!publish_id_ok(e->execution->order_id))
			return publish_fail(err, bad, "events[%zu].execution.order_id: required", i);
		want = FANOUT__V1__DATA_TYPE__DATA_TYPE_EXECUTION;
		break;
	case FANOUT__V1__EVENT__PAYLOAD_COORDINATION_COMPLETED:	/* route_split's */
		return publish_fail(err, bad, "events[%zu].coordination_completed: is split into "
				    "its decisions at ingest, which this publish path does not do", i);
	default:
		return publish_fail(err, bad, "events[%zu]: a payload (market_data, "
				    "coordination_decision or execution) is required", i);
	}
	if (e->data_type == FANOUT__V1__DATA_TYPE__DATA_TYPE_UNSPECIFIED)
		e->data_type = want;
	else if (e->data_type != want)
		return publish_fail(err, bad, "events[%zu].data_type: %d does not match the payload",
				    i, (int)e->data_type);
	return 0;
}

int publish_check(Fanout__V1__Event *e, size_t i, struct publish_error *err)
{
	const Fanout__V1__ErrorCode bad = FANOUT__V1__ERROR_CODE__ERROR_CODE_INVALID_EVENT;
	Fanout__V1__Distribution *d = e->distribution;
	const char *why;

	if (!publish_id_ok(e->event_id))
		return publish_fail(err, bad, "events[%zu].event_id: required, 1..128 bytes", i);
	if (!d)
		return publish_fail(err, bad, "events[%zu].distribution: required", i);
	if (topic_name_check(d->topic, strlen(d->topic), &why) < 0)
		return publish_fail(err, FANOUT__V1__ERROR_CODE__ERROR_CODE_INVALID_TOPIC,
				    "events[%zu].distribution.topic '%.200s': %s", i, d->topic, why);
	if (pattern_key_check(d->routing_key, strlen(d->routing_key), &why) < 0)
		return publish_fail(err, bad, "events[%zu].distribution.routing_key '%.255s': %s",
				    i, d->routing_key, why);
	return publish_check_payload(e, i, err);
}

/* Finds the topic an event names. NULL with *create set: it does not exist yet and policy
 * lets this batch create it, once the whole batch is valid (a rejected batch creates
 * nothing). NULL without: err says why. */
static struct topic *publish_topic(struct publish_ctx *ctx, const char *name, size_t i,
				   struct topic *prev, bool *create, struct publish_error *err)
{
	size_t len = strlen(name);
	struct topic *tp;

	*create = false;
	if (prev && prev->name_len == len && memcmp(prev->name, name, len) == 0)
		return prev;	/* batches usually hold one topic */
	tp = topic_find(ctx->topics, name, len);
	if (tp && topic_disabled(tp)) {	/* the admin plane's switch: once per topic per batch */
		publish_fail(err, FANOUT__V1__ERROR_CODE__ERROR_CODE_UNKNOWN_TOPIC,
			     "events[%zu].distribution.topic '%s': the topic is disabled", i, name);
		return NULL;
	}
	if (tp)
		return tp;
	if (!ctx->auto_create) {
		publish_fail(err, FANOUT__V1__ERROR_CODE__ERROR_CODE_UNKNOWN_TOPIC,
			     "events[%zu].distribution.topic '%s': no such topic "
			     "(auto-create is off)", i, name);
		return NULL;
	}
	*create = true;
	return NULL;
}

/* Creates the topics a valid batch names for the first time (bounded by the table's max). */
static int publish_create_topics(struct publish_ctx *ctx, Fanout__V1__Event **events, size_t n,
				 struct publish_error *err)
{
	for (size_t i = 0; i < n; i++) {
		const char *name = events[i]->distribution->topic;
		size_t len = strlen(name);
		struct topic *tp;
		int rc;

		if (ctx->resolved[i])
			continue;
		tp = topic_find(ctx->topics, name, len);	/* an earlier event made it */
		if (!tp) {
			rc = topic_create(ctx->topics, name, len, ctx->default_partitions, &tp);
			if (rc == -ENOSPC)
				return publish_fail(err, FANOUT__V1__ERROR_CODE__ERROR_CODE_UNKNOWN_TOPIC,
						    "events[%zu].distribution.topic '%s': no such topic, "
						    "and the server's limit of %u topics is reached",
						    route_origin(ctx->route, i), name, ctx->topics->max);
			if (rc == -EBUSY)	/* the admin plane is deleting the old one */
				return publish_fail(err, FANOUT__V1__ERROR_CODE__ERROR_CODE_UNKNOWN_TOPIC,
						    "events[%zu].distribution.topic '%s': a topic of "
						    "that name is being deleted; retry",
						    route_origin(ctx->route, i), name);
			if (rc < 0 && rc != -EEXIST)
				return publish_fail(err, FANOUT__V1__ERROR_CODE__ERROR_CODE_INTERNAL,
						    "events[%zu]: cannot create topic '%s': %s",
						    route_origin(ctx->route, i), name, strerror(-rc));
		}
		ctx->resolved[i] = tp;
	}
	return 0;
}

static const char *publish_venue(const Fanout__V1__Event *e)
{
	if (e->payload_case == FANOUT__V1__EVENT__PAYLOAD_MARKET_DATA && e->market_data->exchange[0])
		return e->market_data->exchange;
	if (e->payload_case == FANOUT__V1__EVENT__PAYLOAD_EXECUTION && e->execution->venue[0])
		return e->execution->venue;
	return e->metadata ? e->metadata->venue : "";
}

static uint64_t publish_hash_str(const char *s)
{
	return s && s[0] ? hash_bytes(s, strlen(s)) : 0;
}

/* The sidecar index fields filters read without decoding the frame. */
void publish_fields(const Fanout__V1__Event *e, int64_t recv_ns, struct log_fields *f)
{
	memset(f, 0, sizeof(*f));
	f->recv_ns = (uint64_t)recv_ns;
	f->event_ns = e->timestamp_ns;
	f->priority = e->distribution->priority > 255 ? 255 : (uint8_t)e->distribution->priority;
	f->key_hash = hash_bytes(e->distribution->routing_key, strlen(e->distribution->routing_key));
	f->venue_hash = publish_hash_str(publish_venue(e));
	f->data_type = (uint8_t)e->data_type;
	if (e->metadata) {
		f->flags |= e->metadata->latency_sensitive ? LOG_ENTRY_LATENCY_SENSITIVE : 0;
		f->flags |= e->metadata->audit_required ? LOG_ENTRY_AUDIT_REQUIRED : 0;
	}
	switch (e->payload_case) {
	case FANOUT__V1__EVENT__PAYLOAD_MARKET_DATA:
		f->symbol_hash = publish_hash_str(e->market_data->symbol);
		f->aux_hash = publish_hash_str(e->market_data->currency);
		f->price = e->market_data->price;
		f->volume = (double)e->market_data->volume;
		break;
	case FANOUT__V1__EVENT__PAYLOAD_COORDINATION_DECISION:
		f->symbol_hash = publish_hash_str(e->coordination_decision->instrument_id);
		f->aux_hash = publish_hash_str(e->coordination_decision->action);
		f->order_hash = publish_hash_str(e->coordination_decision->decision_id);
		f->price = e->coordination_decision->confidence;
		f->volume = (double)e->coordination_decision->quantity;
		break;
	case FANOUT__V1__EVENT__PAYLOAD_EXECUTION:
		f->symbol_hash = publish_hash_str(e->execution->instrument_id);
		f->order_hash = publish_hash_str(e->execution->order_id);
		f->price = e->execution->price;
		f->volume = e->execution->quantity;	/* fractional quantities stay exact */
		break;
	default:
		break;
	}
}

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

static uint64_t publish_key_hash(const Fanout__V1__Event *e)
{
	return hash_bytes(e->distribution->routing_key, strlen(e->distribution->routing_key));
}

/* Stamps e with what the receiving reactor knows: receive time, event time default, and
 * the partition its key picks. */
static void publish_stamp(const struct topic *tp, Fanout__V1__Event *e, int64_t recv_ns,
			  struct log_fields *fields, uint32_t *partition)
{
	e->receive_time_ns = recv_ns;
	if (e->timestamp_ns == 0)
		e->timestamp_ns = recv_ns;
	publish_fields(e, recv_ns, fields);
	*partition = topic_partition_for(tp, fields->key_hash);
	e->distribution->partition = *partition;
}

/* Stamps e with its place and encodes it, once, straight into the log (a partition this
 * reactor owns). */
static int publish_append(struct publish_ctx *ctx, struct topic *tp, Fanout__V1__Event *e,
			  int64_t recv_ns, uint32_t *partition, uint64_t *offset)
{
	Fanout__V1__ServerMessage sm = FANOUT__V1__SERVER_MESSAGE__INIT;
	struct log_fields fields;
	struct log *log;
	uint8_t *dst;
	size_t size, body;
	int rc;

	publish_stamp(tp, e, recv_ns, &fields, partition);
	log = tp->part[*partition].log;
	e->distribution->offset = log->next;	/* the offset log_reserve will assign */
	sm.body_case = FANOUT__V1__SERVER_MESSAGE__BODY_EVENT;
	sm.event = e;
	body = protobuf_c_message_get_packed_size(&sm.base);
	size = frame_varint_size((uint32_t)body) + body;
	rc = log_reserve(log, (uint32_t)size, &dst, offset);
	if (rc < 0)
		return rc;
	assert(*offset == e->distribution->offset);
	rc = (int)frame_pack_sized(&sm.base, body, dst);
	assert((size_t)rc == size);
	log_commit(log, &fields);
	PROBE_APPEND(*partition, *offset, size);
	if (latest_put(&tp->part[*partition].latest, fields.key_hash, *offset) < 0)
		ctx->latest_failures++;	/* only snapshots miss it; the event is in the log */
	publish_touch(ctx, log);
	return 0;
}

/* The placeholder offset: the largest uint64, whose varint takes the full 10 bytes, so
 * the owner can write any offset in its place without moving a byte. */
#define PUBLISH_OFFSET_PLACEHOLDER UINT64_MAX
#define PUBLISH_OFFSET_TAG 0x18u	/* Distribution.offset: field 3, varint */

static void publish_varint10(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 9; i++)
		p[i] = (uint8_t)((v >> (7 * i)) & 0x7f) | 0x80;
	p[9] = (uint8_t)(v >> 63);
}

/* Where protobuf-c put Distribution.offset in a frame it packed: fields go out in field
 * number order, so it follows the ServerMessage's event tag and length, the Event's
 * fields 1..3, the distribution's tag and length, and Distribution's fields 1..2. */
static size_t publish_offset_pos(const Fanout__V1__Event *e, size_t body)
{
	Fanout__V1__Event head = *e;
	Fanout__V1__Distribution dhead = *e->distribution;
	size_t event_len = protobuf_c_message_get_packed_size(&e->base);
	size_t dist_len = protobuf_c_message_get_packed_size(&e->distribution->base);

	/* protobuf-c packs fields it did not know last: they come after the offset. */
	head.base.n_unknown_fields = 0;
	dhead.base.n_unknown_fields = 0;
	head.distribution = NULL;
	head.metadata = NULL;
	head.receive_time_ns = 0;
	head.payload_case = FANOUT__V1__EVENT__PAYLOAD__NOT_SET;
	dhead.offset = 0;
	dhead.routing_key = (char *)"";
	dhead.n_target_workflows = 0;
	dhead.priority = 0;
	dhead.delivery_guarantee = 0;
	return frame_varint_size((uint32_t)body) + 1 + frame_varint_size((uint32_t)event_len) +
	       protobuf_c_message_get_packed_size(&head.base) + 1 +
	       frame_varint_size((uint32_t)dist_len) +
	       protobuf_c_message_get_packed_size(&dhead.base) + 1;
}

/* Grows a ticket's arrays to hold n stored events and nremote remote ones. */
static int publish_ticket_reserve(struct publish_ticket *t, size_t n)
{
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
	if (n > t->remote_cap) {
		struct publish_remote *r = realloc(t->remote, n * sizeof(*r));

		if (!r)
			return -ENOMEM;
		t->remote = r;
		t->remote_cap = (uint32_t)n;
	}
	return 0;
}

void publish_ticket_free(struct publish_ticket *t)
{
	assert(atomic_load(&t->remaining) == 0);
	free(t->partitions);
	free(t->offsets);
	free(t->remote);
	free(t->bytes);
	memset(t, 0, sizeof(*t));
}

/* Encodes e, for a partition another reactor owns, into the ticket. */
static int publish_encode_remote(struct publish_ticket *t, struct topic *tp,
				 Fanout__V1__Event *e, int64_t recv_ns, uint32_t index)
{
	Fanout__V1__ServerMessage sm = FANOUT__V1__SERVER_MESSAGE__INIT;
	struct publish_remote *r = &t->remote[t->nremote];
	size_t body, size, pos;
	uint8_t *dst;

	publish_stamp(tp, e, recv_ns, &r->fields, &r->partition);
	e->distribution->offset = PUBLISH_OFFSET_PLACEHOLDER;
	sm.body_case = FANOUT__V1__SERVER_MESSAGE__BODY_EVENT;
	sm.event = e;
	body = protobuf_c_message_get_packed_size(&sm.base);
	size = frame_varint_size((uint32_t)body) + body;
	if (t->bytes_len + size > t->bytes_cap) {
		size_t cap = t->bytes_cap ? t->bytes_cap : 64u << 10;
		uint8_t *grown;

		while (cap < t->bytes_len + size)
			cap *= 2;
		grown = realloc(t->bytes, cap);
		if (!grown)
			return -ENOMEM;
		t->bytes = grown;
		t->bytes_cap = cap;
	}
	dst = t->bytes + t->bytes_len;
	frame_pack_sized(&sm.base, body, dst);
	pos = publish_offset_pos(e, body);
	/* The placeholder must be where the field order says; if an event ever defeats the
	 * computation, it is refused rather than stored with a wrong offset. */
	if (pos + 10 > size || dst[pos - 1] != PUBLISH_OFFSET_TAG || dst[pos] != 0xff ||
	    dst[pos + 9] != 0x01)
		return -EPROTO;
	r->ticket = t;
	r->topic = tp;
	r->index = index;
	r->len = (uint32_t)size;
	r->offset_pos = (uint32_t)pos;
	r->at = t->bytes_len;
	t->bytes_len += size;
	t->partitions[index] = r->partition;
	t->offsets[index] = PUBLISH_OFFSET_PLACEHOLDER;
	t->nremote++;
	return 0;
}

void publish_remote_apply(struct publish_ctx *ctx, struct publish_remote *r)
{
	struct publish_ticket *t = r->ticket;
	struct topic_partition *part = &r->topic->part[r->partition];
	uint64_t offset = PUBLISH_OFFSET_PLACEHOLDER;
	uint8_t *dst;
	int rc;

	assert(part->owner == ctx->self && ctx->napplied < PUBLISH_APPLY_MAX);
	rc = log_reserve(part->log, r->len, &dst, &offset);
	if (rc == 0) {
		memcpy(dst, t->bytes + r->at, r->len);
		publish_varint10(dst + r->offset_pos, offset);
		log_commit(part->log, &r->fields);
		PROBE_APPEND(r->partition, offset, r->len);
		if (latest_put(&part->latest, r->fields.key_hash, offset) < 0)
			ctx->latest_failures++;
		publish_touch(ctx, part->log);
		ctx->events++;
	} else {
		int none = 0;

		offset = PUBLISH_OFFSET_PLACEHOLDER;
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
	ctx->events += i - t->nremote;
	atomic_store_explicit(&t->remaining, t->nremote, memory_order_release);
	publish_flush(ctx);
}

int publish_batch(struct publish_ctx *ctx, Fanout__V1__Event **events, size_t n,
		  int64_t recv_ns, struct publish_ticket *t, size_t *appended,
		  struct publish_error *err)
{
	struct topic *tp = NULL;
	bool create, creates = false;
	int rc;

	*appended = 0;
	assert(atomic_load(&t->remaining) == 0);
	t->n = 0;
	t->nremote = t->sent = 0;
	t->bytes_len = 0;
	atomic_store(&t->failed, 0);
	t->origin = ctx->self;
	if (n > PUBLISH_BATCH_MAX)
		return publish_fail(err, FANOUT__V1__ERROR_CODE__ERROR_CODE_INVALID_EVENT,
				    "batch of %zu events exceeds the limit of %u", n,
				    PUBLISH_BATCH_MAX);
	/* Routing at ingest (ingest/route.h): from here on events[0..n) is what is stored,
	 * coordination_completed events replaced by their decisions; each event meets the
	 * routing rules once it is valid, before its (final) topic is resolved. */
	if (ctx->route && route_split(ctx->route, &events, &n, err) < 0)
		goto reject;
	for (size_t i = 0; i < n; i++) {
		if (publish_check(events[i], route_origin(ctx->route, i), err) < 0)
			goto reject;
		if (ctx->route && route_apply(ctx->route, events[i], i, err) < 0)
			goto reject;
		ctx->resolved[i] = publish_topic(ctx, events[i]->distribution->topic,
						 route_origin(ctx->route, i), tp, &create, err);
		if (ctx->resolved[i])
			tp = ctx->resolved[i];
		else if (!create)
			goto reject;
		else
			creates = true;
	}
	if (creates && publish_create_topics(ctx, events, n, err) < 0)
		goto reject;
	if (publish_ticket_reserve(t, n) < 0)
		return publish_fail(err, FANOUT__V1__ERROR_CODE__ERROR_CODE_INTERNAL,
				    "out of memory for a batch of %zu events", n);
	for (size_t i = 0; i < n; i++) {
		struct topic *tp_i = ctx->resolved[i];
		uint32_t p = topic_partition_for(tp_i, publish_key_hash(events[i]));

		if (tp_i->part[p].owner != ctx->self) {
			rc = publish_encode_remote(t, tp_i, events[i], recv_ns, (uint32_t)i);
			if (rc < 0) {
				publish_partial(ctx, t, i);
				return publish_fail(err, FANOUT__V1__ERROR_CODE__ERROR_CODE_INTERNAL,
						    "events[%zu]: cannot encode for its partition's "
						    "reactor (%s); the first %zu stored events were "
						    "appended (see the ack)", route_origin(ctx->route, i),
						    strerror(-rc), i);
			}
			(*appended)++;
			continue;
		}
		rc = publish_append(ctx, tp_i, events[i], recv_ns, &t->partitions[i],
				    &t->offsets[i]);
		if (rc < 0) {
			publish_partial(ctx, t, i);
			return publish_fail(err, FANOUT__V1__ERROR_CODE__ERROR_CODE_LOG_FULL,
					    "events[%zu]: log append failed (%s); the first %zu "
					    "stored events were appended (see the ack)",
					    route_origin(ctx->route, i), strerror(-rc), i);
		}
		(*appended)++;
	}
	t->n = (uint32_t)n;
	ctx->events += n - t->nremote;	/* the owners count theirs */
	ctx->batches++;
	if (t->nremote == 0)
		return 0;
	atomic_store_explicit(&t->remaining, t->nremote, memory_order_release);
	return 1;
reject:
	ctx->rejected++;
	return -1;
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
}
