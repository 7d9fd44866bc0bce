/* tests/unit/ingest/publish_test.c — publishing from wire bytes, across reactors,
 * without threads: a batch on reactor 0 appends its own partitions' events at once and
 * lays out the others' in the ticket; reactor 1 appends those with publish_remote_apply.
 * The stored frames must decode to the same events with the owner's offsets, be the
 * canonical encoding protobuf-c gives the same event, keep doubles bit for bit; the
 * ticket must carry every offset, and releasing it wakes the publisher. Bad strings are
 * refused by name; a duplicated field takes the protobuf-c fallback; and the hot path
 * calls malloc not once for a large batch (this program counts every allocation). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <errno.h>
#include <math.h>
#include <string.h>

#include "core/frame.h"
#include "core/log.h"
#include "core/topic.h"
#include "ingest/publish.h"
#include "ingest/route.h"

#define N 200u

/* Every allocation of this process is counted (glibc's are reached by their __libc
 * names), so a test can say the hot path made none. Not under AddressSanitizer, which
 * owns malloc itself: there the count stays 0 and says nothing. */
#ifndef __SANITIZE_ADDRESS__
#define COUNT_ALLOCS 1
extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
static unsigned long allocs;

void *malloc(size_t n)
{
	allocs++;
	return __libc_malloc(n);
}

void *calloc(size_t n, size_t m)
{
	allocs++;
	return __libc_calloc(n, m);
}

void *realloc(void *p, size_t n)
{
	allocs++;
	return __libc_realloc(p, n);
}
#else
static unsigned long allocs;
#endif

struct fixture {
	char dir[64];
	struct topic_table topics;
	struct topic *tp;
	struct publish_ctx pub[2];	/* one per reactor */
	struct publish_ticket t;
	struct arena arena[2];
	uint8_t *wire;			/* the batch's bytes */
	size_t wire_len;
	Fanout__V1__Event ev[N];
	Fanout__V1__Distribution dist[N];
	Fanout__V1__MarketData md[N];
	Fanout__V1__Event *ptrs[N];
	char keys[N][32], ids[N][32];
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct log_config lc = { .segment_bytes = 8u << 20 };	/* no roll-over here */

	if (!f)
		return -1;
	strcpy(f->dir, "/tmp/fanout-publish-test.XXXXXX");
	if (!mkdtemp(f->dir) || topic_table_init(&f->topics, f->dir, &lc) < 0)
		return -1;
	f->topics.reactors = 2;
	if (topic_create(&f->topics, "md", 2, 4, &f->tp) < 0)
		return -1;
	f->wire = malloc(N * 1024);
	for (uint32_t r = 0; r < 2; r++) {
		if (arena_init(&f->arena[r], 8u << 20) < 0 ||
		    publish_init(&f->pub[r], 1u << 20, &f->arena[r]) < 0)
			return -1;
		f->pub[r].topics = &f->topics;
		f->pub[r].self = r;
		f->pub[r].default_partitions = 1;
	}
	for (uint32_t i = 0; i < N; i++) {
		fanout__v1__event__init(&f->ev[i]);
		fanout__v1__distribution__init(&f->dist[i]);
		fanout__v1__market_data__init(&f->md[i]);
		snprintf(f->ids[i], sizeof(f->ids[i]), "ev-%u", i);
		snprintf(f->keys[i], sizeof(f->keys[i]), "K%u.X.trade", i % 37);
		f->ev[i].event_id = f->ids[i];
		f->ev[i].timestamp_ns = 1000 + i;
		f->dist[i].topic = "md";
		f->dist[i].routing_key = f->keys[i];
		f->ev[i].distribution = &f->dist[i];
		f->md[i].symbol = "K";
		f->md[i].price = 1.5 * i;
		f->md[i].volume = i;
		f->ev[i].payload_case = FANOUT__V1__EVENT__PAYLOAD_MARKET_DATA;
		f->ev[i].market_data = &f->md[i];
		f->ptrs[i] = &f->ev[i];
	}
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	char cmd[128];

	publish_ticket_free(&f->t);
	for (uint32_t r = 0; r < 2; r++) {
		publish_free(&f->pub[r]);
		arena_free(&f->arena[r]);
	}
	free(f->wire);
	topic_table_close(&f->topics);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
	if (system(cmd) != 0)
		return -1;
	free(f);
	return 0;
}

