/* tests/unit/admin/store_test.c — admin/store*.c on a real database: SQLite in a temp
 * file, or with argument "pg" a fresh database on $FANOUT_TEST_PG_URL's server (77
 * without it). Migrations on an empty database, again on a migrated one, and from an
 * older version; every table call, constraint violations as conflicts, NULLs and JSON
 * round trips, ordering and paging. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "admin/store.h"
#include "admin/store_auth.h"
#include "admin/store_schema.h"
#include "admin/store_tables.h"

static bool g_pg;
static char g_target[512], g_db[64], g_dir[64];

static void pg_admin(const char *sql)
{
	PGconn *c = PQconnectdb(getenv("FANOUT_TEST_PG_URL"));
	PGresult *r = PQexec(c, sql);

	if (PQresultStatus(r) != PGRES_COMMAND_OK)
		fail_msg("%s: %s", sql, PQerrorMessage(c));
	PQclear(r);
	PQfinish(c);
}

/* A new empty database (or SQLite file) as g_target. */
static void fresh(void)
{
	static int n;
	char sql[128];

	if (g_pg) {
		const char *base = getenv("FANOUT_TEST_PG_URL");

		snprintf(g_db, sizeof(g_db), "fanout_u_%d_%d", (int)getpid(), n++);
		snprintf(sql, sizeof(sql), "CREATE DATABASE %s", g_db);
		pg_admin(sql);
		snprintf(g_target, sizeof(g_target), "%.*s/%s",
			 (int)(strrchr(base, '/') - base), base, g_db);
	} else {
		snprintf(g_target, sizeof(g_target), "%s/db%d.sqlite", g_dir, n++);
	}
}

static void dispose(void)
{
	char sql[128];

	if (!g_pg)
		return;
	snprintf(sql, sizeof(sql), "DROP DATABASE IF EXISTS %s WITH (FORCE)", g_db);
	pg_admin(sql);
}

static void open_store(struct store *st)
{
	memset(st, 0, sizeof(*st));
	assert_int_equal(store_open(st, g_pg ? STORE_PG : STORE_SQLITE, g_target, true),
			 g_pg ? STORE_UNAVAILABLE : STORE_OK);
	for (int i = 0; i < 300 && !st->up; i++) {	/* PostgreSQL connects asynchronously */
		nanosleep(&(struct timespec){ .tv_nsec = 10 * 1000 * 1000 }, NULL);
		store_poll(st, INT64_MAX);
	}
	if (!st->up)
		fail_msg("store %s: %s", g_target, st->err);
}

static long count(struct store *st, const char *sql)
{
	struct store_result r;
	long v;

	assert_int_equal(store_exec(st, sql, 0, NULL, &r), STORE_OK);
	v = strtol(store_cell(&r, 0, 0), NULL, 10);
	store_result_free(&r);
	return v;
}

static void migrations_fresh_and_again(void **state)
{
	struct store st;

	(void)state;
	fresh();
	open_store(&st);
	assert_int_equal(st.schema_version, store_migrations[store_migrations_count - 1].version);
	assert_int_equal(count(&st, "SELECT COUNT(*) FROM schema_migrations"),
			 store_migrations_count);
	assert_int_equal(store_run(&st, "INSERT INTO topics (id, topic_name) VALUES "
				   "('00000000-0000-4000-8000-000000000001', 'kept')", 0, NULL),
			 STORE_OK);
	store_close(&st);
	open_store(&st);	/* a migrated database: nothing to do, nothing lost */
	assert_int_equal(count(&st, "SELECT COUNT(*) FROM schema_migrations"),
			 store_migrations_count);
	assert_int_equal(count(&st, "SELECT COUNT(*) FROM topics"), 1);
	assert_int_equal(store_migrate(&st), STORE_OK);
	assert_int_equal(count(&st, "SELECT COUNT(*) FROM schema_migrations"),
			 store_migrations_count);
	store_close(&st);
	dispose();
}

/* A database at version 1 (an older server's) gets every later version and keeps its
 * rows. */
