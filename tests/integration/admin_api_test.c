/* tests/integration/admin_api_test.c — every admin endpoint of a real fanoutd over real
 * HTTP, success and each error status (400, 404, 405, 409, 413, 415, 503), against the
 * embedded SQLite store, or with argument "pg" against a fresh database on the real
 * PostgreSQL tools/test runs ($FANOUT_TEST_PG_URL; exit 77 without it). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <signal.h>
#include <sys/wait.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/integration/admin_util.h"

static struct admin_mode g_mode;

#define EARLIEST FANOUT__V1__START_POSITION__START_POSITION_EARLIEST

/* Starts fanoutd with the store under test (PostgreSQL in "pg" mode) and extra flags. */
static void start(struct server *s, const char *const *extra)
{
	const char *args[16];
	int n = 0;

	server_setup(s, g_mode.argc, g_mode.argv);
	if (g_mode.pg) {
		args[n++] = "--pg-url";
		args[n++] = g_mode.pg_url;
	}
	for (int i = 0; extra && extra[i] && n < 15; i++)
		args[n++] = extra[i];
	args[n] = NULL;
	server_start(s, args);
}

static void stop(struct server *s)
{
	assert_int_equal(WEXITSTATUS(server_stop(s, SIGTERM)), 0);
	server_teardown(s);
}

static const char *str(const json_t *o, const char *key)
{
	const char *v = json_string_value(json_object_get(o, key));

	return v ? v : "(absent)";
}

static void topics_create_list_get(struct server *s)
{
	json_t *j;

	j = api_expect(s, "POST", "/api/v1/topics", "{\"topic_name\": \"execution/fills\","
		       " \"partitions\": 3, \"retention_policy\": \"24h\", \"compression_type\":"
		       " \"ZSTD\", \"schema_version\": \"1.2\", \"data_type\": \"execution\","
		       " \"latency_requirement_ms\": 10, \"enabled\": true}", 201);
	assert_string_equal(str(j, "topic_name"), "execution/fills");
	assert_int_equal(json_integer_value(json_object_get(j, "partitions")), 3);
	assert_string_equal(str(j, "retention_policy"), "24h");
	assert_string_equal(str(j, "compression_type"), "ZSTD");
	assert_string_equal(str(j, "schema_version"), "1.2");
	assert_string_equal(str(j, "data_type"), "execution");
	assert_int_equal(json_integer_value(json_object_get(j, "latency_requirement_ms")), 10);
	assert_true(json_is_true(json_object_get(j, "enabled")));
	assert_int_equal(strlen(str(j, "created_at")), 24);	/* RFC 3339 with ms, UTC */
	json_decref(j);
	json_decref(api_expect(s, "POST", "/api/v1/topics", "{\"topic_name\": \"b-topic\"}", 201));
	/* Listing: ordered by name, paged. */
	j = api_expect(s, "GET", "/api/v1/topics?limit=1", NULL, 200);
	assert_int_equal(json_array_size(json_object_get(j, "topics")), 1);
	assert_string_equal(str(json_array_get(json_object_get(j, "topics"), 0), "topic_name"),
			    "b-topic");
	assert_string_equal(str(j, "next"), "b-topic");
	json_decref(j);
	j = api_expect(s, "GET", "/api/v1/topics?limit=5&after=b-topic", NULL, 200);
	assert_int_equal(json_array_size(json_object_get(j, "topics")), 1);
	assert_true(json_is_null(json_object_get(j, "next")));
	json_decref(j);
	/* Get: the record and Pulsar-shaped stats, the name percent-encoded. */
	j = api_expect(s, "GET", "/api/v1/topics/execution%2Ffills", NULL, 200);
	assert_non_null(json_object_get(json_object_get(j, "stats"), "msgRateIn"));
	assert_non_null(json_object_get(json_object_get(json_object_get(j, "stats"),
							"partitions"), "2"));
	json_decref(j);
	j = api_expect(s, "GET", "/api/v1/topics/execution%2Ffills/stats", NULL, 200);
	assert_int_equal(json_integer_value(json_object_get(j, "partitionCount")), 3);
	json_decref(j);
}

