/* tests/integration/admin_pgdown_test.c — PostgreSQL stopped under a running fanoutd
 * (the real server tools/test runs, stopped and started with $FANOUT_TEST_PG_CTL):
 * publishing and delivery go on with exact counts, the management API answers 503 and
 * readiness says why, statistics rows wait in the bounded queue, and once PostgreSQL is
 * back the server reconnects by itself and every row arrives (their counters summing to
 * exactly what was published and delivered, outage included). Exits 77 without
 * $FANOUT_TEST_PG_URL or $FANOUT_TEST_PG_CTL. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>

#include "core/clock.h"
#include "tests/integration/admin_util.h"

#define N1 20000u	/* published before the outage */
#define N2 20000u	/* and during it */

static int g_argc;
static char **g_argv;
static char g_url[512], g_db[64];
static bool g_pg_stopped;

static void pg_ctl(const char *verb)
{
	char cmd[600];

	snprintf(cmd, sizeof(cmd), "'%s' %s >/dev/null", getenv("FANOUT_TEST_PG_CTL"), verb);
	if (system(cmd) != 0)
		fail_msg("%s %s failed", getenv("FANOUT_TEST_PG_CTL"), verb);
	g_pg_stopped = strcmp(verb, "stop") == 0;
}

/* Whatever happens, PostgreSQL is left running for the tests after this one. */
static void pg_restart_at_exit(void)
{
	char cmd[600];

	if (!g_pg_stopped)
		return;
	snprintf(cmd, sizeof(cmd), "'%s' start >/dev/null", getenv("FANOUT_TEST_PG_CTL"));
	if (system(cmd) != 0)
		fprintf(stderr, "could not restart PostgreSQL\n");
}

/* Exactly n events of topic on c, then nothing more. */
static void expect_exactly(struct client *c, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++) {
		Fanout__V1__ServerMessage *m = recv_msg(c, 10000);

		if (m->body_case != FANOUT__V1__SERVER_MESSAGE__BODY_EVENT)
			fail_msg("event %u of %u: message case %d", i, n, m->body_case);
		client_free_msg(m);
	}
	ping_pong(c, 99);
}

/* Waits (bounded: a loaded machine delays the admin thread, which runs at nice 5) until
 * a metric satisfies want(value); fails the test otherwise. */
static void wait_metric(struct server *s, const char *line, bool (*want)(double), const char *what)
{
	for (int i = 0; i < 300; i++) {
		if (want(api_metric(s, line)))
			return;
		admin_sleep_ms(100);
	}
	fail_msg("%s never became %s", line, what);
}

static bool at_least_two(double v)
{
	return v >= 2;
}

static bool zero(double v)
{
	return v == 0;
}

static void store_outage(void **state)
{
	struct server s;
	struct client sub, pub;
	Fanout__V1__ServerMessage *m;
	char sql[400];
	int64_t down_at, up_at;
	int ready = 0;

	(void)state;
	server_setup(&s, g_argc, g_argv);
	server_start(&s, (const char *const[]){ "--pg-url", g_url, "--stats-interval", "1",
						"--reactors", "2", NULL });
	server_connect(&s, &sub);
	assert_int_equal(client_subscribe(&sub, 1, "flow", NULL, 0,
					  FANOUT__V1__START_POSITION__START_POSITION_LATEST, 0, &m), 0);
	client_free_msg(m);
	server_connect(&s, &pub);
	publish_range(&pub, "flow", 0, N1, 100, NULL);
	admin_sleep_ms(1200);	/* the store has heard of the topic and a row or so */

	down_at = clock_realtime_ns();
	pg_ctl("stop");
	publish_range(&pub, "flow", N1, N2, 100, NULL);	/* every ack comes */
	expect_exactly(&sub, N1 + N2);
	api_error(&s, "GET", "/api/v1/topics", NULL, 503, "STORE_UNAVAILABLE", NULL);
	api_error(&s, "POST", "/api/v1/topics", "{\"topic_name\": \"late\"}", 503,
		  "STORE_UNAVAILABLE", NULL);
	api_error(&s, "POST", "/api/v1/rules", "{\"name\": \"r\", \"target_topic\": \"x\"}", 503,
		  "STORE_UNAVAILABLE", NULL);
	json_decref(api_expect(&s, "GET", "/readyz", NULL, 503));
	json_decref(api_expect(&s, "GET", "/api/v1/topics/flow/stats", NULL, 200));	/* memory */
	wait_metric(&s, "fanout_stats_rows_queued", at_least_two, ">= 2");	/* rows pile up */
	assert_true(api_metric(&s, "fanout_store_up{backend=\"postgresql\"}") == 0);

	pg_ctl("start");
	up_at = clock_realtime_ns();
	for (int i = 0; i < 300 && !ready; i++) {	/* reconnects by itself, with backoff */
		ready = api(&s, "GET", "/readyz", NULL, NULL) == 200;
		admin_sleep_ms(100);
	}
	assert_true(ready);
	json_decref(api_expect(&s, "POST", "/api/v1/topics", "{\"topic_name\": \"late\"}", 201));
	wait_metric(&s, "fanout_stats_rows_queued", zero, "0");	/* all written */
	client_close(&sub);
	client_close(&pub);
	assert_int_equal(WEXITSTATUS(server_stop(&s, SIGTERM)), 0);	/* the last row */
	server_teardown(&s);

	assert_int_equal(pgtest_scalar(g_url, "SELECT SUM(messages_received) FROM "
				       "distribution_stats WHERE topic_name = 'flow'"), N1 + N2);
	assert_int_equal(pgtest_scalar(g_url, "SELECT SUM(messages_distributed) FROM "
				       "distribution_stats WHERE topic_name = 'flow'"), N1 + N2);
	snprintf(sql, sizeof(sql), "SELECT COUNT(*) FROM distribution_stats WHERE topic_name = "
		 "'flow' AND timestamp > to_timestamp(%.3f) AND timestamp < to_timestamp(%.3f)",
		 (double)down_at / 1e9, (double)up_at / 1e9);
	assert_true(pgtest_scalar(g_url, sql) >= 2);	/* sampled during the outage */
	assert_int_equal(pgtest_scalar(g_url, "SELECT COUNT(*) FROM topics WHERE topic_name "
				       "IN ('flow', 'late')"), 2);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = { cmocka_unit_test(store_outage) };
	int rc;

	g_argc = argc;
	g_argv = argv;
	if (!getenv("FANOUT_TEST_PG_CTL"))
		admin_skip("FANOUT_TEST_PG_CTL is not set (tools/test sets it)");
	if (!pgtest_create(g_url, sizeof(g_url), g_db, sizeof(g_db)))
		admin_skip("FANOUT_TEST_PG_URL is not set (tools/test sets it)");
	atexit(pg_restart_at_exit);
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	pg_restart_at_exit();
	g_pg_stopped = false;
	if (!getenv("FANOUT_TEST_KEEP_DB"))	/* kept for a post-mortem when asked */
		pgtest_drop(g_db);
	else
		fprintf(stderr, "kept database %s\n", g_db);
	return rc;
}
