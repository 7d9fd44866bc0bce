/* admin/api_health.c — /healthz (the process is alive: every reactor has turned
 * recently), /readyz (recovered, listening, store reachable), /metrics, and
 * /api/v1/stats (the overview fanout-top draws), /api/v1/latency (admin/latency.h). */
#include <stdlib.h>
#include <string.h>

#include "admin/admin.h"
#include "net/server.h"
#include "admin/metrics.h"
#include "admin/router.h"
#include "admin/stats_json.h"
#include "core/clock.h"

#define HEALTH_STUCK_NS (2 * 1000 * 1000 * 1000ll)	/* reactors turn every 100 ms */

/* Reactors whose turn counter has not moved since a sample at least HEALTH_STUCK_NS old. */
static uint32_t health_stuck(const struct admin *a)
{
	uint32_t stuck = 0;

	if (!a->cur.reactors || clock_monotonic_ns() - a->cur.mono_ns < HEALTH_STUCK_NS)
		return 0;
	for (uint32_t r = 0; r < a->eng->n; r++)
		stuck += net_stat_get(&a->eng->servers[r]->stats.turns) == a->cur.reactors[r].turns;
	return stuck;
}

int api_healthz(struct admin_req *r, struct admin_reply *rep)
{
	uint32_t stuck = health_stuck(r->a);

	if (stuck)
		return admin_error(rep, 503, "UNHEALTHY", NULL, "%u reactors have not turned for "
				   "2 s", stuck);
	return admin_ok(rep, 200, json_pack("{s:s}", "status", "ok"));
}

int api_readyz(struct admin_req *r, struct admin_reply *rep)
{
	const struct admin *a = r->a;
	bool listening = a->eng->bound[0] != '\0', store = a->store.up;
	bool ready = listening && store;

	return admin_ok(rep, ready ? 200 : 503,
			json_pack("{s:b, s:{s:b, s:b, s:b}, s:s, s:s}", "ready", ready, "checks",
				  "recovered", 1, "listening", listening, "store", store,
				  "listen", a->eng->bound, "store_backend", a->store.where));
}

int api_metrics(struct admin_req *r, struct admin_reply *rep)
{
	rep->text = metrics_render(r->a, &rep->text_len);
	if (!rep->text)
		return admin_error(rep, 500, "INTERNAL", NULL, "out of memory");
	rep->status = 200;
	return 0;
}

int api_stats(struct admin_req *r, struct admin_reply *rep)
{
	return admin_ok(rep, 200, stats_overview_json(r->a));
}

int api_latency(struct admin_req *r, struct admin_reply *rep)
{
	json_t *j = admin_latency_json(r->a);

	/* Ten digits: percentiles read 99.9, not 99.900000000000006. */
	rep->text = j ? json_dumps(j, JSON_COMPACT | JSON_REAL_PRECISION(10)) : NULL;
	json_decref(j);
	if (!rep->text)
		return admin_error(rep, 500, "INTERNAL", NULL, "out of memory");
	rep->text_len = strlen(rep->text);
	rep->text_json = true;
	rep->status = 200;
	return 0;
}
