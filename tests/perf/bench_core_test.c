/* tests/perf/bench_core_test.c — fanout-bench's pure parts: the histogram gives known
 * percentiles for known distributions, the pacer and delivery accounting charge a stall
 * to the events intended during it (no coordinated omission), key selection and the
 * content filter (what each subscriber is owed, against a count event by event; events
 * the filter rejects dropped, not gaps), the protobuf walks of perf/bench_pb.c (the
 * event every subscriber reads, field offsets, publish answers) and the .hdr file. */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "perf/bench.h"
#include "perf/bench_pb.h"
#include "fanout.pb-c.h"
#include "core/frame.h"
#include "tools/synth.h"

static struct latency_hist hist;

/* Within the histogram's 3 significant digits. */
static void assert_near(uint64_t got, uint64_t want)
{
	double err = fabs((double)got - (double)want) / (double)(want ? want : 1);

	if (err > 0.002)
		fail_msg("got %llu, want %llu", (unsigned long long)got, (unsigned long long)want);
}

static void uniform_percentiles(void **state)
{
	(void)state;
	latency_hist_reset(&hist);
	for (int64_t v = 1; v <= 100000; v++)	/* 1 µs .. 100 ms in 1 µs steps */
		latency_hist_record(&hist, v * 1000);
	assert_near(latency_hist_percentile(&hist, 50), 50000000);
	assert_near(latency_hist_percentile(&hist, 90), 90000000);
	assert_near(latency_hist_percentile(&hist, 99), 99000000);
	assert_near(latency_hist_percentile(&hist, 99.9), 99900000);
	assert_int_equal(latency_hist_max(&hist), 100000000);
}

static void bimodal_percentiles(void **state)
{
	(void)state;
	latency_hist_reset(&hist);
	for (int i = 0; i < 9900; i++)
		latency_hist_record(&hist, 100000);	/* 99 %: 100 µs */
	for (int i = 0; i < 100; i++)
		latency_hist_record(&hist, 50000000);	/* 1 %: 50 ms */
	assert_near(latency_hist_percentile(&hist, 50), 100000);
	assert_near(latency_hist_percentile(&hist, 99), 100000);
	assert_near(latency_hist_percentile(&hist, 99.01), 50000000);
	assert_near(latency_hist_percentile(&hist, 99.99), 50000000);
}

/* The value at p is the smallest recorded value with at least p % of all values at or
 * below it: with 1, 2 and 3 ms recorded, p33 is 1 ms (0.99 values), p34 and p50 2 ms
 * (1.02 and 1.5 values, rounded up), p67 3 ms. Empty: 0. */
static void percentile_rank(void **state)
{
	(void)state;
	latency_hist_reset(&hist);
	assert_int_equal(latency_hist_percentile(&hist, 50), 0);
	assert_int_equal(latency_hist_max(&hist), 0);
	for (int64_t v = 1; v <= 3; v++)
		latency_hist_record(&hist, v * 1000000);
	assert_near(latency_hist_percentile(&hist, 0), 1000000);
	assert_near(latency_hist_percentile(&hist, 33), 1000000);
	assert_near(latency_hist_percentile(&hist, 34), 2000000);
	assert_near(latency_hist_percentile(&hist, 50), 2000000);
	assert_near(latency_hist_percentile(&hist, 67), 3000000);
	assert_int_equal(latency_hist_percentile(&hist, 100), 3000000);
	assert_int_equal(latency_hist_count(&hist), 3);
}

/* Two thread histograms merged give the percentiles of all their values together. */
static void merged_percentiles(void **state)
{
	static struct latency_hist a, b;

	(void)state;
	latency_hist_reset(&a);
	latency_hist_reset(&b);
	for (int64_t v = 1; v <= 1000; v++)
		latency_hist_record(v % 2 ? &a : &b, v * 1000);	/* odd µs in a, even in b */
	latency_hist_merge(&a, &b);
	assert_int_equal(latency_hist_count(&a), 1000);
	assert_near(latency_hist_percentile(&a, 50), 500000);
	assert_near(latency_hist_percentile(&a, 99), 990000);
	assert_int_equal(latency_hist_max(&a), 1000000);
}

static struct bench_cfg cfg = { .symbols = 10, .sub_symbols = 10 };

static void setup_thread(struct bench_run *r, struct bench_thread *t, struct bench_sub *s,
			 uint64_t *key_next)
{
	memset(r, 0, sizeof(*r));
	memset(t, 0, sizeof(*t));
	memset(s, 0, sizeof(*s));
	r->cfg = &cfg;
	t->run = r;
	latency_hist_reset(&hist);
	t->hist = &hist;
	s->key_next = key_next;
	for (unsigned k = 0; k < cfg.sub_symbols; k++)
		key_next[k] = (s->key_base + k) % cfg.symbols;
}

