/* tests/integration/durability_test.c — --fsync through a real server. Each sync is made
 * slow on purpose (FANOUT_TEST_SYNC_DELAY_MS, core/executor.h) so the test can tell
 * when acks come: with --fsync batch a PublishAck arrives only after the sync that
 * covers its events (the sync counter has moved when the ack is read, and the ack took
 * at least the delay); a window of batches in flight shares syncs (group commit);
 * interval mode acks at once and syncs within its interval; never syncs nothing. The
 * partition's stats show how far the disk files and the syncs reach. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>

#include "core/clock.h"
#include "tests/integration/admin_util.h"

#define TOPIC "durable"
#define DELAY_MS 300

static int g_argc;
static char **g_argv;
static struct server g_srv;

static int setup(void **state)
{
	(void)state;
	server_setup(&g_srv, g_argc, g_argv);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	server_teardown(&g_srv);
	unsetenv("FANOUT_TEST_SYNC_DELAY_MS");
	return 0;
}

static void start(const char *fsync, int delay_ms)
{
	char delay[16];
	const char *const args[] = { "--fsync", fsync, "--reactors", "1", "--topic", TOPIC,
				     NULL };

	snprintf(delay, sizeof(delay), "%d", delay_ms);
	setenv("FANOUT_TEST_SYNC_DELAY_MS", delay, 1);
	server_start(&g_srv, args);
}

/* Partition 0's stats once a sample shows next offset n (bounded). */
static json_t *part_stats(uint64_t n)
{
	for (int i = 0; i < 50; i++) {
		json_t *j = api_expect(&g_srv, "GET", "/api/v1/topics/" TOPIC "/stats", NULL, 200);
		json_t *p = json_object_get(json_object_get(j, "partitions"), "0");

		if (p && (uint64_t)json_integer_value(json_object_get(p, "nextOffset")) == n) {
			json_incref(p);
			json_decref(j);
			return p;
		}
		json_decref(j);
		admin_sleep_ms(100);
	}
	fail_msg("the stats never showed next offset %llu", (unsigned long long)n);
	return NULL;
}

static uint64_t part_field(json_t *p, const char *name)
{
	json_t *v = json_object_get(p, name);

	assert_non_null(v);
	return (uint64_t)json_integer_value(v);
}

/* One batch of n events; returns the ms until its ack and checks its offsets. */
static int64_t publish_timed(struct client *c, uint32_t first, uint32_t n)
{
	int64_t t0 = clock_monotonic_ns();
	uint64_t offsets[100];

	assert_true(n <= 100);
	publish_range(c, TOPIC, first, n, 10, offsets);
	for (uint32_t i = 0; i < n; i++)
		assert_int_equal(offsets[i], first + i);
	return (clock_monotonic_ns() - t0) / 1000000;
}

/* --fsync batch: the ack waits for the sync. */
static void test_batch_acks_after_sync(void **state)
{
	struct client c;
	int64_t ms;
	json_t *p;

	(void)state;
	start("batch", DELAY_MS);
	server_connect(&g_srv, &c);
	assert_true(api_metric(&g_srv, "fanout_log_fsync_mode{mode=\"batch\"}") == 1);
	for (uint32_t round = 0; round < 3; round++) {
		double before = api_metric(&g_srv, "fanout_log_syncs_total");

		ms = publish_timed(&c, round * 10, 10);
		/* The sync that covers the batch is counted before the ack is sent. */
		assert_true(api_metric(&g_srv, "fanout_log_syncs_total") >= before + 2);
		if (ms < DELAY_MS - 20)
			fail_msg("round %u: acked after %lld ms, before the %d ms sync", round,
				 (long long)ms, DELAY_MS);
	}
	p = part_stats(30);
	assert_int_equal(part_field(p, "syncedOffset"), 30);
	assert_int_equal(part_field(p, "diskOffset"), 30);
	json_decref(p);
	assert_true(api_metric(&g_srv, "fanout_log_sync_failures_total") == 0);
	client_close(&c);
}

/* A window of 20 batches in flight shares syncs: fewer than one per batch. */
static void test_batch_group_commit(void **state)
{
	struct client c;
	int64_t t0;
	double syncs;

	(void)state;
	start("batch", 100);
	server_connect(&g_srv, &c);
	t0 = clock_monotonic_ns();
	publish_range(&c, TOPIC, 0, 2000, 10, NULL);	/* 20 batches of 100, all in flight */
	syncs = api_metric(&g_srv, "fanout_log_syncs_total");
	print_message("20 batches: %.0f fdatasyncs in %lld ms\n", syncs,
		      (long long)((clock_monotonic_ns() - t0) / 1000000));
	assert_true(syncs >= 2);
	assert_true(syncs <= 20);	/* one sync per batch would be 40 (two files each) */
	client_close(&c);
}

/* --fsync interval: acks at once, synced within the interval. */
static void test_interval_syncs_later(void **state)
{
	struct client c;
	int64_t ms;
	json_t *p = NULL;

	(void)state;
	start("interval:200", DELAY_MS);
	server_connect(&g_srv, &c);
	ms = publish_timed(&c, 0, 10);
	if (ms >= DELAY_MS - 20)
		fail_msg("interval mode waited %lld ms for the ack", (long long)ms);
	assert_true(api_metric(&g_srv, "fanout_log_syncs_total") == 0);	/* not yet */
	for (int i = 0; i < 50 && api_metric(&g_srv, "fanout_log_syncs_total") < 2; i++)
		admin_sleep_ms(100);
	assert_true(api_metric(&g_srv, "fanout_log_syncs_total") >= 2);
	for (int i = 0; i < 30; i++) {	/* the next sample after the sync */
		json_decref(p);
		p = part_stats(10);
		if (part_field(p, "syncedOffset") == 10)
			break;
		admin_sleep_ms(200);
	}
	assert_int_equal(part_field(p, "syncedOffset"), 10);
	json_decref(p);
	client_close(&c);
}

/* --fsync never: nothing is synced, though it is copied to the disk files. */
static void test_never_syncs_nothing(void **state)
{
	struct client c;
	json_t *p = NULL;

	(void)state;
	start("never", DELAY_MS);
	server_connect(&g_srv, &c);
	publish_timed(&c, 0, 10);
	for (int i = 0; i < 30; i++) {
		json_decref(p);
		p = part_stats(10);
		if (part_field(p, "diskOffset") == 10)
			break;
		admin_sleep_ms(200);
	}
	assert_int_equal(part_field(p, "diskOffset"), 10);
	assert_int_equal(part_field(p, "syncedOffset"), 0);
	assert_true(api_metric(&g_srv, "fanout_log_syncs_total") == 0);
	assert_true(api_metric(&g_srv, "fanout_log_fsync_mode{mode=\"never\"}") == 1);
	json_decref(p);
	client_close(&c);
}

/* A bad --fsync is refused at start, naming the flag. */
static void test_bad_fsync_refused(void **state)
{
	const char *const bad[] = { "interval:0", "interval:", "sometimes", "interval:60001",
				    "batch:5" };

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		const char *const args[] = { g_srv.binary, "--fsync", bad[i], NULL };

		assert_int_equal(server_run_to_exit(args), 2);
	}
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_batch_acks_after_sync, setup, teardown),
		cmocka_unit_test_setup_teardown(test_batch_group_commit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_interval_syncs_later, setup, teardown),
		cmocka_unit_test_setup_teardown(test_never_syncs_nothing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_fsync_refused, setup, teardown),
	};

	g_argc = argc;
	g_argv = argv;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