/* Decodes the stored frame at (partition, offset). */
static Fanout__V1__ServerMessage *stored(struct fixture *f, uint32_t p, uint64_t offset)
{
	struct log_ref ref;
	struct frame_view fv;

	assert_int_equal(log_read(f->tp->part[p].log, offset, &ref), 0);
	assert_true(frame_parse(ref.frame, ref.len, ref.len, &fv) > 0);
	return fanout__v1__server_message__unpack(NULL, fv.len, fv.body);
}

/* Packs the fixture's events as one PublishBatch. */
static void pack_batch(struct fixture *f, uint32_t n)
{
	Fanout__V1__PublishBatch pb = FANOUT__V1__PUBLISH_BATCH__INIT;

	pb.sequence = 77;
	pb.n_events = n;
	pb.events = f->ptrs;
	assert_true(protobuf_c_message_get_packed_size(&pb.base) <= N * 1024);
	f->wire_len = protobuf_c_message_pack(&pb.base, f->wire);
}

/* Publishes the fixture's N events on reactor r. */
static int publish_all(struct fixture *f, uint32_t r, struct publish_error *err)
{
	size_t appended = 0;
	uint64_t seq = 0;
	int rc;

	pack_batch(f, N);
	rc = publish_bytes(&f->pub[r], f->wire, f->wire_len, 5000, &f->t, &appended, &seq, err);
	assert_int_equal(seq, 77);
	return rc;
}

/* Lets reactor 1 append what reactor 0 left it, and releases the ticket. */
static void apply_remote(struct fixture *f)
{
	publish_flush(&f->pub[0]);
	for (uint32_t i = 0; i < f->t.nremote; i++)
		publish_remote_apply(&f->pub[1], &f->t.remote[i]);
	publish_flush(&f->pub[1]);
	publish_release(&f->pub[1]);
}

static void remote_events_get_their_owners_offsets(void **state)
{
	struct fixture *f = *state;
	struct publish_error err;
	size_t appended = 0;
	uint32_t owned[2] = { 0 };
	int rc;

	for (uint32_t p = 0; p < 4; p++)
		owned[f->tp->part[p].owner]++;
	assert_int_equal(owned[0], 2);	/* the partitions go round both reactors */
	assert_int_equal(owned[1], 2);
	rc = publish_all(f, 0, &err);
	(void)appended;
	assert_int_equal(rc, 1);	/* some wait for reactor 1 */
	assert_int_equal(f->t.n, N);
	assert_true(f->t.nremote > 0 && f->t.nremote < N);
	assert_int_equal(atomic_load(&f->t.remaining), f->t.nremote);
	publish_flush(&f->pub[0]);
	/* Reactor 1 takes them in order, as the lane would deliver them. */
	for (uint32_t i = 0; i < f->t.nremote; i++)
		publish_remote_apply(&f->pub[1], &f->t.remote[i]);
	publish_flush(&f->pub[1]);
	assert_int_equal(f->pub[1].wake & 1, 0);	/* not yet released */
	publish_release(&f->pub[1]);
	assert_int_equal(atomic_load(&f->t.remaining), 0);
	assert_int_equal(f->pub[1].wake & 1, 1);	/* the publisher is woken */
	for (uint32_t i = 0; i < N; i++) {
		uint32_t p = f->t.partitions[i];
		Fanout__V1__ServerMessage *m;

		assert_true(f->t.offsets[i] != UINT64_MAX);
		m = stored(f, p, f->t.offsets[i]);
		assert_non_null(m);
		assert_int_equal(m->body_case, FANOUT__V1__SERVER_MESSAGE__BODY_EVENT);
		assert_string_equal(m->event->event_id, f->ids[i]);
		assert_string_equal(m->event->distribution->routing_key, f->keys[i]);
		assert_int_equal(m->event->distribution->partition, p);
		assert_int_equal(m->event->distribution->offset, f->t.offsets[i]);
		assert_int_equal(m->event->receive_time_ns, 5000);
		assert_true(m->event->market_data->price == 1.5 * i);
		fanout__v1__server_message__free_unpacked(m, NULL);
	}
	/* Dense offsets per partition: N events, no gaps, nothing else. */
	for (uint32_t p = 0; p < 4; p++) {
		uint64_t count = 0;

		for (uint32_t i = 0; i < N; i++)
			count += f->t.partitions[i] == p;
		assert_int_equal(log_tail(f->tp->part[p].log), count);
	}
	assert_int_equal(f->pub[0].events + f->pub[1].events, N);
}

