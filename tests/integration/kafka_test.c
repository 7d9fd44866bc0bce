/* tests/integration/kafka_test.c — Kafka ingest (--kafka-brokers, --kafka-source) through
 * a real fanoutd against librdkafka's mock cluster, run inside this test process (three
 * brokers on loopback; fanoutd, a separate process, consumes from them as from any
 * cluster). Events produced over several Kafka partitions arrive in fanout exactly once,
 * in order per key; a fanoutd SIGKILLed mid-consume and started again neither loses nor
 * repeats one; injected broker errors (fetch, offset commit) are survived; batches the
 * server refuses for now (rate limits) are sent again, none lost nor repeated; JSON
 * payloads
 * work and a message that is not an event is skipped without stopping the rest; bad
 * flags are refused. */
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

#include <jansson.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include "admin/event_json.h"
#include "tests/integration/admin_util.h"
#include "tests/integration/harness.h"
#include "tools/http_client.h"
#include "tools/client.h"

#define SYMBOLS 40
/* Kafka protocol API keys (librdkafka keeps its names for them private). */
#define KAFKA_API_FETCH 1
#define KAFKA_API_OFFSET_COMMIT 8

static int g_argc;
static char **g_argv;
static struct server g_srv, g_srv2;	/* g_srv2: a second node */
static rd_kafka_t *g_rk;	/* the producer, and the mock cluster's owner */
static rd_kafka_mock_cluster_t *g_mc;
static char g_brokers[256];

static int setup(void **state)
{
	char err[256];
	rd_kafka_conf_t *c = rd_kafka_conf_new();

	(void)state;
	assert_int_equal(rd_kafka_conf_set(c, "test.mock.num.brokers", "3", err, sizeof(err)),
			 RD_KAFKA_CONF_OK);
	assert_int_equal(rd_kafka_conf_set(c, "linger.ms", "1", err, sizeof(err)),
			 RD_KAFKA_CONF_OK);
	g_rk = rd_kafka_new(RD_KAFKA_PRODUCER, c, err, sizeof(err));
	assert_non_null(g_rk);
	g_mc = rd_kafka_handle_mock_cluster(g_rk);
	assert_non_null(g_mc);
	snprintf(g_brokers, sizeof(g_brokers), "%s", rd_kafka_mock_cluster_bootstraps(g_mc));
	assert_int_equal(rd_kafka_mock_topic_create(g_mc, "ticks", 3, 1), 0);
	server_setup(&g_srv, g_argc, g_argv);
	server_setup(&g_srv2, g_argc, g_argv);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	server_teardown(&g_srv);
	server_teardown(&g_srv2);
	rd_kafka_destroy(g_rk);
	return 0;
}

/* Produces events [first, first + n) to Kafka topic ticks, keyed by their routing key
 * (so each key stays in one Kafka partition), as Event protobuf or as JSON. */
static void produce(uint32_t first, uint32_t n, bool json)
{
	for (uint32_t i = first; i < first + n; i++) {
		Fanout__V1__Event e;
		Fanout__V1__Distribution d;
		Fanout__V1__MarketData md;
		char buf[256], *text = NULL;
		uint8_t pb[1024];
		const void *v;
		size_t len;

		make_event(&e, &d, &md, buf, "ignored/here", i, SYMBOLS);
		if (json) {
			json_t *j = event_to_json(&e);

			text = json_dumps(j, JSON_COMPACT);
			json_decref(j);
			assert_non_null(text);
			v = text;
			len = strlen(text);
		} else {
			len = fanout__v1__event__pack(&e, pb);
			v = pb;
		}
		assert_int_equal(rd_kafka_producev(g_rk, RD_KAFKA_V_TOPIC("ticks"),
				 RD_KAFKA_V_KEY(d.routing_key, strlen(d.routing_key)),
				 RD_KAFKA_V_VALUE((void *)v, len),
				 RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END), 0);
		free(text);
		rd_kafka_poll(g_rk, 0);
	}
	assert_int_equal(rd_kafka_flush(g_rk, 10000), 0);
}

