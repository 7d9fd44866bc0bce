/* tests/fuzz/publish_scan_fuzz.c — the ingest hot path's wire scan (ingest/wire_scan.c)
 * and stored-frame writer (ingest/event_encode.c) against protobuf-c, differentially.
 *
 * Input: the bytes of a PublishBatch, as a publisher sends them.
 * Checks, against protobuf-c's unpack of the same bytes and a reference of the content
 * rules written here from proto/README.md:
 *  - the same accept/reject decision: protobuf-c refuses the bytes exactly when the scan
 *    says MALFORMED_FRAME; a batch protobuf-c accepts is refused by the scan only for
 *    more than 8,192 events, or (found here by an independent walk of the raw bytes over
 *    protobuf-c's descriptors) a string with a NUL or invalid UTF-8, a singular field
 *    given twice, two payloads, a bool that is not a varint, a -0.0 double inside a
 *    coordination_completed, or a producer stamp (the server's), and then with
 *    INVALID_EVENT;
 *  - for every event the scan describes (not marked fallback), the same extracted values:
 *    strings byte for byte, integers, enums, bools, the index price and volume bit for
 *    bit; and the same verdict (and code) of the content rules as the reference;
 *  - every accepted event's stored frame decodes with protobuf-c to the publisher's event
 *    with the server's fields set (compared through protobuf-c's canonical packing), and
 *    its routing key reads back with event_frame_key;
 *  - an event marked reorder, put in field order by wire_reorder_event, keeps its bytes'
 *    meaning (protobuf-c decodes both alike) and scans without reorder. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "fanout.pb-c.h"
#include "core/pattern.h"
#include "core/topic.h"
#include "fuzz_util.h"
#include "ingest/event_encode.h"
#include "ingest/wire_scan.h"

#define SCAN_FUZZ_EVENTS_MAX 8192u

static struct event_view views[SCAN_FUZZ_EVENTS_MAX];

/* ---- an independent reference: strings by descriptor, UTF-8 by code point ---------- */

/* Decodes one code point; returns its length, or 0 when ill-formed (overlong, surrogate,
 * past U+10FFFF, truncated) or NUL. */
static size_t ref_code_point(const uint8_t *p, size_t n)
{
	uint32_t cp, min;
	size_t len;

	if (p[0] < 0x80)
		return p[0] ? 1 : 0;
	if ((p[0] & 0xe0) == 0xc0)
		len = 2, cp = p[0] & 0x1f, min = 0x80;
	else if ((p[0] & 0xf0) == 0xe0)
		len = 3, cp = p[0] & 0x0f, min = 0x800;
	else if ((p[0] & 0xf8) == 0xf0)
		len = 4, cp = p[0] & 0x07, min = 0x10000;
	else
		return 0;
	if (len > n)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (p[i] & 0x3f);
	}
	if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return len;
}

static bool ref_utf8(const uint8_t *p, size_t n)
{
	for (size_t i = 0, k; i < n; i += k)
		if (!(k = ref_code_point(p + i, n - i)))
			return false;
	return true;
}

static uint64_t ref_varint(const uint8_t **p, const uint8_t *end, bool *ok)
{
	uint64_t v = 0;

	for (int i = 0; i < 10 && *p < end; i++) {
		uint8_t b = *(*p)++;

		v |= (uint64_t)(b & 0x7f) << (7 * i);
		if (!(b & 0x80))
			return v;
	}
	*ok = false;
	return 0;
}

/* What the independent walk found wrong in the raw bytes (any of these refuses). */
struct ref_faults {
	bool bad_string, twice, bad_bool, neg_zero_split;
	bool field_zero;	/* a tag naming field 0 (protobuf-c takes a non-minimal one) */
};

/* Walks every field at any depth of a message of type d (bytes protobuf-c accepted):
 * strings must be clean, singular fields appear once (a oneof's members count as one),
 * bools be varints; in_split: inside a coordination_completed, no -0.0 double. */
