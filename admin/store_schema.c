/* admin/store_schema.c — the migrations (see store_schema.h) and the runner. Column
 * names and limits are the seeds' (data-distribution-service.md, Command Side;
 * execution-distribution-service.md); where this server needs more, the comment says. */
#include "admin/store_schema.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin/store.h"
#include "core/clock.h"

#define SQLITE_NOW "(strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))"

static const char schema1_sqlite[] =
	"CREATE TABLE topics ("
	" id TEXT PRIMARY KEY NOT NULL,"
	" topic_name TEXT NOT NULL UNIQUE CHECK (length(topic_name) BETWEEN 1 AND 200),"
	" partitions INTEGER NOT NULL DEFAULT 1 CHECK (partitions BETWEEN 1 AND 1024),"
	" retention_policy TEXT DEFAULT '7d' CHECK (length(retention_policy) <= 50),"
	" compression_type TEXT DEFAULT 'LZ4' CHECK (length(compression_type) <= 20),"
	" schema_version TEXT CHECK (length(schema_version) <= 10),"
	" enabled INTEGER NOT NULL DEFAULT 1 CHECK (enabled IN (0, 1)),"
	" created_at TEXT NOT NULL DEFAULT " SQLITE_NOW ","
	" updated_at TEXT NOT NULL DEFAULT " SQLITE_NOW ");"
	"CREATE INDEX idx_topics_enabled ON topics (enabled);"
	"CREATE TABLE subscriptions ("
	" id TEXT PRIMARY KEY NOT NULL,"
	" subscription_id TEXT NOT NULL UNIQUE CHECK (length(subscription_id) BETWEEN 1 AND 100),"
	" topic_name TEXT NOT NULL REFERENCES topics (topic_name) ON DELETE CASCADE"
	"  ON UPDATE CASCADE CHECK (length(topic_name) BETWEEN 1 AND 200),"
	" subscription_name TEXT NOT NULL CHECK (length(subscription_name) BETWEEN 1 AND 100),"
	" subscription_type TEXT NOT NULL CHECK (subscription_type IN"
	"  ('Exclusive', 'Shared', 'Failover', 'KeyShared')),"
	" consumer_group TEXT CHECK (length(consumer_group) <= 100),"
	" filters TEXT CHECK (filters IS NULL OR json_valid(filters)),"
	" start_position TEXT NOT NULL DEFAULT 'Latest' CHECK (start_position IN"
	"  ('Latest', 'Earliest', 'MessageId')),"
	" status TEXT NOT NULL DEFAULT 'active' CHECK (status IN"
	"  ('active', 'paused', 'error', 'stopped')),"
	" created_at TEXT NOT NULL DEFAULT " SQLITE_NOW ","
	" last_activity TEXT NOT NULL DEFAULT " SQLITE_NOW ");"
	"CREATE INDEX idx_subscriptions_topic_status ON subscriptions (topic_name, status);"
	"CREATE TABLE distribution_stats ("
	" id TEXT PRIMARY KEY NOT NULL,"
	" timestamp TEXT NOT NULL,"
	" topic_name TEXT NOT NULL CHECK (length(topic_name) BETWEEN 1 AND 200),"
	" messages_distributed INTEGER NOT NULL DEFAULT 0 CHECK (messages_distributed >= 0),"
	" bytes_distributed INTEGER NOT NULL DEFAULT 0 CHECK (bytes_distributed >= 0),"
	" avg_latency_ms REAL,"
	" error_count INTEGER NOT NULL DEFAULT 0 CHECK (error_count >= 0),"
	" active_subscriptions INTEGER NOT NULL DEFAULT 0 CHECK (active_subscriptions >= 0),"
	" created_at TEXT NOT NULL DEFAULT " SQLITE_NOW ");"
	"CREATE INDEX idx_distribution_stats_topic_time ON distribution_stats"
	" (topic_name, timestamp DESC);"
	/* source_pattern may be NULL here (the seed says required): a rule without one
	 * matches every key, as in --rules files. Patterns are up to 255 bytes. */
	"CREATE TABLE routing_rules ("
	" id TEXT PRIMARY KEY NOT NULL,"
	" rule_name TEXT NOT NULL UNIQUE CHECK (length(rule_name) BETWEEN 1 AND 100),"
	" source_pattern TEXT CHECK (length(source_pattern) BETWEEN 1 AND 255),"
	" target_topic TEXT NOT NULL CHECK (length(target_topic) BETWEEN 1 AND 200),"
	" routing_key_template TEXT CHECK (length(routing_key_template) <= 255),"
	" conditions TEXT CHECK (conditions IS NULL OR json_valid(conditions)),"
	" priority INTEGER NOT NULL DEFAULT 1,"
	" enabled INTEGER NOT NULL DEFAULT 1 CHECK (enabled IN (0, 1)),"
	" created_at TEXT NOT NULL DEFAULT " SQLITE_NOW ");"
	"CREATE INDEX idx_routing_rules_priority ON routing_rules (priority, enabled);";

