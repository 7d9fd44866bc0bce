/* admin/api_topics.c — /api/v1/topics: list, create, get (with stats), update, delete.
 * A topic's record lives in the store's topics table; the topic itself in the running
 * server's table. Writes go to the store first (the answer says it is persisted), then
 * to the server. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin/admin.h"
#include "admin/watch.h"
#include "admin/live.h"
#include "admin/retention.h"
#include "admin/router.h"
#include "admin/sampler.h"
#include "admin/stats_json.h"

static json_t *topic_record_json(const struct store_topic *t, const struct topic *tp)
{
	return json_pack("{s:s, s:i, s:s, s:s, s:o, s:o, s:i, s:i, s:b, s:s, s:s}",
			 "topic_name", t->name,
			 "partitions", (int)(tp ? tp->partitions : t->partitions),
			 "retention_policy", t->retention_policy,
			 "compression_type", t->compression_type,
			 "schema_version", t->schema_version[0] ? json_string(t->schema_version)
								: json_null(),
			 "data_type", t->data_type[0] ? json_string(t->data_type) : json_null(),
			 "latency_requirement_ms", (int)t->latency_requirement_ms,
			 "priority", (int)t->priority, "enabled", t->enabled, "created_at", t->created_at,
			 "updated_at", t->updated_at);
}

/* What this node has in force for tp: the store's settings once applied here (after a
 * change on another node sharing the store, within a watch look: admin/watch.h). */
static json_t *topic_in_force_json(const struct topic *tp)
{
	return json_pack("{s:b, s:i, s:I, s:I}", "enabled", !topic_disabled(tp),
			 "priority", (int)topic_priority(tp),
			 "retention_ns", (json_int_t)atomic_load(&tp->retention_ns),
			 "retention_bytes", (json_int_t)atomic_load(&tp->retention_bytes));
}

static json_t *topic_json(const struct store_topic *t, const struct topic *tp)
{
	json_t *o = topic_record_json(t, tp);

	if (o && tp)
		json_object_set_new(o, "in_force", topic_in_force_json(tp));
	return o;
}

/* retention_policy: admin/retention.h's grammar ("7d", "20GB", "7d,20GB", "infinite"). */
static bool topic_retention_ok(const char *s)
{
	int64_t ns;
	uint64_t bytes;
	const char *why;

	return retention_parse(s, &ns, &bytes, &why) == 0;
}

/* A short identifier: 1..max bytes of [A-Za-z0-9._-]. */
static bool topic_word_ok(const char *s, size_t max)
{
	size_t n = strlen(s);

	if (n == 0 || n > max)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)s[i]) && !strchr("._-", s[i]))
			return false;
	return true;
}

/* One string field: copied into dst after its check. Returns 0, or -1 with rep set. */
static int topic_field_str(struct admin_reply *rep, const char *key, json_t *v, char *dst,
			   size_t cap, bool (*ok)(const char *), const char *what)
{
	if (json_is_null(v)) {
		dst[0] = '\0';
		return 0;
	}
	if (!json_is_string(v) || !ok(json_string_value(v)) ||
	    json_string_length(v) >= cap) {
		admin_error(rep, 400, "INVALID_FIELD", key, "%s must be %s", key, what);
		return -1;
	}
	memcpy(dst, json_string_value(v), json_string_length(v) + 1);
	return 0;
}

static bool topic_compression_ok(const char *s)
{
	static const char *const kinds[] = { "NONE", "LZ4", "ZLIB", "ZSTD", "SNAPPY" };

	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
		if (strcmp(s, kinds[i]) == 0)
			return true;
	return false;
}

static bool topic_schema_ok(const char *s)
{
	return topic_word_ok(s, 10);
}

static bool topic_data_type_ok(const char *s)
{
	return topic_word_ok(s, 50);
}

/* An integer field in [lo, hi]. */
static int topic_field_int(struct admin_reply *rep, const char *key, json_t *v, int64_t lo,
			   int64_t hi, int64_t *out)
{
	if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi) {
		admin_error(rep, 400, "INVALID_FIELD", key, "%s must be an integer in %lld..%lld",
			    key, (long long)lo, (long long)hi);
		return -1;
	}
	*out = json_integer_value(v);
	return 0;
}

/* Applies one member of a topic body to t. */
static int topic_field(struct admin_reply *rep, const char *key, json_t *v,
		       struct store_topic *t)
{
	int64_t n;