/* 1000 events/s; the receiver stalls from 10 ms to 110 ms. The events intended during the
 * stall must show latencies up to 100 ms, not the few µs a receive-time stamp would give. */
static void coordinated_omission(void **state)
{
	struct bench_run r;
	struct bench_thread t;
	struct bench_sub s;
	uint64_t key_next[10];
	const double rate = 1000;
	const int64_t start = 1000000000, ms = 1000000;
	uint64_t seq = 0;

	(void)state;
	setup_thread(&r, &t, &s, key_next);
	for (int64_t now = start; now < start + 200 * ms; now += ms) {
		uint64_t due = bench_pace_due(start, rate, now);

		if (now >= start + 10 * ms && now < start + 110 * ms)
			continue;	/* stalled: nothing received, nothing lost */
		for (; seq < due; seq++)
			bench_deliver(&t, &s, seq, bench_pace_intended(start, rate, seq), now);
	}
	assert_int_equal(s.received, 200);
	assert_int_equal(s.gaps, 0);
	assert_int_equal(s.out_of_order, 0);
	/* ~100 events were intended during the stall: half the run waited, up to 100 ms. */
	assert_true(latency_hist_max(&hist) >= 100 * ms);
	assert_true(latency_hist_percentile(&hist, 75) >= 40 * ms);
	assert_true(latency_hist_percentile(&hist, 40) < 1 * ms);
}

static void pacing(void **state)
{
	(void)state;
	assert_int_equal(bench_pace_due(100, 1000, 99), 0);
	assert_int_equal(bench_pace_due(100, 1000, 100), 1);
	assert_int_equal(bench_pace_due(0, 1000, 999999), 1);
	assert_int_equal(bench_pace_due(0, 1000, 1000000), 2);
	assert_int_equal(bench_pace_intended(0, 1000, 5), 5000000);
}

static void filters_and_gaps(void **state)
{
	struct bench_run r;
	struct bench_thread t;
	struct bench_sub s;
	uint64_t key_next[10];

	(void)state;
	cfg.symbols = 10;
	cfg.sub_symbols = 3;
	/* keys 8, 9, 0 */
	assert_int_equal(bench_expected(25, 8, 10, 3), 3 + 2 + 2);
	assert_int_equal(bench_expected(21, 8, 10, 3), 2 + 2 + 3);
	/* keys 3, 4, 5 of 25 events: seqs 3 13 23, 4 14 24, 5 15 (key 5 == 25 mod 10) */
	assert_int_equal(bench_expected(25, 3, 10, 3), 3 + 3 + 2);
	assert_int_equal(bench_expected(0, 3, 10, 3), 0);
	setup_thread(&r, &t, &s, key_next);
	s.key_base = 8;
	for (unsigned k = 0; k < 3; k++)
		key_next[k] = (8 + k) % 10;
	bench_deliver(&t, &s, 0, 0, 1);
	bench_deliver(&t, &s, 8, 0, 1);
	bench_deliver(&t, &s, 9, 0, 1);
	bench_deliver(&t, &s, 19, 0, 1);
	bench_deliver(&t, &s, 10, 0, 1);
	bench_deliver(&t, &s, 10, 0, 1);	/* duplicate */
	bench_deliver(&t, &s, 28, 0, 1);	/* key 8 skipped 18: a gap */
	assert_int_equal(s.received, 7);
	assert_int_equal(s.gaps, 1);
	assert_int_equal(s.out_of_order, 1);
	cfg.sub_symbols = 10;
}

/* The price and exchange the accounting takes each event to have are what the publisher
 * sends (tools/synth.c fills the events). */
static void synthetic_events(void **state)
{
	static const unsigned ks[] = { 1, 3, 10, 100, 481, 5000 };
	struct synth_slot slot;

	(void)state;
	synth_init(&slot, "t", "test");
	for (size_t i = 0; i < sizeof(ks) / sizeof(*ks); i++) {
		for (uint64_t seq = 0; seq < 20000; seq += 7) {
			synth_fill(&slot, seq, ks[i]);
			assert_true(slot.md.price == bench_event_price(seq, ks[i]));
			assert_string_equal(slot.md.exchange,
					    synth_exchange(bench_event_exchange(seq, ks[i])));
		}
	}
}