static const char schema1_pg[] =
	"CREATE TABLE topics ("
	" id uuid PRIMARY KEY DEFAULT gen_random_uuid(),"
	" topic_name varchar(200) NOT NULL UNIQUE CHECK (length(topic_name) >= 1),"
	" partitions integer NOT NULL DEFAULT 1 CHECK (partitions BETWEEN 1 AND 1024),"
	" retention_policy varchar(50) DEFAULT '7d',"
	" compression_type varchar(20) DEFAULT 'LZ4',"
	" schema_version varchar(10),"
	" enabled boolean NOT NULL DEFAULT true,"
	" created_at timestamptz NOT NULL DEFAULT now(),"
	" updated_at timestamptz NOT NULL DEFAULT now());"
	"CREATE INDEX idx_topics_enabled ON topics (enabled);"
	"CREATE TABLE subscriptions ("
	" id uuid PRIMARY KEY DEFAULT gen_random_uuid(),"
	" subscription_id varchar(100) NOT NULL UNIQUE CHECK (length(subscription_id) >= 1),"
	" topic_name varchar(200) NOT NULL REFERENCES topics (topic_name) ON DELETE CASCADE"
	"  ON UPDATE CASCADE,"
	" subscription_name varchar(100) NOT NULL CHECK (length(subscription_name) >= 1),"
	" subscription_type varchar(20) NOT NULL CHECK (subscription_type IN"
	"  ('Exclusive', 'Shared', 'Failover', 'KeyShared')),"
	" consumer_group varchar(100),"
	" filters jsonb,"
	" start_position varchar(20) NOT NULL DEFAULT 'Latest' CHECK (start_position IN"
	"  ('Latest', 'Earliest', 'MessageId')),"
	" status varchar(20) NOT NULL DEFAULT 'active' CHECK (status IN"
	"  ('active', 'paused', 'error', 'stopped')),"
	" created_at timestamptz NOT NULL DEFAULT now(),"
	" last_activity timestamptz NOT NULL DEFAULT now());"
	"CREATE INDEX idx_subscriptions_topic_status ON subscriptions (topic_name, status);"
	"CREATE TABLE distribution_stats ("
	" id uuid PRIMARY KEY DEFAULT gen_random_uuid(),"
	" timestamp timestamptz NOT NULL,"
	" topic_name varchar(200) NOT NULL CHECK (length(topic_name) >= 1),"
	" messages_distributed bigint NOT NULL DEFAULT 0 CHECK (messages_distributed >= 0),"
	" bytes_distributed bigint NOT NULL DEFAULT 0 CHECK (bytes_distributed >= 0),"
	" avg_latency_ms double precision,"
	" error_count bigint NOT NULL DEFAULT 0 CHECK (error_count >= 0),"
	" active_subscriptions integer NOT NULL DEFAULT 0 CHECK (active_subscriptions >= 0),"
	" created_at timestamptz NOT NULL DEFAULT now());"
	"CREATE INDEX idx_distribution_stats_topic_time ON distribution_stats"
	" (topic_name, timestamp DESC);"
	"CREATE TABLE routing_rules ("
	" id uuid PRIMARY KEY DEFAULT gen_random_uuid(),"
	" rule_name varchar(100) NOT NULL UNIQUE CHECK (length(rule_name) >= 1),"
	" source_pattern varchar(255) CHECK (length(source_pattern) >= 1),"
	" target_topic varchar(200) NOT NULL CHECK (length(target_topic) >= 1),"
	" routing_key_template varchar(255),"
	" conditions jsonb,"
	" priority integer NOT NULL DEFAULT 1,"
	" enabled boolean NOT NULL DEFAULT true,"
	" created_at timestamptz NOT NULL DEFAULT now());"
	"CREATE INDEX idx_routing_rules_priority ON routing_rules (priority, enabled);";