/* Fields this server does not know travel with the event (protobuf-c packs them last):
 * the stored frame keeps them, whichever reactor writes it. */
static void unknown_fields_cross_reactors(void **state)
{
	struct fixture *f = *state;
	static uint8_t ev_data[1] = { 7 }, dist_data[1] = { 9 };
	ProtobufCMessageUnknownField ev_unknown = {
		.tag = 99, .wire_type = PROTOBUF_C_WIRE_TYPE_VARINT, .len = 1, .data = ev_data,
	};
	ProtobufCMessageUnknownField dist_unknown = {
		.tag = 98, .wire_type = PROTOBUF_C_WIRE_TYPE_VARINT, .len = 1, .data = dist_data,
	};
	struct publish_error err;
	size_t appended = 0;

	for (uint32_t i = 0; i < N; i++) {
		f->ev[i].base.n_unknown_fields = 1;
		f->ev[i].base.unknown_fields = &ev_unknown;
		f->dist[i].base.n_unknown_fields = 1;
		f->dist[i].base.unknown_fields = &dist_unknown;
	}
	(void)appended;
	assert_int_equal(publish_all(f, 0, &err), 1);
	apply_remote(f);
	for (uint32_t i = 0; i < N; i++) {
		Fanout__V1__ServerMessage *m = stored(f, f->t.partitions[i], f->t.offsets[i]);

		assert_non_null(m);
		assert_int_equal(m->event->distribution->offset, f->t.offsets[i]);
		assert_int_equal(m->event->base.n_unknown_fields, 1);
		assert_int_equal(m->event->base.unknown_fields[0].tag, 99);
		fanout__v1__server_message__free_unpacked(m, NULL);
	}
}


/* Publishes one event given as raw Event bytes on reactor 0 (its partitions are 0 and 2,
 * so the test says which). Returns publish_bytes' verdict. */
static int publish_raw(struct fixture *f, const uint8_t *ev, size_t len, struct publish_error *err)
{
	uint8_t *p = f->wire;
	size_t appended = 0;
	uint64_t seq = 0;

	*p++ = 0x12;	/* PublishBatch.events */
	for (size_t v = len; ; v >>= 7) {
		*p++ = (uint8_t)(v & 0x7f) | (v >= 0x80 ? 0x80 : 0);
		if (v < 0x80)
			break;
	}
	memcpy(p, ev, len);
	f->wire_len = (size_t)(p - f->wire) + len;
	return publish_bytes(&f->pub[0], f->wire, f->wire_len, 5000, &f->t, &appended, &seq, err);
}

/* The stored frame of the ticket's event i, undecoded. */
static struct log_ref stored_ref(struct fixture *f, uint32_t i)
{
	struct log_ref ref;

	assert_int_equal(log_read(f->tp->part[f->t.partitions[i]].log, f->t.offsets[i], &ref), 0);
	return ref;
}

/* Every stored frame is byte for byte what protobuf-c packs for the event with the
 * server's fields set: canonical, each field once, in field-number order. */
static void stored_frames_are_canonical(void **state)
{
	struct fixture *f = *state;
	struct publish_error err;

	f->ev[3].data_type = FANOUT__V1__DATA_TYPE__DATA_TYPE_MARKET_DATA;
	f->dist[5].partition = 3;	/* server-owned: replaced, never trusted */
	f->dist[5].offset = 999;
	f->ev[5].receive_time_ns = 12;
	f->ev[7].timestamp_ns = 0;	/* defaults to the receive time */
	assert_int_equal(publish_all(f, 0, &err), 1);
	apply_remote(f);
	for (uint32_t i = 0; i < N; i++) {
		Fanout__V1__ServerMessage m = FANOUT__V1__SERVER_MESSAGE__INIT;
		struct log_ref ref = stored_ref(f, i);
		uint8_t want[512];
		size_t len;

		f->ev[i].data_type = FANOUT__V1__DATA_TYPE__DATA_TYPE_MARKET_DATA;
		f->ev[i].receive_time_ns = 5000;
		if (f->ev[i].timestamp_ns == 0)
			f->ev[i].timestamp_ns = 5000;
		f->dist[i].partition = f->t.partitions[i];
		f->dist[i].offset = f->t.offsets[i];
		m.body_case = FANOUT__V1__SERVER_MESSAGE__BODY_EVENT;
		m.event = &f->ev[i];
		assert_true(frame_packed_size(&m.base) <= sizeof(want));
		len = frame_pack(&m.base, want);
		assert_int_equal(ref.len, len);
		assert_memory_equal(ref.frame, want, len);
		{	/* and its key reads back without decoding it */
			const char *key;
			uint32_t klen;

			assert_int_equal(event_frame_key(ref.frame, ref.len, &key, &klen), 0);
			assert_int_equal(klen, strlen(f->keys[i]));
			assert_memory_equal(key, f->keys[i], klen);
			assert_int_equal(event_frame_key(ref.frame, ref.len - 1, &key, &klen),
					 -EINVAL);	/* cut short: refused */
		}
	}
}

