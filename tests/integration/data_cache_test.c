/* tests/integration/data_cache_test.c — the Redis cache against a real redis-server this
 * test starts on a port of its own (it kills and restarts it): the seeds' keys appear
 * with their TTLs and the REST answers' values; redis-server killed mid-stream costs the
 * stream nothing (every event delivered, in order), the cache says it is down and counts
 * what it drops, and writes again once Redis is back. argv[1] is fanoutd. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <hiredis/hiredis.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "tests/integration/admin_util.h"

static int g_argc;
static char **g_argv;
static int g_port;
static pid_t g_redis = -1;
static char g_dir[] = "/tmp/fanout-cache-test-XXXXXX";

/* Starts redis-server on g_port (in g_dir, no persistence) and waits for its PING. */
static void redis_start(void)
{
	char port[16];

	snprintf(port, sizeof(port), "%d", g_port);
	g_redis = fork();
	assert_true(g_redis >= 0);
	if (g_redis == 0) {
		execlp("redis-server", "redis-server", "--port", port, "--bind", "127.0.0.1",
		       "--save", "", "--appendonly", "no", "--dir", g_dir, "--logfile",
		       "redis.log", (char *)NULL);
		_exit(127);
	}
	for (int i = 0; i < 100; i++) {
		redisContext *c = redisConnect("127.0.0.1", g_port);
		redisReply *r = c && !c->err ? redisCommand(c, "PING") : NULL;
		bool up = r && r->type == REDIS_REPLY_STATUS;

		if (r)
			freeReplyObject(r);
		if (c)
			redisFree(c);
		if (up)
			return;
		admin_sleep_ms(50);
	}
	fail_msg("redis-server did not answer on port %d", g_port);
}

static void redis_kill(void)
{
	if (g_redis > 0) {
		kill(g_redis, SIGKILL);
		waitpid(g_redis, NULL, 0);
	}
	g_redis = -1;
}

/* GET key, with its TTL; NULL when absent. */
static json_t *redis_json(const char *key, long long *ttl)
{
	redisContext *c = redisConnect("127.0.0.1", g_port);
	redisReply *r;
	json_t *j = NULL;

	assert_true(c && !c->err);
	r = redisCommand(c, "GET %s", key);
	if (r && r->type == REDIS_REPLY_STRING)
		j = json_loadb(r->str, r->len, 0, NULL);
	if (r)
		freeReplyObject(r);
	r = redisCommand(c, "TTL %s", key);
	*ttl = r && r->type == REDIS_REPLY_INTEGER ? r->integer : -3;
	if (r)
		freeReplyObject(r);
	redisFree(c);
	return j;
}

/* Waits (at most 10 s) for key; fails without it. */
static json_t *redis_wait(const char *key, long long *ttl)
{
	for (int i = 0; i < 200; i++) {
		json_t *j = redis_json(key, ttl);

		if (j)
			return j;
		admin_sleep_ms(50);
	}
	fail_msg("redis never got %s", key);
	return NULL;
}

/* Waits (at most 10 s) until key's value (its member field, NULL: the whole value)
 * equals want; fails otherwise. */
static json_t *redis_until(struct server *s, const char *key, const json_t *want,
			   const char *field, long long *ttl)
{
	(void)s;
	for (int i = 0; i < 200; i++) {
		json_t *j = redis_json(key, ttl);

		if (j && json_equal(field ? json_object_get(j, field) : j, want))
			return j;
		json_decref(j);
		admin_sleep_ms(50);
	}
	fail_msg("redis's %s never became the REST answer", key);
	return NULL;
}

/* Starts redis-server, then fanoutd caching into it (userinfo: "" or "[USER]:PW@"). */
static void start_cached(struct server *s, const char *userinfo)
{
	char url[128];

	redis_start();
	snprintf(url, sizeof(url), "redis://%s127.0.0.1:%d", userinfo, g_port);
	server_setup(s, g_argc, g_argv);
	server_start(s, (const char *const[]){ "--redis-url", url, NULL });
}

/* Connects sub and subscribes it to "md" from the latest offset. */
static void subscribe_md(struct server *s, struct client *sub)
{
	Fanout__V1__ServerMessage *m = NULL;

	server_connect(s, sub);
	assert_int_equal(client_subscribe(sub, 1, "md", NULL, 0,
					  FANOUT__V1__START_POSITION__START_POSITION_LATEST, 0, &m),
			 0);
	client_free_msg(m);
}