static void migrations_from_an_older_version(void **state)
{
	struct store st;
	const char *ver1 = g_pg ? store_migrations[0].pg : store_migrations[0].sqlite;

	(void)state;
	fresh();
	open_store(&st);
	assert_int_equal(store_run(&st, "DROP TABLE market_bars", 0, NULL), STORE_OK);
	assert_int_equal(store_run(&st, "DROP TABLE distribution_audit", 0, NULL), STORE_OK);
	assert_int_equal(store_run(&st, "DROP TABLE subscriptions", 0, NULL), STORE_OK);
	assert_int_equal(store_run(&st, "DROP TABLE topics", 0, NULL), STORE_OK);
	assert_int_equal(store_run(&st, "DROP TABLE routing_rules", 0, NULL), STORE_OK);
	assert_int_equal(store_run(&st, "DROP TABLE distribution_stats", 0, NULL), STORE_OK);
	assert_int_equal(store_run(&st, "DROP TABLE auth_tokens", 0, NULL), STORE_OK);
	assert_int_equal(store_run(&st, "DROP TABLE admin_audit", 0, NULL), STORE_OK);
	assert_int_equal(store_run(&st, "DROP TABLE store_changes", 0, NULL), STORE_OK);
	if (g_pg)
		assert_int_equal(store_run(&st, "DROP FUNCTION admin_audit_append_only()", 0, NULL),
				 STORE_OK);
	if (g_pg)
		assert_int_equal(store_run(&st, "DROP FUNCTION store_changes_bump()", 0, NULL),
				 STORE_OK);
	assert_int_equal(store_run(&st, "DELETE FROM schema_migrations WHERE version > 1", 0,
				   NULL), STORE_OK);
	assert_int_equal(store_run(&st, ver1, 0, NULL), STORE_OK);
	assert_int_equal(store_run(&st, "INSERT INTO topics (id, topic_name, partitions) VALUES "
				   "('00000000-0000-4000-8000-000000000002', 'old', 3)", 0, NULL),
			 STORE_OK);
	st.schema_version = 0;
	assert_int_equal(store_migrate(&st), STORE_OK);
	assert_int_equal(st.schema_version, 7);
	assert_int_equal(count(&st, "SELECT COUNT(*) FROM store_changes"), 2);	/* v7 */
	assert_int_equal(count(&st, "SELECT COUNT(*) FROM auth_tokens"), 0);	/* v6 */
	assert_int_equal(count(&st, "SELECT latency_requirement_ms FROM topics"), 100);
	assert_int_equal(count(&st, "SELECT priority FROM topics"), 0);	/* v5 */
	assert_int_equal(count(&st, "SELECT COUNT(*) FROM distribution_audit"), 0);
	assert_int_equal(count(&st, "SELECT COUNT(*) FROM distribution_audit WHERE "
			       "subscription_id IS NOT NULL AND log_offset >= 0"), 0);	/* v4 */
	assert_int_equal(count(&st, "SELECT COUNT(*) FROM market_bars"), 0);
	store_close(&st);
	dispose();
}

/* Random UUIDs (version 4, variant 10), all different, across refills of the pool. */
static void uuids_are_v4_and_distinct(void **state)
{
	static char ids[2000][37];

	(void)state;
	for (int i = 0; i < 2000; i++) {
		store_uuid(ids[i]);
		assert_int_equal(strlen(ids[i]), 36);
		assert_true(ids[i][8] == '-' && ids[i][13] == '-' && ids[i][18] == '-' &&
			    ids[i][23] == '-');
		assert_int_equal(ids[i][14], '4');
		assert_non_null(strchr("89ab", ids[i][19]));
		assert_int_equal(strspn(ids[i], "0123456789abcdef-"), 36);
		for (int k = 0; k < i; k++)
			assert_string_not_equal(ids[i], ids[k]);
	}
}

/* Version 7: the time first, so they sort as they were made (ms apart); distinct within
 * one ms. */
