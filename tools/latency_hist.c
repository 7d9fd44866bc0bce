/* tools/latency_hist.c — log-linear histogram indexing. Bucket b holds values whose top
 * set bit is at position b + SUB_BITS - 1; bucket 0 also holds everything below
 * SUB_COUNT. Only the upper half of each bucket above 0 is new (the lower half overlaps
 * the bucket below), which is why the counts array has (buckets + 1) * SUB_COUNT / 2
 * slots. */
#include "tools/latency_hist.h"

#include <assert.h>
#include <math.h>
#include <string.h>

#define HALF (LATENCY_HIST_SUB_COUNT / 2)

static_assert(LATENCY_HIST_NS_MAX < (1ull << (LATENCY_HIST_BUCKETS - 1 + LATENCY_HIST_SUB_BITS)),
	      "top bucket must reach LATENCY_HIST_NS_MAX");

static unsigned bucket_of(uint64_t v)
{
	/* Position of the top bit, counting from 1, minus the sub-bucket bits; v is ORed
	 * with the sub-bucket mask so small values land in bucket 0. */
	return 64u - (unsigned)__builtin_clzll(v | (LATENCY_HIST_SUB_COUNT - 1)) -
	       LATENCY_HIST_SUB_BITS;
}

static size_t index_of(uint64_t v)
{
	unsigned b = bucket_of(v);
	size_t sub = (size_t)(v >> b);	/* in [HALF, SUB_COUNT) except in bucket 0 */

	return ((size_t)(b + 1) << (LATENCY_HIST_SUB_BITS - 1)) + sub - HALF;
}

/* The largest value that shares slot i with others: the top of its sub-bucket. */
static uint64_t highest_of(size_t i)
{
	size_t b = i >> (LATENCY_HIST_SUB_BITS - 1);
	uint64_t sub = (uint64_t)(i & (HALF - 1)) + HALF;

	if (b <= 1)	/* slots below SUB_COUNT are bucket 0, exact: one value each */
		return (uint64_t)i;
	b--;	/* slot group b + 1 is bucket b (see index_of) */
	return ((sub + 1) << b) - 1;
}

void latency_hist_reset(struct latency_hist *h)
{
	memset(h, 0, sizeof(*h));
}

void latency_hist_record(struct latency_hist *h, int64_t ns)
{
	uint64_t v = ns < 0 ? 0 : (uint64_t)ns;

	if (v > h->max_ns)
		h->max_ns = v;
	if (v > LATENCY_HIST_NS_MAX)
		v = LATENCY_HIST_NS_MAX;
	h->counts[index_of(v)]++;
	h->count++;
}

void latency_hist_merge(struct latency_hist *dst, const struct latency_hist *src)
{
	for (size_t i = 0; i < LATENCY_HIST_COUNTS; i++)
		dst->counts[i] += src->counts[i];
	dst->count += src->count;
	if (src->max_ns > dst->max_ns)
		dst->max_ns = src->max_ns;
}

uint64_t latency_hist_percentile(const struct latency_hist *h, double p)
{
	uint64_t want, seen = 0;

	if (h->count == 0)
		return 0;
	if (!(p > 0))	/* also catches NaN */
		p = 0;
	if (p > 100)
		p = 100;
	/* The rank of the p-th percentile value, counting from 1. */
	want = (uint64_t)ceil(p / 100.0 * (double)h->count);
	if (want == 0)
		want = 1;
	for (size_t i = 0; i < LATENCY_HIST_COUNTS; i++) {
		seen += h->counts[i];
		if (seen >= want) {
			uint64_t v = highest_of(i);

			return v < h->max_ns ? v : h->max_ns;
		}
	}
	return h->max_ns;	/* unreachable while count matches the counts */
}