static void topics_errors(struct server *s)
{
	char big[(1u << 20) + 64];

	api_error(s, "POST", "/api/v1/topics", "{\"topic_name\": \"b-topic\"}", 409,
		  "ALREADY_EXISTS", "topic_name");
	api_error(s, "POST", "/api/v1/topics", "{\"topic_name\": \"a b\"}", 400, "INVALID_FIELD",
		  "topic_name");
	api_error(s, "POST", "/api/v1/topics", "{\"partitions\": 2}", 400, "INVALID_FIELD",
		  "topic_name");
	api_error(s, "POST", "/api/v1/topics", "{\"topic_name\": \"x\", \"partitions\": 0}", 400,
		  "INVALID_FIELD", "partitions");
	api_error(s, "POST", "/api/v1/topics", "{\"topic_name\": \"x\", \"partitions\": 1025}",
		  400, "INVALID_FIELD", "partitions");
	api_error(s, "POST", "/api/v1/topics", "{\"topic_name\": \"x\", \"retention_policy\": "
		  "\"forever\"}", 400, "INVALID_FIELD", "retention_policy");
	api_error(s, "POST", "/api/v1/topics", "{\"topic_name\": \"x\", \"compression_type\": "
		  "\"GZ\"}", 400, "INVALID_FIELD", "compression_type");
	api_error(s, "POST", "/api/v1/topics", "{\"topic_name\": \"x\", \"enabled\": 1}", 400,
		  "INVALID_FIELD", "enabled");
	api_error(s, "POST", "/api/v1/topics", "{\"topic_name\": \"x\", \"colour\": 1}", 400,
		  "INVALID_FIELD", "colour");
	api_error(s, "POST", "/api/v1/topics", "{\"topic_name\": ", 400, "BAD_JSON", NULL);
	api_error(s, "POST", "/api/v1/topics", "[\"x\"]", 400, "BAD_JSON", NULL);
	assert_int_equal(api_ctype(s, "POST", "/api/v1/topics", "text/plain", "x", 1, NULL), 415);
	memset(big, ' ', sizeof(big) - 1);
	big[0] = '{';
	big[sizeof(big) - 2] = '}';
	big[sizeof(big) - 1] = '\0';
	api_error(s, "POST", "/api/v1/topics", big, 413, "BODY_TOO_LARGE", NULL);
	api_error(s, "GET", "/api/v1/topics/nope", NULL, 404, "NOT_FOUND", NULL);
	api_error(s, "GET", "/api/v1/topics/execution/fills", NULL, 404, "NOT_FOUND", NULL);
	api_error(s, "GET", "/api/v1/topics/%ZZ", NULL, 400, "BAD_PARAMETER", NULL);
	api_error(s, "GET", "/api/v1/topics?limit=0", NULL, 400, "BAD_PARAMETER", "limit");
	api_error(s, "GET", "/api/v1/topics?limit=abc", NULL, 400, "BAD_PARAMETER", "limit");
	api_error(s, "POST", "/api/v1/topics/b-topic", "{}", 405, "METHOD_NOT_ALLOWED", NULL);
	api_error(s, "DELETE", "/api/v1/topics", NULL, 405, "METHOD_NOT_ALLOWED", NULL);
	api_error(s, "GET", "/api/v1/nothing", NULL, 404, "NOT_FOUND", NULL);
}