/* -0.0 is not 0.0 to a trading system: doubles are copied bit for bit (protobuf-c would
 * not even send it: it omits a double that compares equal to 0). */
static void negative_zero_survives(void **state)
{
	struct fixture *f = *state;
	struct publish_error err;
	Fanout__V1__ServerMessage *m;
	/* event_id "e1", distribution{topic md, key A.b}, market_data{symbol "A",
	 * price -0.0} */
	static const uint8_t ev[] = { 0x0a, 2, 'e', '1', 0x22, 9, 0x0a, 2, 'm', 'd', 0x22, 3,
				      'A', '.', 'b', 0x52, 12, 0x0a, 1, 'A', 0x21, 0, 0, 0, 0, 0,
				      0, 0, 0x80 };
	double d;

	assert_true(publish_raw(f, ev, sizeof(ev), &err) >= 0);
	apply_remote(f);
	m = stored(f, f->t.partitions[0], f->t.offsets[0]);
	assert_non_null(m);
	d = m->event->market_data->price;
	assert_true(d == 0.0 && signbit(d));
	fanout__v1__server_message__free_unpacked(m, NULL);
}

/* Strings are exactly what was sent or refused: a NUL byte or invalid UTF-8 anywhere,
 * named by event and field; nothing is appended. */
static void bad_strings_are_refused_by_name(void **state)
{
	struct fixture *f = *state;
	/* Event{event_id "e1", distribution{topic "md", routing_key "A.b"},
	 * market_data{symbol <s>}} with the symbol patched per case. */
	static const struct { const char *sym; size_t len; const char *msg; } cases[] = {
		{ "A\0B", 3, "events[0].market_data.symbol: contains a NUL byte" },
		{ "A\xc3", 2, "events[0].market_data.symbol: is not valid UTF-8" },
		{ "\xed\xa0\x80", 3, "events[0].market_data.symbol: is not valid UTF-8" },
		{ "\xc0\xaf", 2, "events[0].market_data.symbol: is not valid UTF-8" },
	};
	struct publish_error err;

	for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		uint8_t ev[64] = { 0x0a, 2, 'e', '1', 0x22, 9, 0x0a, 2, 'm', 'd', 0x22, 3, 'A', '.',
				   'b', 0x52 };
		size_t len = 16;

		ev[len++] = (uint8_t)(2 + cases[c].len);
		ev[len++] = 0x0a;
		ev[len++] = (uint8_t)cases[c].len;
		memcpy(ev + len, cases[c].sym, cases[c].len);
		len += cases[c].len;
		assert_int_equal(publish_raw(f, ev, len, &err), -1);
		assert_int_equal(err.code, FANOUT__V1__ERROR_CODE__ERROR_CODE_INVALID_EVENT);
		assert_string_equal(err.message, cases[c].msg);
	}
	for (uint32_t p = 0; p < 4; p++)
		assert_int_equal(log_tail(f->tp->part[p].log), 0);
}

/* A symbol past the limit says the limit, not "required". */
static void long_symbol_names_the_limit(void **state)
{
	struct fixture *f = *state;
	struct publish_error err;
	char sym[130];

	memset(sym, 'S', 129);
	sym[129] = '\0';
	f->md[0].symbol = sym;
	pack_batch(f, 1);
	assert_int_equal(publish_bytes(&f->pub[0], f->wire, f->wire_len, 5000, &f->t,
				       &(size_t){ 0 }, &(uint64_t){ 0 }, &err), -1);
	assert_string_equal(err.message, "events[0].market_data.symbol: 129 bytes, over the "
			    "limit of 128");
}