	if (strcmp(key, "partitions") == 0) {
		if (topic_field_int(rep, key, v, 1, TOPIC_PARTITIONS_MAX, &n) < 0)
			return -1;
		t->partitions = (uint32_t)n;
	} else if (strcmp(key, "latency_requirement_ms") == 0) {
		if (topic_field_int(rep, key, v, 0, INT32_MAX, &n) < 0)
			return -1;
		t->latency_requirement_ms = (int32_t)n;
	} else if (strcmp(key, "priority") == 0) {
		if (topic_field_int(rep, key, v, 0, UINT8_MAX, &n) < 0)
			return -1;
		t->priority = (uint8_t)n;
	} else if (strcmp(key, "enabled") == 0) {
		if (!json_is_boolean(v))
			return admin_error(rep, 400, "INVALID_FIELD", key, "enabled must be true or "
					   "false"), -1;
		t->enabled = json_is_true(v);
	} else if (strcmp(key, "retention_policy") == 0) {
		return json_is_null(v) ? (strcpy(t->retention_policy, "7d"), 0)
		       : topic_field_str(rep, key, v, t->retention_policy,
					 sizeof(t->retention_policy), topic_retention_ok,
					 "a duration such as \"7d\", \"12h\" or \"infinite\"");
	} else if (strcmp(key, "compression_type") == 0) {
		return json_is_null(v) ? (strcpy(t->compression_type, "LZ4"), 0)
		       : topic_field_str(rep, key, v, t->compression_type,
					 sizeof(t->compression_type), topic_compression_ok,
					 "one of NONE, LZ4, ZLIB, ZSTD, SNAPPY");
	} else if (strcmp(key, "schema_version") == 0) {
		return topic_field_str(rep, key, v, t->schema_version, sizeof(t->schema_version),
				       topic_schema_ok, "1..10 of [A-Za-z0-9._-], or null");
	} else if (strcmp(key, "data_type") == 0) {
		return topic_field_str(rep, key, v, t->data_type, sizeof(t->data_type),
				       topic_data_type_ok, "1..50 of [A-Za-z0-9._-], or null");
	} else {
		return admin_error(rep, 400, "INVALID_FIELD", key, "unknown field %s", key), -1;
	}
	return 0;
}

/* Applies a body's members (topic_name excepted) to t. */
static int topic_fields(struct admin_reply *rep, json_t *body, struct store_topic *t)
{
	const char *key;
	json_t *v;

	json_object_foreach(body, key, v) {
		if (strcmp(key, "topic_name") != 0 && topic_field(rep, key, v, t) < 0)
			return -1;
	}
	return 0;
}

static void topic_defaults(const struct admin *a, struct store_topic *t)
{
	memset(t, 0, sizeof(*t));
	t->partitions = a->cfg->default_partitions;
	strcpy(t->retention_policy, "7d");
	strcpy(t->compression_type, "LZ4");
	t->latency_requirement_ms = 100;
	t->enabled = true;
}

int api_topics_list(struct admin_req *r, struct admin_reply *rep)
{
	struct admin *a = r->a;
	char after[TOPIC_NAME_MAX + 1] = "";
	struct store_topic *rows;
	uint32_t limit, n;
	json_t *arr, *next;
	int rc;

	if (admin_query_limit(r, &limit, rep) < 0 ||
	    admin_query(r, "after", after, sizeof(after), rep) < 0)
		return 0;
	sampler_store_topics(a);	/* auto-created topics listed at once */
	rc = store_topics_list(&a->store, after, limit, &rows, &n);
	if (rc != STORE_OK)
		return admin_store_error(rep, a, rc, "listing topics");
	arr = json_array();
	for (uint32_t i = 0; arr && i < n; i++)
		json_array_append_new(arr, topic_json(&rows[i], admin_topic_find(a, rows[i].name)));
	next = n == limit ? json_string(rows[n - 1].name) : json_null();
	free(rows);
	return admin_ok(rep, 200, json_pack("{s:o, s:o}", "topics", arr, "next", next));
}

/* Reads a topic's record back from the store and answers it with status. */
static int topic_answer(struct admin_req *r, struct admin_reply *rep, int status,
			struct topic *tp, bool stats)
{
	struct admin *a = r->a;
	struct store_topic t;
	json_t *o;
	int rc = store_topic_get(&a->store, tp->name, &t);