static void produce_raw(const char *key, const char *value)
{
	assert_int_equal(rd_kafka_producev(g_rk, RD_KAFKA_V_TOPIC("ticks"),
			 RD_KAFKA_V_KEY(key, strlen(key)),
			 RD_KAFKA_V_VALUE((void *)value, strlen(value)),
			 RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END), 0);
	assert_int_equal(rd_kafka_flush(g_rk, 10000), 0);
}

static void start_with(const char *source, const char *flag, const char *value)
{
	const char *args[] = { "--kafka-brokers", g_brokers, "--kafka-source", source,
			       "--kafka-option", "session.timeout.ms=6000",
			       "--kafka-option", "heartbeat.interval.ms=500",
			       "--topic", "market/ticks:2", flag, value, NULL };

	server_start(&g_srv, args);
}

static void start_on(struct server *srv, const char *source)
{
	/* A member killed holds its partitions until its session times out: short here. */
	const char *args[] = { "--kafka-brokers", g_brokers, "--kafka-source", source,
			       "--kafka-option", "session.timeout.ms=6000",
			       "--kafka-option", "heartbeat.interval.ms=500",
			       "--topic", "market/ticks:2", NULL };

	server_start(srv, args);
}

static void start(const char *source)
{
	start_on(&g_srv, source);
}

struct tally {
	uint32_t n;		/* events expected: ev-0 .. ev-(n-1) */
	uint8_t *seen;		/* times each arrived */
	int64_t last[SYMBOLS];	/* per key: the last sequence seen */
	uint32_t distinct, repeats, out_of_order;
};

static void tally_init(struct tally *t, uint32_t n)
{
	memset(t, 0, sizeof(*t));
	t->n = n;
	t->seen = calloc(n, 1);
	assert_non_null(t->seen);
	for (int i = 0; i < SYMBOLS; i++)
		t->last[i] = -1;
}

/* Reads c's events into t until `until` distinct ones have arrived or timeout_ms passes
 * with nothing new. */
static void tally_until(struct tally *t, struct client *c, int timeout_ms, uint32_t until)
{
	while (t->distinct < until) {
		Fanout__V1__ServerMessage *m = NULL;
		unsigned long seq;
		int rc = client_recv(c, &m, timeout_ms);

		if (rc == -ETIMEDOUT)
			return;
		assert_int_equal(rc, 0);
		if (m->body_case != FANOUT__V1__SERVER_MESSAGE__BODY_EVENT) {
			client_free_msg(m);
			continue;
		}
		assert_string_equal(m->event->distribution->topic, "market/ticks");
		assert_int_equal(sscanf(m->event->event_id, "ev-%lu", &seq), 1);
		assert_true(seq < t->n);
		if (t->seen[seq]++)
			t->repeats++;
		else
			t->distinct++;
		if ((int64_t)seq <= t->last[seq % SYMBOLS])
			t->out_of_order++;
		else
			t->last[seq % SYMBOLS] = (int64_t)seq;
		client_free_msg(m);
	}
}

static void tally_read(struct tally *t, struct client *c, int timeout_ms)
{
	tally_until(t, c, timeout_ms, t->n);
}

static void subscribe_all(struct server *srv, struct client *c)
{
	Fanout__V1__ServerMessage *r = NULL;

	server_connect(srv, c);
	assert_int_equal(client_subscribe(c, 1, "market/ticks", NULL, 0,
					  FANOUT__V1__START_POSITION__START_POSITION_EARLIEST, 0,
					  &r), 0);
	client_free_msg(r);
}

/* Subscribes from the earliest event and expects ev-0 .. ev-(n-1) each once, in order
 * per key, within timeout_ms of quiet, and nothing after them. */
static void expect_all_once_on(struct server *srv, uint32_t n, int timeout_ms)
{
	struct client sub;
	struct tally t;

	subscribe_all(srv, &sub);
	tally_init(&t, n);
	tally_read(&t, &sub, timeout_ms);
	assert_int_equal(t.distinct, n);
	assert_int_equal(t.repeats, 0);
	assert_int_equal(t.out_of_order, 0);
	ping_pong(&sub, n);	/* nothing more */
	client_close(&sub);
	free(t.seen);
}

