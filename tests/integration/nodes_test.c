/* tests/integration/nodes_test.c — several fanoutd nodes on one PostgreSQL database (the
 * real server tools/test runs: $FANOUT_TEST_PG_URL; exit 77 without it), each with its
 * own port and data directory, auto-creation off:
 *   - a topic created over REST on A is listed by B within a bounded poll, and a
 *     publisher on B publishes to it; its settings changed on A apply on B; deleted on
 *     A, it is gone from B;
 *   - a rule added on A re-routes B's publishes;
 *   - a node started after all that loads the topics and the rule (and not the deleted
 *     topic);
 *   - A's live subscriptions stay 'active' in the store when B starts and when B
 *     restarts; B's previous run's rows are stopped; each row carries its node; another
 *     node's live subscription is not ended from here (409).
 * Every wait is bounded (WAIT_TRIES x WAIT_STEP_MS). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "tests/integration/admin_util.h"

#define WAIT_TRIES   100	/* x WAIT_STEP_MS: 10 s, ten watch looks and more */
#define WAIT_STEP_MS 100
#define UNKNOWN_TOPIC FANOUT__V1__ERROR_CODE__ERROR_CODE_UNKNOWN_TOPIC

static int g_argc;
static char **g_argv;
static char g_url[512], g_db[64];	/* the current test's own database */

/* Each test on a database of its own. */
static int db_setup(void **state)
{
	(void)state;
	return pgtest_create(g_url, sizeof(g_url), g_db, sizeof(g_db)) ? 0 : -1;
}

static int db_teardown(void **state)
{
	(void)state;
	pgtest_drop(g_db);
	return 0;
}

/* Starts a node on the shared database (node NULL: the default node id), with a topic
 * of its own declared by --topic when topic is not NULL. */
static void node_start_topic(struct server *s, const char *node, const char *topic)
{
	const char *args[12] = { "--pg-url", g_url, "--no-auto-create", "--reactors", "1" };
	int n = 5;

	if (node) {
		args[n++] = "--node-id";
		args[n++] = node;
	}
	if (topic) {
		args[n++] = "--topic";
		args[n++] = topic;
	}
	server_start(s, args);
}

static void node_start(struct server *s, const char *node)
{
	node_start_topic(s, node, NULL);
}

static void node_setup_start(struct server *s, const char *node)
{
	server_setup(s, g_argc, g_argv);
	s->verbose = getenv("NODES_VERBOSE") != NULL;
	node_start(s, node);
}

static void node_stop(struct server *s)
{
	assert_int_equal(WEXITSTATUS(server_stop(s, SIGTERM)), 0);
	server_teardown(s);
}

/* Waits until GET path answers want; fails the test otherwise. */
static void wait_status(struct server *s, const char *path, int want)
{
	int got = 0;

	for (int i = 0; i < WAIT_TRIES; i++) {
		if ((got = api(s, "GET", path, NULL, NULL)) == want)
			return;
		admin_sleep_ms(WAIT_STEP_MS);
	}
	fail_msg("GET %s: %d, never %d", path, got, want);
}

/* Waits until GET path's in_force.key (a topic's settings in force on s) is want. */
static void wait_in_force(struct server *s, const char *path, const char *key, long long want)
{
	long long got = -1;

	for (int i = 0; i < WAIT_TRIES; i++) {
		json_t *j = NULL;

		if (api(s, "GET", path, NULL, &j) == 200) {
			json_t *v = json_object_get(json_object_get(j, "in_force"), key);

			got = json_is_boolean(v) ? json_is_true(v) : json_integer_value(v);
		}
		json_decref(j);
		if (got == want)
			return;
		admin_sleep_ms(WAIT_STEP_MS);
	}
	fail_msg("%s: in_force.%s is %lld, never %lld", path, key, got, want);
}

/* Waits until sql (one integer) on the shared database is want. */
static void wait_sql(const char *sql, long long want)
{
	long long got = -1;

	for (int i = 0; i < WAIT_TRIES; i++) {
		if ((got = pgtest_scalar(g_url, sql)) == want)
			return;
		admin_sleep_ms(WAIT_STEP_MS);
	}
	fail_msg("%s: %lld, never %lld", sql, got, want);
}