/* SQLite's ADD COLUMN takes no non-constant default: routing_rules.updated_at is filled
 * by every write instead. */
static const char schema2_sqlite[] =
	"ALTER TABLE topics ADD COLUMN data_type TEXT CHECK (length(data_type) <= 50);"
	"ALTER TABLE topics ADD COLUMN latency_requirement_ms INTEGER NOT NULL DEFAULT 100"
	" CHECK (latency_requirement_ms >= 0);"
	"ALTER TABLE subscriptions ADD COLUMN delivery_guarantee TEXT NOT NULL"
	" DEFAULT 'at_least_once' CHECK (length(delivery_guarantee) <= 20);"
	"ALTER TABLE routing_rules ADD COLUMN source_topic TEXT"
	" CHECK (length(source_topic) BETWEEN 1 AND 200);"
	"ALTER TABLE routing_rules ADD COLUMN origin TEXT NOT NULL DEFAULT 'api'"
	" CHECK (origin IN ('api', 'file'));"
	"ALTER TABLE routing_rules ADD COLUMN updated_at TEXT;"
	"ALTER TABLE distribution_stats ADD COLUMN messages_received INTEGER NOT NULL DEFAULT 0"
	" CHECK (messages_received >= 0);"
	"ALTER TABLE distribution_stats ADD COLUMN bytes_received INTEGER NOT NULL DEFAULT 0"
	" CHECK (bytes_received >= 0);"
	"CREATE TABLE distribution_audit ("
	" id TEXT PRIMARY KEY NOT NULL,"
	" event_id TEXT NOT NULL CHECK (length(event_id) BETWEEN 1 AND 128),"
	" topic_name TEXT NOT NULL CHECK (length(topic_name) BETWEEN 1 AND 200),"
	" routing_key TEXT NOT NULL CHECK (length(routing_key) BETWEEN 1 AND 255),"
	" delivery_status TEXT NOT NULL CHECK (length(delivery_status) BETWEEN 1 AND 20),"
	" delivery_time_ms REAL,"
	" retry_count INTEGER NOT NULL DEFAULT 0 CHECK (retry_count >= 0),"
	" created_at TEXT NOT NULL DEFAULT " SQLITE_NOW ");"
	"CREATE INDEX idx_distribution_audit_event ON distribution_audit"
	" (event_id, created_at DESC);"
	"CREATE INDEX idx_distribution_audit_topic_time ON distribution_audit"
	" (topic_name, created_at DESC);";