static void expect_all_once(uint32_t n, int timeout_ms)
{
	expect_all_once_on(&g_srv, n, timeout_ms);
}

/* The source's lag from GET /api/v1/kafka (its one source): the sum over the partitions
 * whose lag is known, and its stored count and partitions served; *unknown (if not
 * NULL) counts the partitions whose lag is not known yet. */
static int64_t kafka_lag_on(struct server *srv, uint64_t *stored, size_t *nparts,
			    size_t *unknown)
{
	json_t *body = api_expect(srv, "GET", "/api/v1/kafka", NULL, 200);
	json_t *src = json_array_get(json_object_get(body, "sources"), 0), *part;
	int64_t lag = 0;
	size_t i, u = 0;

	assert_non_null(src);
	assert_string_equal(json_string_value(json_object_get(src, "kafkaTopic")), "ticks");
	assert_string_equal(json_string_value(json_object_get(src, "topic")), "market/ticks");
	*stored = (uint64_t)json_integer_value(json_object_get(src, "stored"));
	*nparts = json_array_size(json_object_get(src, "partitions"));
	json_array_foreach(json_object_get(src, "partitions"), i, part) {
		json_int_t l = json_integer_value(json_object_get(part, "lag"));

		if (l < 0)
			u++;
		else
			lag += l;
	}
	json_decref(body);
	if (unknown)
		*unknown = u;
	return lag;
}

static int64_t kafka_lag(uint64_t *stored, size_t *nparts, size_t *unknown)
{
	return kafka_lag_on(&g_srv, stored, nparts, unknown);
}

/* Polls (bounded) until the source has stored n with no lag on its 3 partitions, then
 * checks /metrics says the same. */
static void expect_caught_up(uint64_t n)
{
	struct http_response r;
	uint64_t stored = 0;
	size_t nparts = 0, unknown = 0;
	int64_t lag = -1;
	char line[160];

	for (int i = 0; i < 100; i++) {
		lag = kafka_lag(&stored, &nparts, &unknown);
		if (lag == 0 && unknown == 0 && stored == n && nparts == 3)
			break;
		usleep(100 * 1000);
	}
	assert_int_equal(nparts, 3);
	assert_int_equal(stored, n);
	assert_int_equal(unknown, 0);
	assert_int_equal(lag, 0);
	assert_int_equal(api_tok_raw(&g_srv, NULL, "GET", "/metrics", NULL, &r), 200);
	snprintf(line, sizeof(line), "fanout_kafka_events_stored_total{kafka_topic=\"ticks\","
		 "group=\"%s\",topic=\"market/ticks\"} %llu\n", "g1", (unsigned long long)n);
	assert_non_null(strstr(r.body, line));
	for (int p = 0; p < 3; p++) {
		snprintf(line, sizeof(line), "fanout_kafka_consumer_lag_messages{kafka_topic="
			 "\"ticks\",group=\"g1\",partition=\"%d\"} 0\n", p);
		assert_non_null(strstr(r.body, line));
	}
	assert_non_null(strstr(r.body, "fanout_kafka_partitions_assigned{kafka_topic=\"ticks\","
			       "group=\"g1\",topic=\"market/ticks\"} 3\n"));
	assert_non_null(strstr(r.body, "fanout_kafka_brokers_down{kafka_topic=\"ticks\","
			       "group=\"g1\",topic=\"market/ticks\"} 0\n"));
	metrics_promtool_check(r.body);
	http_response_free(&r);
}

static void every_event_once_in_key_order(void **state)
{
	enum { N = 3000 };

	(void)state;
	produce(0, N / 2, false);
	start("ticks=market/ticks,group=g1");
	produce(N / 2, N / 2, false);	/* while it consumes */
	expect_all_once(N, 15000);
	expect_caught_up(N);	/* the lag the admin plane shows */
}

/* Killed while consuming (offsets committed behind what is stored), started again:
 * the events sent again are answered from the producers' records, not stored twice. */
