/* tools/latency_hist.h — a log-linear latency histogram in the style of HdrHistogram (its
 * slot arithmetic is core/hist.h's, shared with the reactors' net/latency.h): values fall
 * into buckets of doubling width, each split into 2048 linear sub-buckets, so every value
 * in the range is kept to 3 significant digits (relative error < 1/1024).
 * Range 0 ns .. LATENCY_HIST_NS_MAX (one hour); larger values count as the maximum bucket
 * but latency_hist_max still reports them exactly. The counts live inside the struct
 * (about 270 KiB: put it in static storage or allocate it once), so recording never
 * allocates. Not thread-safe: one histogram per thread, merge them afterwards. */
#ifndef FANOUT_TOOLS_LATENCY_HIST_H
#define FANOUT_TOOLS_LATENCY_HIST_H

#include <stdint.h>

/* 2^11 sub-buckets give 3 significant decimal digits: 2048 > 2 * 10^3. */
#define LATENCY_HIST_SUB_BITS 11u
#define LATENCY_HIST_SUB_COUNT (1u << LATENCY_HIST_SUB_BITS)
#define LATENCY_HIST_NS_MAX (3600ull * 1000000000ull)
/* Smallest bucket count whose top bucket reaches LATENCY_HIST_NS_MAX: 2^(31+11) > 3.6e12. */
#define LATENCY_HIST_BUCKETS 32u
#define LATENCY_HIST_COUNTS ((LATENCY_HIST_BUCKETS + 1) * (LATENCY_HIST_SUB_COUNT / 2))

struct latency_hist {
	uint64_t count;			/* values recorded */
	uint64_t max_ns;		/* exact largest value recorded */
	uint64_t counts[LATENCY_HIST_COUNTS];
};

/* Forgets every value. Call it once before first use (a zeroed struct is also reset). */
void latency_hist_reset(struct latency_hist *h);

/* Records one value; a negative value (clock skew between hosts) counts as 0. */
void latency_hist_record(struct latency_hist *h, int64_t ns);

/* Adds every value recorded in src to dst. */
void latency_hist_merge(struct latency_hist *dst, const struct latency_hist *src);

/* The value at or above p percent of the recorded values (0 <= p <= 100), to the
 * histogram's precision and never above latency_hist_max. Returns 0 when empty. */
uint64_t latency_hist_percentile(const struct latency_hist *h, double p);

/* The largest value recorded, exactly; 0 when empty. */
static inline uint64_t latency_hist_max(const struct latency_hist *h)
{
	return h->max_ns;
}

/* How many values were recorded. */
static inline uint64_t latency_hist_count(const struct latency_hist *h)
{
	return h->count;
}

#endif