static const char schema2_pg[] =
	"ALTER TABLE topics ADD COLUMN data_type varchar(50);"
	"ALTER TABLE topics ADD COLUMN latency_requirement_ms integer NOT NULL DEFAULT 100"
	" CHECK (latency_requirement_ms >= 0);"
	"ALTER TABLE subscriptions ADD COLUMN delivery_guarantee varchar(20) NOT NULL"
	" DEFAULT 'at_least_once';"
	"ALTER TABLE routing_rules ADD COLUMN source_topic varchar(200)"
	" CHECK (length(source_topic) >= 1);"
	"ALTER TABLE routing_rules ADD COLUMN origin varchar(10) NOT NULL DEFAULT 'api'"
	" CHECK (origin IN ('api', 'file'));"
	"ALTER TABLE routing_rules ADD COLUMN updated_at timestamptz NOT NULL DEFAULT now();"
	"ALTER TABLE distribution_stats ADD COLUMN messages_received bigint NOT NULL DEFAULT 0"
	" CHECK (messages_received >= 0);"
	"ALTER TABLE distribution_stats ADD COLUMN bytes_received bigint NOT NULL DEFAULT 0"
	" CHECK (bytes_received >= 0);"
	"CREATE TABLE distribution_audit ("
	" id uuid PRIMARY KEY DEFAULT gen_random_uuid(),"
	" event_id varchar(128) NOT NULL CHECK (length(event_id) >= 1),"
	" topic_name varchar(200) NOT NULL CHECK (length(topic_name) >= 1),"
	" routing_key varchar(255) NOT NULL CHECK (length(routing_key) >= 1),"
	" delivery_status varchar(20) NOT NULL CHECK (length(delivery_status) >= 1),"
	" delivery_time_ms double precision,"
	" retry_count integer NOT NULL DEFAULT 0 CHECK (retry_count >= 0),"
	" created_at timestamptz NOT NULL DEFAULT now());"
	"CREATE INDEX idx_distribution_audit_event ON distribution_audit"
	" (event_id, created_at DESC);"
	"CREATE INDEX idx_distribution_audit_topic_time ON distribution_audit"
	" (topic_name, created_at DESC);";

/* The data API's 1-minute OHLCV buckets (admin/bars.h), by event time: what answers
 * history?interval= once the trades have left the log. */
static const char schema3_sqlite[] =
	"CREATE TABLE market_bars ("
	" symbol TEXT NOT NULL CHECK (length(symbol) BETWEEN 1 AND 128),"
	" minute_ns INTEGER NOT NULL,"
	" open REAL NOT NULL, high REAL NOT NULL, low REAL NOT NULL, close REAL NOT NULL,"
	" volume REAL NOT NULL, notional REAL NOT NULL,"
	" trades INTEGER NOT NULL CHECK (trades > 0),"
	" open_ns INTEGER NOT NULL, close_ns INTEGER NOT NULL,"
	" updated_at TEXT NOT NULL,"
	" PRIMARY KEY (symbol, minute_ns));";

static const char schema3_pg[] =
	"CREATE TABLE market_bars ("
	" symbol varchar(128) NOT NULL CHECK (length(symbol) >= 1),"
	" minute_ns bigint NOT NULL,"
	" open double precision NOT NULL, high double precision NOT NULL,"
	" low double precision NOT NULL, close double precision NOT NULL,"
	" volume double precision NOT NULL, notional double precision NOT NULL,"
	" trades bigint NOT NULL CHECK (trades > 0),"
	" open_ns bigint NOT NULL, close_ns bigint NOT NULL,"
	" updated_at timestamptz NOT NULL,"
	" PRIMARY KEY (symbol, minute_ns));";

/* The audit trail's rows (admin/audit.h): which subscription, where in the log, and
 * when an Ack covered it; created_at is the time of the delivery or failure. */
static const char schema4_sqlite[] =
	"ALTER TABLE distribution_audit ADD COLUMN subscription_id TEXT;"
	"ALTER TABLE distribution_audit ADD COLUMN log_partition INTEGER;"
	"ALTER TABLE distribution_audit ADD COLUMN log_offset INTEGER;"
	"ALTER TABLE distribution_audit ADD COLUMN acked_at TEXT;"
	"CREATE INDEX idx_distribution_audit_sub ON distribution_audit"
	" (subscription_id, log_partition, log_offset);";

static const char schema4_pg[] =
	"ALTER TABLE distribution_audit ADD COLUMN subscription_id varchar(48);"
	"ALTER TABLE distribution_audit ADD COLUMN log_partition integer;"
	"ALTER TABLE distribution_audit ADD COLUMN log_offset bigint;"
	"ALTER TABLE distribution_audit ADD COLUMN acked_at timestamptz;"
	"CREATE INDEX idx_distribution_audit_sub ON distribution_audit"
	" (subscription_id, log_partition, log_offset);";

