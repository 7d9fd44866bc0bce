/* admin/router.c — the REST API's routes: a table of path shapes ("*" is one decoded
 * segment: a topic name, a subscription id, a rule name) and their methods. */
#include "admin/router.h"

#include "admin/dashboard.h"

#include <string.h>

typedef int (*admin_handler)(struct admin_req *r, struct admin_reply *rep);

struct admin_method {
	const char *method;
	admin_handler fn;
};

struct admin_route_entry {
	const char *shape[6];		/* segments, NULL-terminated */
	const char *allow;		/* for 405 */
	struct admin_method methods[5];
};

static const struct admin_route_entry admin_routes[] = {
	{ { NULL }, "GET, HEAD", { { "GET", api_dashboard }, { "HEAD", api_dashboard } } },
	{ { "dashboard", "*" }, "GET, HEAD",
	  { { "GET", api_dashboard }, { "HEAD", api_dashboard } } },
	{ { "healthz" }, "GET", { { "GET", api_healthz } } },
	{ { "readyz" }, "GET", { { "GET", api_readyz } } },
	{ { "metrics" }, "GET", { { "GET", api_metrics } } },
	{ { "api", "v1", "stats" }, "GET", { { "GET", api_stats } } },
	{ { "api", "v1", "latency" }, "GET", { { "GET", api_latency } } },
	{ { "api", "v1", "topics" }, "GET, POST",
	  { { "GET", api_topics_list }, { "POST", api_topics_create } } },
	{ { "api", "v1", "topics", "*" }, "GET, PATCH, PUT, DELETE",
	  { { "GET", api_topic_get }, { "PATCH", api_topic_update }, { "PUT", api_topic_update },
	    { "DELETE", api_topic_delete } } },
	{ { "api", "v1", "topics", "*", "stats" }, "GET", { { "GET", api_topic_stats } } },
	{ { "api", "v1", "topics", "*", "subscriptions" }, "GET", { { "GET", api_subs_list } } },
	{ { "api", "v1", "subscriptions" }, "GET", { { "GET", api_subs_list } } },
	{ { "api", "v1", "subscriptions", "*" }, "GET, DELETE",
	  { { "GET", api_sub_get }, { "DELETE", api_sub_delete } } },
	{ { "api", "v1", "rules" }, "GET, POST",
	  { { "GET", api_rules_list }, { "POST", api_rules_create } } },
	{ { "api", "v1", "rules", "*" }, "GET, PUT, PATCH, DELETE",
	  { { "GET", api_rule_get }, { "PUT", api_rule_put }, { "PATCH", api_rule_patch },
	    { "DELETE", api_rule_delete } } },
	{ { "api", "v1", "rules", "*", "enable" }, "POST", { { "POST", api_rule_enable } } },
	{ { "api", "v1", "rules", "*", "disable" }, "POST", { { "POST", api_rule_disable } } },
	{ { "api", "v1", "market-data", "*", "latest" }, "GET", { { "GET", api_md_latest } } },
	{ { "api", "v1", "market-data", "*", "history" }, "GET", { { "GET", api_md_history } } },
	{ { "api", "v1", "coordination", "decisions", "*" }, "GET",
	  { { "GET", api_decisions } } },
	/* Before ".../{order_id}/status": a fill or portfolio named "status" stays one. */
	{ { "api", "v1", "execution", "fills", "*" }, "GET", { { "GET", api_exec_fill } } },
	{ { "api", "v1", "execution", "reports", "*" }, "GET", { { "GET", api_exec_report } } },
	{ { "api", "v1", "execution", "*", "status" }, "GET", { { "GET", api_exec_status } } },
	{ { "api", "v1", "audit" }, "GET", { { "GET", api_audit } } },
	{ { "api", "v1", "producers" }, "GET", { { "GET", api_producers_list } } },
	{ { "api", "v1", "producers", "*" }, "GET", { { "GET", api_producer_get } } },
	{ { "api", "v1", "kafka" }, "GET", { { "GET", api_kafka } } },
	{ { "api", "v1", "tokens" }, "GET, POST",
	  { { "GET", api_tokens_list }, { "POST", api_tokens_create } } },
	{ { "api", "v1", "tokens", "*" }, "GET, PATCH, DELETE",
	  { { "GET", api_token_get }, { "PATCH", api_token_patch },
	    { "DELETE", api_token_revoke } } },
	{ { "api", "v1", "admin-audit" }, "GET", { { "GET", api_admin_audit } } },
	/* WebSocket streams (admin/ws.h): a GET with Upgrade: websocket. */
	{ { "api", "v1", "stream" }, "GET", { { "GET", api_ws_stream } } },
	{ { "api", "v1", "market-data", "stream" }, "GET", { { "GET", api_ws_market_data } } },
	{ { "api", "v1", "execution", "stream" }, "GET", { { "GET", api_ws_execution } } },
	{ { "api", "v1", "coordination", "stream" }, "GET", { { "GET", api_ws_coordination } } },
	{ { "api", "v1", "websockets" }, "GET", { { "GET", api_ws_list } } },
};

static bool admin_shape_matches(const struct admin_route_entry *e, const struct path *p)
{
	uint32_t i = 0;

	for (; i < 6 && e->shape[i]; i++)
		if (i >= p->n || (strcmp(e->shape[i], "*") != 0 && strcmp(e->shape[i], p->seg[i])))
			return false;
	return i == p->n;
}

void admin_route(struct admin_req *r, struct admin_reply *rep)
{
	for (size_t i = 0; i < sizeof(admin_routes) / sizeof(admin_routes[0]); i++) {
		const struct admin_route_entry *e = &admin_routes[i];

		if (!admin_shape_matches(e, &r->path))
			continue;
		for (size_t m = 0; m < 5 && e->methods[m].method; m++)
			if (strcmp(e->methods[m].method, r->method) == 0) {
				e->methods[m].fn(r, rep);
				return;
			}
		admin_method_not_allowed(rep, e->allow);
		return;
	}
	admin_error(rep, 404, "NOT_FOUND", NULL, "no such resource (topic names with '/' "
		    "must be percent-encoded as %%2F in paths)");
}