	if (rc == STORE_NOT_FOUND) {	/* auto-created a moment ago */
		sampler_store_topics(a);
		rc = store_topic_get(&a->store, tp->name, &t);
	}
	if (rc != STORE_OK)
		return admin_store_error(rep, a, rc, tp->name);
	o = topic_json(&t, tp);
	if (o && stats)
		json_object_set_new(o, "stats", stats_topic_json(a, tp, sampler_topic(a, tp->name)));
	return admin_ok(rep, status, o);
}

/* Makes the running topic for a stored record; undoes the record on failure. */
static int topic_make(struct admin_req *r, struct admin_reply *rep, struct store_topic *t,
		      struct topic **out)
{
	struct admin *a = r->a;
	int rc = topic_create(a->topics, t->name, strlen(t->name), t->partitions, out);

	if (rc == 0) {
		atomic_store(&(*out)->disabled, !t->enabled);
		atomic_store(&(*out)->priority, t->priority);
		retention_apply(*out, t->retention_policy);
		return 0;
	}
	store_topic_delete(&a->store, t->name);
	if (rc == -EEXIST)
		return admin_error(rep, 409, "ALREADY_EXISTS", "topic_name", "topic '%s' exists",
				   t->name), -1;
	if (rc == -EBUSY)
		return admin_error(rep, 409, "CONFLICT", "topic_name", "a topic '%s' is being "
				   "deleted; try again in a moment", t->name), -1;
	if (rc == -ENOSPC)
		return admin_error(rep, 409, "CONFLICT", "topic_name", "the server's limit of %u "
				   "topics is reached (--max-topics)", a->topics->max), -1;
	return admin_error(rep, 500, "INTERNAL", NULL, "cannot create topic '%s': %s", t->name,
			   strerror(-rc)), -1;
}

int api_topics_create(struct admin_req *r, struct admin_reply *rep)
{
	struct admin *a = r->a;
	json_t *body = admin_body(r, rep), *name;
	struct store_topic t;
	struct topic *tp;
	const char *why;
	int rc;

	if (!body)
		return 0;
	topic_defaults(a, &t);
	name = json_object_get(body, "topic_name");
	why = "required, a string";
	if (!json_is_string(name) || topic_name_check(json_string_value(name),
						      json_string_length(name), &why) < 0) {
		json_decref(body);
		return admin_error(rep, 400, "INVALID_FIELD", "topic_name", "topic_name: %s", why);
	}
	memcpy(t.name, json_string_value(name), json_string_length(name) + 1);
	rc = topic_fields(rep, body, &t);
	json_decref(body);
	if (rc < 0)
		return 0;
	if (admin_topic_find(a, t.name))
		return admin_error(rep, 409, "ALREADY_EXISTS", "topic_name", "topic '%s' exists",
				   t.name);
	rc = store_topic_insert(&a->store, &t);
	if (rc == STORE_CONFLICT)
		return admin_error(rep, 409, "ALREADY_EXISTS", "topic_name", "topic '%s' exists "
				   "in the store", t.name);
	if (rc != STORE_OK)
		return admin_store_error(rep, a, rc, "creating the topic");
	if (topic_make(r, rep, &t, &tp) < 0)
		return 0;
	sampler_topic_stored(a, tp, true);
	return topic_answer(r, rep, 201, tp, false);
}

/* The running topic the path names, or NULL with 404 set. */
static struct topic *topic_of_path(struct admin_req *r, struct admin_reply *rep)
{
	struct topic *tp = admin_topic_find(r->a, r->path.seg[3]);

	if (!tp)
		admin_error(rep, 404, "NOT_FOUND", NULL, "no topic '%s'", r->path.seg[3]);
	return tp;
}

int api_topic_get(struct admin_req *r, struct admin_reply *rep)
{
	struct topic *tp = topic_of_path(r, rep);

	return tp ? topic_answer(r, rep, 200, tp, true) : 0;
}

