/* tests/integration/priority_test.c — topic priority through a real server: the topics
 * API takes, checks, stores and answers `priority` (kept across a restart, settable with
 * fanoutctl's --priority through the same API); and a connection subscribed to a bulk
 * topic with a backlog and to a priority topic is sent the priority topic's events first,
 * while with equal priorities the bulk backlog it subscribed to first comes first; and the
 * server's delivery latency of priority topics is kept apart (GET /api/v1/latency's
 * priority, fanout_priority_delivery_latency_seconds), a bulk topic's frames never in it. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/integration/admin_util.h"

#define BULK "bulk"
#define PRIO "orders"
#define BULK_EVENTS 4000u	/* over one send's worth (256 KiB) of frames */
#define PRIO_EVENTS 5u

static int g_argc;
static char **g_argv;
static struct server g_srv;
static const char *const g_args[] = { "--reactors", "1", NULL };

static int setup(void **state)
{
	(void)state;
	server_setup(&g_srv, g_argc, g_argv);
	server_start(&g_srv, g_args);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	server_teardown(&g_srv);
	return 0;
}

static long topic_priority_of(const char *topic)
{
	char path[200];
	json_t *t;
	long p;

	snprintf(path, sizeof(path), "/api/v1/topics/%s", topic);
	t = api_expect(&g_srv, "GET", path, NULL, 200);
	assert_true(json_is_integer(json_object_get(t, "priority")));
	p = (long)json_integer_value(json_object_get(t, "priority"));
	json_decref(t);
	return p;
}

/* The field is checked, stored and answered; the default is 0; a restart keeps it. */
static void priority_is_a_checked_stored_topic_field(void **state)
{
	(void)state;
	json_decref(api_expect(&g_srv, "POST", "/api/v1/topics",
			       "{\"topic_name\": \"" PRIO "\", \"priority\": 7}", 201));
	json_decref(api_expect(&g_srv, "POST", "/api/v1/topics",
			       "{\"topic_name\": \"" BULK "\"}", 201));
	assert_int_equal(topic_priority_of(PRIO), 7);
	assert_int_equal(topic_priority_of(BULK), 0);
	api_error(&g_srv, "PUT", "/api/v1/topics/" PRIO, "{\"priority\": 256}", 400,
		  "INVALID_FIELD", "priority");
	api_error(&g_srv, "PUT", "/api/v1/topics/" PRIO, "{\"priority\": -1}", 400,
		  "INVALID_FIELD", "priority");
	api_error(&g_srv, "PUT", "/api/v1/topics/" PRIO, "{\"priority\": \"high\"}", 400,
		  "INVALID_FIELD", "priority");
	assert_int_equal(topic_priority_of(PRIO), 7);	/* the refusals changed nothing */
	json_decref(api_expect(&g_srv, "PUT", "/api/v1/topics/" PRIO, "{\"priority\": 200}",
			       200));
	assert_int_equal(topic_priority_of(PRIO), 200);
	assert_int_equal(server_stop(&g_srv, SIGTERM), 0);
	server_start(&g_srv, g_args);
	assert_int_equal(topic_priority_of(PRIO), 200);
	assert_int_equal(topic_priority_of(BULK), 0);
}

/* Sends Subscribe{all keys, from the earliest} for id 1 = first, 2 = second in ONE
 * write, so that the server reads both before its next flush; reads both answers. */
static void subscribe_both_from(struct client *c, const char *first, const char *second,
				Fanout__V1__StartPosition start)
{
	const char *topics[2] = { first, second };
	uint8_t buf[512];
	size_t n = 0;

	for (uint32_t i = 0; i < 2; i++) {
		Fanout__V1__ClientMessage m = FANOUT__V1__CLIENT_MESSAGE__INIT;
		Fanout__V1__Subscribe s = FANOUT__V1__SUBSCRIBE__INIT;
		size_t len;

		s.subscription_id = i + 1;
		s.topic = (char *)topics[i];
		s.start = start;
		m.body_case = FANOUT__V1__CLIENT_MESSAGE__BODY_SUBSCRIBE;
		m.subscribe = &s;
		len = fanout__v1__client_message__get_packed_size(&m);
		assert_true(len < 128 && n + 1 + len <= sizeof(buf));
		buf[n++] = (uint8_t)len;	/* a one-byte varint */
		n += fanout__v1__client_message__pack(&m, buf + n);
	}
	assert_int_equal(client_send_raw(c, buf, n), 0);
	for (int i = 0; i < 2; i++) {
		Fanout__V1__ServerMessage *m = recv_msg(c, 10000);

		assert_int_equal(m->body_case, FANOUT__V1__SERVER_MESSAGE__BODY_SUBSCRIBED);
		client_free_msg(m);
	}
}

static void subscribe_both(struct client *c, const char *first, const char *second)
{
	subscribe_both_from(c, first, second, FANOUT__V1__START_POSITION__START_POSITION_EARLIEST);
}

/* Reads every event of both subscriptions (from the earliest); returns how many bulk events came before the
 * last priority event. */