/* Owed, counted event by event: keys key_base .. key_base+m-1 (mod K), the filter. */
static uint64_t owed_slowly(const struct bench_cfg *c, uint64_t published, unsigned base,
			    unsigned m)
{
	uint64_t n = 0;

	for (uint64_t seq = 0; seq < published; seq++)
		n += (seq % c->symbols + c->symbols - base) % c->symbols < m &&
		     bench_filter_match(&c->filter, seq, c->symbols);
	return n;
}

static void content_filter_owed(void **state)
{
	static const struct bench_filter filters[] = {
		{ 0, false, 0 },
		{ 1u << 1 | 1u << 2, false, 0 },	/* NYSE, ARCA */
		{ 0, true, 25.5 },
		{ 1u << 1 | 1u << 2, true, 25.5 },
		{ 1u << 3, true, 1e6 },			/* nothing passes */
	};
	static const unsigned ks[] = { 1, 7, 10, 100, 250 };
	struct bench_cfg c = { 0 };

	(void)state;
	/* NYSE and ARCA are exchanges 1 and 2 (symbol mod 4). */
	assert_string_equal(synth_exchange(1), "NYSE");
	assert_string_equal(synth_exchange(2), "ARCA");
	for (size_t f = 0; f < sizeof(filters) / sizeof(*filters); f++) {
		c.filter = filters[f];
		for (size_t i = 0; i < sizeof(ks) / sizeof(*ks); i++) {
			c.symbols = ks[i];
			for (uint64_t pub = 0; pub < 2600; pub += 433) {
				for (unsigned base = 0; base < c.symbols; base += 3) {
					unsigned m = 1 + base % c.symbols;

					assert_int_equal(bench_owed(&c, pub, base, m),
							 owed_slowly(&c, pub, base, m));
				}
			}
			/* The next owed event of a key: the first that passes, or none. */
			for (uint64_t seq = 0; seq < 300; seq++) {
				uint64_t want = UINT64_MAX;

				for (uint64_t s2 = seq; s2 < seq + 200 * (uint64_t)c.symbols;
				     s2 += c.symbols)
					if (bench_filter_match(&c.filter, s2, c.symbols)) {
						want = s2;
						break;
					}
				assert_true(bench_next_owed(&c, seq) == want);
			}
		}
	}
	/* The inclusive bound: symbol 5 of 10 at seq mod 100 = 50 costs 25.50 exactly. */
	c.symbols = 10;
	c.filter = filters[2];
	assert_true(bench_filter_match(&c.filter, 55, 10));
	assert_false(bench_filter_match(&c.filter, 45, 10));
}

/* A subscriber drops what the filter rejects (a peer's client-side filter): neither a
 * delivery nor a gap; a passing event that never came is a gap. */
static void filter_drops_not_gaps(void **state)
{
	struct bench_run r;
	struct bench_thread t;
	struct bench_sub s;
	uint64_t key_next[10];

	(void)state;
	/* Symbols 6 and up pass; symbol 5 from seq mod 100 = 50 on. */
	cfg.filter = (struct bench_filter){ .has_min_price = true, .min_price = 25.5 };
	cfg.symbols = cfg.sub_symbols = 10;
	setup_thread(&r, &t, &s, key_next);
	for (unsigned k = 0; k < 10; k++)
		key_next[k] = bench_next_owed(&cfg, k);
	assert_true(key_next[0] == UINT64_MAX);	/* symbol 0 never costs 25.5 */
	assert_int_equal(key_next[5], 55);
	assert_int_equal(key_next[6], 6);
	for (uint64_t seq = 0; seq < 200; seq++)
		if (seq != 76)	/* symbol 6: passes, lost */
			bench_deliver(&t, &s, seq, 0, 1);
	/* Passing: symbol 5 at 55..95 step 10 (5) and 155..195 (5); symbols 6..9 all (80). */
	assert_int_equal(bench_owed(&cfg, 200, 0, 10), 90);
	assert_int_equal(s.received, 89);
	assert_int_equal(s.filtered, 200 - 90);
	assert_int_equal(s.gaps, 1);
	assert_int_equal(s.out_of_order, 0);
	assert_int_equal(latency_hist_count(&hist), 89);
	cfg.filter = (struct bench_filter){ 0 };
}

/* The walk every subscriber makes: event_id (digits, leading zeros allowed) and
 * timestamp_ns, from an Event or from fanout's ServerMessage{event} around one, with the
 * server's fields written in; anything else is refused. */
