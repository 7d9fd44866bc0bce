/* tests/unit/core/hist_test.c — log-linear slots (core/hist.c): every value's slot holds
 * it between its bottom and its top, slots are contiguous and ordered, bucket 0 is exact,
 * the relative width is bounded by 2^-(sub_bits - 1); ranks land on the right slot. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/hist.h"

/* Slots tile the values: slot i's bottom is one past slot i - 1's top. */
static void slots_tile_the_range(void **state)
{
	(void)state;
	for (unsigned bits = 2; bits <= 11; bits += 3) {
		size_t n = HIST_SLOTS(20u, bits);

		assert_int_equal(hist_slot_bottom(0, bits), 0);
		for (size_t i = 1; i < n; i++)
			assert_true(hist_slot_bottom(i, bits) == hist_slot_top(i - 1, bits) + 1);
		for (size_t i = 0; i < n; i++) {
			uint64_t lo = hist_slot_bottom(i, bits), hi = hist_slot_top(i, bits);

			assert_int_equal(hist_slot(lo, bits), i);
			assert_int_equal(hist_slot(hi, bits), i);
			/* Within 2^-(bits-1) of any value it holds. */
			assert_true((hi - lo) * (1ull << (bits - 1)) <= lo || hi == lo);
		}
	}
}

/* The edges of the first buckets, worked by hand for sub_bits 5 (16 new slots each). */
static void bucket_edges_by_hand(void **state)
{
	(void)state;
	for (uint64_t v = 0; v < 32; v++) {	/* bucket 0: one value a slot */
		assert_int_equal(hist_slot(v, 5), v);
		assert_int_equal(hist_slot_top(v, 5), v);
	}
	assert_int_equal(hist_slot(32, 5), 32);	/* bucket 1: two values a slot */
	assert_int_equal(hist_slot(33, 5), 32);
	assert_int_equal(hist_slot(34, 5), 33);
	assert_int_equal(hist_slot_top(32, 5), 33);
	assert_int_equal(hist_slot(63, 5), 47);
	assert_int_equal(hist_slot(64, 5), 48);	/* bucket 2: four values a slot */
	assert_int_equal(hist_slot(67, 5), 48);
	assert_int_equal(hist_slot(68, 5), 49);
	assert_int_equal(hist_slot(1000, 5), hist_slot(992, 5));	/* 992..1023 */
	assert_int_equal(hist_slot_bottom(hist_slot(1000, 5), 5), 992);
	assert_int_equal(hist_slot_top(hist_slot(1000, 5), 5), 1023);
}

static void ranks(void **state)
{
	uint64_t c[8] = { 0, 3, 0, 5, 2, 0, 0, 0 };	/* 10 values */

	(void)state;
	assert_int_equal(hist_rank_slot(c, 8, 0, 50), 8);	/* empty */
	assert_int_equal(hist_rank_slot(c, 8, 10, 0), 1);	/* the first value */
	assert_int_equal(hist_rank_slot(c, 8, 10, 30), 1);	/* rank 3 */
	assert_int_equal(hist_rank_slot(c, 8, 10, 30.01), 3);	/* rank 4 */
	assert_int_equal(hist_rank_slot(c, 8, 10, 80), 3);	/* rank 8 */
	assert_int_equal(hist_rank_slot(c, 8, 10, 81), 4);
	assert_int_equal(hist_rank_slot(c, 8, 10, 100), 4);
	assert_int_equal(hist_rank_slot(c, 8, 10, 1000), 4);	/* clamped */
	{	/* 99.9 % of 1,000 is rank 999 (not 1,000: floating point's 999.0000000000001) */
		const uint64_t d[2] = { 999, 1 };

		assert_int_equal(hist_rank_slot(d, 2, 1000, 99.9), 0);
		assert_int_equal(hist_rank_slot(d, 2, 1000, 99.91), 1);
	}
	assert_int_equal(hist_rank_slot(c, 8, 10, -5), 1);
	assert_int_equal(hist_rank_slot(c, 8, 11, 100), 8);	/* counts short of the total */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(slots_tile_the_range),
		cmocka_unit_test(bucket_edges_by_hand),
		cmocka_unit_test(ranks),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
