/* admin/latency.c — see latency.h. */
#include "admin/latency.h"

#include <stdlib.h>
#include <string.h>

#include "admin/admin.h"
#include "net/server.h"

#define ADMIN_LATENCY_RING (ADMIN_LATENCY_WINDOW_S + 1u)

void admin_latency_read(const struct admin *a, enum admin_latency_class cls,
			struct net_latency_snap *out)
{
	struct net_latency_snap one;

	memset(out, 0, sizeof(*out));
	for (uint32_t r = 0; r < a->eng->n; r++) {
		const struct net_server *srv = a->eng->servers[r];

		net_latency_read(cls == ADMIN_LATENCY_PRIORITY ? &srv->latency_priority :
				 &srv->latency, &one);
		net_latency_merge(out, &one);
	}
}

void admin_latency_tick(struct admin *a)
{
	struct admin_latency *l = &a->latency;

	if (!l->ring && !(l->ring = calloc((size_t)ADMIN_LATENCY_RING * ADMIN_LATENCY_CLASSES,
					   sizeof(*l->ring))))
		return;	/* no window: /api/v1/latency answers since start */
	l->head = (l->head + 1) % ADMIN_LATENCY_RING;
	for (int c = 0; c < ADMIN_LATENCY_CLASSES; c++)
		admin_latency_read(a, (enum admin_latency_class)c,
				   &l->ring[l->head * ADMIN_LATENCY_CLASSES + (uint32_t)c]);
	if (l->n < ADMIN_LATENCY_RING)
		l->n++;
}

/* Class cls's snapshot the window starts at, or NULL (the ring is not full: since
 * start). */
static const struct net_latency_snap *admin_latency_oldest(const struct admin_latency *l,
							   enum admin_latency_class cls)
{
	if (!l->ring || l->n < ADMIN_LATENCY_RING)
		return NULL;
	return &l->ring[((l->head + 1) % ADMIN_LATENCY_RING) * ADMIN_LATENCY_CLASSES +
			(uint32_t)cls];
}

/* The curve perf/plot.sh and the dashboard draw: x is log10(1 / (1 - p)). */
static const double admin_latency_curve[] = {
	0, 50, 75, 90, 95, 99, 99.5, 99.9, 99.95, 99.99, 100,
};

/* Class cls's window: {count, sumNs, p50Ns, p90Ns, p99Ns, p999Ns, maxNs, curve}, into
 * *now (scratch). NULL when out of memory. */
static json_t *admin_latency_class_json(const struct admin *a, enum admin_latency_class cls,
					struct net_latency_snap *now)
{
	const struct net_latency_snap *old = admin_latency_oldest(&a->latency, cls);
	json_t *curve = json_array();

	if (!curve)
		return NULL;
	admin_latency_read(a, cls, now);
	if (old)
		net_latency_since(now, old);
	for (size_t i = 0; i < sizeof(admin_latency_curve) / sizeof(*admin_latency_curve); i++)
		json_array_append_new(curve, json_pack("{s:f, s:I}", "p", admin_latency_curve[i],
			"ns", (json_int_t)net_latency_percentile(now, admin_latency_curve[i])));
	return json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:o}",
			 "count", (json_int_t)now->count, "sumNs", (json_int_t)now->sum_ns,
			 "p50Ns", (json_int_t)net_latency_percentile(now, 50),
			 "p90Ns", (json_int_t)net_latency_percentile(now, 90),
			 "p99Ns", (json_int_t)net_latency_percentile(now, 99),
			 "p999Ns", (json_int_t)net_latency_percentile(now, 99.9),
			 "maxNs", (json_int_t)now->max_ns, "curve", curve);
}

json_t *admin_latency_json(const struct admin *a)
{
	struct net_latency_snap *now = malloc(sizeof(*now));
	json_t *all = NULL, *prio = NULL, *j = NULL;

	if (!now)
		return NULL;
	all = admin_latency_class_json(a, ADMIN_LATENCY_ALL, now);
	prio = admin_latency_class_json(a, ADMIN_LATENCY_PRIORITY, now);
	if (all && prio)
		j = json_pack("{s:s, s:i, s:i}", "source", "server receive -> send",
			      "sampleEvery", NET_LATENCY_EVERY, "windowSeconds",
			      admin_latency_oldest(&a->latency, ADMIN_LATENCY_ALL) ?
			      (int)ADMIN_LATENCY_WINDOW_S : (int)a->latency.n);
	if (j && (json_object_update(j, all) || json_object_set(j, "priority", prio))) {
		json_decref(j);
		j = NULL;
	}
	json_decref(all);
	json_decref(prio);
	free(now);
	return j;
}

void admin_latency_free(struct admin *a)
{
	free(a->latency.ring);
	memset(&a->latency, 0, sizeof(a->latency));
}