static void ref_walk(const ProtobufCMessageDescriptor *d, const uint8_t *p, const uint8_t *end,
		     bool in_split, struct ref_faults *out)
{
	uint8_t seen[64] = { 0 };
	bool oneof_seen = false, ok = true;

	while (p < end && ok) {
		uint64_t tag = ref_varint(&p, end, &ok), len = 0, v;
		const ProtobufCFieldDescriptor *f =
			protobuf_c_message_descriptor_get_field(d, (unsigned)(tag >> 3));
		const uint8_t *data = p;

		out->field_zero |= (tag >> 3) == 0;
		switch (tag & 7) {
		case 0:
			ref_varint(&p, end, &ok);
			break;
		case 1:
			memcpy(&v, p, 8);
			if (f && f->type == PROTOBUF_C_TYPE_DOUBLE && in_split &&
			    v == 0x8000000000000000ull)
				out->neg_zero_split = true;
			p += 8;
			break;
		case 5:
			p += 4;
			break;
		case 2:
			len = ref_varint(&p, end, &ok);
			data = p;
			p += len;
			break;
		default:
			return;
		}
		if (!f)
			continue;
		if (f->type == PROTOBUF_C_TYPE_BOOL && (tag & 7) != 0)
			out->bad_bool = true;
		if (f->label != PROTOBUF_C_LABEL_REPEATED) {
			unsigned idx = (unsigned)(f - d->fields);

			if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) {
				out->twice |= oneof_seen;
				oneof_seen = true;
			} else if (idx < 64) {
				out->twice |= seen[idx];
				seen[idx] = 1;
			}
		}
		if ((tag & 7) != 2)
			continue;
		if (f->type == PROTOBUF_C_TYPE_STRING && !ref_utf8(data, len))
			out->bad_string = true;
		if (f->type == PROTOBUF_C_TYPE_MESSAGE)	/* the summary is not stored */
			ref_walk(f->descriptor, data, data + len,
				 (in_split || f->descriptor ==
				  &fanout__v1__coordination_completed__descriptor) &&
				 f->descriptor != &fanout__v1__coordination_summary__descriptor, out);
	}
}

/* The batch's own fields (sequence, events) are free: only each event is walked. */
static void ref_batch_faults(const uint8_t *p, const uint8_t *end, struct ref_faults *out)
{
	bool ok = true;

	while (p < end && ok) {
		uint64_t tag = ref_varint(&p, end, &ok), len;

		out->field_zero |= (tag >> 3) == 0;
		switch (tag & 7) {
		case 0: ref_varint(&p, end, &ok); break;
		case 1: p += 8; break;
		case 5: p += 4; break;
		case 2:
			len = ref_varint(&p, end, &ok);
			if ((tag >> 3) == 2)
				ref_walk(&fanout__v1__event__descriptor, p, p + len, false, out);
			p += len;
			break;
		default: return;
		}
	}
}

/* ---- the content rules, as proto/README.md states them ------------------------------ */

static const char *str(const char *s)
{
	return s ? s : "";
}

static bool id_ok(const char *s, bool required)
{
	size_t n = strlen(str(s));

	return (!required || n > 0) && n <= 128;
}

/* Whether an event carries a producer stamp, which only the server writes. */
static bool stamped(const Fanout__V1__PublishBatch *pb)
{
	for (size_t i = 0; i < pb->n_events; i++)
		if (pb->events[i]->producer)
			return true;
	return false;
}

