/* admin/api_subs.c — /api/v1/subscriptions and /api/v1/topics/{t}/subscriptions: live
 * subscriptions as their reactors report them (with stats: this node's only), the
 * store's record of every subscription (with ?status=: every node's sharing the store,
 * or one node's with ?node=), and ending one. Each carries its "node" (--node-id). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin/admin.h"
#include "admin/live.h"
#include "admin/router.h"
#include "admin/stats_json.h"
#include "core/clock.h"

static json_t *sub_record_json(const struct store_sub *s)
{
	json_t *filters = s->filters ? json_loads(s->filters, 0, NULL) : NULL;

	return json_pack("{s:s, s:s, s:s, s:s, s:o, s:o, s:s, s:s, s:s, s:s, s:s, s:o}",
			 "id", s->subscription_id, "topic", s->topic_name,
			 "subscription_name", s->subscription_name,
			 "subscription_type", s->subscription_type,
			 "consumer_group", s->consumer_group[0] ? json_string(s->consumer_group)
								: json_null(),
			 "filters", filters ? filters : json_null(),
			 "start_position", s->start_position,
			 "delivery_guarantee", s->delivery_guarantee, "status", s->status,
			 "created_at", s->created_at, "last_activity", s->last_activity,
			 "node", s->node_id[0] ? json_string(s->node_id) : json_null());
}

/* A live subscription's JSON: the sampler's, with this node's name. */
static json_t *sub_live_json(struct admin *a, const struct admin_sub_sample *s)
{
	json_t *o = stats_sub_json(a, s);

	if (o)
		json_object_set_new(o, "node", json_string(a->node_id));
	return o;
}

/* Records from the store, by id, of one topic ("" = all), status ("any" = all) and node
 * (?node=; absent = every node's). */
static int subs_records(struct admin_req *r, struct admin_reply *rep, const char *topic,
			const char *status, uint32_t limit)
{
	struct admin *a = r->a;
	char after[ADMIN_ID_BYTES] = "", node[STORE_NODE_ID_BYTES] = "";
	struct store_sub *rows;
	uint32_t n;
	json_t *arr, *next;
	int rc;

	if (admin_query(r, "after", after, sizeof(after), rep) < 0 ||
	    admin_query(r, "node", node, sizeof(node), rep) < 0)
		return 0;
	rc = store_subs_list(&a->store, topic, strcmp(status, "any") ? status : "", node, after,
			     limit, &rows, &n);
	if (rc != STORE_OK)
		return admin_store_error(rep, a, rc, "listing subscriptions");
	arr = json_array();
	for (uint32_t i = 0; arr && i < n; i++)
		json_array_append_new(arr, sub_record_json(&rows[i]));
	next = n == limit ? json_string(rows[n - 1].subscription_id) : json_null();
	store_subs_free(rows, n);
	return admin_ok(rep, 200, json_pack("{s:o, s:o}", "subscriptions", arr, "next", next));
}

/* Live subscriptions (of tp, or all), paged by serial after ?after=<id>. */
static int subs_live(struct admin_req *r, struct admin_reply *rep, const struct topic *tp,
		     uint32_t limit)
{
	struct admin *a = r->a;
	struct admin_sub_sample *subs;
	char after[ADMIN_ID_BYTES] = "";
	uint64_t from = 0;
	uint32_t n, k = 0;
	bool trunc;
	json_t *arr = json_array();

	if (admin_query(r, "after", after, sizeof(after), rep) < 0)
		return json_decref(arr), 0;
	if (after[0] && !(from = live_sub_serial(a, after)))
		return json_decref(arr), admin_error(rep, 400, "BAD_PARAMETER", "after", "after: "
						     "not a subscription id of this server run");
	if (live_subs(a, tp, &subs, &n, &trunc) < 0)
		return json_decref(arr), admin_error(rep, 503, "REACTOR_TIMEOUT", NULL,
						     "a reactor did not answer in time");
	for (uint32_t i = 0; arr && i < n && k < limit; i++) {
		if (subs[i].info.stats.serial <= from)
			continue;
		json_array_append_new(arr, sub_live_json(a, &subs[i]));
		k++;
	}
	free(subs);
	return admin_ok(rep, 200, json_pack("{s:o, s:o, s:b}", "subscriptions", arr, "next",
					    k == limit ? json_string(json_string_value(json_object_get(
						    json_array_get(arr, k - 1), "id")))
						       : json_null(),
					    "truncated", trunc));
}

