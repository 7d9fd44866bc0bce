/* tests/perf/bench_core_test.c — fanout-bench's pure parts: the histogram gives known
 * percentiles for known distributions, the pacer and delivery accounting charge a stall
 * to the events intended during it (no coordinated omission), filters and the .hdr file. */
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

static void payload_and_pb(void **state)
{
	uint8_t buf[100], frame[512];
	uint64_t seq;
	int64_t ts;
	Fanout__V1__ServerMessage m = FANOUT__V1__SERVER_MESSAGE__INIT;
	Fanout__V1__Event ev = FANOUT__V1__EVENT__INIT;
	Fanout__V1__Distribution d = FANOUT__V1__DISTRIBUTION__INIT;
	struct frame_view v;
	size_t n;

	(void)state;
	bench_payload_put(buf, sizeof(buf), 123456789012ull, 1700000000123456789ll);
	bench_payload_get(buf, &seq, &ts);
	assert_int_equal(seq, 123456789012ull);
	assert_int_equal(ts, 1700000000123456789ll);
	assert_int_equal(buf[99], 'x');

	d.topic = "bench";
	d.routing_key = "S00001.NYSE.trade";
	d.offset = 77;
	ev.event_id = "4242";
	ev.timestamp_ns = 1700000000000000001ll;
	ev.distribution = &d;
	m.body_case = FANOUT__V1__SERVER_MESSAGE__BODY_EVENT;
	m.event = &ev;
	n = frame_pack(&m.base, frame);
	assert_int_equal(frame_parse(frame, n, 4096, &v), (int)n);
	assert_int_equal(bench_pb_event_seq(v.body, v.len, &seq, &ts), 0);
	assert_int_equal(seq, 4242);
	assert_int_equal(ts, 1700000000000000001ll);
	ev.event_id = "e-1";	/* not a sequence */
	n = frame_pack(&m.base, frame);
	assert_int_equal(frame_parse(frame, n, 4096, &v), (int)n);
	assert_int_not_equal(bench_pb_event_seq(v.body, v.len, &seq, &ts), 0);
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
		cmocka_unit_test(filters_and_gaps), cmocka_unit_test(payload_and_pb),
		cmocka_unit_test(hdr_file),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
