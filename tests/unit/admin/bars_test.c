/* tests/unit/admin/bars_test.c — OHLCV buckets: open and close by event time whatever
 * the arrival order, extremes and sums, floor buckets before the epoch, a series kept
 * sorted under late trades and bounded (the oldest gives way, dirty ones counted), and
 * roll-ups into wider bars that stop at a bar's edge. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include "admin/bars.h"

#define M BAR_MINUTE_NS

static void bucket_and_add(void **state)
{
	struct bar b = { 0 };
	int64_t iv;

	(void)state;
	assert_int_equal(bar_bucket(0, M), 0);
	assert_int_equal(bar_bucket(M - 1, M), 0);
	assert_int_equal(bar_bucket(M, M), M);
	assert_int_equal(bar_bucket(-1, M), -M);	/* floor, not truncation */
	bar_add(&b, 30, 10.0, 2);	/* arrives first, is the middle */
	bar_add(&b, 50, 12.0, 1);	/* the latest: close */
	bar_add(&b, 10, 11.0, 3);	/* the earliest, late: open */
	bar_add(&b, 50, 9.0, 4);	/* same time as the close, later: the new close */
	assert_true(b.open == 11.0 && b.close == 9.0 && b.high == 12.0 && b.low == 9.0);
	assert_true(b.volume == 10 && b.notional == 20 + 12 + 33 + 36);
	assert_int_equal(b.trades, 4);
	assert_int_equal(bar_interval_parse("5m", &iv), 0);
	assert_int_equal(iv, 5 * M);
	assert_int_equal(bar_interval_parse("1d", &iv), 0);
	assert_int_equal(iv, 1440 * M);
	assert_int_equal(bar_interval_parse("2m", &iv), -EINVAL);
	assert_int_equal(bar_interval_parse("", &iv), -EINVAL);
}

static void series_sorted_and_bounded(void **state)
{
	struct bar_series s = { 0 };

	(void)state;
	assert_int_equal(bar_series_add(&s, 5 * M + 1, 1, 1, 4), 1);
	assert_int_equal(bar_series_add(&s, 5 * M + 2, 2, 1, 4), 0);
	assert_int_equal(bar_series_add(&s, 2 * M, 3, 1, 4), 1);	/* late: goes first */
	assert_int_equal(bar_series_add(&s, 9 * M, 4, 1, 4), 1);
	assert_int_equal(bar_series_add(&s, 7 * M, 5, 1, 4), 1);
	assert_int_equal(s.n, 4);
	assert_int_equal(s.v[0].start_ns, 2 * M);
	assert_int_equal(s.v[1].start_ns, 5 * M);
	assert_int_equal(s.v[2].start_ns, 7 * M);
	assert_int_equal(s.v[3].start_ns, 9 * M);
	assert_int_equal(s.ndirty, 4);
	s.v[0].dirty = false;	/* the store has minute 2 */
	s.ndirty--;
	/* Full: a new minute pushes minute 2 out (clean: not counted). */
	assert_int_equal(bar_series_add(&s, 10 * M, 6, 1, 4), 1);
	assert_int_equal(s.v[0].start_ns, 5 * M);
	assert_int_equal(s.evicted_dirty, 0);
	/* Again: minute 5 was dirty. */
	assert_int_equal(bar_series_add(&s, 11 * M, 7, 1, 4), 1);
	assert_int_equal(s.evicted_dirty, 1);
	/* Older than everything a full series keeps: dropped. */
	assert_int_equal(bar_series_add(&s, 1 * M, 8, 1, 4), -ERANGE);
	assert_int_equal(bar_series_find(&s, 9 * M), 1);
	assert_int_equal(bar_series_find(&s, 9 * M + 1), 2);
	assert_int_equal(bar_series_find(&s, 100 * M), s.n);
	bar_series_free(&s);
}

static void rollup(void **state)
{
	struct bar in[6] = { 0 }, out[4];
	uint32_t used, n;

	(void)state;
	for (int i = 0; i < 6; i++) {	/* minutes 3, 4, 5, 6, 10, 14 */
		static const int64_t mins[6] = { 3, 4, 5, 6, 10, 14 };

		in[i].start_ns = mins[i] * M;
		bar_add(&in[i], mins[i] * M + 1, 100 + i, 1 + i);
	}
	n = bar_rollup(in, 6, 5 * M, out, 4, &used);
	assert_int_equal(n, 3);	/* [0,5) [5,10) [10,15) */
	assert_int_equal(used, 6);
	assert_int_equal(out[0].start_ns, 0);
	assert_true(out[0].open == 100 && out[0].close == 101 && out[0].volume == 3);
	assert_int_equal(out[1].start_ns, 5 * M);
	assert_true(out[1].open == 102 && out[1].close == 103 && out[1].high == 103);
	assert_int_equal(out[2].trades, 2);
	/* Room for one bar: it stops at the first edge, having used minutes 3 and 4. */
	n = bar_rollup(in, 6, 5 * M, out, 1, &used);
	assert_int_equal(n, 1);
	assert_int_equal(used, 2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(bucket_and_add),
		cmocka_unit_test(series_sorted_and_bounded),
		cmocka_unit_test(rollup),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