static void topics_update_delete(struct server *s)
{
	json_t *j;

	j = api_expect(s, "PATCH", "/api/v1/topics/b-topic", "{\"enabled\": false, "
		       "\"retention_policy\": \"infinite\", \"data_type\": \"market_data\"}", 200);
	assert_true(json_is_false(json_object_get(j, "enabled")));
	assert_string_equal(str(j, "retention_policy"), "infinite");
	json_decref(j);
	j = api_expect(s, "PUT", "/api/v1/topics/b-topic", "{\"topic_name\": \"b-topic\", "
		       "\"enabled\": true, \"data_type\": null}", 200);
	assert_true(json_is_true(json_object_get(j, "enabled")));
	assert_true(json_is_null(json_object_get(j, "data_type")));
	json_decref(j);
	api_error(s, "PATCH", "/api/v1/topics/b-topic", "{\"partitions\": 2}", 409, "CONFLICT",
		  "partitions");
	api_error(s, "PATCH", "/api/v1/topics/b-topic", "{\"topic_name\": \"c\"}", 400,
		  "INVALID_FIELD", "topic_name");
	api_error(s, "PATCH", "/api/v1/topics/b-topic", "{\"latency_requirement_ms\": -1}", 400,
		  "INVALID_FIELD", "latency_requirement_ms");
	api_error(s, "PATCH", "/api/v1/topics/nope", "{}", 404, "NOT_FOUND", NULL);
	j = api_expect(s, "DELETE", "/api/v1/topics/b-topic", NULL, 200);
	assert_string_equal(str(j, "deleted"), "b-topic");
	json_decref(j);
	api_error(s, "DELETE", "/api/v1/topics/b-topic", NULL, 404, "NOT_FOUND", NULL);
	api_error(s, "GET", "/api/v1/topics/b-topic", NULL, 404, "NOT_FOUND", NULL);
}

/* A subscription on topic makes a delete 409 IN_USE; ?force=true ends it with an Error. */
static void topics_delete_in_use(struct server *s)
{
	struct client c;
	Fanout__V1__ServerMessage *m;

	json_decref(api_expect(s, "POST", "/api/v1/topics", "{\"topic_name\": \"busy\"}", 201));
	server_connect(s, &c);
	assert_int_equal(client_subscribe(&c, 7, "busy", NULL, 0, EARLIEST, 0, &m), 0);
	client_free_msg(m);
	api_error(s, "DELETE", "/api/v1/topics/busy", NULL, 409, "IN_USE", NULL);
	api_error(s, "DELETE", "/api/v1/topics/busy?force=maybe", NULL, 400, "BAD_PARAMETER",
		  "force");
	json_decref(api_expect(s, "DELETE", "/api/v1/topics/busy?force=true", NULL, 200));
	m = expect_error(&c, FANOUT__V1__ERROR_CODE__ERROR_CODE_SUBSCRIPTION_ENDED);
	assert_int_equal(m->error->subscription_id, 7);
	assert_false(m->error->closing);
	client_free_msg(m);
	ping_pong(&c, 1);	/* the connection goes on */
	client_close(&c);
}

static void topics_endpoints(void **state)
{
	struct server s;

	(void)state;
	start(&s, NULL);
	topics_create_list_get(&s);
	topics_errors(&s);
	topics_update_delete(&s);
	topics_delete_in_use(&s);
	stop(&s);
}