/* Publishes one event to topic on s; returns 0 when acked, else the Error's code. */
static int publish_one(struct server *s, const char *topic, uint32_t seq)
{
	Fanout__V1__Event e, *ptr = &e;
	Fanout__V1__Distribution d;
	Fanout__V1__MarketData md;
	Fanout__V1__ServerMessage *m;
	struct client c;
	char buf[256];
	int code;

	server_connect(s, &c);
	make_event(&e, &d, &md, buf, topic, seq, 1);
	assert_int_equal(client_publish(&c, 1, &ptr, 1), 0);
	m = recv_msg(&c, 10000);
	code = m->body_case == FANOUT__V1__SERVER_MESSAGE__BODY_ERROR ? (int)m->error->code : 0;
	if (!code)
		assert_int_equal(m->body_case, FANOUT__V1__SERVER_MESSAGE__BODY_PUBLISH_ACK);
	client_free_msg(m);
	client_close(&c);
	return code;
}

/* Waits until s refuses publishes to topic (it has no such topic any more). The REST
 * GET is no witness: it answers from the store, which the delete left at once. */
static void wait_refused(struct server *s, const char *topic)
{
	for (int i = 0; i < WAIT_TRIES; i++) {
		if (publish_one(s, topic, (uint32_t)i) == UNKNOWN_TOPIC)
			return;
		admin_sleep_ms(WAIT_STEP_MS);
	}
	fail_msg("%s still takes publishes to %s", s->addr, topic);
}

/* Subscribes c to topic on s from the earliest offset. */
static void subscribe(struct server *s, struct client *c, const char *topic)
{
	Fanout__V1__ServerMessage *m;

	server_connect(s, c);
	assert_int_equal(client_subscribe(c, 1, topic, NULL, 0,
					  FANOUT__V1__START_POSITION__START_POSITION_EARLIEST, 0,
					  &m), 0);
	assert_int_equal(m->body_case, FANOUT__V1__SERVER_MESSAGE__BODY_SUBSCRIBED);
	client_free_msg(m);
}

/* Publishes to src on s until an event arrives on c (subscribed to the rule's target). */
static void publish_until_routed(struct server *s, struct client *c, const char *src)
{
	for (int i = 0; i < WAIT_TRIES; i++) {
		Fanout__V1__ServerMessage *m = NULL;

		assert_int_equal(publish_one(s, src, (uint32_t)i), 0);
		if (client_recv(c, &m, WAIT_STEP_MS) == 0) {
			assert_int_equal(m->body_case, FANOUT__V1__SERVER_MESSAGE__BODY_EVENT);
			client_free_msg(m);
			return;
		}
	}
	fail_msg("publishes to %s never reached the rule's target", src);
}

/* A topic this node deleted and then made again (auto-create, a publisher at it) is a
 * new topic: stored, and not taken at the next looks for one deleted on another node
 * (which would delete it, and the events just acked). */
static void a_topic_made_again_after_its_delete_stays(void **state)
{
	const char *args[] = { "--pg-url", g_url, "--node-id", "solo", "--reactors", "1", NULL };
	struct server a;
	struct client pub, sub;
	json_t *j;
	uint32_t got = 0;

	(void)state;
	server_setup(&a, g_argc, g_argv);
	server_start(&a, args);
	server_connect(&a, &pub);
	publish_range(&pub, "z", 0, 10, 4, NULL);	/* auto-created */
	wait_status(&a, "/api/v1/topics/z", 200);	/* and stored */
	admin_sleep_ms(1500);	/* a look has seen it in the store */
	j = api_expect(&a, "DELETE", "/api/v1/topics/z?force=true", NULL, 200);
	json_decref(j);
	for (uint32_t k = 10, tries = 0; k < 20; tries++) {	/* made again, acked */
		assert_true(tries < WAIT_TRIES);	/* "being deleted; retry" a moment */
		if (publish_one(&a, "z", k) == 0)
			k++;
		else
			admin_sleep_ms(WAIT_STEP_MS);
	}
	admin_sleep_ms(2500);	/* two looks more */
	wait_status(&a, "/api/v1/topics/z", 200);
	subscribe(&a, &sub, "z");
	for (;;) {
		Fanout__V1__ServerMessage *m = NULL;

		if (client_recv(&sub, &m, got < 10 ? 5000 : 300) == -ETIMEDOUT)
			break;
		assert_int_equal(m->body_case, FANOUT__V1__SERVER_MESSAGE__BODY_EVENT);
		client_free_msg(m);
		got++;
	}
	assert_int_equal(got, 10);	/* the new topic's events, kept */
	client_close(&sub);
	client_close(&pub);
	node_stop(&a);
}

