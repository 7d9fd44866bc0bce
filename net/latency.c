/* net/latency.c — see latency.h. */
#include "net/latency.h"

#include <assert.h>
#include <string.h>

#include "core/clock.h"

static_assert(NET_LATENCY_SLOTS == 528, "33 groups of 16 slots: 4.1 KiB a reactor");

void net_latency_init(struct net_latency *l)
{
	memset(l, 0, sizeof(*l));
	l->countdown = 1;	/* the first frame: a quiet server shows something at once */
}

static uint64_t net_latency_clamp(uint64_t ns)
{
	return ns > NET_LATENCY_NS_MAX ? NET_LATENCY_NS_MAX : ns;
}

void net_latency_sample(struct net_latency *l, uint64_t recv_ns)
{
	int64_t d = clock_realtime_ns() - (int64_t)recv_ns;
	/* Below 0 only when the clock was stepped back since the receive. */
	uint64_t ns = d < 0 ? 0 : (uint64_t)d, c = net_latency_clamp(ns);
	_Atomic uint64_t *slot = &l->slots[hist_slot(c, NET_LATENCY_SUB_BITS)];

	l->countdown = NET_LATENCY_EVERY;
	/* Single writer: a relaxed load and store each, no read-modify-write needed. */
	atomic_store_explicit(slot, atomic_load_explicit(slot, memory_order_relaxed) + 1,
			      memory_order_relaxed);
	atomic_store_explicit(&l->sum_ns, atomic_load_explicit(&l->sum_ns, memory_order_relaxed) +
			      c, memory_order_relaxed);
	if (ns > atomic_load_explicit(&l->max_ns, memory_order_relaxed))
		atomic_store_explicit(&l->max_ns, ns, memory_order_relaxed);
}

void net_latency_snap_record(struct net_latency_snap *s, uint64_t ns)
{
	uint64_t c = net_latency_clamp(ns);

	s->slots[hist_slot(c, NET_LATENCY_SUB_BITS)]++;
	s->count++;
	s->sum_ns += c;
	if (ns > s->max_ns)
		s->max_ns = ns;
}

void net_latency_read(const struct net_latency *l, struct net_latency_snap *out)
{
	out->count = 0;
	out->sum_ns = atomic_load_explicit(&l->sum_ns, memory_order_relaxed);
	out->max_ns = atomic_load_explicit(&l->max_ns, memory_order_relaxed);
	for (size_t i = 0; i < NET_LATENCY_SLOTS; i++) {
		out->slots[i] = atomic_load_explicit(&l->slots[i], memory_order_relaxed);
		out->count += out->slots[i];
	}
}

void net_latency_merge(struct net_latency_snap *dst, const struct net_latency_snap *src)
{
	for (size_t i = 0; i < NET_LATENCY_SLOTS; i++)
		dst->slots[i] += src->slots[i];
	dst->count += src->count;
	dst->sum_ns += src->sum_ns;
	if (src->max_ns > dst->max_ns)
		dst->max_ns = src->max_ns;
}

void net_latency_since(struct net_latency_snap *dst, const struct net_latency_snap *older)
{
	size_t top = NET_LATENCY_SLOTS;

	dst->count = 0;
	for (size_t i = 0; i < NET_LATENCY_SLOTS; i++) {
		/* Counters only grow: an older snapshot never holds more. */
		assert(dst->slots[i] >= older->slots[i]);
		dst->slots[i] -= older->slots[i];
		dst->count += dst->slots[i];
		if (dst->slots[i])
			top = i;
	}
	dst->sum_ns = dst->sum_ns >= older->sum_ns ? dst->sum_ns - older->sum_ns : 0;
	if (top == NET_LATENCY_SLOTS)
		dst->max_ns = 0;
	else if (hist_slot_top(top, NET_LATENCY_SUB_BITS) < dst->max_ns)
		dst->max_ns = hist_slot_top(top, NET_LATENCY_SUB_BITS);
}

uint64_t net_latency_percentile(const struct net_latency_snap *s, double p)
{
	size_t i = hist_rank_slot(s->slots, NET_LATENCY_SLOTS, s->count, p);
	uint64_t v;

	if (i == NET_LATENCY_SLOTS)
		return s->count ? s->max_ns : 0;
	v = hist_slot_top(i, NET_LATENCY_SUB_BITS);
	return v < s->max_ns ? v : s->max_ns;
}

uint64_t net_latency_at_most(const struct net_latency_snap *s, uint64_t le_ns)
{
	uint64_t n = 0;

	for (size_t i = 0; i < NET_LATENCY_SLOTS && hist_slot_top(i, NET_LATENCY_SUB_BITS) <= le_ns;
	     i++)
		n += s->slots[i];
	return n;
}