static void rules_endpoints(void **state)
{
	struct server s;
	json_t *j;

	(void)state;
	start(&s, NULL);
	j = api_expect(&s, "POST", "/api/v1/rules", "{\"name\": \"nasdaq\", \"source_topic\": "
		       "\"md\", \"source_pattern\": \"*.NASDAQ.>\", \"target_topic\": \"nasdaq\","
		       " \"routing_key_template\": \"{symbol}.x\", \"priority\": 3,"
		       " \"conditions\": {\"min_price\": 100}}", 201);
	assert_string_equal(str(j, "origin"), "api");
	assert_int_equal(json_integer_value(json_object_get(j, "priority")), 3);
	assert_true(json_is_true(json_object_get(j, "enabled")));
	json_decref(j);
	api_error(&s, "POST", "/api/v1/rules", "{\"name\": \"nasdaq\", \"target_topic\": \"t\"}",
		  409, "ALREADY_EXISTS", "name");
	api_error(&s, "POST", "/api/v1/rules", "{\"name\": \"p\", \"target_topic\": \"t\","
		  " \"source_pattern\": \"a.>.b\"}", 400, "INVALID_FIELD", "source_pattern");
	api_error(&s, "POST", "/api/v1/rules", "{\"name\": \"p\", \"target_topic\": \"t\","
		  " \"conditions\": {\"min_price\": \"high\"}}", 400, "INVALID_FIELD",
		  "conditions.min_price");
	api_error(&s, "POST", "/api/v1/rules", "{\"name\": \"p\", \"target_topic\": \"t\","
		  " \"routing_key_template\": \"{sym}\"}", 400, "INVALID_FIELD",
		  "routing_key_template");
	api_error(&s, "POST", "/api/v1/rules", "{\"name\": \"p\"}", 400, "INVALID_FIELD",
		  "target_topic");
	api_error(&s, "POST", "/api/v1/rules", "{\"name\": \"p\", \"target_topic\": \"t\","
		  " \"colour\": 1}", 400, "INVALID_FIELD", "colour");
	api_error(&s, "POST", "/api/v1/rules", "{", 400, "BAD_JSON", NULL);
	j = api_expect(&s, "GET", "/api/v1/rules", NULL, 200);
	assert_int_equal(json_array_size(json_object_get(j, "rules")), 1);
	assert_int_equal(json_integer_value(json_object_get(j, "in_force")), 1);
	json_decref(j);
	json_decref(api_expect(&s, "GET", "/api/v1/rules/nasdaq", NULL, 200));
	api_error(&s, "GET", "/api/v1/rules/none", NULL, 404, "NOT_FOUND", NULL);
	j = api_expect(&s, "PATCH", "/api/v1/rules/nasdaq", "{\"priority\": 9, "
		       "\"conditions\": null}", 200);
	assert_int_equal(json_integer_value(json_object_get(j, "priority")), 9);
	assert_null(json_object_get(j, "conditions"));
	json_decref(j);
	j = api_expect(&s, "PUT", "/api/v1/rules/nasdaq", "{\"target_topic\": \"other\"}", 200);
	assert_string_equal(str(j, "target_topic"), "other");
	assert_int_equal(json_integer_value(json_object_get(j, "priority")), 0);
	json_decref(j);
	api_error(&s, "PUT", "/api/v1/rules/nasdaq", "{\"name\": \"x\", \"target_topic\": "
		  "\"t\"}", 400, "INVALID_FIELD", "name");
	api_error(&s, "PUT", "/api/v1/rules/none", "{\"target_topic\": \"t\"}", 404, "NOT_FOUND",
		  NULL);
	j = api_expect(&s, "POST", "/api/v1/rules/nasdaq/disable", NULL, 200);
	assert_true(json_is_false(json_object_get(j, "enabled")));
	json_decref(j);
	j = api_expect(&s, "GET", "/api/v1/rules", NULL, 200);
	assert_int_equal(json_integer_value(json_object_get(j, "in_force_enabled")), 0);
	json_decref(j);
	j = api_expect(&s, "POST", "/api/v1/rules/nasdaq/enable", NULL, 200);
	assert_true(json_is_true(json_object_get(j, "enabled")));
	json_decref(j);
	api_error(&s, "POST", "/api/v1/rules/none/enable", NULL, 404, "NOT_FOUND", NULL);
	api_error(&s, "GET", "/api/v1/rules/nasdaq/enable", NULL, 405, "METHOD_NOT_ALLOWED", NULL);
	json_decref(api_expect(&s, "DELETE", "/api/v1/rules/nasdaq", NULL, 200));
	api_error(&s, "DELETE", "/api/v1/rules/nasdaq", NULL, 404, "NOT_FOUND", NULL);
	stop(&s);
}

/* Waits (bounded) until the store's record of id has status. */
static void wait_sub_status(struct server *s, const char *id, const char *status)
{
	char path[200];

	snprintf(path, sizeof(path), "/api/v1/subscriptions?status=%s", status);
	for (int i = 0; i < 100; i++) {
		json_t *j = api_expect(s, "GET", path, NULL, 200), *v;
		size_t k;
		bool found = false;

		json_array_foreach(json_object_get(j, "subscriptions"), k, v)
			found = found || strcmp(str(v, "id"), id) == 0;
		json_decref(j);
		if (found)
			return;
		admin_sleep_ms(50);
	}
	fail_msg("subscription %s never recorded as %s", id, status);
}