static void topics_and_rules_reach_every_node(void **state)
{
	struct server a, b, c;
	struct client sub;
	json_t *j;

	(void)state;
	node_setup_start(&a, "node-a");
	node_setup_start(&b, "node-b");
	assert_int_equal(publish_one(&b, "shared", 1), UNKNOWN_TOPIC);

	/* Created on A: listed by B, which takes publishes for it. */
	json_decref(api_expect(&a, "POST", "/api/v1/topics",
			       "{\"topic_name\": \"shared\", \"partitions\": 2}", 201));
	wait_status(&b, "/api/v1/topics/shared", 200);
	j = api_expect(&b, "GET", "/api/v1/topics/shared", NULL, 200);
	assert_int_equal(json_integer_value(json_object_get(j, "partitions")), 2);
	json_decref(j);
	assert_int_equal(publish_one(&b, "shared", 2), 0);

	/* Settings changed on A: in force on B. */
	json_decref(api_expect(&a, "PUT", "/api/v1/topics/shared",
			       "{\"priority\": 7, \"retention_policy\": \"2h\"}", 200));
	wait_in_force(&b, "/api/v1/topics/shared", "priority", 7);
	wait_in_force(&b, "/api/v1/topics/shared", "retention_ns", 2ll * 3600 * 1000000000);
	json_decref(api_expect(&a, "PUT", "/api/v1/topics/shared", "{\"enabled\": false}", 200));
	wait_in_force(&b, "/api/v1/topics/shared", "enabled", 0);
	assert_int_equal(publish_one(&b, "shared", 3), UNKNOWN_TOPIC);
	json_decref(api_expect(&a, "PUT", "/api/v1/topics/shared", "{\"enabled\": true}", 200));
	wait_in_force(&b, "/api/v1/topics/shared", "enabled", 1);
	assert_int_equal(publish_one(&b, "shared", 4), 0);

	/* A rule added on A re-routes on B. */
	json_decref(api_expect(&a, "POST", "/api/v1/topics", "{\"topic_name\": \"src\"}", 201));
	json_decref(api_expect(&a, "POST", "/api/v1/topics", "{\"topic_name\": \"dst\"}", 201));
	wait_status(&b, "/api/v1/topics/dst", 200);
	wait_status(&b, "/api/v1/topics/src", 200);
	subscribe(&b, &sub, "dst");
	json_decref(api_expect(&a, "POST", "/api/v1/rules", "{\"name\": \"mv\", \"source_topic\":"
			       " \"src\", \"target_topic\": \"dst\"}", 201));
	publish_until_routed(&b, &sub, "src");
	client_close(&sub);

	/* Deleted on A: gone from B. */
	json_decref(api_expect(&a, "DELETE", "/api/v1/topics/shared", NULL, 200));
	wait_refused(&b, "shared");
	assert_int_equal(api(&b, "GET", "/api/v1/topics/shared", NULL, NULL), 404);

	/* B counted what it applied; every node names itself in /metrics. */
	assert_true(api_metric(&b, "fanout_store_changes_applied_total{change=\"topic_created\"}")
		    >= 3);
	assert_true(api_metric(&b, "fanout_store_changes_applied_total{change=\"topic_updated\"}")
		    >= 3);
	assert_true(api_metric(&b, "fanout_store_changes_applied_total{change=\"topic_deleted\"}")
		    >= 1);
	assert_true(api_metric(&b, "fanout_store_changes_applied_total{change=\"rules_reloaded\"}")
		    >= 1);
	assert_true(api_metric(&a, "fanout_store_changes_applied_total{change=\"topic_created\"}")
		    == 0);	/* its own, applied by REST */
	assert_true(api_metric(&b, "fanout_node_info{node=\"node-b\"}") == 1);

	/* A node that joins now loads what is there: src, dst and the rule, not shared. Its
	 * own topic (declared, on its disk only) is not deleted: it reaches A. */
	server_setup(&c, g_argc, g_argv);
	node_start_topic(&c, "node-c", "c-own");
	wait_status(&a, "/api/v1/topics/c-own", 200);
	assert_int_equal(publish_one(&a, "c-own", 1), 0);
	assert_int_equal(publish_one(&c, "c-own", 1), 0);
	json_decref(api_expect(&c, "GET", "/api/v1/topics/src", NULL, 200));
	json_decref(api_expect(&c, "GET", "/api/v1/topics/dst", NULL, 200));
	assert_int_equal(api(&c, "GET", "/api/v1/topics/shared", NULL, NULL), 404);
	subscribe(&c, &sub, "dst");
	publish_until_routed(&c, &sub, "src");
	client_close(&sub);
	node_stop(&c);
	node_stop(&b);
	node_stop(&a);
}

