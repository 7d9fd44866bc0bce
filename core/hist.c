/* core/hist.c — log-linear histogram slots: see hist.h. */
#include "core/hist.h"


uint64_t hist_slot_top(size_t i, unsigned sub_bits)
{
	size_t half = (size_t)1 << (sub_bits - 1);
	size_t b = i >> (sub_bits - 1);
	uint64_t sub = (uint64_t)(i & (half - 1)) + half;

	if (b <= 1)	/* slots below 2^sub_bits are bucket 0, exact: one value each */
		return (uint64_t)i;
	b--;	/* slot group b + 1 is bucket b (see hist_slot) */
	return ((sub + 1) << b) - 1;
}

uint64_t hist_slot_bottom(size_t i, unsigned sub_bits)
{
	size_t half = (size_t)1 << (sub_bits - 1);
	size_t b = i >> (sub_bits - 1);
	uint64_t sub = (uint64_t)(i & (half - 1)) + half;

	if (b <= 1)
		return (uint64_t)i;
	b--;
	return sub << b;
}

size_t hist_rank_slot(const uint64_t *counts, size_t nslots, uint64_t total, double p)
{
	uint64_t want, seen = 0;

	if (total == 0)
		return nslots;
	if (!(p > 0))	/* also catches NaN */
		p = 0;
	if (p > 100)
		p = 100;
	/* ceil without libm: a rank is a whole number of values. p is taken in millionths
	 * of a percent first, so 99.9 % of 1,000 is 999, not 1,000 (99.9 / 100 * 1000 is
	 * 999.0000000000001 in doubles). */
	{
		uint64_t ppm = (uint64_t)(p * 1e6 + 0.5);	/* of a percent: 100 % is 1e8 */
		unsigned __int128 r = (unsigned __int128)ppm * total;

		want = (uint64_t)(r / 100000000u) + (r % 100000000u != 0);
	}
	if (want == 0)
		want = 1;
	for (size_t i = 0; i < nslots; i++) {
		seen += counts[i];
		if (seen >= want)
			return i;
	}
	return nslots;
}
