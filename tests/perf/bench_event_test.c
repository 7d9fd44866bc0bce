/* tests/perf/bench_event_test.c — perf/bench_event.c: the pre-encoded events every
 * system carries are, byte for byte, what the old path made (tools/synth.c's slot for the
 * same seq, intended time and key, packed by protobuf-c, its event_id the same sequence
 * in 12 digits), over keys of every layout (each exchange, 5- and 6-digit symbols, both
 * volume widths); fanout's patched PublishBatch frame decodes with protobuf-c to exactly
 * those events and is the frame protobuf-c would pack; every subscriber's walk reads the
 * sequence and time back; out-of-range values are refused, not encoded wrongly; and the
 * bad-event test hook spoils only its event's data_type. */
#include <errno.h>
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "core/frame.h"
#include "fanout.pb-c.h"
#include "perf/bench.h"
#include "perf/bench_event.h"
#include "perf/bench_pb.h"
#include "tools/synth.h"

#define TS0 INT64_C(1764892800000000000)	/* 2025-12-05, ns since the epoch */

static struct bench_events ev;

/* The old path's event seq: a synth slot as bench_fanout.c filled it, packed. */
struct old_event {
	struct synth_slot slot;
	uint8_t bytes[BENCH_EVENT_BYTES_MAX];
	size_t len;
};

static void old_event(struct old_event *o, uint64_t seq, int64_t ts, unsigned symbols)
{
	synth_init(&o->slot, BENCH_TOPIC, "fanout-bench");
	o->slot.meta.audit_required = ev.audit;
	snprintf(o->slot.event_id, sizeof(o->slot.event_id), "%012" PRIu64, seq);
	o->slot.ev.timestamp_ns = ts;
	synth_fill(&o->slot, seq, symbols);
	o->len = protobuf_c_message_get_packed_size(&o->slot.ev.base);
	assert_true(o->len <= sizeof(o->bytes));
	protobuf_c_message_pack(&o->slot.ev.base, o->bytes);
}

/* The decoded event has the old event's every field, and the walk reads seq and ts. */
static void assert_same_event(const uint8_t *p, size_t n, const struct old_event *o,
			      uint64_t seq, int64_t ts, unsigned symbols)
{
	Fanout__V1__Event *e = fanout__v1__event__unpack(NULL, n, p);
	char key[48];
	uint64_t got_seq;
	int64_t got_ts;

	assert_non_null(e);
	bench_fanout_key(key, sizeof(key), (unsigned)(seq % symbols));
	assert_string_equal(e->event_id, o->slot.event_id);
	assert_true(e->timestamp_ns == ts);
	assert_int_equal(e->data_type, FANOUT__V1__DATA_TYPE__DATA_TYPE_MARKET_DATA);
	assert_string_equal(e->distribution->topic, BENCH_TOPIC);
	assert_string_equal(e->distribution->routing_key, key);
	assert_string_equal(e->metadata->source_service, "fanout-bench");
	assert_int_equal(e->metadata->audit_required, ev.audit);
	assert_int_equal(e->payload_case, FANOUT__V1__EVENT__PAYLOAD_MARKET_DATA);
	assert_string_equal(e->market_data->symbol, o->slot.md.symbol);
	assert_string_equal(e->market_data->exchange, o->slot.md.exchange);
	assert_true(e->market_data->price == o->slot.md.price);
	assert_true(e->market_data->price == bench_event_price(seq, symbols));
	assert_true(e->market_data->bid == o->slot.md.bid);
	assert_true(e->market_data->ask == o->slot.md.ask);
	assert_true(e->market_data->volume == o->slot.md.volume);
	assert_string_equal(e->market_data->currency, "USD");
	assert_string_equal(e->market_data->kind, "trade");
	fanout__v1__event__free_unpacked(e, NULL);
	assert_int_equal(bench_pb_event_fields(p, n, &got_seq, &got_ts), 0);
	assert_true(got_seq == seq);
	assert_true(got_ts == ts);
}