static void a_killed_server_neither_loses_nor_repeats(void **state)
{
	enum { N = 60000 };
	struct client sub;
	struct tally t;

	(void)state;
	produce(0, N, false);
	start("ticks=market/ticks,group=g2");
	subscribe_all(&g_srv, &sub);
	tally_init(&t, N);
	tally_until(&t, &sub, 10000, 500);
	assert_true(t.distinct >= 500);
	assert_true(t.distinct < N);	/* still consuming: the kill lands mid-stream */
	client_close(&sub);
	server_stop(&g_srv, SIGKILL);
	start("ticks=market/ticks,group=g2");
	free(t.seen);
	expect_all_once(N, 30000);	/* from the beginning: everything stored, once each */
}

/* Fetches and offset commits that fail for a while are retried by the consumer. */
static void broker_errors_are_survived(void **state)
{
	enum { N = 2000 };

	(void)state;
	produce(0, N, false);
	rd_kafka_mock_push_request_errors(g_mc, KAFKA_API_FETCH, 4,
					  RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION,
					  RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT,
					  RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION,
					  RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT);
	rd_kafka_mock_push_request_errors(g_mc, KAFKA_API_OFFSET_COMMIT, 2,
					  RD_KAFKA_RESP_ERR_REBALANCE_IN_PROGRESS,
					  RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT);
	start("ticks=market/ticks,group=g3");
	expect_all_once(N, 20000);
}

/* The server refuses batches for now (each source connection held to 200 events a
 * second: RATE_LIMITED with retry_after_ms): the partitions pause, are sought back and
 * consumed again; everything arrives once, in order per key. The batches in flight
 * behind a refused one are refused too (OUT_OF_ORDER) until it is sent again, else one
 * could pass (the bucket refilled) and be stored before it. */
static void refusals_for_now_pause_and_resume(void **state)
{
	enum { N = 3000 };
	uint64_t stored = 0;
	size_t nparts = 0;
	int64_t lag = -1;

	(void)state;
	produce(0, N, false);
	start_with("ticks=market/ticks,group=g5", "--max-conn-events-per-s", "200");
	/* The group joins in about 3 s; then a second's worth per partition at once (600)
	 * and the rest at 600 a second, about 4 s: the lag is seen meanwhile. */
	for (int i = 0; i < 300 && lag <= 0; i++) {
		usleep(50 * 1000);
		lag = kafka_lag(&stored, &nparts, NULL);
	}
	assert_true(lag > 0 && lag <= N);
	assert_true(stored < N);
	expect_all_once(N, 20000);
}

/* JSON payloads (fanout-pub --file's shape); a message that is no event is skipped and
 * the rest go on. */
static void json_events_and_a_bad_message(void **state)
{
	enum { N = 500 };

	(void)state;
	produce(0, N / 2, true);
	produce_raw("S00001.NYSE.trade", "{not json");
	produce_raw("S00002.ARCA.trade", "{\"event_id\": 7}");
	produce(N / 2, N / 2, true);
	start("ticks=market/ticks,group=g4,format=json");
	expect_all_once(N, 15000);
}

/* Two nodes in different consumer groups: each stores the whole stream, each key in
 * order, nothing twice. */
static void two_groups_each_get_everything(void **state)
{
	enum { N = 2000 };

	(void)state;
	produce(0, N, false);
	start_on(&g_srv, "ticks=market/ticks,group=g6a");
	start_on(&g_srv2, "ticks=market/ticks,group=g6b");
	expect_all_once_on(&g_srv, N, 20000);
	expect_all_once_on(&g_srv2, N, 20000);
}

/* The Kafka partitions a node serves (GET /api/v1/kafka). */
static size_t node_parts(struct server *srv)
{
	uint64_t stored;
	size_t nparts;

	(void)kafka_lag_on(srv, &stored, &nparts, NULL);
	return nparts;
}

/* Reads a node's topic from the earliest event into t until until events or quiet_ms of
 * nothing; fails on a repeat or a key out of order. */
static void node_tally(struct server *srv, struct tally *t, uint32_t until, int quiet_ms)
{
	struct client sub;

	subscribe_all(srv, &sub);
	tally_until(t, &sub, quiet_ms, until);
	client_close(&sub);
	assert_int_equal(t->repeats, 0);
	assert_int_equal(t->out_of_order, 0);
}