int api_subs_list(struct admin_req *r, struct admin_reply *rep)
{
	struct admin *a = r->a;
	char topic[PATH_SEGMENT_BYTES] = "", status[16] = "";
	const struct topic *tp = NULL;
	uint32_t limit;
	int has_status;

	if (admin_query_limit(r, &limit, rep) < 0)
		return 0;
	if (r->path.n == 5)	/* /api/v1/topics/{t}/subscriptions */
		snprintf(topic, sizeof(topic), "%s", r->path.seg[3]);
	else if (admin_query(r, "topic", topic, sizeof(topic), rep) < 0)
		return 0;
	has_status = admin_query(r, "status", status, sizeof(status), rep);
	if (has_status < 0)
		return 0;
	if (has_status && strcmp(status, "active") && strcmp(status, "stopped") &&
	    strcmp(status, "paused") && strcmp(status, "error") && strcmp(status, "any"))
		return admin_error(rep, 400, "BAD_PARAMETER", "status", "status must be active, "
				   "stopped, paused, error or any");
	if (has_status)
		return subs_records(r, rep, topic, status, limit);
	if (topic[0] && !(tp = admin_topic_find(a, topic)))
		return admin_error(rep, 404, "NOT_FOUND", NULL, "no topic '%s'", topic);
	return subs_live(r, rep, tp, limit);
}

/* The live subscription with this serial, or NULL (*subs to free either way). */
static struct admin_sub_sample *sub_live_find(struct admin *a, uint64_t serial,
					      struct admin_sub_sample **subs, int *rc)
{
	uint32_t n;
	bool trunc;

	*rc = live_subs(a, NULL, subs, &n, &trunc);
	for (uint32_t i = 0; *rc == 0 && serial && i < n; i++)
		if ((*subs)[i].info.stats.serial == serial)
			return &(*subs)[i];
	return NULL;
}

int api_sub_get(struct admin_req *r, struct admin_reply *rep)
{
	struct admin *a = r->a;
	const char *id = r->path.seg[3];
	struct admin_sub_sample *subs = NULL, *s;
	struct store_sub rec;
	int rc;

	s = sub_live_find(a, live_sub_serial(a, id), &subs, &rc);
	if (s) {
		json_t *o = sub_live_json(a, s);

		free(subs);
		if (o)
			json_object_set_new(o, "status", json_string("active"));
		return admin_ok(rep, 200, o);
	}
	free(subs);
	rc = store_sub_get(&a->store, id, &rec);
	if (rc == STORE_NOT_FOUND)
		return admin_error(rep, 404, "NOT_FOUND", NULL, "no subscription '%s'", id);
	if (rc != STORE_OK)
		return admin_store_error(rep, a, rc, "reading the subscription");
	rc = admin_ok(rep, 200, sub_record_json(&rec));
	store_sub_clear(&rec);
	return rc;
}

/* Another node's live subscription (its record active, another node's): that node
 * ends it, not this one (the record would say stopped while it runs). Returns whether
 * rep was set (409, or the store's error). */
static bool sub_elsewhere(struct admin_req *r, struct admin_reply *rep, const char *id)
{
	struct admin *a = r->a;
	struct store_sub rec;
	bool there;
	int rc;

	if (a->store.kind != STORE_PG)
		return false;	/* SQLite: this node's own, whatever id an earlier run had */
	rc = store_sub_get(&a->store, id, &rec);
	if (rc != STORE_OK && rc != STORE_NOT_FOUND)
		return admin_store_error(rep, a, rc, "reading the subscription"), true;
	there = rc == STORE_OK && rec.node_id[0] && strcmp(rec.node_id, a->node_id) != 0 &&
		strcmp(rec.status, "active") == 0;
	if (there)
		admin_error(rep, 409, "CONFLICT", NULL, "subscription '%s' is live on node '%s': "
			    "end it there", id, rec.node_id);
	store_sub_clear(&rec);
	return there;
}

int api_sub_delete(struct admin_req *r, struct admin_reply *rep)
{
	struct admin *a = r->a;
	const char *id = r->path.seg[3];
	uint64_t serial = live_sub_serial(a, id);
	char now[STORE_TIME_BYTES];
	int rc, ended;

	if (!serial && sub_elsewhere(r, rep, id))
		return 0;
	store_time(clock_realtime_ns(), now, sizeof(now));
	/* Persisted first: the record says stopped before the subscriber hears of it. */
	rc = store_sub_status(&a->store, id, "stopped", now);
	if (rc != STORE_OK && rc != STORE_NOT_FOUND)
		return admin_store_error(rep, a, rc, "ending the subscription");
	ended = serial ? live_sub_end(a, serial, "ended by the operator (REST DELETE)") : 0;
	if (ended < 0)
		return admin_error(rep, 503, "REACTOR_TIMEOUT", NULL, "a reactor did not answer "
				   "in time (%s)", strerror(-ended));
	if (ended)
		return admin_ok(rep, 200, json_pack("{s:s, s:b}", "id", id, "ended", 1));
	if (rc == STORE_NOT_FOUND)
		return admin_error(rep, 404, "NOT_FOUND", NULL, "no subscription '%s'", id);
	rc = store_sub_delete(&a->store, id);	/* not live: the record goes */
	if (rc != STORE_OK)
		return admin_store_error(rep, a, rc, "deleting the subscription record");
	return admin_ok(rep, 200, json_pack("{s:s, s:b, s:b}", "id", id, "ended", 0,
					    "record_deleted", 1));
}