static void pb_event_walk(void **state)
{
	uint8_t frame[512], evb[512];
	uint64_t seq;
	int64_t ts;
	Fanout__V1__ServerMessage m = FANOUT__V1__SERVER_MESSAGE__INIT;
	Fanout__V1__Event ev = FANOUT__V1__EVENT__INIT;
	Fanout__V1__Distribution d = FANOUT__V1__DISTRIBUTION__INIT;
	struct frame_view v;
	size_t n;

	(void)state;
	d.topic = "bench";
	d.routing_key = "S00001.NYSE.trade";
	d.partition = 3;
	d.offset = 77;
	ev.event_id = "000000004242";
	ev.timestamp_ns = 1700000000000000001ll;
	ev.receive_time_ns = 1700000000000000999ll;
	ev.distribution = &d;
	m.body_case = FANOUT__V1__SERVER_MESSAGE__BODY_EVENT;
	m.event = &ev;
	n = frame_pack(&m.base, frame);
	assert_int_equal(frame_parse(frame, n, 4096, &v), (int)n);
	assert_int_equal(bench_pb_event_seq(v.body, v.len, &seq, &ts), 0);
	assert_int_equal(seq, 4242);
	assert_int_equal(ts, 1700000000000000001ll);
	n = protobuf_c_message_pack(&ev.base, evb);	/* a peer's payload: the Event alone */
	assert_int_equal(bench_pb_event_fields(evb, n, &seq, &ts), 0);
	assert_int_equal(seq, 4242);
	assert_int_equal(bench_pb_event_fields(evb, 8, &seq, &ts), -EBADMSG);	/* cut in the id */
	ev.event_id = "18446744073709551615";	/* 20 digits: the most */
	n = protobuf_c_message_pack(&ev.base, evb);
	assert_int_equal(bench_pb_event_fields(evb, n, &seq, &ts), 0);
	assert_true(seq == UINT64_MAX);
	ev.event_id = "e-1";	/* not a sequence */
	n = frame_pack(&m.base, frame);
	assert_int_equal(frame_parse(frame, n, 4096, &v), (int)n);
	assert_int_equal(bench_pb_event_seq(v.body, v.len, &seq, &ts), -EBADMSG);
	ev.event_id = "";
	n = protobuf_c_message_pack(&ev.base, evb);
	assert_int_equal(bench_pb_event_fields(evb, n, &seq, &ts), -EBADMSG);
	assert_int_equal(bench_pb_event_fields((const uint8_t *)"\x0a\x05", 2, &seq, &ts),
			 -EBADMSG);
}

/* Where a field's value starts, and its length, in a message and one nested in it. */
static void pb_field_offsets(void **state)
{
	static const uint8_t msg[] = { 0x08, 0x96, 0x01, 0x11, 1, 2, 3, 4, 5, 6, 7, 8,
				       0x1a, 0x03, 'a', 'b', 'c', 0x25, 9, 9, 9, 9 };
	size_t n = 0;

	(void)state;
	assert_int_equal(bench_pb_field(msg, sizeof(msg), 1, 0, &n), 1);
	assert_int_equal(n, 2);
	assert_int_equal(bench_pb_field(msg, sizeof(msg), 2, 1, &n), 4);
	assert_int_equal(n, 8);
	assert_int_equal(bench_pb_field(msg, sizeof(msg), 3, 2, &n), 14);
	assert_int_equal(n, 3);
	assert_int_equal(bench_pb_field(msg, sizeof(msg), 4, 5, &n), 18);
	assert_int_equal(n, 4);
	assert_int_equal(bench_pb_field(msg, sizeof(msg), 3, 0, &n), -ENOENT);	/* wire type */
	assert_int_equal(bench_pb_field(msg, sizeof(msg), 9, 0, &n), -ENOENT);
	assert_int_equal(bench_pb_field(msg, 16, 3, 2, &n), -EBADMSG);	/* cut in the value */
	assert_int_equal(bench_pb_field(msg, 20, 4, 5, &n), -EBADMSG);
}

/* Packs m as a ServerMessage body into buf; returns its length. */
static size_t server_body(Fanout__V1__ServerMessage *m, uint8_t *buf)
{
	return protobuf_c_message_pack(&m->base, buf);
}

/* fanout's publisher reads its acks without decoding: the sequence, one offset per
 * stored event (packed, as protobuf-c sends them, or one tag each), errors and others
 * told apart. */