static uint32_t bulk_before_last_prio(struct client *c)
{
	uint32_t bulk = 0, prio = 0, bulk_before = 0;

	while (bulk < BULK_EVENTS || prio < PRIO_EVENTS) {
		Fanout__V1__ServerMessage *m = recv_msg(c, 10000);

		assert_int_equal(m->body_case, FANOUT__V1__SERVER_MESSAGE__BODY_EVENT);
		if (strcmp(m->event->distribution->topic, PRIO) == 0) {
			prio++;
			bulk_before = bulk;
		} else {
			assert_string_equal(m->event->distribution->topic, BULK);
			bulk++;
		}
		client_free_msg(m);
	}
	return bulk_before;
}

/* One connection, the bulk topic subscribed first: with the priority topic at 7 its
 * events all come before any of the bulk backlog; with both at 0 (the control: the test
 * sees the order) the bulk backlog's first send comes first. */
static void priority_topic_events_are_gathered_first(void **state)
{
	struct client pub, c;
	uint32_t before;

	(void)state;
	server_connect(&g_srv, &pub);
	publish_range(&pub, BULK, 0, BULK_EVENTS, 50, NULL);
	publish_range(&pub, PRIO, 0, PRIO_EVENTS, 5, NULL);
	client_close(&pub);
	json_decref(api_expect(&g_srv, "PUT", "/api/v1/topics/" PRIO, "{\"priority\": 7}",
			       200));

	server_connect(&g_srv, &c);
	subscribe_both(&c, BULK, PRIO);
	before = bulk_before_last_prio(&c);
	client_close(&c);
	assert_int_equal(before, 0);

	json_decref(api_expect(&g_srv, "PUT", "/api/v1/topics/" PRIO, "{\"priority\": 0}",
			       200));
	server_connect(&g_srv, &c);
	subscribe_both(&c, BULK, PRIO);
	before = bulk_before_last_prio(&c);
	client_close(&c);
	assert_true(before > 0);
}

/* The samples since start in /metrics, each class; GET /api/v1/latency has the priority
 * class too (its counts are a window's: not compared exactly). */
static void latency_counts(long long *all, long long *prio)
{
	json_t *j = api_expect(&g_srv, "GET", "/api/v1/latency", NULL, 200);
	json_t *p = json_object_get(j, "priority");

	assert_true(json_is_object(p));
	assert_true(json_is_integer(json_object_get(p, "count")));
	assert_true(json_is_array(json_object_get(p, "curve")));
	assert_true(json_integer_value(json_object_get(p, "maxNs")) >=
		    json_integer_value(json_object_get(p, "p99Ns")));
	json_decref(j);
	*all = (long long)api_metric(&g_srv, "fanout_delivery_latency_seconds_count");
	*prio = (long long)api_metric(&g_srv, "fanout_priority_delivery_latency_seconds_count");
	assert_true(*all >= 0 && *prio >= 0);
}

/* Reads n events of topic, live ones. */
static void read_events(struct client *c, const char *topic, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++) {
		Fanout__V1__ServerMessage *m = recv_msg(c, 10000);

		assert_int_equal(m->body_case, FANOUT__V1__SERVER_MESSAGE__BODY_EVENT);
		assert_string_equal(m->event->distribution->topic, topic);
		client_free_msg(m);
	}
}

/* Live frames of the priority topic are sampled in the priority class too, one in
 * NET_LATENCY_EVERY of them (64: 640 frames make exactly 10 samples whatever the count
 * stood at), and a bulk topic's frames only in the whole; /metrics has the family. */
static void priority_latency_is_kept_apart(void **state)
{
	const uint32_t n = 640;
	long long all0, prio0, all1, prio1, all2, prio2;
	struct client pub, c;

	(void)state;
	server_connect(&g_srv, &pub);
	publish_range(&pub, PRIO, 0, 1, 1, NULL);	/* both topics there, run alone too */
	publish_range(&pub, BULK, 0, 1, 1, NULL);
	json_decref(api_expect(&g_srv, "PUT", "/api/v1/topics/" PRIO, "{\"priority\": 7}",
			       200));
	server_connect(&g_srv, &c);
	subscribe_both_from(&c, BULK, PRIO, FANOUT__V1__START_POSITION__START_POSITION_LATEST);
	latency_counts(&all0, &prio0);

	publish_range(&pub, PRIO, 100000, n, 5, NULL);
	read_events(&c, PRIO, n);
	latency_counts(&all1, &prio1);
	assert_int_equal(prio1 - prio0, n / 64);
	assert_int_equal(all1 - all0, n / 64);

	publish_range(&pub, BULK, 100000, n, 50, NULL);
	read_events(&c, BULK, n);
	latency_counts(&all2, &prio2);
	assert_int_equal(prio2, prio1);	/* the bulk topic's: never in the priority class */
	assert_int_equal(all2 - all1, n / 64);
	assert_true(prio2 > 0);
	client_close(&pub);
	client_close(&c);
	json_decref(api_expect(&g_srv, "PUT", "/api/v1/topics/" PRIO, "{\"priority\": 0}",
			       200));
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(priority_is_a_checked_stored_topic_field),
		cmocka_unit_test(priority_topic_events_are_gathered_first),
		cmocka_unit_test(priority_latency_is_kept_apart),
	};

	g_argc = argc;
	g_argv = argv;
	return cmocka_run_group_tests(tests, setup, teardown);
}
