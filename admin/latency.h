/* admin/latency.h — the reactors' delivery latency (net/latency.h: server receive →
 * send, sampled 1 in NET_LATENCY_EVERY frames) for people and monitors, summed over the
 * reactors, for every frame and apart for the frames of topics with a priority above 0
 * (each class sampled on its own count): as Prometheus histograms in /metrics
 * (fanout_delivery_latency_seconds and fanout_priority_delivery_latency_seconds, all
 * since start) and, over the last ADMIN_LATENCY_WINDOW_S seconds, as percentiles and a
 * percentile curve (GET /api/v1/latency), which the dashboard plots. The window is a
 * ring of one cumulative snapshot a second per class, taken on the sampler's tick. The
 * admin thread only. */
#ifndef FANOUT_ADMIN_LATENCY_H
#define FANOUT_ADMIN_LATENCY_H

#include <jansson.h>

#include "net/latency.h"

#define ADMIN_LATENCY_WINDOW_S 60u

struct admin;

enum admin_latency_class {
	ADMIN_LATENCY_ALL,		/* every live frame (net_server.latency) */
	ADMIN_LATENCY_PRIORITY,		/* priority topics' (net_server.latency_priority) */
	ADMIN_LATENCY_CLASSES,
};

/* The ring (allocated on the first tick; NULL before and when out of memory). */
struct admin_latency {
	/* (ADMIN_LATENCY_WINDOW_S + 1) × ADMIN_LATENCY_CLASSES snapshots, a tick's side by
	 * side */
	struct net_latency_snap *ring;
	uint32_t head, n;		/* the newest at head; n taken so far (capped) */
};

/* Sums every reactor's counters of class cls into *out. */
void admin_latency_read(const struct admin *a, enum admin_latency_class cls,
			struct net_latency_snap *out);

/* Takes this second's snapshot (sampler_tick). */
void admin_latency_tick(struct admin *a);

/* The window's figures: now minus the snapshot ADMIN_LATENCY_WINDOW_S ticks ago (all
 * since start while the process is younger than that: the same window, near enough).
 * The JSON: {source, sampleEvery, windowSeconds, count, sumNs, p50Ns, p90Ns, p99Ns,
 * p999Ns, maxNs, curve: [{p, ns}, ...], priority: {count, sumNs, p50Ns, ..., curve}}, the
 * top level every frame's, priority the priority topics'. NULL when out of memory. */
json_t *admin_latency_json(const struct admin *a);

/* Frees the ring. */
void admin_latency_free(struct admin *a);

#endif
