/* admin/router.h — which handler a request goes to (the table in router.c), and the
 * handlers (admin/api_*.c). Each handler fills rep and returns 0. The admin thread. */
#ifndef FANOUT_ADMIN_ROUTER_H
#define FANOUT_ADMIN_ROUTER_H

#include "admin/http.h"

/* Answers r: 404 for an unknown path, 405 (with Allow) for a known path with another
 * method, else the handler's answer. */
void admin_route(struct admin_req *r, struct admin_reply *rep);

/* admin/api_topics.c */
int api_topics_list(struct admin_req *r, struct admin_reply *rep);
int api_topics_create(struct admin_req *r, struct admin_reply *rep);
int api_topic_get(struct admin_req *r, struct admin_reply *rep);
int api_topic_update(struct admin_req *r, struct admin_reply *rep);
int api_topic_delete(struct admin_req *r, struct admin_reply *rep);
int api_topic_stats(struct admin_req *r, struct admin_reply *rep);

/* admin/api_subs.c */
int api_subs_list(struct admin_req *r, struct admin_reply *rep);	/* also per topic */
int api_sub_get(struct admin_req *r, struct admin_reply *rep);
int api_sub_delete(struct admin_req *r, struct admin_reply *rep);

/* admin/api_rules.c */
int api_rules_list(struct admin_req *r, struct admin_reply *rep);
int api_rules_create(struct admin_req *r, struct admin_reply *rep);
int api_rule_get(struct admin_req *r, struct admin_reply *rep);
int api_rule_put(struct admin_req *r, struct admin_reply *rep);
int api_rule_patch(struct admin_req *r, struct admin_reply *rep);
int api_rule_delete(struct admin_req *r, struct admin_reply *rep);
int api_rule_enable(struct admin_req *r, struct admin_reply *rep);
int api_rule_disable(struct admin_req *r, struct admin_reply *rep);

/* admin/api_data.c */
int api_md_latest(struct admin_req *r, struct admin_reply *rep);
int api_md_history(struct admin_req *r, struct admin_reply *rep);
int api_decisions(struct admin_req *r, struct admin_reply *rep);
int api_exec_status(struct admin_req *r, struct admin_reply *rep);
int api_exec_fill(struct admin_req *r, struct admin_reply *rep);
int api_exec_report(struct admin_req *r, struct admin_reply *rep);
int api_audit(struct admin_req *r, struct admin_reply *rep);	/* admin/api_audit.c */

/* admin/api_producers.c */
int api_producers_list(struct admin_req *r, struct admin_reply *rep);
int api_kafka(struct admin_req *r, struct admin_reply *rep);
int api_producer_get(struct admin_req *r, struct admin_reply *rep);

/* admin/api_tokens.c */
int api_tokens_list(struct admin_req *r, struct admin_reply *rep);
int api_tokens_create(struct admin_req *r, struct admin_reply *rep);
int api_token_get(struct admin_req *r, struct admin_reply *rep);
int api_token_patch(struct admin_req *r, struct admin_reply *rep);
int api_token_revoke(struct admin_req *r, struct admin_reply *rep);	/* DELETE */
int api_admin_audit(struct admin_req *r, struct admin_reply *rep);	/* api_admin_audit.c */

/* admin/api_health.c */
int api_healthz(struct admin_req *r, struct admin_reply *rep);
int api_latency(struct admin_req *r, struct admin_reply *rep);	/* GET /api/v1/latency */
int api_readyz(struct admin_req *r, struct admin_reply *rep);
int api_metrics(struct admin_req *r, struct admin_reply *rep);
int api_stats(struct admin_req *r, struct admin_reply *rep);

/* api_ws.c: WebSocket streams (admin/ws.h). */
int api_ws_stream(struct admin_req *r, struct admin_reply *rep);
int api_ws_market_data(struct admin_req *r, struct admin_reply *rep);
int api_ws_execution(struct admin_req *r, struct admin_reply *rep);
int api_ws_coordination(struct admin_req *r, struct admin_reply *rep);
int api_ws_list(struct admin_req *r, struct admin_reply *rep);	/* GET /api/v1/websockets */

#endif
