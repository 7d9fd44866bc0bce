/* admin/store_tables.h — rows of the store's tables as C structs, and the calls that
 * read and write them (one statement each, or one transaction). Strings are
 * NUL-terminated copies; "" stands for SQL NULL in optional columns. Times are RFC 3339
 * UTC text. Every call returns STORE_OK or a negative enum store_rc (admin/store.h).
 * The store's thread only. */
#ifndef FANOUT_ADMIN_STORE_TABLES_H
#define FANOUT_ADMIN_STORE_TABLES_H

#include <stdbool.h>
#include <stdint.h>

#include "admin/store.h"
#include "core/topic.h"
#include "ingest/rules.h"

#define STORE_TIME_BYTES 40u
#define STORE_LIST_MAX   1000u	/* rows one listing call returns at most */
#define STORE_NODE_ID_BYTES 101u	/* subscriptions.node_id: 1..100 bytes */

/* topics (the seed's columns; data_type and latency_requirement_ms from
 * execution_topics). */
struct store_topic {
	char name[TOPIC_NAME_MAX + 1];
	uint32_t partitions;
	char retention_policy[51];
	char compression_type[21];
	char schema_version[11];
	char data_type[51];
	int32_t latency_requirement_ms;
	uint8_t priority;		/* 0..255, higher served first (core/topic.h) */
	bool enabled;
	char created_at[STORE_TIME_BYTES];
	char updated_at[STORE_TIME_BYTES];
};

/* routing_rules; conditions is JSON text (malloc'd, NULL = none). */
struct store_rule {
	char name[RULES_NAME_BYTES_MAX + 1];
	char source_topic[TOPIC_NAME_MAX + 1];
	char source_pattern[PATTERN_BYTES_MAX + 1];
	char target_topic[TOPIC_NAME_MAX + 1];
	char routing_key_template[RULES_TEMPLATE_BYTES_MAX + 1];
	char *conditions;
	int32_t priority;
	bool enabled;
	char origin[8];			/* "api" or "file" (--rules) */
	char created_at[STORE_TIME_BYTES];
	char updated_at[STORE_TIME_BYTES];
};

/* subscriptions; filters is JSON text (malloc'd, NULL = none). */
struct store_sub {
	char subscription_id[101];
	char topic_name[TOPIC_NAME_MAX + 1];
	char subscription_name[101];
	char subscription_type[21];
	char consumer_group[101];
	char *filters;
	char start_position[21];
	char delivery_guarantee[21];
	char status[21];
	char created_at[STORE_TIME_BYTES];
	char last_activity[STORE_TIME_BYTES];
	char node_id[STORE_NODE_ID_BYTES];	/* whose run it is ("" = before schema 7) */
};

/* One distribution_stats row. */
struct store_stat_row {
	char timestamp[STORE_TIME_BYTES];
	char topic_name[TOPIC_NAME_MAX + 1];
	uint64_t messages_distributed, bytes_distributed;
	uint64_t messages_received, bytes_received;
	uint64_t error_count;
	uint32_t active_subscriptions;
};

int store_topic_insert(struct store *st, const struct store_topic *t);	/* CONFLICT if it exists */
int store_topic_update(struct store *st, const struct store_topic *t);	/* NOT_FOUND */
int store_topic_delete(struct store *st, const char *name);		/* NOT_FOUND */
int store_topic_get(struct store *st, const char *name, struct store_topic *out);
/* Topics with names after `after` ("" = from the start), by name, at most limit
 * (<= STORE_LIST_MAX); *out is malloc'd (free it), *n its length. */
int store_topics_list(struct store *st, const char *after, uint32_t limit,
		      struct store_topic **out, uint32_t *n);

int store_rule_insert(struct store *st, const struct store_rule *r);	/* CONFLICT */
int store_rule_update(struct store *st, const struct store_rule *r);	/* NOT_FOUND */
int store_rule_delete(struct store *st, const char *name);		/* NOT_FOUND */
int store_rule_get(struct store *st, const char *name, struct store_rule *out);
/* Every rule (at most RULES_MAX), by (priority, name). Free with store_rules_free. */
int store_rules_list(struct store *st, struct store_rule **out, uint32_t *n);
void store_rule_clear(struct store_rule *r);
void store_rules_free(struct store_rule *r, uint32_t n);

/* Inserts a subscription, or when its id exists updates status and last_activity. */
int store_sub_upsert(struct store *st, const struct store_sub *s);
/* Sets status and last_activity of one (NOT_FOUND). */
int store_sub_status(struct store *st, const char *id, const char *status, const char *at);
/* Marks node's 'active' subscriptions 'stopped' at `at`: those of its previous run.
 * Rows without a node (written before schema 7, by a node that ran alone) count as
 * every node's. Other nodes' rows are left alone: they may be live. node NULL: every
 * active row (a store no other node shares). */
int store_subs_stop_all(struct store *st, const char *node, const char *at);
int store_sub_get(struct store *st, const char *id, struct store_sub *out);
int store_sub_delete(struct store *st, const char *id);	/* NOT_FOUND */
/* By subscription_id after `after`, optionally of one topic, one status and one node
 * ("" = any). */
int store_subs_list(struct store *st, const char *topic, const char *status, const char *node,
		    const char *after, uint32_t limit, struct store_sub **out, uint32_t *n);
void store_sub_clear(struct store_sub *s);
void store_subs_free(struct store_sub *s, uint32_t n);

/* store_changes: how many writes each shared table has had (admin/watch.h). A change
 * of either number means its table changed; equal numbers, that it did not. */
struct store_changes {
	int64_t topics, rules;
};
int store_changes_read(struct store *st, struct store_changes *out);

/* Inserts rows in one transaction: all or none. */
int store_stats_insert(struct store *st, const struct store_stat_row *rows, uint32_t n);

struct bar;	/* admin/bars.h */

/* market_bars: symbol's 1-minute buckets with from_ns <= minute < to_ns, oldest first,
 * at most max; *out is malloc'd (free it), *n its length. */
int store_bars_range(struct store *st, const char *symbol, int64_t from_ns, int64_t to_ns,
		     uint32_t max, struct bar **out, uint32_t *n);

#endif