/* Topic priority (issue 14, item 7): a reactor serves subscriptions of higher-priority
 * topics first in each turn. 0..255, higher first; 0 is the default. */
static const char schema5_sqlite[] =
	"ALTER TABLE topics ADD COLUMN priority INTEGER NOT NULL DEFAULT 0"
	" CHECK (priority BETWEEN 0 AND 255);";

static const char schema5_pg[] =
	"ALTER TABLE topics ADD COLUMN priority integer NOT NULL DEFAULT 0"
	" CHECK (priority BETWEEN 0 AND 255);";

/* Who may do what (core/auth.h): tokens kept as their BLAKE2b hash (hex) only, with
 * their permissions and limits as JSON; and admin_audit, the record of every change made
 * through REST and of every refused attempt (REST and TCP). admin_audit is append-only:
 * triggers refuse UPDATE and DELETE, and nothing here issues either. */
static const char schema6_sqlite[] =
	"CREATE TABLE auth_tokens ("
	" id TEXT PRIMARY KEY NOT NULL CHECK (length(id) = 12),"
	" name TEXT NOT NULL UNIQUE CHECK (length(name) BETWEEN 1 AND 64),"
	" role TEXT NOT NULL CHECK (role IN ('client', 'reader', 'admin')),"
	" token_hash TEXT NOT NULL CHECK (length(token_hash) = 64),"
	" permissions TEXT NOT NULL CHECK (json_valid(permissions)),"
	" limits TEXT NOT NULL CHECK (json_valid(limits)),"
	" created_at TEXT NOT NULL,"
	" created_by TEXT NOT NULL CHECK (length(created_by) BETWEEN 1 AND 64),"
	" updated_at TEXT NOT NULL,"
	" revoked_at TEXT);"
	"CREATE TABLE admin_audit ("
	" id TEXT PRIMARY KEY NOT NULL,"
	" at TEXT NOT NULL,"
	" actor TEXT NOT NULL CHECK (length(actor) BETWEEN 1 AND 64),"
	" actor_name TEXT CHECK (length(actor_name) <= 64),"
	" source TEXT CHECK (length(source) <= 63),"
	" action TEXT NOT NULL CHECK (length(action) BETWEEN 1 AND 47),"
	" target TEXT CHECK (length(target) <= 300),"
	" outcome TEXT NOT NULL CHECK (outcome IN ('ok', 'refused', 'failed')),"
	" status TEXT CHECK (length(status) <= 23),"
	" detail TEXT CHECK (length(detail) <= 256));"
	"CREATE INDEX idx_admin_audit_at ON admin_audit (at DESC, id DESC);"
	"CREATE INDEX idx_admin_audit_actor ON admin_audit (actor, at DESC);"
	"CREATE TRIGGER admin_audit_no_update BEFORE UPDATE ON admin_audit"
	" BEGIN SELECT RAISE(ABORT, 'admin_audit is append-only'); END;"
	"CREATE TRIGGER admin_audit_no_delete BEFORE DELETE ON admin_audit"
	" BEGIN SELECT RAISE(ABORT, 'admin_audit is append-only'); END;";

