/* tests/unit/net/latency_test.c — a reactor's sampled delivery latency (net/latency.c):
 * one frame in 64 timed (the first at once), values in the right slots, percentiles to
 * the histogram's precision, merge over reactors, windows between snapshots, Prometheus
 * bucket counts. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "net/latency.h"

static struct net_latency_snap *snap_new(void)
{
	struct net_latency_snap *s = calloc(1, sizeof(*s));

	assert_non_null(s);
	return s;
}

/* Within the histogram's precision: at or above want, by less than 1/16. */
static void assert_close(uint64_t got, uint64_t want)
{
	if (got < want || got - want > want / 16)
		fail_msg("%llu is not within 1/16 above %llu", (unsigned long long)got,
			 (unsigned long long)want);
}

static void one_in_64_is_timed(void **state)
{
	struct net_latency *l = malloc(sizeof(*l));
	struct net_latency_snap *s = snap_new();
	uint64_t recv = (uint64_t)clock_realtime_ns() - 2000000;	/* 2 ms ago */

	(void)state;
	assert_non_null(l);
	net_latency_init(l);
	net_latency_tick(l, recv);	/* the first frame */
	net_latency_read(l, s);
	assert_int_equal(s->count, 1);
	for (int i = 1; i < 64 * 10; i++)
		net_latency_tick(l, recv);
	net_latency_read(l, s);
	assert_int_equal(s->count, 10);	/* frames 1, 65, ..., 577 */
	net_latency_tick(l, recv);	/* frame 641 */
	net_latency_read(l, s);
	assert_int_equal(s->count, 11);
	/* Each at least the 2 ms that passed, and not absurdly more. */
	assert_true(net_latency_percentile(s, 0) >= 2000000);
	assert_true(s->max_ns >= 2000000 && s->max_ns < 60000000000ull);
	assert_true(s->sum_ns >= 11 * 2000000ull);
	/* A receive time in the future (the clock stepped back) counts as 0. */
	for (int i = 0; i < 64; i++)
		net_latency_tick(l, recv + 3600000000000ull);
	net_latency_read(l, s);
	assert_int_equal(s->count, 12);
	assert_int_equal(net_latency_percentile(s, 0), 0);
	free(s);
	free(l);
}

static void percentiles_and_bounds(void **state)
{
	struct net_latency_snap *s = snap_new();

	(void)state;
	assert_int_equal(net_latency_percentile(s, 50), 0);	/* empty */
	for (uint64_t us = 1; us <= 10000; us++)	/* 1 us .. 10 ms, uniform */
		net_latency_snap_record(s, us * 1000);
	assert_int_equal(s->count, 10000);
	assert_int_equal(s->max_ns, 10000000);
	assert_close(net_latency_percentile(s, 50), 5000000);
	assert_close(net_latency_percentile(s, 90), 9000000);
	assert_close(net_latency_percentile(s, 99), 9900000);
	assert_close(net_latency_percentile(s, 99.9), 9990000);
	assert_int_equal(net_latency_percentile(s, 100), 10000000);	/* the exact max */
	assert_close(net_latency_percentile(s, 0), 1000);
	/* Prometheus buckets: cumulative, exact at slot edges, never more than the truth. */
	assert_int_equal(net_latency_at_most(s, 0), 0);
	assert_true(net_latency_at_most(s, 1000000) <= 1000);
	assert_true(net_latency_at_most(s, 1000000) >= 1000 - 1000 / 16);
	/* Slots of 32768 ns here: 983040..1015807 holds 1 ms, so le 1 ms counts below it. */
	assert_int_equal(net_latency_at_most(s, 983039), 983);
	assert_int_equal(net_latency_at_most(s, 1000000), 983);
	assert_int_equal(net_latency_at_most(s, 1015807), 1015);
	assert_int_equal(net_latency_at_most(s, UINT64_MAX), 10000);
	/* Beyond the range: the top slot, the exact max kept. */
	net_latency_snap_record(s, NET_LATENCY_NS_MAX * 4);
	assert_int_equal(s->max_ns, NET_LATENCY_NS_MAX * 4);
	assert_int_equal(net_latency_percentile(s, 100), NET_LATENCY_NS_MAX);
	assert_int_equal(net_latency_at_most(s, NET_LATENCY_NS_MAX), 10001);
	free(s);
}

/* Reactors summed, and a window: the later snapshot less the earlier. */
static void merge_and_window(void **state)
{
	struct net_latency_snap *a = snap_new(), *b = snap_new(), *t0 = snap_new();

	(void)state;
	for (int i = 0; i < 100; i++)
		net_latency_snap_record(a, 5000);	/* reactor 0: 5 us */
	for (int i = 0; i < 100; i++)
		net_latency_snap_record(b, 3000000);	/* reactor 1: 3 ms */
	net_latency_merge(a, b);
	assert_int_equal(a->count, 200);
	assert_int_equal(a->sum_ns, 100 * 5000ull + 100 * 3000000ull);
	assert_int_equal(a->max_ns, 3000000);
	assert_close(net_latency_percentile(a, 50), 5000);
	assert_close(net_latency_percentile(a, 50.5), 3000000);
	/* The window after t0 holds only what came later: 1 ms values. */
	*t0 = *a;
	for (int i = 0; i < 10; i++)
		net_latency_snap_record(a, 1000000);
	net_latency_since(a, t0);
	assert_int_equal(a->count, 10);
	assert_int_equal(a->sum_ns, 10 * 1000000ull);
	assert_close(net_latency_percentile(a, 50), 1000000);
	/* Its max: the top of the window's highest slot, not the 3 ms of before. */
	assert_close(a->max_ns, 1000000);
	net_latency_since(t0, t0);	/* an empty window */
	assert_int_equal(t0->count, 0);
	assert_int_equal(t0->max_ns, 0);
	assert_int_equal(net_latency_percentile(t0, 99), 0);
	free(a);
	free(b);
	free(t0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(one_in_64_is_timed),
		cmocka_unit_test(percentiles_and_bounds),
		cmocka_unit_test(merge_and_window),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