static void uuid7_sorts_by_time(void **state)
{
	static char ids[500][37];
	const int64_t t0 = 1764925200123000000ll;	/* 2025-12-05T09:00:00.123Z */

	(void)state;
	for (int i = 0; i < 500; i++) {
		store_uuid7(ids[i], t0 + (int64_t)(i / 5) * 1000000);
		assert_int_equal(strlen(ids[i]), 36);
		assert_int_equal(ids[i][14], '7');
		assert_non_null(strchr("89ab", ids[i][19]));
		if (i % 5 == 0 && i > 0)
			assert_true(strcmp(ids[i - 1], ids[i]) < 0);
		for (int k = 0; k < i; k++)
			assert_string_not_equal(ids[i], ids[k]);
	}
	assert_memory_equal(ids[0], "019aedbd-56fb-7", 15);	/* 0x019aedbd56fb ms */
}

static void topics_table(void **state)
{
	struct store st;
	struct store_topic t = { .name = "a/b", .partitions = 4, .retention_policy = "7d",
				 .compression_type = "LZ4", .data_type = "execution",
				 .latency_requirement_ms = 10, .priority = 9, .enabled = true },
			  got, *list;
	uint32_t n;

	(void)state;
	fresh();
	open_store(&st);
	assert_int_equal(store_topic_insert(&st, &t), STORE_OK);
	assert_int_equal(store_topic_insert(&st, &t), STORE_CONFLICT);
	assert_int_equal(store_topic_get(&st, "a/b", &got), STORE_OK);
	assert_int_equal(got.partitions, 4);
	assert_string_equal(got.data_type, "execution");
	assert_string_equal(got.schema_version, "");	/* NULL */
	assert_true(got.enabled);
	assert_int_equal(got.priority, 9);
	assert_int_equal(strlen(got.created_at), 24);
	got.enabled = false;
	got.priority = 255;
	strcpy(got.schema_version, "2");
	assert_int_equal(store_topic_update(&st, &got), STORE_OK);
	assert_int_equal(store_topic_get(&st, "a/b", &got), STORE_OK);
	assert_false(got.enabled);
	assert_int_equal(got.priority, 255);
	assert_string_equal(got.schema_version, "2");
	assert_int_equal(store_topic_get(&st, "zz", &got), STORE_NOT_FOUND);
	strcpy(t.name, "c");
	t.partitions = 0;	/* the CHECK constraint */
	assert_int_equal(store_topic_insert(&st, &t), STORE_ERR);
	t.partitions = 1;
	assert_int_equal(store_topic_insert(&st, &t), STORE_OK);
	assert_int_equal(store_topics_list(&st, "", 1, &list, &n), STORE_OK);
	assert_int_equal(n, 1);
	assert_string_equal(list[0].name, "a/b");
	free(list);
	assert_int_equal(store_topics_list(&st, "a/b", 10, &list, &n), STORE_OK);
	assert_int_equal(n, 1);
	assert_string_equal(list[0].name, "c");
	free(list);
	assert_int_equal(store_topic_delete(&st, "c"), STORE_OK);
	assert_int_equal(store_topic_delete(&st, "c"), STORE_NOT_FOUND);
	store_close(&st);
	dispose();
}

