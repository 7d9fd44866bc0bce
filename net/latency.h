/* net/latency.h — each reactor's delivery latency, sampled: for one frame in
 * NET_LATENCY_EVERY that a subscription gathers for its socket or its shared-memory ring
 * (live frames: a subscribe's snapshot is not a delivery of a new event), the time from
 * the server's receive (log_entry.recv_ns) to the gather, which is within the reactor
 * turn that submits the send. Kept in a log-linear histogram (core/hist.h) of 16
 * sub-buckets per doubling: every value to within 1/16 (6.25 %), 0 ns to 68.7 s, larger
 * ones counted in the top slot (the exact largest is kept apart).
 *
 * Cost on the hot path: net_latency_tick, a decrement and a branch per frame; the
 * sample itself (1 in 64) reads CLOCK_REALTIME through the vDSO (no syscall) and does
 * three relaxed stores. No allocation, no lock.
 *
 * Contract as net/stats.h: the owning reactor's thread writes (relaxed atomics, plain
 * moves on x86-64); any thread may read with net_latency_read. The plain snapshots
 * (struct net_latency_snap) belong to their caller. */
#ifndef FANOUT_NET_LATENCY_H
#define FANOUT_NET_LATENCY_H

#include <stdatomic.h>
#include <stdint.h>

#include "core/hist.h"

#define NET_LATENCY_EVERY 64u		/* one gathered frame in this many is timed */
#define NET_LATENCY_EVERY_S "64"	/* the same, for help texts */
#define NET_LATENCY_SUB_BITS 5u		/* 16 new sub-buckets per doubling */
#define NET_LATENCY_BUCKETS 32u		/* the top one reaches 2^36 ns, 68.7 s */
#define NET_LATENCY_SLOTS HIST_SLOTS(NET_LATENCY_BUCKETS, NET_LATENCY_SUB_BITS)
#define NET_LATENCY_NS_MAX ((1ull << (NET_LATENCY_BUCKETS - 1 + NET_LATENCY_SUB_BITS)) - 1)

struct net_latency {
	uint32_t countdown;		/* frames to the next sample: the reactor's alone */
	_Atomic uint64_t sum_ns;	/* of the samples (clamped at NET_LATENCY_NS_MAX) */
	_Atomic uint64_t max_ns;	/* the largest sample, exact */
	_Atomic uint64_t slots[NET_LATENCY_SLOTS];
} __attribute__((aligned(64)));

/* A plain copy: count is the sum of its slots (so percentiles agree with it). */
struct net_latency_snap {
	uint64_t count, sum_ns, max_ns;
	uint64_t slots[NET_LATENCY_SLOTS];
};

/* Zeroes l; the next frame ticked is sampled. Before the reactor starts. */
void net_latency_init(struct net_latency *l);

/* Times one frame received at recv_ns (CLOCK_REALTIME) now. Reactor thread. */
void net_latency_sample(struct net_latency *l, uint64_t recv_ns);

/* Counts one gathered frame; times it when its turn in NET_LATENCY_EVERY comes. */
static inline void net_latency_tick(struct net_latency *l, uint64_t recv_ns)
{
	if (__builtin_expect(--l->countdown == 0, 0))
		net_latency_sample(l, recv_ns);
}

/* Records a value in a plain snapshot (tests and tools; the reactors sample). */
void net_latency_snap_record(struct net_latency_snap *s, uint64_t ns);

/* Copies l into *out. Any thread; the copy is not atomic as a whole (a sample landing
 * meanwhile may be in count and not in sum_ns), which a monitor can bear. */
void net_latency_read(const struct net_latency *l, struct net_latency_snap *out);

/* dst += src (reactors summed). */
void net_latency_merge(struct net_latency_snap *dst, const struct net_latency_snap *src);

/* dst -= older: what was recorded between two snapshots of the same counters (a window).
 * max_ns becomes the top of the highest slot used in the window (no more than the exact
 * maximum of all time). */
void net_latency_since(struct net_latency_snap *dst, const struct net_latency_snap *older);

/* The p-th percentile (0..100) to the histogram's precision: the top of its slot, never
 * above max_ns. 0 when empty. */
uint64_t net_latency_percentile(const struct net_latency_snap *s, double p);

/* How many of s's samples were at most le_ns: exact at slot edges, else counting the
 * slot that holds le_ns only when its top is at most le_ns (a Prometheus bucket). */
uint64_t net_latency_at_most(const struct net_latency_snap *s, uint64_t le_ns);

#endif