/* The code the rules give an event, 0 when it is accepted. */
static int ref_check(const Fanout__V1__Event *e)
{
	const int bad = FANOUT__V1__ERROR_CODE__ERROR_CODE_INVALID_EVENT;
	const Fanout__V1__Distribution *d = e->distribution;
	const Fanout__V1__Metadata *m = e->metadata;
	const char *why;
	uint32_t want;

	if (!id_ok(e->event_id, true) || !d)
		return bad;
	if (topic_name_check(str(d->topic), strlen(str(d->topic)), &why) < 0)
		return FANOUT__V1__ERROR_CODE__ERROR_CODE_INVALID_TOPIC;
	if (pattern_key_check(str(d->routing_key), strlen(str(d->routing_key)), &why) < 0)
		return bad;
	switch (e->payload_case) {
	case FANOUT__V1__EVENT__PAYLOAD_MARKET_DATA:
		if (!id_ok(e->market_data->symbol, true) || !id_ok(e->market_data->exchange, false) ||
		    !id_ok(e->market_data->currency, false))
			return bad;
		want = 1;
		break;
	case FANOUT__V1__EVENT__PAYLOAD_COORDINATION_DECISION:
		if (!id_ok(e->coordination_decision->decision_id, true) ||
		    !id_ok(e->coordination_decision->instrument_id, true) ||
		    !id_ok(e->coordination_decision->action, false) ||
		    e->coordination_decision->n_reasoning > 64)
			return bad;
		want = 2;
		break;
	case FANOUT__V1__EVENT__PAYLOAD_EXECUTION:
		if (!id_ok(e->execution->order_id, true) || !id_ok(e->execution->instrument_id, false) ||
		    !id_ok(e->execution->venue, false) ||
		    !id_ok(e->execution->portfolio_id, false) ||
		    (uint32_t)e->execution->execution_data_type > 6)
			return bad;
		want = 3;
		break;
	default:
		return bad;	/* none, or coordination_completed without a split */
	}
	if ((uint32_t)e->data_type != 0 && (uint32_t)e->data_type != want)
		return bad;
	if ((uint32_t)d->delivery_guarantee > 3 || d->n_target_workflows > 32)
		return bad;
	if (m && (m->n_compliance_flags > 32 || !id_ok(m->venue, false) ||
		  !id_ok(m->source_service, false)))
		return bad;
	return 0;
}

/* ---- comparisons ---------------------------------------------------------------------- */

static void same_str(struct wire_str v, const char *s, const char *what)
{
	FUZZ_CHECK(v.len == strlen(str(s)) && memcmp(v.p, str(s), v.len) == 0,
		   "%s: scan '%.*s' vs protobuf-c '%s'", what, (int)v.len, v.p, str(s));
}

static void same_bits(double a, double b, const char *what)
{
	FUZZ_CHECK(memcmp(&a, &b, sizeof(a)) == 0, "%s: %a vs %a", what, a, b);
}