static void rules_table(void **state)
{
	struct store st;
	struct store_rule r = { .name = "z", .target_topic = "t", .priority = 1, .enabled = true,
				.origin = "file" }, got, *list;
	uint32_t n;

	(void)state;
	fresh();
	open_store(&st);
	r.conditions = "{\"symbols\":[\"A\"],\"min_price\":1.5}";
	assert_int_equal(store_rule_insert(&st, &r), STORE_OK);
	assert_int_equal(store_rule_insert(&st, &r), STORE_CONFLICT);
	strcpy(r.name, "a");
	r.priority = 5;
	r.conditions = NULL;
	strcpy(r.source_pattern, "*.NYSE.>");
	assert_int_equal(store_rule_insert(&st, &r), STORE_OK);
	assert_int_equal(store_rules_list(&st, &list, &n), STORE_OK);
	assert_int_equal(n, 2);
	assert_string_equal(list[0].name, "z");	/* priority first, then name */
	assert_non_null(strstr(list[0].conditions, "\"min_price\""));
	assert_null(list[1].conditions);
	assert_string_equal(list[1].source_pattern, "*.NYSE.>");
	assert_string_equal(list[0].origin, "file");
	store_rules_free(list, n);
	assert_int_equal(store_rule_get(&st, "a", &got), STORE_OK);
	got.enabled = false;
	assert_int_equal(store_rule_update(&st, &got), STORE_OK);
	store_rule_clear(&got);
	assert_int_equal(store_rule_get(&st, "a", &got), STORE_OK);
	assert_false(got.enabled);
	store_rule_clear(&got);
	assert_int_equal(store_rule_get(&st, "none", &got), STORE_NOT_FOUND);
	assert_int_equal(store_rule_delete(&st, "a"), STORE_OK);
	assert_int_equal(store_rule_delete(&st, "a"), STORE_NOT_FOUND);
	r.conditions = "not json";
	strcpy(r.name, "bad");
	assert_true(store_rule_insert(&st, &r) < 0);	/* json_valid / jsonb */
	store_close(&st);
	dispose();
}

static void subscriptions_and_stats(void **state)
{
	struct store st;
	struct store_topic t = { .name = "t", .partitions = 1, .enabled = true };
	struct store_sub s = { .subscription_id = "x-1", .topic_name = "t",
			       .subscription_name = "c/1", .subscription_type = "Exclusive",
			       .start_position = "Latest", .delivery_guarantee = "at_least_once",
			       .status = "active", .created_at = "2026-12-05T09:30:00.000Z",
			       .last_activity = "2026-12-05T09:30:00.000Z" }, got, *list;
	struct store_stat_row rows[3] = {
		{ .timestamp = "2026-12-05T09:30:10.000Z", .topic_name = "t",
		  .messages_distributed = 5, .messages_received = 7 },
		{ .timestamp = "2026-12-05T09:30:20.000Z", .topic_name = "t",
		  .messages_distributed = 6, .messages_received = 8 },
		{ .timestamp = "2026-12-05T09:30:30.000Z", .topic_name = "t" },
	};
	uint32_t n;

	(void)state;
	fresh();
	open_store(&st);
	assert_int_equal(store_sub_upsert(&st, &s), STORE_CONFLICT);	/* no such topic (FK) */
	strcpy(t.retention_policy, "7d");
	assert_int_equal(store_topic_insert(&st, &t), STORE_OK);
	s.filters = "{\"patterns\":\"A.>\"}";
	assert_int_equal(store_sub_upsert(&st, &s), STORE_OK);
	assert_int_equal(store_sub_upsert(&st, &s), STORE_OK);	/* again: an update */
	assert_int_equal(store_sub_get(&st, "x-1", &got), STORE_OK);
	assert_string_equal(got.created_at, "2026-12-05T09:30:00.000Z");
	assert_non_null(strstr(got.filters, "A.>"));
	store_sub_clear(&got);
	assert_int_equal(store_subs_stop_all(&st, "n1", "2026-12-05T10:00:00.000Z"), STORE_OK);
	assert_int_equal(store_subs_list(&st, "t", "stopped", "", "", 10, &list, &n), STORE_OK);
	assert_int_equal(n, 1);
	assert_string_equal(list[0].last_activity, "2026-12-05T10:00:00.000Z");
	store_subs_free(list, n);
	assert_int_equal(store_subs_list(&st, "", "active", "", "", 10, &list, &n), STORE_OK);
	assert_int_equal(n, 0);
	store_subs_free(list, n);
	assert_int_equal(store_sub_status(&st, "nope", "stopped", s.created_at), STORE_NOT_FOUND);
	assert_int_equal(store_stats_insert(&st, rows, 3), STORE_OK);
	assert_int_equal(count(&st, "SELECT SUM(messages_received) FROM distribution_stats"), 15);
	assert_int_equal(store_topic_delete(&st, "t"), STORE_OK);	/* cascades */
	assert_int_equal(store_sub_get(&st, "x-1", &got), STORE_NOT_FOUND);
	store_close(&st);
	dispose();
}