/* Event seq over symbols keys: the same bytes as the old path, the same fields. */
static void check_event(uint64_t seq, unsigned symbols)
{
	static struct old_event o;
	uint8_t buf[BENCH_EVENT_BYTES_MAX];
	int64_t ts = TS0 + (int64_t)(seq * 1013);
	int n = bench_event_put(&ev, buf, seq, ts);

	old_event(&o, seq, ts, symbols);
	assert_int_equal(n, (int)o.len);
	assert_int_equal(bench_event_len(&ev, seq), o.len);
	if (memcmp(buf, o.bytes, o.len))
		fail_msg("event %" PRIu64 " of %u keys differs from protobuf-c's", seq, symbols);
	assert_same_event(buf, (size_t)n, &o, seq, ts, symbols);
}

static void events_are_the_old_bytes(void **state)
{
	static const unsigned ks[] = { 1, 3, 4, 10, 100, 481, 5000, 100001, 1000000 };

	(void)state;
	for (size_t i = 0; i < 2 * sizeof(ks) / sizeof(*ks); i++) {
		unsigned k = ks[i / 2];

		/* Each key count plain and with metadata.audit_required (--audit). */
		assert_int_equal(bench_events_init(&ev, k, UINT64_MAX, i % 2), 0);
		for (uint64_t seq = 0; seq < 300; seq++)
			check_event(seq, k);
		/* The last keys (6 digits past 99,999), large sequences, the last 12-digit ones. */
		for (uint64_t seq = k - 1; seq < k + 40; seq++)
			check_event(seq, k);
		for (uint64_t seq = 99990; seq < 100030; seq++)
			check_event(seq, k);
		for (uint64_t seq = 999999999950ull; seq < 1000000000000ull; seq++)
			check_event(seq, k);
	}
}

/* n events from seq0 as fanout's publisher sends them: one frame, which protobuf-c
 * decodes to exactly the old path's events and would itself pack to the same bytes. */
static void check_batch(uint64_t sequence, uint64_t seq0, unsigned n)
{
	static int64_t ts[1024];
	static struct old_event old[1024];
	static Fanout__V1__Event *evs[1024];
	uint8_t *buf = malloc(bench_event_batch_cap(n)), *want;
	Fanout__V1__PublishBatch b = FANOUT__V1__PUBLISH_BATCH__INIT;
	Fanout__V1__ClientMessage m = FANOUT__V1__CLIENT_MESSAGE__INIT, *got;
	const uint8_t *frame;
	struct frame_view v;
	long len;

	assert_true(n <= 1024);
	assert_non_null(buf);
	for (unsigned k = 0; k < n; k++) {
		ts[k] = TS0 + (int64_t)k * 977;
		old_event(&old[k], seq0 + k, ts[k], ev.symbols);
		evs[k] = &old[k].slot.ev;
	}
	len = bench_event_batch(&ev, buf, sequence, seq0, n, ts, &frame);
	assert_true(len > 0);
	assert_true(frame >= buf && frame + len <= buf + bench_event_batch_cap(n));
	assert_int_equal(frame_parse(frame, (size_t)len, FRAME_BYTES_LIMIT, &v), (int)len);
	got = fanout__v1__client_message__unpack(NULL, v.len, v.body);
	assert_non_null(got);
	assert_int_equal(got->body_case, FANOUT__V1__CLIENT_MESSAGE__BODY_PUBLISH);
	assert_true(got->publish->sequence == sequence);
	assert_int_equal(got->publish->n_events, n);
	for (unsigned k = 0; k < n; k++) {
		uint8_t again[BENCH_EVENT_BYTES_MAX];
		size_t an = protobuf_c_message_get_packed_size(&got->publish->events[k]->base);

		assert_int_equal(an, old[k].len);
		protobuf_c_message_pack(&got->publish->events[k]->base, again);
		assert_memory_equal(again, old[k].bytes, an);
		assert_same_event(again, an, &old[k], seq0 + k, ts[k], ev.symbols);
	}
	fanout__v1__client_message__free_unpacked(got, NULL);
	/* The whole frame, as protobuf-c would pack the old path's batch. */
	b.sequence = sequence;
	b.n_events = n;
	b.events = evs;
	m.body_case = FANOUT__V1__CLIENT_MESSAGE__BODY_PUBLISH;
	m.publish = &b;
	want = malloc(frame_packed_size(&m.base));
	assert_non_null(want);
	assert_int_equal(frame_pack(&m.base, want), (size_t)len);
	assert_memory_equal(want, frame, (size_t)len);
	free(want);
	free(buf);
}