static void same_values(const struct event_view *v, const Fanout__V1__Event *e)
{
	same_str(v->event_id, e->event_id, "event_id");
	FUZZ_CHECK(v->timestamp_ns == e->timestamp_ns, "timestamp_ns");
	FUZZ_CHECK(v->data_type == (uint32_t)e->data_type, "data_type");
	FUZZ_CHECK(v->has_distribution == (e->distribution != NULL), "distribution");
	if (e->distribution) {
		same_str(v->topic, e->distribution->topic, "topic");
		same_str(v->routing_key, e->distribution->routing_key, "routing_key");
		FUZZ_CHECK(v->priority == e->distribution->priority, "priority");
		FUZZ_CHECK(v->delivery_guarantee == (uint32_t)e->distribution->delivery_guarantee,
			   "delivery_guarantee");
		FUZZ_CHECK(v->n_workflows == e->distribution->n_target_workflows, "workflows");
	}
	if (e->metadata) {
		same_str(v->source_service, e->metadata->source_service, "source_service");
		same_str(v->meta_venue, e->metadata->venue, "metadata.venue");
		FUZZ_CHECK(v->latency_sensitive == (bool)e->metadata->latency_sensitive, "latency");
		FUZZ_CHECK(v->audit_required == (bool)e->metadata->audit_required, "audit");
		FUZZ_CHECK(v->n_flags == e->metadata->n_compliance_flags, "flags");
	}
	FUZZ_CHECK(v->payload == (e->payload_case == 0 ? 0 : (uint8_t)e->payload_case),
		   "payload %u vs %d", v->payload, e->payload_case);
	switch (e->payload_case) {
	case FANOUT__V1__EVENT__PAYLOAD_MARKET_DATA:
		same_str(v->symbol, e->market_data->symbol, "symbol");
		same_str(v->exchange, e->market_data->exchange, "exchange");
		same_str(v->currency, e->market_data->currency, "currency");
		same_str(v->kind, e->market_data->kind, "kind");
		same_bits(v->price, e->market_data->price, "price");
		same_bits(v->volume, (double)e->market_data->volume, "volume");
		break;
	case FANOUT__V1__EVENT__PAYLOAD_COORDINATION_DECISION:
		same_str(v->decision_id, e->coordination_decision->decision_id, "decision_id");
		same_str(v->instrument_id, e->coordination_decision->instrument_id, "instrument");
		same_str(v->action, e->coordination_decision->action, "action");
		same_bits(v->price, e->coordination_decision->confidence, "confidence");
		same_bits(v->volume, (double)e->coordination_decision->quantity, "quantity");
		FUZZ_CHECK(v->n_reasoning == e->coordination_decision->n_reasoning, "reasoning");
		break;
	case FANOUT__V1__EVENT__PAYLOAD_EXECUTION:
		same_str(v->order_id, e->execution->order_id, "order_id");
		same_str(v->instrument_id, e->execution->instrument_id, "instrument");
		same_str(v->exec_venue, e->execution->venue, "venue");
		same_str(v->portfolio_id, e->execution->portfolio_id, "portfolio_id");
		same_bits(v->price, e->execution->price, "price");
		same_bits(v->volume, e->execution->quantity, "quantity");
		FUZZ_CHECK(v->exec_data_type == (uint32_t)e->execution->execution_data_type,
			   "execution_data_type");
		break;
	default:
		break;
	}
}

/* Packs m with protobuf-c into a new buffer; *n its length. */
static uint8_t *pack(const ProtobufCMessage *m, size_t *n)
{
	uint8_t *b;

	*n = protobuf_c_message_get_packed_size(m);
	b = malloc(*n + 1);
	FUZZ_CHECK(b != NULL, "out of memory");
	protobuf_c_message_pack(m, b);
	return b;
}

/* Sorts m's unknown fields by number, keeping the order of those of one number: the
 * order protobuf-c packs them in is the order they came in, and putting fields in order
 * may legitimately move unknown ones of different numbers past each other. */
static void unknown_sort(ProtobufCMessage *m)
{
	for (size_t i = 1; m && i < m->n_unknown_fields; i++) {
		ProtobufCMessageUnknownField f = m->unknown_fields[i];
		size_t k = i;

		for (; k > 0 && m->unknown_fields[k - 1].tag > f.tag; k--)
			m->unknown_fields[k] = m->unknown_fields[k - 1];
		m->unknown_fields[k] = f;
	}
}

/* The event and its distribution (the levels wire_reorder_event orders) with their
 * unknown fields sorted. */
static void unknown_sort_event(Fanout__V1__Event *e)
{
	unknown_sort(&e->base);
	if (e->distribution)
		unknown_sort(&e->distribution->base);
}

/* The stored frame of an accepted event decodes to the event with the server's fields:
 * both packed by protobuf-c (canonical: unknown fields last, zeros omitted) are equal. */