/* More subscriptions than a listing's first room (64 a reactor): all listed, and paged. */
static void many_subscriptions_listed_and_paged(struct server *s, struct client *c)
{
	Fanout__V1__ServerMessage *m;
	char path[200];
	json_t *j;
	size_t total = 0;

	for (uint32_t i = 0; i < 150; i++) {
		assert_int_equal(client_subscribe(c, 100 + i, "many", NULL, 0, EARLIEST, 0, &m), 0);
		client_free_msg(m);
	}
	j = api_expect(s, "GET", "/api/v1/topics/many/subscriptions?limit=1000", NULL, 200);
	assert_int_equal(json_array_size(json_object_get(j, "subscriptions")), 150);
	assert_true(json_is_null(json_object_get(j, "next")));
	json_decref(j);
	snprintf(path, sizeof(path), "/api/v1/subscriptions?topic=many&limit=100");
	for (int pages = 0; pages < 3; pages++) {
		const char *next;

		j = api_expect(s, "GET", path, NULL, 200);
		total += json_array_size(json_object_get(j, "subscriptions"));
		next = json_string_value(json_object_get(j, "next"));
		if (next)
			snprintf(path, sizeof(path), "/api/v1/subscriptions?topic=many&limit=100"
				 "&after=%s", next);
		json_decref(j);
		if (!next)
			break;
	}
	assert_int_equal(total, 150);
}

static void subscriptions_endpoints(void **state)
{
	struct server s;
	struct client c;
	Fanout__V1__ServerMessage *m;
	const char *pats[] = { "AAPL.>", "q\"\\.x" };	/* a quote and a backslash: stored as JSON */
	char id[64], path[200];
	json_t *j, *sub;

	(void)state;
	start(&s, NULL);
	server_connect(&s, &c);
	assert_int_equal(client_hello(&c, "api-test", 5000, &m), 0);
	client_free_msg(m);
	assert_int_equal(client_subscribe(&c, 3, "subs-t", pats, 2, EARLIEST, 0, &m), 0);
	client_free_msg(m);
	/* Listed at once, with its stats. */
	j = api_expect(&s, "GET", "/api/v1/topics/subs-t/subscriptions", NULL, 200);
	assert_int_equal(json_array_size(json_object_get(j, "subscriptions")), 1);
	sub = json_array_get(json_object_get(j, "subscriptions"), 0);
	assert_string_equal(str(sub, "patterns"), "AAPL.> q\"\\.x");
	assert_string_equal(str(sub, "consumerName"), "api-test");
	assert_int_equal(json_integer_value(json_object_get(sub, "subscriptionId")), 3);
	assert_non_null(json_object_get(sub, "msgBacklog"));
	snprintf(id, sizeof(id), "%s", str(sub, "id"));
	json_decref(j);
	j = api_expect(&s, "GET", "/api/v1/subscriptions?topic=subs-t&limit=10", NULL, 200);
	assert_int_equal(json_array_size(json_object_get(j, "subscriptions")), 1);
	json_decref(j);
	snprintf(path, sizeof(path), "/api/v1/subscriptions/%s", id);
	j = api_expect(&s, "GET", path, NULL, 200);
	assert_string_equal(str(j, "status"), "active");
	json_decref(j);
	wait_sub_status(&s, id, "active");	/* the store's record follows within a second */
	api_error(&s, "GET", "/api/v1/subscriptions/nope", NULL, 404, "NOT_FOUND", NULL);
	api_error(&s, "DELETE", "/api/v1/subscriptions/nope", NULL, 404, "NOT_FOUND", NULL);
	api_error(&s, "GET", "/api/v1/subscriptions?status=weird", NULL, 400, "BAD_PARAMETER",
		  "status");
	api_error(&s, "GET", "/api/v1/subscriptions?after=zz", NULL, 400, "BAD_PARAMETER",
		  "after");
	api_error(&s, "GET", "/api/v1/topics/none/subscriptions", NULL, 404, "NOT_FOUND", NULL);
	api_error(&s, "PUT", path, "{}", 405, "METHOD_NOT_ALLOWED", NULL);
	/* Ended over REST: the client hears why, the record says stopped. */
	j = api_expect(&s, "DELETE", path, NULL, 200);
	assert_true(json_is_true(json_object_get(j, "ended")));
	json_decref(j);
	m = expect_error(&c, FANOUT__V1__ERROR_CODE__ERROR_CODE_SUBSCRIPTION_ENDED);
	assert_int_equal(m->error->subscription_id, 3);
	client_free_msg(m);
	j = api_expect(&s, "GET", path, NULL, 200);
	assert_string_equal(str(j, "status"), "stopped");
	assert_string_equal(str(j, "subscription_type"), "Exclusive");
	assert_string_equal(str(j, "start_position"), "Earliest");
	assert_string_equal(json_string_value(json_object_get(json_object_get(j, "filters"),
							      "patterns")), "AAPL.> q\"\\.x");
	json_decref(j);
	wait_sub_status(&s, id, "any");
	/* Not live any more: a second DELETE removes the record. */
	j = api_expect(&s, "DELETE", path, NULL, 200);
	assert_true(json_is_true(json_object_get(j, "record_deleted")));
	json_decref(j);
	api_error(&s, "GET", path, NULL, 404, "NOT_FOUND", NULL);
	many_subscriptions_listed_and_paged(&s, &c);
	client_close(&c);
	stop(&s);
}