static void batch_decodes_to_the_events(void **state)
{
	(void)state;
	assert_int_equal(bench_events_init(&ev, 100, UINT64_MAX, false), 0);
	check_batch(1, 0, 128);
	check_batch(7, 12345, 128);
	check_batch(0, 5, 3);			/* proto3: a zero sequence is left out */
	check_batch(UINT64_C(1) << 40, 999999999000ull, 1000);	/* longer prefixes */
	check_batch(2, 77, 1);
	assert_int_equal(bench_events_init(&ev, 5000, UINT64_MAX, false), 0);
	check_batch(3, 4990, 128);
	assert_int_equal(bench_events_init(&ev, 1000000, UINT64_MAX, false), 0);
	check_batch(4, 99900, 256);		/* keys 99,900 .. 100,155: both symbol widths */
}

static void out_of_range_is_refused(void **state)
{
	uint8_t buf[BENCH_EVENT_BYTES_MAX], *big = malloc(bench_event_batch_cap(2));
	int64_t ts[2] = { TS0, TS0 };
	const uint8_t *frame;

	(void)state;
	assert_non_null(big);
	assert_int_equal(bench_events_init(&ev, 0, UINT64_MAX, false), -EINVAL);
	assert_int_equal(bench_events_init(&ev, 1000001, UINT64_MAX, false), -EINVAL);
	assert_int_equal(bench_events_init(&ev, 10, UINT64_MAX, false), 0);
	assert_int_equal(bench_event_put(&ev, buf, 1000000000000ull, TS0), -ERANGE);
	assert_int_equal(bench_event_put(&ev, buf, 1, BENCH_EVENT_TS_MIN - 1), -ERANGE);
	assert_int_equal(bench_event_put(&ev, buf, 1, -5), -ERANGE);
	assert_true(bench_event_put(&ev, buf, 1, BENCH_EVENT_TS_MIN) > 0);
	assert_true(bench_event_put(&ev, buf, 1, INT64_MAX) > 0);	/* still 9 bytes */
	assert_int_equal(bench_event_batch(&ev, big, 1, 999999999999ull, 2, ts, &frame), -ERANGE);
	ts[1] = 0;
	assert_int_equal(bench_event_batch(&ev, big, 1, 0, 2, ts, &frame), -ERANGE);
	free(big);
}

/* --pub-bad-event: that event's data_type disagrees with its market_data payload (which
 * fanoutd refuses); every other field, and every other event, is as before. */
static void bad_event_hook(void **state)
{
	uint8_t buf[BENCH_EVENT_BYTES_MAX];

	(void)state;
	assert_int_equal(bench_events_init(&ev, 10, 5, false), 0);
	for (uint64_t seq = 0; seq < 12; seq++) {
		int n = bench_event_put(&ev, buf, seq, TS0);
		Fanout__V1__Event *e = fanout__v1__event__unpack(NULL, (size_t)n, buf);
		uint64_t s;
		int64_t ts;

		assert_non_null(e);
		assert_int_equal(e->data_type, seq == 5 ? FANOUT__V1__DATA_TYPE__DATA_TYPE_EXECUTION :
				 FANOUT__V1__DATA_TYPE__DATA_TYPE_MARKET_DATA);
		assert_int_equal(e->payload_case, FANOUT__V1__EVENT__PAYLOAD_MARKET_DATA);
		fanout__v1__event__free_unpacked(e, NULL);
		assert_int_equal(bench_pb_event_fields(buf, (size_t)n, &s, &ts), 0);
		assert_true(s == seq);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(events_are_the_old_bytes),
		cmocka_unit_test(batch_decodes_to_the_events),
		cmocka_unit_test(out_of_range_is_refused),
		cmocka_unit_test(bad_event_hook),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