/* A field given twice is legal protobuf, but readers disagree on the merge: refused,
 * naming the field; nothing stored. */
static void duplicate_fields_are_refused_by_name(void **state)
{
	struct fixture *f = *state;
	struct publish_error err;
	/* event_id "e1", distribution{topic md, key A.b}, market_data{symbol "A"},
	 * then event_id "e2" again. */
	static const uint8_t ev[] = { 0x0a, 2, 'e', '1', 0x22, 9, 0x0a, 2, 'm', 'd', 0x22, 3,
				      'A', '.', 'b', 0x52, 3, 0x0a, 1, 'A', 0x0a, 2, 'e', '2' };
	/* the same with market_data given twice (a oneof member again) */
	static const uint8_t twice[] = { 0x0a, 2, 'e', '1', 0x22, 9, 0x0a, 2, 'm', 'd', 0x22, 3,
					 'A', '.', 'b', 0x52, 3, 0x0a, 1, 'A', 0x52, 3, 0x0a, 1,
					 'B' };

	assert_int_equal(publish_raw(f, ev, sizeof(ev), &err), -1);
	assert_string_equal(err.message, "events[0].event_id: given twice; send each field once");
	assert_int_equal(publish_raw(f, twice, sizeof(twice), &err), -1);
	assert_string_equal(err.message, "events[0].payload: more than one payload; send one");
	for (uint32_t p = 0; p < 4; p++)
		assert_int_equal(log_tail(f->tp->part[p].log), 0);
}

/* Fields out of field-number order are put in order, byte for byte (no decoding: a -0.0
 * price survives), and stored canonically. */
static void out_of_order_fields_are_put_in_order(void **state)
{
	struct fixture *f = *state;
	struct publish_error err;
	Fanout__V1__ServerMessage *m;
	/* market_data{symbol "A", price -0.0} first, then distribution{key A.b, topic md}
	 * (its fields reversed too), then event_id "e1" */
	static const uint8_t ev[] = { 0x52, 12, 0x0a, 1, 'A', 0x21, 0, 0, 0, 0, 0, 0, 0, 0x80,
				      0x22, 9, 0x22, 3, 'A', '.', 'b', 0x0a, 2, 'm', 'd',
				      0x0a, 2, 'e', '1' };
	struct log_ref ref;
	uint8_t want[256];
	size_t n;

	assert_true(publish_raw(f, ev, sizeof(ev), &err) >= 0);
	apply_remote(f);
	assert_int_equal(f->pub[0].fallbacks, 0);	/* nothing decoded */
	m = stored(f, f->t.partitions[0], f->t.offsets[0]);
	assert_non_null(m);
	assert_string_equal(m->event->event_id, "e1");
	assert_string_equal(m->event->distribution->routing_key, "A.b");
	assert_true(m->event->market_data->price == 0.0 && signbit(m->event->market_data->price));
	/* Canonical: what protobuf-c packs for it, but for the -0.0 it cannot write. */
	m->event->market_data->price = 1.0;
	n = frame_pack(&m->base, want);
	ref = stored_ref(f, 0);
	assert_int_equal(ref.len, n);
	assert_memory_equal(ref.frame, want, n - 8);	/* the price's 8 bytes are last */
	fanout__v1__server_message__free_unpacked(m, NULL);
}

/* A field numbered 0 (a non-minimal zero tag, which protobuf-c keeps as an unknown field)
 * in an event out of order: put in order, it must not land before the server's fields
 * again, which made ingest answer INTERNAL "cannot lay out the event" (found by
 * tests/fuzz/publish_scan_fuzz.c). Whether such an event is stored or refused is ingest's
 * rule to make; an internal error it is not. */
static void field_zero_is_not_an_internal_error(void **state)
{
	struct fixture *f = *state;
	struct publish_error err;
	/* market_data{symbol "A"}, field 0 = 5, distribution{topic md, key A.b}, event_id */
	static const uint8_t ev[] = { 0x52, 3, 0x0a, 1, 'A', 0x80, 0x00, 0x05,
				      0x22, 9, 0x0a, 2, 'm', 'd', 0x22, 3, 'A', '.', 'b',
				      0x0a, 2, 'e', '1' };

	/* Field number 0 is not protobuf: protoc's readers refuse it, so it is refused here
	 * as malformed (not stored, not INTERNAL). */
	memset(&err, 0, sizeof(err));
	assert_int_equal(publish_raw(f, ev, sizeof(ev), &err), -1);
	assert_int_equal(err.code, FANOUT__V1__ERROR_CODE__ERROR_CODE_MALFORMED_FRAME);
	for (uint32_t p = 0; p < 4; p++)
		assert_int_equal(log_tail(f->tp->part[p].log), 0);
}