static const char schema6_pg[] =
	"CREATE TABLE auth_tokens ("
	" id varchar(12) PRIMARY KEY CHECK (length(id) = 12),"
	" name varchar(64) NOT NULL UNIQUE CHECK (length(name) >= 1),"
	" role varchar(10) NOT NULL CHECK (role IN ('client', 'reader', 'admin')),"
	" token_hash char(64) NOT NULL,"
	" permissions jsonb NOT NULL,"
	" limits jsonb NOT NULL,"
	" created_at timestamptz NOT NULL DEFAULT now(),"
	" created_by varchar(64) NOT NULL CHECK (length(created_by) >= 1),"
	" updated_at timestamptz NOT NULL DEFAULT now(),"
	" revoked_at timestamptz);"
	"CREATE TABLE admin_audit ("
	" id uuid PRIMARY KEY,"
	" at timestamptz NOT NULL,"
	" actor varchar(64) NOT NULL CHECK (length(actor) >= 1),"
	" actor_name varchar(64),"
	" source varchar(63),"
	" action varchar(47) NOT NULL CHECK (length(action) >= 1),"
	" target varchar(300),"
	" outcome varchar(8) NOT NULL CHECK (outcome IN ('ok', 'refused', 'failed')),"
	" status varchar(23),"
	" detail varchar(256));"
	"CREATE INDEX idx_admin_audit_at ON admin_audit (at DESC, id DESC);"
	"CREATE INDEX idx_admin_audit_actor ON admin_audit (actor, at DESC);"
	"CREATE OR REPLACE FUNCTION admin_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS"
	" $f$ BEGIN RAISE EXCEPTION 'admin_audit is append-only'; END $f$;"
	"CREATE TRIGGER admin_audit_append_only BEFORE UPDATE OR DELETE ON admin_audit"
	" FOR EACH ROW EXECUTE FUNCTION admin_audit_append_only();";

/* Several nodes on one PostgreSQL database (issue 17, item 3). subscriptions.node_id:
 * the node (--node-id) whose run a subscription belongs to, so that a node starting or
 * stopping touches its own rows only (NULL: a row written before this version, by a
 * node that ran alone). store_changes: a counter per shared table, bumped by a trigger
 * on every write whoever makes it, so a node sees another's change by reading two
 * numbers (admin/watch.h) instead of every row. */
static const char schema7_sqlite[] =
	"ALTER TABLE subscriptions ADD COLUMN node_id TEXT CHECK (length(node_id) <= 100);"
	"CREATE INDEX idx_subscriptions_node_status ON subscriptions (node_id, status);"
	"CREATE TABLE store_changes ("
	" name TEXT PRIMARY KEY NOT NULL,"
	" serial INTEGER NOT NULL DEFAULT 0);"
	"INSERT INTO store_changes (name, serial) VALUES ('topics', 0), ('routing_rules', 0);"
#define SCHEMA7_SQLITE_TRIGGER(table, op) \
	"CREATE TRIGGER " table "_changes_" op " AFTER " op " ON " table \
	" BEGIN UPDATE store_changes SET serial = serial + 1 WHERE name = '" table "'; END;"
	SCHEMA7_SQLITE_TRIGGER("topics", "INSERT") SCHEMA7_SQLITE_TRIGGER("topics", "UPDATE")
	SCHEMA7_SQLITE_TRIGGER("topics", "DELETE")
	SCHEMA7_SQLITE_TRIGGER("routing_rules", "INSERT")
	SCHEMA7_SQLITE_TRIGGER("routing_rules", "UPDATE")
	SCHEMA7_SQLITE_TRIGGER("routing_rules", "DELETE");
#undef SCHEMA7_SQLITE_TRIGGER

/* One bump per statement (not per row): the trigger's UPDATE runs in the writer's
 * transaction, so the counter moves exactly when the change commits. */
static const char schema7_pg[] =
	"ALTER TABLE subscriptions ADD COLUMN node_id varchar(100);"
	"CREATE INDEX idx_subscriptions_node_status ON subscriptions (node_id, status);"
	"CREATE TABLE store_changes ("
	" name varchar(40) PRIMARY KEY,"
	" serial bigint NOT NULL DEFAULT 0);"
	"INSERT INTO store_changes (name, serial) VALUES ('topics', 0), ('routing_rules', 0);"
	"CREATE OR REPLACE FUNCTION store_changes_bump() RETURNS trigger LANGUAGE plpgsql AS"
	" $f$ BEGIN UPDATE store_changes SET serial = serial + 1 WHERE name = TG_TABLE_NAME;"
	" RETURN NULL; END $f$;"
	"CREATE TRIGGER topics_changes AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON topics"
	" FOR EACH STATEMENT EXECUTE FUNCTION store_changes_bump();"
	"CREATE TRIGGER routing_rules_changes AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE"
	" ON routing_rules FOR EACH STATEMENT EXECUTE FUNCTION store_changes_bump();";