/* Two nodes in one consumer group split the Kafka partitions: between them every event
 * once, each node's keys in order. One is SIGKILLed: after its session times out the
 * other takes its partitions over and stores everything produced since. */
static void one_group_splits_and_takes_over(void **state)
{
	enum { N = 1500, M = 1500 };
	struct tally a, b;
	size_t pa = 0, pb = 0;
	uint32_t b_before;

	(void)state;
	start_on(&g_srv, "ticks=market/ticks,group=g7");
	start_on(&g_srv2, "ticks=market/ticks,group=g7");
	for (int i = 0; i < 300; i++) {	/* both joined and assigned: bounded at 30 s */
		pa = node_parts(&g_srv);
		pb = node_parts(&g_srv2);
		if (pa >= 1 && pb >= 1 && pa + pb == 3)
			break;
		usleep(100 * 1000);
	}
	assert_true(pa >= 1 && pb >= 1);
	assert_int_equal(pa + pb, 3);
	produce(0, N, false);
	tally_init(&a, N + M);
	tally_init(&b, N + M);
	node_tally(&g_srv, &a, N, 3000);
	node_tally(&g_srv2, &b, N, 3000);
	assert_true(a.distinct > 0 && b.distinct > 0);
	assert_int_equal(a.distinct + b.distinct, N);	/* each event at one node only */
	for (uint32_t i = 0; i < N; i++)
		assert_int_equal(a.seen[i] + b.seen[i], 1);
	b_before = b.distinct;

	server_stop(&g_srv, SIGKILL);
	produce(N, M, false);
	free(b.seen);
	tally_init(&b, N + M);
	node_tally(&g_srv2, &b, b_before + M, 20000);	/* the take-over: ~6 s */
	for (uint32_t i = N; i < N + M; i++)
		assert_int_equal(b.seen[i], 1);
	for (int i = 0; i < 100 && (pb = node_parts(&g_srv2)) != 3; i++)
		usleep(100 * 1000);	/* the group may rebalance once more meanwhile */
	assert_int_equal(pb, 3);
	free(a.seen);
	free(b.seen);
}

static void bad_flags_are_refused(void **state)
{
	char data[400];

	(void)state;
	snprintf(data, sizeof(data), "%s/flags", g_srv.dir);
	{
		const char *args[] = { g_srv.binary, "--kafka-source", "ticks=t", "--data-dir",
				       data, NULL };

		assert_int_equal(server_run_to_exit(args), 2);	/* no brokers */
	}
	{
		const char *args[] = { g_srv.binary, "--kafka-brokers", g_brokers, "--data-dir",
				       data, NULL };

		assert_int_equal(server_run_to_exit(args), 2);	/* no source */
	}
	{
		const char *args[] = { g_srv.binary, "--kafka-brokers", g_brokers,
				       "--kafka-source", "ticks", "--data-dir", data, NULL };

		assert_int_equal(server_run_to_exit(args), 2);	/* no topic */
	}
	{
		const char *args[] = { g_srv.binary, "--kafka-brokers", g_brokers,
				       "--kafka-source", "ticks=t,format=xml", "--data-dir", data,
				       NULL };

		assert_int_equal(server_run_to_exit(args), 2);
	}
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(every_event_once_in_key_order, setup, teardown),
		cmocka_unit_test_setup_teardown(two_groups_each_get_everything, setup, teardown),
		cmocka_unit_test_setup_teardown(one_group_splits_and_takes_over, setup,
						teardown),
		cmocka_unit_test_setup_teardown(a_killed_server_neither_loses_nor_repeats, setup,
						teardown),
		cmocka_unit_test_setup_teardown(broker_errors_are_survived, setup, teardown),
		cmocka_unit_test_setup_teardown(refusals_for_now_pause_and_resume, setup,
						teardown),
		cmocka_unit_test_setup_teardown(json_events_and_a_bad_message, setup, teardown),
		cmocka_unit_test_setup_teardown(bad_flags_are_refused, setup, teardown),
	};

	g_argc = argc;
	g_argv = argv;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