/* Once warm (the ticket sized by a first batch), a large batch is scanned, validated and
 * stored without one call to malloc, calloc or realloc. */
static void a_large_batch_allocates_nothing(void **state)
{
	struct fixture *f = *state;
	struct publish_error err;
	unsigned long before;

	assert_int_equal(publish_all(f, 0, &err), 1);
	apply_remote(f);
	pack_batch(f, N);
	before = allocs;
	for (int round = 0; round < 20; round++) {
		assert_int_equal(publish_bytes(&f->pub[0], f->wire, f->wire_len, 5000, &f->t,
					       &(size_t){ 0 }, &(uint64_t){ 0 }, &err), 1);
		apply_remote(f);
	}
#ifdef COUNT_ALLOCS
	assert_int_equal(allocs - before, 0);
#else
	(void)before;
	skip();	/* AddressSanitizer owns malloc: nothing to count here */
#endif
	assert_int_equal(f->pub[0].events + f->pub[1].events, 21 * N);
}


/* A coordination_completed repeats its parent's distribution and metadata in every
 * decision: 1,000 decisions of a parent carrying 32 long workflow names would store
 * megabytes from a frame of a few hundred KB. Refused whole, naming the bound; the same
 * event with a short list is split and stored. */
static void split_amplification_is_bounded(void **state)
{
	struct fixture *f = *state;
	enum { DECISIONS = 1000, FLOWS = 32 };
	static Fanout__V1__CoordinationDecision dec[DECISIONS], *decp[DECISIONS];
	static char ids[DECISIONS][16], flows[FLOWS][129], *flowp[FLOWS];
	Fanout__V1__CoordinationCompleted cc = FANOUT__V1__COORDINATION_COMPLETED__INIT;
	Fanout__V1__Event ev = FANOUT__V1__EVENT__INIT, *ptrs[1] = { &ev };
	Fanout__V1__Distribution d = FANOUT__V1__DISTRIBUTION__INIT;
	Fanout__V1__PublishBatch pb = FANOUT__V1__PUBLISH_BATCH__INIT;
	struct route_ctx *route = calloc(1, sizeof(*route));
	struct publish_error err;
	uint8_t *wire = malloc(4u << 20);
	size_t len, appended;
	uint64_t seq;

	assert_non_null(route);
	assert_non_null(wire);
	assert_int_equal(route_init(route, NULL), 0);
	f->pub[0].route = route;
	for (int i = 0; i < FLOWS; i++) {
		memset(flows[i], 'w', 128);
		flows[i][0] = (char)('a' + i % 26);
		flowp[i] = flows[i];
	}
	for (int i = 0; i < DECISIONS; i++) {
		fanout__v1__coordination_decision__init(&dec[i]);
		snprintf(ids[i], sizeof(ids[i]), "d%d", i);
		dec[i].decision_id = ids[i];
		dec[i].instrument_id = "IBM";
		dec[i].action = "buy";
		decp[i] = &dec[i];
	}
	cc.coordination_id = "c1";
	cc.n_decisions = DECISIONS;
	cc.decisions = decp;
	d.topic = "md";
	d.routing_key = "x";
	d.n_target_workflows = FLOWS;
	d.target_workflows = flowp;
	ev.event_id = "p";
	ev.distribution = &d;
	ev.payload_case = FANOUT__V1__EVENT__PAYLOAD_COORDINATION_COMPLETED;
	ev.coordination_completed = &cc;
	pb.n_events = 1;
	pb.events = ptrs;
	len = protobuf_c_message_pack(&pb.base, wire);
	assert_true(len < 100u << 10);	/* under 100 KB sent ... */
	assert_int_equal(publish_bytes(&f->pub[0], wire, len, 5000, &f->t, &appended, &seq,
				       &err), -1);	/* ... would have stored > 4 MB */
	assert_int_equal(err.code, FANOUT__V1__ERROR_CODE__ERROR_CODE_INVALID_EVENT);
	assert_non_null(strstr(err.message, "times its frame"));
	for (uint32_t p = 0; p < 4; p++)
		assert_int_equal(log_tail(f->tp->part[p].log), 0);
	flowp[0] = "execution";	/* the seed's short list: split and stored */
	flowp[1] = "risk";
	d.n_target_workflows = 2;
	len = protobuf_c_message_pack(&pb.base, wire);
	if (publish_bytes(&f->pub[0], wire, len, 5000, &f->t, &appended, &seq, &err) < 0)
		fail_msg("%s", err.message);
	assert_int_equal(f->t.n, DECISIONS);
	apply_remote(f);
	f->pub[0].route = NULL;
	route_free(route);
	free(route);
	free(wire);
}