#define ACTIVE_OF(node) "SELECT COUNT(*) FROM subscriptions WHERE status = 'active' AND " \
	"node_id = '" node "'"

/* The node of the one live subscription GET /api/v1/subscriptions lists on s (owned). */
static char *live_node(struct server *s)
{
	json_t *j = api_expect(s, "GET", "/api/v1/subscriptions", NULL, 200);
	json_t *arr = json_object_get(j, "subscriptions");
	char *node;

	assert_int_equal(json_array_size(arr), 1);
	node = strdup(json_string_value(json_object_get(json_array_get(arr, 0), "node")));
	json_decref(j);
	return node;
}

static void subscriptions_belong_to_their_node(void **state)
{
	struct server a, b, d;
	struct client sa, sb, sd;
	char path[400], want[300], *node;
	json_t *j, *arr;
	const char *a_id;

	(void)state;
	node_setup_start(&a, "node-a");
	json_decref(api_expect(&a, "POST", "/api/v1/topics", "{\"topic_name\": \"t\"}", 201));
	subscribe(&a, &sa, "t");
	wait_sql(ACTIVE_OF("node-a"), 1);
	node = live_node(&a);
	assert_string_equal(node, "node-a");
	free(node);

	/* B starts, subscribes, stops and starts again: A's row stays active throughout. */
	node_setup_start(&b, "node-b");
	assert_int_equal(pgtest_scalar(g_url, ACTIVE_OF("node-a")), 1);
	wait_status(&b, "/api/v1/topics/t", 200);
	subscribe(&b, &sb, "t");
	wait_sql(ACTIVE_OF("node-b"), 1);
	assert_int_equal(pgtest_scalar(g_url, ACTIVE_OF("node-a")), 1);
	server_stop(&b, SIGKILL);	/* no goodbye: its row stays 'active' */
	client_close(&sb);
	node_start(&b, "node-b");	/* the same data directory */
	assert_int_equal(pgtest_scalar(g_url, ACTIVE_OF("node-a")), 1);
	assert_int_equal(pgtest_scalar(g_url, ACTIVE_OF("node-b")), 0);	/* its last run's */
	assert_int_equal(pgtest_scalar(g_url, "SELECT COUNT(*) FROM subscriptions WHERE "
				       "node_id = 'node-b' AND status = 'stopped'"), 1);

	/* The records list every node's, each with its node; ?node= narrows. */
	j = api_expect(&b, "GET", "/api/v1/subscriptions?status=any", NULL, 200);
	arr = json_object_get(j, "subscriptions");
	assert_int_equal(json_array_size(arr), 2);
	json_decref(j);
	j = api_expect(&b, "GET", "/api/v1/subscriptions?status=active&node=node-a", NULL, 200);
	arr = json_object_get(j, "subscriptions");
	assert_int_equal(json_array_size(arr), 1);
	assert_string_equal(json_string_value(json_object_get(json_array_get(arr, 0), "node")),
			    "node-a");
	a_id = json_string_value(json_object_get(json_array_get(arr, 0), "id"));
	snprintf(path, sizeof(path), "/api/v1/subscriptions/%s", a_id);
	api_error(&b, "DELETE", path, NULL, 409, "CONFLICT", NULL);	/* A's to end */
	json_decref(j);
	assert_int_equal(pgtest_scalar(g_url, ACTIVE_OF("node-a")), 1);

	/* Without --node-id: HOSTNAME:DATA_DIR. */
	node_setup_start(&d, NULL);
	subscribe(&d, &sd, "t");
	node = live_node(&d);
	snprintf(want, sizeof(want), ":%s/data", d.dir);
	assert_non_null(strstr(node, want));
	free(node);
	client_close(&sd);
	client_close(&sa);
	node_stop(&d);
	node_stop(&b);
	node_stop(&a);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(a_topic_made_again_after_its_delete_stays,
						db_setup, db_teardown),
		cmocka_unit_test_setup_teardown(topics_and_rules_reach_every_node, db_setup,
						db_teardown),
		cmocka_unit_test_setup_teardown(subscriptions_belong_to_their_node, db_setup,
						db_teardown),
	};

	g_argc = argc;
	g_argv = argv;
	if (!getenv("FANOUT_TEST_PG_URL") || !*getenv("FANOUT_TEST_PG_URL"))
		admin_skip("FANOUT_TEST_PG_URL is not set (tools/test sets it)");
	return cmocka_run_group_tests(tests, NULL, NULL);
}