static void publish_exec(struct client *c, uint64_t seq, const char *id, const char *fill,
			 double qty)
{
	Fanout__V1__Event e = FANOUT__V1__EVENT__INIT, *p = &e;
	Fanout__V1__Distribution d = FANOUT__V1__DISTRIBUTION__INIT;
	Fanout__V1__ExecutionData x = FANOUT__V1__EXECUTION_DATA__INIT;
	Fanout__V1__ServerMessage *m;

	e.event_id = (char *)id;
	e.timestamp_ns = 1764925200000000000ll + (int64_t)seq;
	e.data_type = FANOUT__V1__DATA_TYPE__DATA_TYPE_EXECUTION;
	d.topic = (char *)"execution/fills";
	d.routing_key = (char *)"AAPL.fill";
	e.distribution = &d;
	x.order_id = (char *)"O1";
	x.fill_id = (char *)fill;
	x.instrument_id = (char *)"AAPL";
	x.quantity = qty;
	x.price = 100;
	x.venue = (char *)"NYSE";
	e.payload_case = FANOUT__V1__EVENT__PAYLOAD_EXECUTION;
	e.execution = &x;
	assert_int_equal(client_publish(c, seq, &p, 1), 0);
	m = recv_msg(c, 10000);
	assert_int_equal(m->body_case, FANOUT__V1__SERVER_MESSAGE__BODY_PUBLISH_ACK);
	client_free_msg(m);
}

static void keys_ttls_and_values(void **state)
{
	struct server s;
	struct client pub, sub;
	long long ttl;
	json_t *j, *rest;

	(void)state;
	start_cached(&s, "");
	json_decref(api_expect(&s, "POST", "/api/v1/rules", "{\"name\": \"to-us\", "
			       "\"source_pattern\": \"S00001.>\", \"target_topic\": \"md-us\", "
			       "\"priority\": 1}", 201));
	subscribe_md(&s, &sub);
	server_connect(&s, &pub);
	publish_range(&pub, "md", 0, 100, 5, NULL);	/* S00000..S00004; S00001 re-routed */
	publish_exec(&pub, 1001, "x1", "F1", 10);
	publish_exec(&pub, 1002, "x2", "F2", 5);

	/* Each value becomes the REST answer's once a sample has seen every event (a
	 * sample between two publishes writes an older one first). */
	rest = api_expect(&s, "GET", "/api/v1/market-data/S00002/latest", NULL, 200);
	j = redis_until(&s, "latest:S00002", json_object_get(rest, "data"), "data", &ttl);
	assert_true(ttl > 50 && ttl <= 60);
	json_decref(rest);
	json_decref(j);
	rest = api_expect(&s, "GET", "/api/v1/execution/O1/status", NULL, 200);
	j = redis_until(&s, "exec_status:O1", rest, NULL, &ttl);
	assert_true(ttl > 3590 && ttl <= 3600);
	assert_true(json_number_value(json_object_get(j, "filled_quantity")) == 15);
	json_decref(rest);
	json_decref(j);
	for (int i = 0; i < 200; i++) {	/* both fills, once the sample saw both */
		j = redis_wait("fills:O1", &ttl);
		if (json_array_size(j) == 2)
			break;
		json_decref(j);
		j = NULL;
		admin_sleep_ms(50);
	}
	assert_non_null(j);
	assert_true(ttl > 86390 && ttl <= 86400);
	assert_int_equal(json_array_size(j), 2);
	json_decref(j);
	j = redis_wait("topic_stats:md", &ttl);
	assert_true(ttl > 20 && ttl <= 30);
	assert_true(json_is_object(json_object_get(j, "partitions")));
	json_decref(j);
	j = redis_wait("backpressure:md:0", &ttl);
	assert_true(ttl > 0 && ttl <= 10);
	assert_string_equal(json_string_value(json_object_get(j, "topic")), "md");
	json_decref(j);
	j = redis_wait("routing:S00001.>", &ttl);
	assert_true(ttl > 890 && ttl <= 900);
	assert_string_equal(json_string_value(json_object_get(json_array_get(j, 0), "name")),
			    "to-us");
	json_decref(j);
	rest = api_expect(&s, "GET", "/api/v1/subscriptions", NULL, 200);
	{
		const char *id = json_string_value(json_object_get(
			json_array_get(json_object_get(rest, "subscriptions"), 0), "id"));
		char key[128];

		assert_non_null(id);
		snprintf(key, sizeof(key), "subscription:%s", id);
		j = redis_wait(key, &ttl);
		assert_true(ttl > 290 && ttl <= 300);
		json_decref(j);
	}
	json_decref(rest);
	/* Never a key for what has no events. */
	assert_null(redis_json("latest:NOPE", &ttl));
	assert_true(api_metric(&s, "fanout_cache_up") == 1);
	client_close(&pub);
	client_close(&sub);
	assert_int_equal(WEXITSTATUS(server_stop(&s, SIGTERM)), 0);
	server_teardown(&s);
	redis_kill();
}