static void check_frame(struct event_view *v, Fanout__V1__Event *e)
{
	const uint32_t partition = 3;
	const uint64_t offset = 1234567;
	const int64_t recv_ns = 1700000000123456789ll;
	Fanout__V1__ServerMessage want = FANOUT__V1__SERVER_MESSAGE__INIT, *got;
	Fanout__V1__ProducerStamp ps = FANOUT__V1__PRODUCER_STAMP__INIT;
	/* Half the events stamped as an idempotent producer's, the values from the input. */
	const struct event_stamp stamp = { .id = "fuzz.producer-1", .id_len = 15,
		.epoch = v->event_id.len, .sequence = (uint64_t)v->timestamp_ns };
	const bool stamp_it = v->event_id.len & 1;
	struct event_parts parts, flat;
	uint32_t size, crc, klen;
	size_t wn, gn;
	uint8_t *frame, *flatbuf, *w, *g;
	const char *key;
	uint64_t body = 0;
	unsigned shift = 0, i = 0;

	event_parts_make(&parts, v, partition, recv_ns, stamp_it ? &stamp : NULL, v->data_type);
	size = event_frame_size(&parts, offset);
	frame = malloc(size);
	flatbuf = malloc(event_parts_bytes(&parts) + 1);
	FUZZ_CHECK(frame && flatbuf, "out of memory");
	FUZZ_CHECK(event_frame_write(&parts, offset, frame, &crc) == size, "frame size");
	/* The form an event crosses reactors in writes the same bytes. */
	event_parts_flatten(&parts, flatbuf, &flat);
	{
		uint8_t *again = malloc(size);

		FUZZ_CHECK(again && event_frame_size(&flat, offset) == size, "flat size");
		event_frame_write(&flat, offset, again, &crc);
		FUZZ_CHECK(memcmp(again, frame, size) == 0, "flat frame differs");
		free(again);
	}
	do {
		body |= (uint64_t)(frame[i] & 0x7f) << shift;
		shift += 7;
	} while (frame[i++] & 0x80);
	FUZZ_CHECK(i + body == size, "frame prefix");
	got = fanout__v1__server_message__unpack(NULL, body, frame + i);
	FUZZ_CHECK(got && got->body_case == FANOUT__V1__SERVER_MESSAGE__BODY_EVENT,
		   "stored frame does not decode as an event");
	e->data_type = (Fanout__V1__DataType)v->data_type;
	if (e->timestamp_ns == 0)
		e->timestamp_ns = recv_ns;
	e->receive_time_ns = recv_ns;
	e->distribution->partition = partition;
	e->distribution->offset = offset;
	if (stamp_it) {
		ps.producer_id = (char *)stamp.id;
		ps.epoch = stamp.epoch;
		ps.sequence = stamp.sequence;
		ps.index = v->data_type;
		e->producer = &ps;
	}
	want.body_case = FANOUT__V1__SERVER_MESSAGE__BODY_EVENT;
	want.event = e;
	unknown_sort_event(e);	/* the stored event may have been put in field order */
	unknown_sort_event(got->event);
	w = pack(&want.base, &wn);
	g = pack(&got->base, &gn);
	FUZZ_CHECK(wn == gn && memcmp(w, g, wn) == 0, "stored event differs from the published");
	e->producer = NULL;	/* ps is on this stack */
	FUZZ_CHECK(event_frame_key(frame, size, &key, &klen) == 0 &&
		   klen == v->routing_key.len && memcmp(key, v->routing_key.p, klen) == 0,
		   "event_frame_key");
	free(w);
	free(g);
	fanout__v1__server_message__free_unpacked(got, NULL);
	free(frame);
	free(flatbuf);
}

/* An event out of field order is put in order as ingest does (wire_reorder_event, then
 * scanned again): the same event, nothing left to reorder. v then describes the ordered
 * bytes, which are returned for the caller to free once it is done with v. */