int api_topic_stats(struct admin_req *r, struct admin_reply *rep)
{
	struct topic *tp = topic_of_path(r, rep);
	struct admin_topic_sample *ts;

	if (!tp)
		return 0;
	ts = (struct admin_topic_sample *)sampler_topic(r->a, tp->name);
	if (!ts || ts->tp != tp)	/* not sampled yet: built now, not kept */
		return admin_ok(rep, 200, stats_topic_json(r->a, tp, NULL));
	if (!stats_topic_text(r->a, ts))
		return admin_error(rep, 500, "INTERNAL", NULL, "out of memory");
	rep->text = malloc(ts->stats_len + 1);
	if (!rep->text)
		return admin_error(rep, 500, "INTERNAL", NULL, "out of memory");
	memcpy(rep->text, ts->stats_json, ts->stats_len + 1);
	rep->text_len = ts->stats_len;
	rep->text_json = true;
	rep->status = 200;
	return 0;
}

int api_topic_update(struct admin_req *r, struct admin_reply *rep)
{
	struct admin *a = r->a;
	struct topic *tp = topic_of_path(r, rep);
	struct store_topic t;
	json_t *body, *name;
	int rc;

	if (!tp || !(body = admin_body(r, rep)))
		return 0;
	rc = store_topic_get(&a->store, tp->name, &t);
	if (rc != STORE_OK) {
		json_decref(body);
		return admin_store_error(rep, a, rc, tp->name);
	}
	name = json_object_get(body, "topic_name");
	if (name && (!json_is_string(name) || strcmp(json_string_value(name), tp->name) != 0)) {
		admin_error(rep, 400, "INVALID_FIELD", "topic_name", "a topic cannot be renamed "
			    "(topic_name must be absent or '%s')", tp->name);
		rc = -1;
	} else {
		rc = topic_fields(rep, body, &t);
	}
	json_decref(body);
	if (rc < 0)
		return 0;
	if (t.partitions != tp->partitions)
		return admin_error(rep, 409, "CONFLICT", "partitions", "topic '%s' has %u "
				   "partitions; a live topic's partition count cannot change",
				   tp->name, tp->partitions);
	rc = store_topic_update(&a->store, &t);
	if (rc != STORE_OK)
		return admin_store_error(rep, a, rc, "updating the topic");
	atomic_store(&tp->disabled, !t.enabled);	/* publishes see it from the next batch */
	atomic_store(&tp->priority, t.priority);	/* reactors, from their next turn */
	retention_apply(tp, t.retention_policy);	/* the next retention pass */
	return topic_answer(r, rep, 200, tp, false);
}

/* How many live subscriptions a topic has (0 when the reactors cannot say). */
static uint32_t topic_sub_count(struct admin *a, const struct topic *tp)
{
	struct admin_sub_sample *subs;
	uint32_t n = 0;
	bool trunc;

	if (live_subs(a, tp, &subs, &n, &trunc) < 0)
		return 0;
	free(subs);
	return n;
}

int api_topic_delete(struct admin_req *r, struct admin_reply *rep)
{
	struct admin *a = r->a;
	struct topic *tp = topic_of_path(r, rep);
	uint32_t ended = 0;
	bool force;
	int rc;

	if (!tp || admin_query_bool(r, "force", &force, rep) < 0)
		return 0;
	if (!force && live_topic_subscribed(tp))
		return admin_error(rep, 409, "IN_USE", NULL, "topic '%s' has %u live "
				   "subscriptions; end them, or delete with ?force=true (they get "
				   "an Error SUBSCRIPTION_ENDED)", tp->name, topic_sub_count(a, tp));
	if (a->ndrops == TOPIC_REMOVING_MAX)
		return admin_error(rep, 503, "BUSY", NULL, "%u deletions are still completing; "
				   "try again in a moment", TOPIC_REMOVING_MAX);
	rc = store_topic_delete(&a->store, tp->name);
	if (rc != STORE_OK && rc != STORE_NOT_FOUND)
		return admin_store_error(rep, a, rc, "deleting the topic");
	sampler_topic_stored(a, tp, false);
	watch_forget(a, tp->name);
	rc = live_topic_delete(a, tp, &ended);
	if (rc < 0 && rc != -ETIMEDOUT)
		return admin_error(rep, 500, "INTERNAL", NULL, "topic '%s' is out of the store but "
				   "cannot be removed from the server: %s", tp->name, strerror(-rc));
	return admin_ok(rep, 200, json_pack("{s:s, s:i, s:b}", "deleted", r->path.seg[3],
					    "subscriptions_ended", (int)ended,
					    "complete", rc == 0));
}