static void health_metrics_and_stats(void **state)
{
	struct server s;
	json_t *j;
	char *text;
	int st;

	(void)state;
	start(&s, NULL);
	j = api_expect(&s, "GET", "/healthz", NULL, 200);
	assert_string_equal(str(j, "status"), "ok");
	json_decref(j);
	j = api_expect(&s, "GET", "/readyz", NULL, 200);
	assert_true(json_is_true(json_object_get(j, "ready")));
	json_decref(j);
	st = api(&s, "GET", "/metrics", NULL, &j);	/* text, not JSON */
	assert_int_equal(st, 200);
	assert_null(j);
	j = api_expect(&s, "GET", "/api/v1/stats", NULL, 200);
	assert_true(json_is_array(json_object_get(j, "reactors")));
	text = json_dumps(j, 0);
	free(text);
	json_decref(j);
	api_error(&s, "POST", "/metrics", "{}", 405, "METHOD_NOT_ALLOWED", NULL);
	api_error(&s, "DELETE", "/healthz", NULL, 405, "METHOD_NOT_ALLOWED", NULL);
	stop(&s);
}

/* The store unreachable (PostgreSQL on a port nobody listens on): the server runs, the
 * calls that need the store answer 503, readiness says why. */
static void store_unavailable_is_503(void **state)
{
	struct server s;
	json_t *j;

	(void)state;
	server_setup(&s, g_mode.argc, g_mode.argv);
	server_start(&s, (const char *const[]){ "--pg-url", "postgresql://postgres@127.0.0.1:1/x",
						NULL });
	j = api_expect(&s, "GET", "/readyz", NULL, 503);
	assert_true(json_is_false(json_object_get(json_object_get(j, "checks"), "store")));
	json_decref(j);
	json_decref(api_expect(&s, "GET", "/healthz", NULL, 200));
	api_error(&s, "GET", "/api/v1/topics", NULL, 503, "STORE_UNAVAILABLE", NULL);
	api_error(&s, "POST", "/api/v1/topics", "{\"topic_name\": \"t\"}", 503,
		  "STORE_UNAVAILABLE", NULL);
	api_error(&s, "GET", "/api/v1/rules", NULL, 503, "STORE_UNAVAILABLE", NULL);
	api_error(&s, "POST", "/api/v1/rules", "{\"name\": \"a\", \"target_topic\": \"t\"}", 503,
		  "STORE_UNAVAILABLE", NULL);
	api_error(&s, "GET", "/api/v1/subscriptions?status=any", NULL, 503, "STORE_UNAVAILABLE",
		  NULL);
	json_decref(api_expect(&s, "GET", "/api/v1/subscriptions", NULL, 200));	/* live: no store */
	stop(&s);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(topics_endpoints),
		cmocka_unit_test(rules_endpoints),
		cmocka_unit_test(subscriptions_endpoints),
		cmocka_unit_test(health_metrics_and_stats),
		cmocka_unit_test(store_unavailable_is_503),
	};

	return admin_test_main(&g_mode, argc, argv, tests, sizeof(tests) / sizeof(tests[0]));
}