/* publish_ctx.admit (--kafka-ack kafka's bound): asked once for a run of events to one
 * topic, after validation; its refusal stores nothing and is the batch's error. */
static unsigned admit_calls;
static bool admit_refuses;

static int admit_count(void *arg, struct topic *tp, struct publish_error *err)
{
	struct fixture *f = arg;

	assert_ptr_equal(tp, f->tp);
	admit_calls++;
	if (!admit_refuses)
		return 0;
	err->code = FANOUT__V1__ERROR_CODE__ERROR_CODE_LOG_FULL;
	err->retry_after_ms = 200;
	snprintf(err->message, sizeof(err->message), "not yet in Kafka");
	return -1;
}

static void admit_refusal_stores_nothing(void **state)
{
	struct fixture *f = *state;
	struct publish_error err;

	f->pub[0].admit = admit_count;
	f->pub[0].admit_arg = f;
	admit_calls = 0;
	admit_refuses = true;
	assert_int_equal(publish_all(f, 0, &err), -1);
	assert_int_equal(err.code, FANOUT__V1__ERROR_CODE__ERROR_CODE_LOG_FULL);
	assert_int_equal(err.retry_after_ms, 200);
	assert_int_equal(admit_calls, 1);	/* N events, one topic: asked once */
	assert_int_equal(f->t.nremote, 0);
	for (uint32_t p = 0; p < 4; p++)
		assert_int_equal(log_tail(f->tp->part[p].log), 0);
	admit_refuses = false;
	assert_true(publish_all(f, 0, &err) >= 0);
	assert_int_equal(admit_calls, 2);
	assert_int_equal(f->t.n, N);
	apply_remote(f);
}

static void bad_batch_hands_nothing_over(void **state)
{
	struct fixture *f = *state;
	struct publish_error err;
	size_t appended = 0;

	f->dist[N - 1].routing_key = "";	/* invalid: the whole batch is refused */
	pack_batch(f, N);
	assert_int_equal(publish_bytes(&f->pub[0], f->wire, f->wire_len, 5000, &f->t, &appended,
				       &(uint64_t){ 0 }, &err), -1);
	assert_int_equal(f->t.nremote, 0);
	assert_int_equal(appended, 0);
	for (uint32_t p = 0; p < 4; p++)
		assert_int_equal(log_tail(f->tp->part[p].log), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(remote_events_get_their_owners_offsets, setup,
						teardown),
		cmocka_unit_test_setup_teardown(unknown_fields_cross_reactors, setup, teardown),
		cmocka_unit_test_setup_teardown(bad_batch_hands_nothing_over, setup, teardown),
		cmocka_unit_test_setup_teardown(admit_refusal_stores_nothing, setup, teardown),
		cmocka_unit_test_setup_teardown(stored_frames_are_canonical, setup, teardown),
		cmocka_unit_test_setup_teardown(negative_zero_survives, setup, teardown),
		cmocka_unit_test_setup_teardown(bad_strings_are_refused_by_name, setup, teardown),
		cmocka_unit_test_setup_teardown(long_symbol_names_the_limit, setup, teardown),
		cmocka_unit_test_setup_teardown(duplicate_fields_are_refused_by_name, setup, teardown),
		cmocka_unit_test_setup_teardown(out_of_order_fields_are_put_in_order, setup, teardown),
		cmocka_unit_test_setup_teardown(field_zero_is_not_an_internal_error, setup,
						teardown),
		cmocka_unit_test_setup_teardown(a_large_batch_allocates_nothing, setup, teardown),
		cmocka_unit_test_setup_teardown(split_amplification_is_bounded, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
