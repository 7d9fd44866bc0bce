/* core/hist.h — the arithmetic of a log-linear histogram in the style of HdrHistogram,
 * shared by every latency histogram in the tree (tools/latency_hist.h for the clients'
 * exact one, net/latency.h for the reactors' sampled one). Values fall into buckets of
 * doubling width, each split into 2^sub_bits linear sub-buckets: a value is kept to a
 * relative error below 2^-(sub_bits - 1). Bucket b holds values whose top set bit is at
 * position b + sub_bits - 1; bucket 0 also holds everything below 2^sub_bits, exactly.
 * Only the upper half of each bucket above 0 is new (the lower half overlaps the bucket
 * below), so a histogram of B buckets has HIST_SLOTS(B, sub_bits) count slots.
 *
 * Pure functions on the caller's storage: any thread, no allocation. sub_bits is a
 * constant at every call site, so the inline ones fold to a few instructions. */
#ifndef FANOUT_CORE_HIST_H
#define FANOUT_CORE_HIST_H

#include <stddef.h>
#include <stdint.h>

#define HIST_SLOTS(buckets, sub_bits) (((buckets) + 1u) * (1u << ((sub_bits) - 1u)))

/* The slot value v counts in. v must be below 2^(buckets - 1 + sub_bits): callers clamp. */
static inline size_t hist_slot(uint64_t v, unsigned sub_bits)
{
	/* Position of the top bit, counting from 1, minus the sub-bucket bits; v is ORed
	 * with the sub-bucket mask so small values land in bucket 0. */
	unsigned b = 64u - (unsigned)__builtin_clzll(v | ((1ull << sub_bits) - 1)) - sub_bits;
	size_t sub = (size_t)(v >> b);	/* in [half, 2^sub_bits) except in bucket 0 */
	size_t half = (size_t)1 << (sub_bits - 1);

	return ((size_t)(b + 1) << (sub_bits - 1)) + sub - half;
}

/* The largest value that counts in slot i: the top of its sub-bucket. */
uint64_t hist_slot_top(size_t i, unsigned sub_bits);

/* The smallest value that counts in slot i. */
uint64_t hist_slot_bottom(size_t i, unsigned sub_bits);

/* The slot holding the value of rank ceil(p / 100 * total) (counting from 1; at least 1)
 * among counts[0 .. nslots), total being their sum. p is clamped to [0, 100]. Returns
 * nslots when total is 0 or the counts sum to less than the rank. */
size_t hist_rank_slot(const uint64_t *counts, size_t nslots, uint64_t total, double p);

#endif
