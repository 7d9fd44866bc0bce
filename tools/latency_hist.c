/* tools/latency_hist.c — the exact (3-digit) histogram on core/hist.h's slots. */
#include "tools/latency_hist.h"

#include <assert.h>
#include <string.h>

#include "core/hist.h"

static_assert(LATENCY_HIST_NS_MAX < (1ull << (LATENCY_HIST_BUCKETS - 1 + LATENCY_HIST_SUB_BITS)),
	      "top bucket must reach LATENCY_HIST_NS_MAX");
static_assert(LATENCY_HIST_COUNTS == HIST_SLOTS(LATENCY_HIST_BUCKETS, LATENCY_HIST_SUB_BITS),
	      "slot count");

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
	h->counts[hist_slot(v, LATENCY_HIST_SUB_BITS)]++;
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
	size_t i = hist_rank_slot(h->counts, LATENCY_HIST_COUNTS, h->count, p);
	uint64_t v;

	if (i == LATENCY_HIST_COUNTS)	/* empty */
		return h->max_ns;
	v = hist_slot_top(i, LATENCY_HIST_SUB_BITS);
	return v < h->max_ns ? v : h->max_ns;
}
