/* tests/integration/durability_test.c — --fsync through a real server. Each sync is made
 * slow on purpose (FANOUT_TEST_SYNC_DELAY_MS, core/executor.h) so the test can tell
 * when acks come: with --fsync batch a PublishAck arrives only after the sync that
 * covers its events (the sync counter has moved when the ack is read, and the ack took
 * at least the delay), also when two reactors append a batch's events; a window of
 * batches in flight shares syncs (group commit); a sync the disk refuses (made to fail
 * on purpose: FANOUT_TEST_SYNC_FAIL) gets NOT_DURABLE after the ack, the log is written
 * again and later batches are acked plainly;
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
#include <string.h>

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
	unsetenv("FANOUT_TEST_SYNC_FAIL");
	return 0;
}

static void start_with(const char *fsync, int delay_ms, const char *reactors,
		       const char *topic)
{
	char delay[16];
	const char *const args[] = { "--fsync", fsync, "--reactors", reactors, "--topic", topic,
				     NULL };

	snprintf(delay, sizeof(delay), "%d", delay_ms);
	setenv("FANOUT_TEST_SYNC_DELAY_MS", delay, 1);
	server_start(&g_srv, args);
}

static void start(const char *fsync, int delay_ms)
{
	start_with(fsync, delay_ms, "1", TOPIC);
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

/* Partition 0's stats once a sample shows next and synced offset n (bounded). */
static json_t *part_synced(uint64_t n)
{
	json_t *p = NULL;

	for (int i = 0; i < 50; i++) {
		json_decref(p);
		p = part_stats(n);
		if (part_field(p, "syncedOffset") == n)
			return p;
		admin_sleep_ms(100);
	}
	fail_msg("the stats never showed synced offset %llu", (unsigned long long)n);
	return NULL;
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
	p = part_synced(30);	/* a sample taken before the last sync may show less */
	assert_int_equal(part_field(p, "diskOffset"), 30);
	json_decref(p);
	assert_true(api_metric(&g_srv, "fanout_log_sync_failures_total") == 0);
	client_close(&c);
}

/* Two reactors, four partitions: a batch's events appended by both (handed over to the
 * other reactor) are acked only after the sync that covers all of them. */
static void test_batch_two_reactors(void **state)
{
	struct client c;

	(void)state;
	start_with("batch", DELAY_MS, "2", TOPIC ":4");
	for (int conn = 0; conn < 3; conn++) {	/* connections land on either reactor */
		server_connect(&g_srv, &c);
		for (int round = 0; round < 2; round++) {
			double before = api_metric(&g_srv, "fanout_log_syncs_total");
			int64_t t0 = clock_monotonic_ns(), ms;

			publish_range(&c, TOPIC, 0, 40, 20, NULL);	/* 20 keys: all partitions */
			ms = (clock_monotonic_ns() - t0) / 1000000;
			assert_true(api_metric(&g_srv, "fanout_log_syncs_total") >= before + 2);
			if (ms < DELAY_MS - 20)
				fail_msg("acked after %lld ms, before the %d ms sync", (long long)ms,
					 DELAY_MS);
		}
		client_close(&c);
	}
}

/* The disk refuses a sync (FANOUT_TEST_SYNC_FAIL=1: the first group sync fails with
 * EIO): that batch's ack is followed by NOT_DURABLE; the segment is written again from
 * memory and synced; the next batch is acked plainly; every event is there. */
static void test_batch_sync_failure(void **state)
{
	Fanout__V1__Event ev[10];
	Fanout__V1__Distribution d[10];
	Fanout__V1__MarketData md[10];
	char bufs[10][256];
	Fanout__V1__Event *ptrs[10];
	Fanout__V1__ServerMessage *m;
	struct client c, sub;
	json_t *p;

	(void)state;
	setenv("FANOUT_TEST_SYNC_FAIL", "1", 1);
	/* Slow syncs: the pass after the failed one (the log written again) cannot end
	 * before the reactor sees the failure. */
	start("batch", 200);
	server_connect(&g_srv, &c);
	for (int i = 0; i < 10; i++) {
		make_event(&ev[i], &d[i], &md[i], bufs[i], TOPIC, (uint32_t)i, 10);
		ptrs[i] = &ev[i];
	}
	assert_int_equal(client_publish(&c, 77, ptrs, 10), 0);
	m = recv_msg(&c, 10000);
	assert_int_equal(m->body_case, FANOUT__V1__SERVER_MESSAGE__BODY_PUBLISH_ACK);
	assert_int_equal(m->publish_ack->n_offsets, 10);
	client_free_msg(m);
	m = expect_error(&c, FANOUT__V1__ERROR_CODE__ERROR_CODE_NOT_DURABLE);
	assert_int_equal(m->error->sequence, 77);
	assert_non_null(strstr(m->error->message, "not the machine"));
	client_free_msg(m);
	publish_timed(&c, 10, 10);	/* acked, no Error (publish_range fails on one) */
	assert_true(api_metric(&g_srv, "fanout_log_sync_failures_total") >= 1);
	p = part_synced(20);
	json_decref(p);
	server_connect(&g_srv, &sub);
	{
		Fanout__V1__ServerMessage *r = NULL;

		assert_int_equal(client_subscribe(&sub, 1, TOPIC, NULL, 0,
			FANOUT__V1__START_POSITION__START_POSITION_EARLIEST, 0, &r), 0);
		client_free_msg(r);
	}
	for (uint64_t i = 0; i < 20; i++) {
		m = recv_msg(&sub, 5000);
		assert_int_equal(m->body_case, FANOUT__V1__SERVER_MESSAGE__BODY_EVENT);
		assert_int_equal(m->event->distribution->offset, i);
		client_free_msg(m);
	}
	client_close(&sub);
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
	json_t *p;

	(void)state;
	start("interval:2000", DELAY_MS);
	server_connect(&g_srv, &c);
	ms = publish_timed(&c, 0, 10);
	print_message("interval mode: acked after %lld ms\n", (long long)ms);
	/* Acked before the sync, which comes 2 s after the copy (and takes 300 ms). */
	assert_true(api_metric(&g_srv, "fanout_log_syncs_total") == 0);
	for (int i = 0; i < 60 && api_metric(&g_srv, "fanout_log_syncs_total") < 2; i++)
		admin_sleep_ms(100);
	assert_true(api_metric(&g_srv, "fanout_log_syncs_total") >= 2);
	p = part_synced(10);
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
		cmocka_unit_test_setup_teardown(test_batch_two_reactors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_batch_sync_failure, setup, teardown),
		cmocka_unit_test_setup_teardown(test_interval_syncs_later, setup, teardown),
		cmocka_unit_test_setup_teardown(test_never_syncs_nothing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_fsync_refused, setup, teardown),
	};

	g_argc = argc;
	g_argv = argv;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