/* Several nodes on one store: a node stops its own previous run's subscriptions (and
 * rows older than node ids), never another node's; rows list by node; every write to
 * topics and routing_rules moves store_changes, reads do not. */
static void nodes_subscriptions_and_changes(void **state)
{
	struct store st;
	struct store_topic t = { .name = "t", .partitions = 1, .enabled = true };
	struct store_rule r = { .name = "r", .target_topic = "t", .priority = 1, .enabled = true };
	struct store_sub s = { .topic_name = "t", .subscription_name = "c/1",
			       .subscription_type = "Exclusive", .start_position = "Latest",
			       .delivery_guarantee = "at_least_once", .status = "active",
			       .created_at = "2026-12-05T09:30:00.000Z",
			       .last_activity = "2026-12-05T09:30:00.000Z" }, got, *list;
	/* n1 and n2 share the store; old-1 was written before node ids (NULL). */
	const char *ids[3] = { "a-1", "b-1", "old-1" }, *nodes[3] = { "n1", "n2", "" };
	struct store_changes c0, c1;
	uint32_t n;

	(void)state;
	fresh();
	open_store(&st);
	assert_int_equal(store_changes_read(&st, &c0), STORE_OK);
	strcpy(t.retention_policy, "7d");
	assert_int_equal(store_topic_insert(&st, &t), STORE_OK);
	assert_int_equal(store_changes_read(&st, &c1), STORE_OK);
	assert_true(c1.topics > c0.topics);
	assert_int_equal(c1.rules, c0.rules);
	for (int i = 0; i < 3; i++) {
		snprintf(s.subscription_id, sizeof(s.subscription_id), "%s", ids[i]);
		snprintf(s.node_id, sizeof(s.node_id), "%s", nodes[i]);
		assert_int_equal(store_sub_upsert(&st, &s), STORE_OK);
	}
	assert_int_equal(store_sub_get(&st, "b-1", &got), STORE_OK);
	assert_string_equal(got.node_id, "n2");
	store_sub_clear(&got);
	assert_int_equal(store_subs_stop_all(&st, "n1", "2026-12-05T10:00:00.000Z"), STORE_OK);
	assert_int_equal(store_subs_list(&st, "", "active", "", "", 10, &list, &n), STORE_OK);
	assert_int_equal(n, 1);	/* n2's stays live */
	assert_string_equal(list[0].subscription_id, "b-1");
	store_subs_free(list, n);
	assert_int_equal(store_subs_list(&st, "", "", "n1", "", 10, &list, &n), STORE_OK);
	assert_int_equal(n, 1);
	assert_string_equal(list[0].status, "stopped");
	store_subs_free(list, n);
	assert_int_equal(store_subs_list(&st, "", "", "", "", 10, &list, &n), STORE_OK);
	assert_int_equal(n, 3);
	store_subs_free(list, n);
	/* No node (a store of one node's own, SQLite): every active row is its own. */
	assert_int_equal(store_subs_stop_all(&st, NULL, "2026-12-05T11:00:00.000Z"), STORE_OK);
	assert_int_equal(store_subs_list(&st, "", "active", "", "", 10, &list, &n), STORE_OK);
	assert_int_equal(n, 0);
	store_subs_free(list, n);
	assert_int_equal(store_changes_read(&st, &c0), STORE_OK);
	assert_int_equal(c0.topics, c1.topics);	/* subscriptions are not counted */
	assert_int_equal(store_rule_insert(&st, &r), STORE_OK);
	r.priority = 2;
	assert_int_equal(store_rule_update(&st, &r), STORE_OK);
	assert_int_equal(store_changes_read(&st, &c1), STORE_OK);
	assert_true(c1.rules >= c0.rules + 2);
	t.priority = 9;
	assert_int_equal(store_topic_update(&st, &t), STORE_OK);
	assert_int_equal(store_rule_delete(&st, "r"), STORE_OK);
	assert_int_equal(store_topic_delete(&st, "t"), STORE_OK);
	assert_int_equal(store_changes_read(&st, &c0), STORE_OK);
	assert_true(c0.topics >= c1.topics + 2);
	assert_true(c0.rules > c1.rules);
	store_close(&st);
	dispose();
}