static void pb_publish_answers(void **state)
{
	static uint8_t buf[4096];
	static uint32_t parts[300];
	static uint64_t offs[300];
	/* PublishAck{sequence 9, offsets 1, 300 (two bytes), 5} with offsets not packed. */
	static const uint8_t unpacked[] = { 0x2a, 0x09, 0x08, 0x09, 0x18, 0x01, 0x18, 0xac, 0x02,
					    0x18, 0x05 };
	Fanout__V1__ServerMessage m = FANOUT__V1__SERVER_MESSAGE__INIT;
	Fanout__V1__PublishAck ack = FANOUT__V1__PUBLISH_ACK__INIT;
	Fanout__V1__Error err = FANOUT__V1__ERROR__INIT;
	Fanout__V1__Heartbeat hb = FANOUT__V1__HEARTBEAT__INIT;
	struct bench_pb_ack a;
	size_t n;

	(void)state;
	for (unsigned i = 0; i < 300; i++)
		offs[i] = 1000000 + i * 129;	/* varints of 3 bytes */
	ack.sequence = 42;
	ack.n_partitions = ack.n_offsets = 300;
	ack.partitions = parts;
	ack.offsets = offs;
	m.body_case = FANOUT__V1__SERVER_MESSAGE__BODY_PUBLISH_ACK;
	m.publish_ack = &ack;
	n = server_body(&m, buf);
	assert_int_equal(bench_pb_answer(buf, n, &a), BENCH_PB_ACK);
	assert_int_equal(a.sequence, 42);
	assert_int_equal(a.offsets, 300);
	assert_int_equal(bench_pb_answer(buf, n - 1, &a), -EBADMSG);
	ack.n_partitions = ack.n_offsets = 0;	/* an ack of nothing */
	n = server_body(&m, buf);
	assert_int_equal(bench_pb_answer(buf, n, &a), BENCH_PB_ACK);
	assert_int_equal(a.offsets, 0);
	assert_int_equal(bench_pb_answer(unpacked, sizeof(unpacked), &a), BENCH_PB_ACK);
	assert_int_equal(a.sequence, 9);
	assert_int_equal(a.offsets, 3);
	err.code = FANOUT__V1__ERROR_CODE__ERROR_CODE_INVALID_EVENT;
	err.message = "events[3].data_type: 3 does not match the payload";
	m.body_case = FANOUT__V1__SERVER_MESSAGE__BODY_ERROR;
	m.error = &err;
	n = server_body(&m, buf);
	assert_int_equal(bench_pb_answer(buf, n, &a), BENCH_PB_ERROR);
	m.body_case = FANOUT__V1__SERVER_MESSAGE__BODY_HEARTBEAT;
	m.heartbeat = &hb;
	n = server_body(&m, buf);
	assert_int_equal(bench_pb_answer(buf, n, &a), BENCH_PB_OTHER);
	assert_int_equal(bench_pb_answer(buf, 0, &a), BENCH_PB_OTHER);
	assert_int_equal(bench_pb_answer((const uint8_t *)"\xff", 1, &a), -EBADMSG);
}

static void hdr_file(void **state)
{
	struct bench_result res = { .hist = &hist, .mean_us = 50, .stddev_us = 28 };
	char path[] = "/tmp/bench_hdr_testXXXXXX", line[256];
	int fd = mkstemp(path), rows = 0, footer = 0;
	FILE *f;

	(void)state;
	assert_true(fd >= 0);
	latency_hist_reset(&hist);
	for (int64_t v = 1; v <= 10000; v++)
		latency_hist_record(&hist, v * 1000);
	assert_int_equal(bench_hdr_write(&res, path), 0);
	f = fopen(path, "r");
	assert_non_null(f);
	assert_non_null(fgets(line, sizeof(line), f));
	assert_non_null(strstr(line, "Value"));
	assert_non_null(strstr(line, "1/(1-Percentile)"));
	while (fgets(line, sizeof(line), f)) {
		double v, p;
		unsigned long long c;

		if (sscanf(line, "%lf %lf %llu", &v, &p, &c) == 3)
			rows++;
		if (strstr(line, "#[Mean") || strstr(line, "#[Max") || strstr(line, "Total count"))
			footer++;
	}
	fclose(f);
	unlink(path);
	close(fd);
	assert_true(rows > 20);
	assert_true(footer >= 2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(uniform_percentiles), cmocka_unit_test(bimodal_percentiles),
		cmocka_unit_test(percentile_rank), cmocka_unit_test(merged_percentiles),
		cmocka_unit_test(coordinated_omission), cmocka_unit_test(pacing),
		cmocka_unit_test(filters_and_gaps), cmocka_unit_test(synthetic_events),
		cmocka_unit_test(content_filter_owed), cmocka_unit_test(filter_drops_not_gaps),
		cmocka_unit_test(pb_event_walk), cmocka_unit_test(pb_field_offsets),
		cmocka_unit_test(pb_publish_answers), cmocka_unit_test(hdr_file),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
