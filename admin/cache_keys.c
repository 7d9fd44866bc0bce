/* admin/cache_keys.c — what the Redis cache holds (cache_keys.h): once a sample, the
 * seeds' keys for what changed, each written at most once per interval whatever the
 * event rate (coalesced), in the REST answers' shapes. */
#include "admin/cache_keys.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin/api_data.h"
#include "admin/rules_io.h"
#include "admin/stats_json.h"
#include "core/clock.h"

#define CACHE_KEY_MAX 512

static void cache_put(struct admin *a, const char *key, json_t *j, int ttl)
{
	char *text;

	if (!j)
		return;
	text = json_dumps(j, JSON_COMPACT);
	json_decref(j);
	if (!text) {
		a->cache.dropped++;
		return;
	}
	cache_set(&a->cache, key, text, strlen(text), ttl);
	free(text);
}

/* latest:{symbol}, exec_status:{order_id} and fills:{order_id} for the keys that had
 * events since the last sample (at most CACHE_DATA_KEYS_PER_SAMPLE, and no more than
 * Redis takes; the rest wait, in order). */
static void cache_data(struct admin *a)
{
	char key[CACHE_KEY_MAX];
	struct didx_key *k;

	for (uint32_t n = 0; n < CACHE_DATA_KEYS_PER_SAMPLE; n++) {
		if (n % 256 == 0)
			cache_poll(&a->cache, clock_monotonic_ns());	/* drain as we go */
		/* Redis slower than this: the rest stay listed for the next sample rather
		 * than be dropped. */
		if (cache_busy(&a->cache) || !(k = dataidx_cache_pop(&a->data)))
			break;
		if (k->kind == DIDX_SYMBOL) {
			snprintf(key, sizeof(key), "latest:%s", k->name);
			cache_put(a, key, data_latest_json(a, k), CACHE_TTL_LATEST);
		} else {
			json_t *fills;

			snprintf(key, sizeof(key), "exec_status:%s", k->name);
			cache_put(a, key, data_status_json(a, k, &fills), CACHE_TTL_EXEC_STATUS);
			snprintf(key, sizeof(key), "fills:%s", k->name);
			cache_put(a, key, fills, CACHE_TTL_FILLS);
		}
	}
}

/* topic_stats:{topic} (the stats answer the sampler rendered) and
 * backpressure:{topic}:{partition}. */
static void cache_topics(struct admin *a)
{
	char key[CACHE_KEY_MAX];

	for (uint32_t i = 0; i < a->cur.ntopics; i++) {
		struct admin_topic_sample *t = &a->cur.topics[i];

		snprintf(key, sizeof(key), "topic_stats:%s", t->tp->name);
		if (stats_topic_text(a, t))	/* the GET .../stats answer, rendered once */
			cache_set(&a->cache, key, t->stats_json, t->stats_len,
				  CACHE_TTL_TOPIC_STATS);
		else
			a->cache.dropped++;
		for (uint32_t p = 0; t->parts && p < t->tp->partitions; p++) {
			const struct admin_part_sample *ps = &t->parts[p];

			snprintf(key, sizeof(key), "backpressure:%s:%u", t->tp->name, p);
			cache_put(a, key, json_pack("{s:s, s:i, s:I, s:I, s:f, s:f, s:I, s:I, s:i}",
						   "topic", t->tp->name, "partition", (int)p,
						   "first_offset", (json_int_t)ps->first,
						   "next_offset", (json_int_t)ps->next,
						   "rate_in", ps->rate_in, "rate_out", ps->rate_out,
						   "topic_backlog_events",
						   (json_int_t)t->backlog_events,
						   "topic_backlog_bytes", (json_int_t)t->backlog_bytes,
						   "subscriptions", (int)t->subscriptions),
				  CACHE_TTL_BACKPRESSURE);
		}
	}
}

/* subscription:{id} for every live subscription. */
static void cache_subs(struct admin *a)
{
	char key[CACHE_KEY_MAX];

	for (uint32_t i = 0; i < a->cur.nsubs; i++) {
		snprintf(key, sizeof(key), "subscription:%s", a->cur.subs[i].id);
		cache_put(a, key, stats_sub_json(a, &a->cur.subs[i]), CACHE_TTL_SUBSCRIPTION);
	}
}

/* routing:{pattern}: the rules with that source pattern ("" = every key: ">"), from the
 * store, after a change and then every CACHE_ROUTING_EVERY_S. */
static void cache_routing(struct admin *a, int64_t now)
{
	struct store_rule *rows;
	uint32_t n;
	json_t *by;
	const char *pat;
	json_t *arr;
	char key[CACHE_KEY_MAX];

	if (a->cache_rules_swaps == a->rules_swaps && now < a->cache_routing_ns)
		return;
	if (!a->store.up || store_rules_list(&a->store, &rows, &n) != STORE_OK)
		return;
	by = json_object();
	for (uint32_t i = 0; by && i < n; i++) {
		const char *p = rows[i].source_pattern[0] ? rows[i].source_pattern : ">";
		json_t *list = json_object_get(by, p);

		if (!list) {
			list = json_array();
			json_object_set_new(by, p, list);
		}
		json_array_append_new(list, rules_io_rule_rest(&rows[i]));
	}
	store_rules_free(rows, n);
	json_object_foreach(by, pat, arr) {
		snprintf(key, sizeof(key), "routing:%s", pat);
		cache_put(a, key, json_incref(arr), CACHE_TTL_ROUTING);
	}
	json_decref(by);
	a->cache_rules_swaps = a->rules_swaps;
	a->cache_routing_ns = now + (int64_t)CACHE_ROUTING_EVERY_S * 1000000000;
}

void cache_keys_sample(struct admin *a)
{
	int64_t now = clock_monotonic_ns();

	if (!a->cache.on)
		return;
	cache_topics(a);	/* while down these are dropped (counted) and rewritten */
	cache_subs(a);		/* at the next sample after it is back */
	if (!cache_up(&a->cache)) {
		/* The symbols and orders that changed wait on their list (one entry per
		 * key, bounded by the index), and the rules are rewritten once it is back. */
		a->cache_routing_ns = 0;
		return;
	}
	if (a->cache_outages_seen != a->cache.outages) {
		/* Back after an outage: Redis may have lost everything (a restart), and
		 * what was queued when the connection broke is gone. Write it all again. */
		dataidx_cache_all(&a->data);
		a->cache_outages_seen = a->cache.outages;
	}
	cache_data(a);
	cache_routing(a, now);
	cache_poll(&a->cache, now);	/* start writing now */
}