#define STREAM 20000u

static void redis_killed_mid_stream(void **state)
{
	struct server s;
	struct client pub, sub;
	long long ttl;
	uint32_t got = 0;
	json_t *j;

	(void)state;
	start_cached(&s, "");
	subscribe_md(&s, &sub);
	server_connect(&s, &pub);
	publish_range(&pub, "md", 0, STREAM / 2, 50, NULL);
	j = redis_wait("latest:S00007", &ttl);
	json_decref(j);
	redis_kill();
	publish_range(&pub, "md", STREAM / 2, STREAM / 2, 50, NULL);
	for (; got < STREAM; got++) {	/* every event, in order, with Redis gone */
		Fanout__V1__ServerMessage *m = recv_msg(&sub, 10000);

		assert_int_equal(m->body_case, FANOUT__V1__SERVER_MESSAGE__BODY_EVENT);
		assert_int_equal(m->event->distribution->offset, got);
		client_free_msg(m);
	}
	for (int i = 0; i < 100 && (api_metric(&s, "fanout_cache_up") != 0 ||
				    api_metric(&s, "fanout_cache_dropped_total") <= 0); i++)
		admin_sleep_ms(100);
	assert_true(api_metric(&s, "fanout_cache_up") == 0);
	assert_true(api_metric(&s, "fanout_cache_dropped_total") > 0);
	assert_true(api_metric(&s, "fanout_cache_outages_total") == 1);
	/* REST goes on. */
	json_decref(api_expect(&s, "GET", "/api/v1/market-data/S00007/latest", NULL, 200));

	/* Back: the symbols that changed meanwhile are written (their latest is the new
	 * one), and new events go on being written. */
	redis_start();
	j = redis_wait("latest:S00007", &ttl);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(j, "data"), "offset")),
			 STREAM - 50 + 7);
	json_decref(j);
	assert_true(api_metric(&s, "fanout_cache_up") == 1);
	client_close(&pub);
	client_close(&sub);
	assert_int_equal(WEXITSTATUS(server_stop(&s, SIGTERM)), 0);
	server_teardown(&s);
	redis_kill();
}

/* A password Redis does not want: its error reply is counted (and logged once), and the
 * cache goes on writing. */
static void error_replies_are_counted(void **state)
{
	struct server s;
	struct client pub;
	long long ttl;
	json_t *j;

	(void)state;
	start_cached(&s, ":not-configured@");
	server_connect(&s, &pub);
	publish_range(&pub, "md", 0, 10, 2, NULL);
	j = redis_wait("latest:S00001", &ttl);
	json_decref(j);
	assert_true(api_metric(&s, "fanout_cache_errors_total") >= 1);
	assert_true(api_metric(&s, "fanout_cache_up") == 1);
	client_close(&pub);
	assert_int_equal(WEXITSTATUS(server_stop(&s, SIGTERM)), 0);
	server_teardown(&s);
	redis_kill();
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(keys_ttls_and_values),
		cmocka_unit_test(redis_killed_mid_stream),
		cmocka_unit_test(error_replies_are_counted),
	};
	int rc;

	g_argc = argc > 1 ? 2 : argc;
	g_argv = argv;
	if (system("command -v redis-server >/dev/null 2>&1") != 0)
		admin_skip("redis-server is not installed (tools/test installs it)");
	if (!mkdtemp(g_dir))
		return 1;
	srand((unsigned)time(NULL) ^ (unsigned)getpid());
	g_port = 20000 + rand() % 12000;	/* below the ephemeral range (32768 up) */
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	redis_kill();
	{
		char cmd[128];

		snprintf(cmd, sizeof(cmd), "rm -rf %s", g_dir);
		(void)system(cmd);
	}
	return rc;
}