static void token_row(struct store_token *t, const char *id, const char *name)
{
	memset(t, 0, sizeof(*t));
	snprintf(t->id, sizeof(t->id), "%s", id);
	snprintf(t->name, sizeof(t->name), "%s", name);
	strcpy(t->role, "reader");
	memset(t->token_hash, 'a', 64);
	t->permissions = "{\"publish\":{\"allow\":[\"a/>\"],\"deny\":[]},"
			 "\"subscribe\":{\"allow\":[],\"deny\":[]}}";
	t->limits = "{\"events_per_s\":5,\"bytes_per_s\":0,\"subscriptions\":0,"
		    "\"connections\":0,\"rest_per_s\":0}";
	strcpy(t->created_by, "-");
}

/* auth_tokens: insert (conflicts on id and name), update, revoke once, list by id with
 * and without the revoked, JSON round trips. */
static void tokens_table(void **state)
{
	struct store_token a, b, got, *list;
	struct store st;
	uint32_t n;

	(void)state;
	fresh();
	open_store(&st);
	token_row(&a, "00000000000a", "alpha");
	token_row(&b, "00000000000b", "beta");
	assert_int_equal(store_token_insert(&st, &a), STORE_OK);
	assert_int_equal(store_token_insert(&st, &b), STORE_OK);
	assert_int_equal(store_token_insert(&st, &a), STORE_CONFLICT);	/* id */
	snprintf(b.id, sizeof(b.id), "00000000000c");
	assert_int_equal(store_token_insert(&st, &b), STORE_CONFLICT);	/* name */
	assert_int_equal(store_token_get(&st, "00000000000a", &got), STORE_OK);
	assert_string_equal(got.name, "alpha");
	assert_string_equal(got.role, "reader");
	assert_int_equal(strlen(got.token_hash), 64);
	assert_non_null(strstr(got.permissions, "a/>"));
	assert_non_null(strstr(got.limits, "events_per_s"));
	assert_int_equal(strlen(got.created_at), 24);
	assert_string_equal(got.revoked_at, "");
	store_token_clear(&got);
	strcpy(a.role, "admin");
	assert_int_equal(store_token_update(&st, &a), STORE_OK);
	assert_int_equal(store_token_get(&st, "00000000000a", &got), STORE_OK);
	assert_string_equal(got.role, "admin");
	store_token_clear(&got);
	assert_int_equal(store_token_revoke(&st, "00000000000b", "2026-12-05T09:30:00.000Z"),
			 STORE_OK);
	assert_int_equal(store_token_revoke(&st, "00000000000b", "2026-12-05T09:31:00.000Z"),
			 STORE_NOT_FOUND);	/* once */
	assert_int_equal(store_tokens_list(&st, false, "", 10, &list, &n), STORE_OK);
	assert_int_equal(n, 1);
	assert_string_equal(list[0].id, "00000000000a");
	store_tokens_free(list, n);
	assert_int_equal(store_tokens_list(&st, true, "00000000000a", 10, &list, &n), STORE_OK);
	assert_int_equal(n, 1);
	assert_string_equal(list[0].revoked_at, "2026-12-05T09:30:00.000Z");
	store_tokens_free(list, n);
	assert_int_equal(store_token_get(&st, "nope", &got), STORE_NOT_FOUND);
	store_close(&st);
	dispose();
}

static void audit_row(struct store_audit_row *w, const char *at, const char *actor,
		      const char *action)
{
	memset(w, 0, sizeof(*w));
	store_uuid7(w->id, 0);
	snprintf(w->at, sizeof(w->at), "%s", at);
	snprintf(w->actor, sizeof(w->actor), "%s", actor);
	snprintf(w->action, sizeof(w->action), "%s", action);
	strcpy(w->outcome, "ok");
	strcpy(w->status, "201");
	strcpy(w->source, "127.0.0.1");
}

