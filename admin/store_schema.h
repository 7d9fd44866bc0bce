/* admin/store_schema.h — the store's schema as versioned migrations, the same versions
 * for SQLite and PostgreSQL (each with its own SQL), recorded in schema_migrations.
 *
 *   1  the data-distribution seed's command side: topics, subscriptions, routing_rules,
 *      distribution_stats, with their columns, constraints and indexes
 *   2  folded in: execution_topics' data_type and latency_requirement_ms into topics,
 *      execution_subscriptions' delivery_guarantee into subscriptions, the
 *      execution seed's distribution_audit, routing_rules.source_topic/origin/updated_at
 *      (what --rules files say), distribution_stats' receive counters
 *
 *   3..6 market_bars, audit columns, topics.priority, auth_tokens and admin_audit
 *   7  several nodes on one database: subscriptions.node_id (whose run a row belongs
 *      to) and store_changes (a counter per shared table, bumped by triggers)
 *
 * Each migration runs in its own transaction with its schema_migrations row, so a
 * failure leaves the database at the previous version. On PostgreSQL an advisory lock
 * keeps two servers sharing a database from migrating at once. */
#ifndef FANOUT_ADMIN_STORE_SCHEMA_H
#define FANOUT_ADMIN_STORE_SCHEMA_H

#include <stdint.h>

struct store;

struct store_migration {
	uint32_t version;
	const char *name;
	const char *sqlite;
	const char *pg;
};

extern const struct store_migration store_migrations[];
extern const uint32_t store_migrations_count;

/* Applies the migrations the database lacks, in order; sets st->schema_version. Returns
 * STORE_OK, or a negative store_rc with st->err naming the version. The store must be
 * connected (st->up). Running it on an up-to-date database changes nothing. */
int store_migrate(struct store *st);

#endif