static uint8_t *check_reorder(struct event_view *v, size_t i)
{
	uint8_t *out = malloc(v->len + 1), *a, *b;
	Fanout__V1__Event *again, *e;
	struct publish_error err;
	size_t n, an, bn;

	FUZZ_CHECK(out != NULL, "out of memory");
	FUZZ_CHECK(wire_reorder_event(v->bytes, v->len, out, v->len, &n) == 0 && n == v->len,
		   "reorder failed");
	again = fanout__v1__event__unpack(NULL, n, out);
	e = fanout__v1__event__unpack(NULL, v->len, v->bytes);
	FUZZ_CHECK(again != NULL && e != NULL, "reordered event does not decode");
	unknown_sort_event(again);
	unknown_sort_event(e);
	a = pack(&e->base, &an);
	b = pack(&again->base, &bn);
	FUZZ_CHECK(an == bn && memcmp(a, b, an) == 0, "reordering changed the event");
	FUZZ_CHECK(wire_scan_event(out, n, v, i, &err) == 0 && !v->reorder,
		   "a reordered event still out of order");
	free(a);
	free(b);
	fanout__v1__event__free_unpacked(again, NULL);
	fanout__v1__event__free_unpacked(e, NULL);
	return out;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	Fanout__V1__PublishBatch *pb = fanout__v1__publish_batch__unpack(NULL, len, data);
	struct publish_error err;
	struct wire_batch b;
	int rc = wire_scan_batch(data, len, views, SCAN_FUZZ_EVENTS_MAX, &b, &err);
	struct ref_faults faults = { 0 };

	if (!pb) {
		FUZZ_CHECK(rc < 0 && err.code == FANOUT__V1__ERROR_CODE__ERROR_CODE_MALFORMED_FRAME,
			   "protobuf-c refuses what the scan says (rc %d code %d: %s)", rc,
			   err.code, rc < 0 ? err.message : "accepted");
		return 0;
	}
	ref_batch_faults(data, data + len, &faults);
	if (faults.field_zero) {	/* protobuf-c takes it; protoc's readers do not */
		FUZZ_CHECK(rc < 0 && err.code == FANOUT__V1__ERROR_CODE__ERROR_CODE_MALFORMED_FRAME,
			   "a field numbered 0 accepted");
		fanout__v1__publish_batch__free_unpacked(pb, NULL);
		return 0;
	}
	FUZZ_CHECK(rc == 0 || err.code != FANOUT__V1__ERROR_CODE__ERROR_CODE_MALFORMED_FRAME,
		   "scan refuses what protobuf-c accepts: %s", err.message);
	FUZZ_CHECK(b.sequence == pb->sequence, "sequence");
	if (pb->n_events > SCAN_FUZZ_EVENTS_MAX) {
		FUZZ_CHECK(rc < 0 && strstr(err.message, "exceeds"), "too many events accepted");
	} else if (faults.bad_string || faults.twice || faults.bad_bool || faults.neg_zero_split ||
		   stamped(pb)) {
		FUZZ_CHECK(rc < 0 && err.code == FANOUT__V1__ERROR_CODE__ERROR_CODE_INVALID_EVENT,
			   "a refused shape accepted (rc %d; string %d twice %d bool %d -0 %d "
			   "stamp %d)", rc, faults.bad_string, faults.twice, faults.bad_bool,
			   faults.neg_zero_split, stamped(pb));
	} else {
		FUZZ_CHECK(rc == 0, "scan refuses a clean batch: %s", err.message);
		FUZZ_CHECK(b.n == pb->n_events, "event count");
		for (size_t i = 0; i < b.n; i++) {
			struct event_view *v = &views[i];
			Fanout__V1__Event *e = pb->events[i];
			uint8_t *ordered = NULL;
			int want, got;

			if (v->fallback)	/* a coordination_completed: ingest/split.c */
				continue;
			if (v->reorder)
				ordered = check_reorder(v, i);
			same_values(v, e);
			want = ref_check(e);
			got = wire_check_event(v, i, &err) < 0 ? (int)err.code : 0;
			FUZZ_CHECK(want == got, "content rules: reference %d, scan %d (%s)", want,
				   got, got ? err.message : "accepted");
			if (got == 0)
				check_frame(v, e);
			free(ordered);
		}
	}
	fanout__v1__publish_batch__free_unpacked(pb, NULL);
	return 0;
}