/* admin_audit: inserts (a repeated id skipped), newest first, filters, paging, and no
 * UPDATE or DELETE accepted. */
static void admin_audit_table(void **state)
{
	struct store_audit_row rows[3], *out;
	struct store_audit_filter f = { 0 };
	struct store st;
	uint32_t n;

	(void)state;
	fresh();
	open_store(&st);
	audit_row(&rows[0], "2026-12-05T09:30:00.000Z", "aaaaaaaaaaaa", "topic.create");
	audit_row(&rows[1], "2026-12-05T09:31:00.000Z", "bbbbbbbbbbbb", "token.create");
	audit_row(&rows[2], "2026-12-05T09:32:00.000Z", "aaaaaaaaaaaa", "rest.refused");
	assert_int_equal(store_audit_insert(&st, rows, 3), STORE_OK);
	assert_int_equal(store_audit_insert(&st, rows, 1), STORE_OK);	/* replayed: skipped */
	assert_int_equal(count(&st, "SELECT COUNT(*) FROM admin_audit"), 3);
	assert_int_equal(store_audit_list(&st, &f, 10, &out, &n), STORE_OK);
	assert_int_equal(n, 3);
	assert_string_equal(out[0].action, "rest.refused");	/* newest first */
	assert_string_equal(out[2].at, "2026-12-05T09:30:00.000Z");
	assert_string_equal(out[2].source, "127.0.0.1");
	free(out);
	strcpy(f.actor, "aaaaaaaaaaaa");
	assert_int_equal(store_audit_list(&st, &f, 10, &out, &n), STORE_OK);
	assert_int_equal(n, 2);
	free(out);
	strcpy(f.since, "2026-12-05T09:31:00.000Z");
	assert_int_equal(store_audit_list(&st, &f, 10, &out, &n), STORE_OK);
	assert_int_equal(n, 1);
	free(out);
	memset(&f, 0, sizeof(f));
	strcpy(f.action, "token.create");
	assert_int_equal(store_audit_list(&st, &f, 10, &out, &n), STORE_OK);
	assert_int_equal(n, 1);
	free(out);
	memset(&f, 0, sizeof(f));
	strcpy(f.before_id, rows[1].id);	/* the page after the 09:31 row */
	assert_int_equal(store_audit_list(&st, &f, 10, &out, &n), STORE_OK);
	assert_int_equal(n, 1);
	assert_string_equal(out[0].action, "topic.create");
	free(out);
	/* Append-only. */
	assert_true(store_run(&st, "UPDATE admin_audit SET outcome = 'failed'", 0, NULL) !=
		    STORE_OK);
	assert_true(store_run(&st, "DELETE FROM admin_audit", 0, NULL) != STORE_OK);
	assert_int_equal(count(&st, "SELECT COUNT(*) FROM admin_audit"), 3);
	store_close(&st);
	dispose();
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(migrations_fresh_and_again),
		cmocka_unit_test(migrations_from_an_older_version),
		cmocka_unit_test(uuids_are_v4_and_distinct),
		cmocka_unit_test(uuid7_sorts_by_time),
		cmocka_unit_test(topics_table),
		cmocka_unit_test(rules_table),
		cmocka_unit_test(subscriptions_and_stats),
		cmocka_unit_test(nodes_subscriptions_and_changes),
		cmocka_unit_test(tokens_table),
		cmocka_unit_test(admin_audit_table),
	};
	char cmd[100];
	int rc;

	g_pg = argc > 1 && strcmp(argv[1], "pg") == 0;
	if (g_pg && !getenv("FANOUT_TEST_PG_URL")) {
		fprintf(stderr, "SKIP: FANOUT_TEST_PG_URL is not set (tools/test sets it)\n");
		return 77;
	}
	strcpy(g_dir, "/tmp/fanout-store-XXXXXX");
	if (!mkdtemp(g_dir))
		return 1;
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", g_dir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", g_dir);
	return rc;
}
