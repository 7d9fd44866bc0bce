/* admin/latency.c — see latency.h. */
#include "admin/latency.h"

#include <stdlib.h>
#include <string.h>

#include "admin/admin.h"
#include "net/server.h"

#define ADMIN_LATENCY_RING (ADMIN_LATENCY_WINDOW_S + 1u)

void admin_latency_read(const struct admin *a, struct net_latency_snap *out)
{
	struct net_latency_snap one;

	memset(out, 0, sizeof(*out));
	for (uint32_t r = 0; r < a->eng->n; r++) {
		net_latency_read(&a->eng->servers[r]->latency, &one);
		net_latency_merge(out, &one);
	}
}

void admin_latency_tick(struct admin *a)
{
	struct admin_latency *l = &a->latency;

	if (!l->ring && !(l->ring = calloc(ADMIN_LATENCY_RING, sizeof(*l->ring))))
		return;	/* no window: /api/v1/latency answers since start */
	l->head = (l->head + 1) % ADMIN_LATENCY_RING;
	admin_latency_read(a, &l->ring[l->head]);
	if (l->n < ADMIN_LATENCY_RING)
		l->n++;
}

/* The snapshot the window starts at, or NULL (the ring is not full: since start). */
static const struct net_latency_snap *admin_latency_oldest(const struct admin_latency *l)
{
	if (!l->ring || l->n < ADMIN_LATENCY_RING)
		return NULL;
	return &l->ring[(l->head + 1) % ADMIN_LATENCY_RING];
}

/* The curve perf/plot.sh and the dashboard draw: x is log10(1 / (1 - p)). */
static const double admin_latency_curve[] = {
	0, 50, 75, 90, 95, 99, 99.5, 99.9, 99.95, 99.99, 100,
};

json_t *admin_latency_json(const struct admin *a)
{
	struct net_latency_snap *now = malloc(sizeof(*now));
	const struct net_latency_snap *old = admin_latency_oldest(&a->latency);
	json_t *curve = json_array(), *j = NULL;

	if (!now || !curve)
		goto out;
	admin_latency_read(a, now);
	if (old)
		net_latency_since(now, old);
	for (size_t i = 0; i < sizeof(admin_latency_curve) / sizeof(*admin_latency_curve); i++)
		json_array_append_new(curve, json_pack("{s:f, s:I}", "p", admin_latency_curve[i],
			"ns", (json_int_t)net_latency_percentile(now, admin_latency_curve[i])));
	j = json_pack("{s:s, s:i, s:i, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:O}",
		      "source", "server receive -> send", "sampleEvery", NET_LATENCY_EVERY,
		      "windowSeconds", old ? (int)ADMIN_LATENCY_WINDOW_S : (int)a->latency.n,
		      "count", (json_int_t)now->count, "sumNs", (json_int_t)now->sum_ns,
		      "p50Ns", (json_int_t)net_latency_percentile(now, 50),
		      "p90Ns", (json_int_t)net_latency_percentile(now, 90),
		      "p99Ns", (json_int_t)net_latency_percentile(now, 99),
		      "p999Ns", (json_int_t)net_latency_percentile(now, 99.9),
		      "maxNs", (json_int_t)now->max_ns, "curve", curve);
out:
	json_decref(curve);
	free(now);
	return j;
}

void admin_latency_free(struct admin *a)
{
	free(a->latency.ring);
	memset(&a->latency, 0, sizeof(a->latency));
}