const struct store_migration store_migrations[] = {
	{ 1, "seed command side: topics, subscriptions, routing_rules, distribution_stats",
	  schema1_sqlite, schema1_pg },
	{ 2, "execution columns, rule origin, receive counters, distribution_audit",
	  schema2_sqlite, schema2_pg },
	{ 3, "market_bars: the data API's 1-minute OHLCV buckets", schema3_sqlite, schema3_pg },
	{ 4, "distribution_audit: subscription, partition, offset, acked_at", schema4_sqlite,
	  schema4_pg },
	{ 5, "topics.priority: higher-priority topics served first", schema5_sqlite,
	  schema5_pg },
	{ 6, "auth_tokens and admin_audit (append-only)", schema6_sqlite, schema6_pg },
	{ 7, "subscriptions.node_id and store_changes: several nodes on one database",
	  schema7_sqlite, schema7_pg },
};
const uint32_t store_migrations_count = sizeof(store_migrations) / sizeof(store_migrations[0]);

/* The highest version recorded, 0 for a fresh database. */
static int store_schema_version(struct store *st, uint32_t *out)
{
	struct store_result r;
	int rc = store_exec(st, "SELECT COALESCE(MAX(version), 0) FROM schema_migrations",
			    0, NULL, &r);

	if (rc == STORE_OK)
		*out = r.nrows && store_cell(&r, 0, 0) ? (uint32_t)strtoul(store_cell(&r, 0, 0),
									    NULL, 10) : 0;
	store_result_free(&r);
	return rc;
}

static int store_apply(struct store *st, const struct store_migration *m)
{
	char version[16], now[40];
	const char *params[3] = { version, m->name, now };
	int rc;

	snprintf(version, sizeof(version), "%u", m->version);
	store_time(clock_realtime_ns(), now, sizeof(now));
	rc = store_begin(st);
	if (rc == STORE_OK)
		rc = store_run(st, st->kind == STORE_PG ? m->pg : m->sqlite, 0, NULL);
	if (rc == STORE_OK)
		rc = store_run(st, "INSERT INTO schema_migrations (version, name, applied_at) "
			       "VALUES ($1, $2, $3)", 3, params);
	if (rc == STORE_OK)
		rc = store_commit(st);
	if (rc != STORE_OK) {
		store_rollback(st);
		store_fail(st, rc, "migration %u (%s): %.200s", m->version, m->name, st->err);
	}
	return rc;
}

int store_migrate(struct store *st)
{
	uint32_t have = 0;
	int rc;

	rc = store_run(st, "CREATE TABLE IF NOT EXISTS schema_migrations ("
		       " version INTEGER PRIMARY KEY NOT NULL,"
		       " name TEXT NOT NULL,"
		       " applied_at TEXT NOT NULL)", 0, NULL);
	/* Another server on the same PostgreSQL database migrates one at a time. */
	if (rc == STORE_OK && st->kind == STORE_PG)
		rc = store_run(st, "SELECT pg_advisory_lock(7378645279851918452)", 0, NULL);
	if (rc == STORE_OK)
		rc = store_schema_version(st, &have);
	for (uint32_t i = 0; rc == STORE_OK && i < store_migrations_count; i++)
		if (store_migrations[i].version > have)
			rc = store_apply(st, &store_migrations[i]);
	if (st->kind == STORE_PG && st->up) {
		char err[STORE_ERR_BYTES];

		memcpy(err, st->err, sizeof(err));	/* report the migration's failure */
		store_run(st, "SELECT pg_advisory_unlock(7378645279851918452)", 0, NULL);
		memcpy(st->err, err, sizeof(err));
	}
	if (rc == STORE_OK)
		rc = store_schema_version(st, &st->schema_version);
	return rc;
}
