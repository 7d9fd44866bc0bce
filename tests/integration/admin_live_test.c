/* tests/integration/admin_live_test.c — management calls take effect on the running
 * server at once: a topic created over REST is published to and subscribed at once and
 * survives a restart (with PostgreSQL, even one with an empty data directory: the store
 * is the source of truth); a rule added over REST re-routes the very next batch; a
 * disabled topic refuses publishes; a deleted topic's name is usable again. Against
 * SQLite, or with argument "pg" against PostgreSQL ($FANOUT_TEST_PG_URL; 77 without). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include "tests/integration/admin_util.h"

static struct admin_mode g_mode;

#define EARLIEST FANOUT__V1__START_POSITION__START_POSITION_EARLIEST
#define LATEST   FANOUT__V1__START_POSITION__START_POSITION_LATEST

static void start(struct server *s, bool setup)
{
	if (setup)
		server_setup(s, g_mode.argc, g_mode.argv);
	server_start(s, g_mode.pg ? (const char *const[]){ "--pg-url", g_mode.pg_url, "--reactors", "2", NULL }
			     : (const char *const[]){ "--reactors", "2", NULL });
}

/* Receives exactly n events for topic on c (each once, offsets increasing per partition). */
static void expect_events(struct client *c, const char *topic, uint32_t n)
{
	uint64_t next[8] = { 0 };
	bool seen[8] = { false };

	for (uint32_t i = 0; i < n; i++) {
		Fanout__V1__ServerMessage *m = recv_msg(c, 10000);
		const Fanout__V1__Distribution *d;

		if (m->body_case != FANOUT__V1__SERVER_MESSAGE__BODY_EVENT)
			fail_msg("event %u of %u: got message case %d", i, n, m->body_case);
		d = m->event->distribution;
		assert_string_equal(d->topic, topic);
		assert_true(d->partition < 8);
		if (seen[d->partition])
			assert_true(d->offset >= next[d->partition]);
		seen[d->partition] = true;
		next[d->partition] = d->offset + 1;
		client_free_msg(m);
	}
}

static void subscribe(struct server *s, struct client *c, const char *topic, int start_pos)
{
	Fanout__V1__ServerMessage *m;

	server_connect(s, c);
	assert_int_equal(client_subscribe(c, 1, topic, NULL, 0, start_pos, 0, &m), 0);
	client_free_msg(m);
}

static void rest_topic_is_live_and_survives_a_restart(void **state)
{
	struct server s;
	struct client sub, pub;
	json_t *j;
	char cmd[600];

	(void)state;
	start(&s, true);
	json_decref(api_expect(&s, "POST", "/api/v1/topics", "{\"topic_name\": \"orders/fills\","
			       " \"partitions\": 4, \"data_type\": \"execution\"}", 201));
	subscribe(&s, &sub, "orders/fills", LATEST);	/* at once: no wait, no reload */
	server_connect(&s, &pub);
	publish_range(&pub, "orders/fills", 0, 2000, 50, NULL);
	expect_events(&sub, "orders/fills", 2000);
	ping_pong(&sub, 1);	/* exactly 2000 */
	client_close(&sub);
	client_close(&pub);
	assert_int_equal(WEXITSTATUS(server_stop(&s, SIGTERM)), 0);
	if (g_mode.pg) {	/* the store makes the topic, whatever the data directory holds */
		snprintf(cmd, sizeof(cmd), "rm -rf '%s/data'", s.dir);
		assert_int_equal(system(cmd), 0);
	}
	start(&s, false);
	j = api_expect(&s, "GET", "/api/v1/topics/orders%2Ffills", NULL, 200);
	assert_int_equal(json_integer_value(json_object_get(j, "partitions")), 4);
	assert_string_equal(json_string_value(json_object_get(j, "data_type")), "execution");
	json_decref(j);
	if (!g_mode.pg) {	/* the events survived too */
		subscribe(&s, &sub, "orders/fills", EARLIEST);
		expect_events(&sub, "orders/fills", 2000);
		ping_pong(&sub, 2);
		client_close(&sub);
	}
	assert_int_equal(WEXITSTATUS(server_stop(&s, SIGTERM)), 0);
	server_teardown(&s);
}

/* Publishes one batch of n events to topic and returns the ack. */
static Fanout__V1__ServerMessage *publish_batch(struct client *c, const char *topic,
						uint32_t first, uint32_t n, uint64_t seq)
{
	Fanout__V1__Event ev[16], *ptrs[16];
	Fanout__V1__Distribution d[16];
	Fanout__V1__MarketData md[16];
	char bufs[16][256];

	for (uint32_t i = 0; i < n; i++) {
		make_event(&ev[i], &d[i], &md[i], bufs[i], topic, first + i, 4);
		ptrs[i] = &ev[i];
	}
	assert_int_equal(client_publish(c, seq, ptrs, n), 0);
	return recv_msg(c, 10000);
}

static void rest_rule_reroutes_the_next_batch(void **state)
{
	struct server s;
	struct client src, dst, pub;
	Fanout__V1__ServerMessage *m;

	(void)state;
	start(&s, true);
	subscribe(&s, &src, "src", LATEST);
	subscribe(&s, &dst, "dst", LATEST);
	server_connect(&s, &pub);
	m = publish_batch(&pub, "src", 0, 10, 1);
	assert_int_equal(m->body_case, FANOUT__V1__SERVER_MESSAGE__BODY_PUBLISH_ACK);
	client_free_msg(m);
	expect_events(&src, "src", 10);
	json_decref(api_expect(&s, "POST", "/api/v1/rules", "{\"name\": \"move\", "
			       "\"source_topic\": \"src\", \"target_topic\": \"dst\", "
			       "\"routing_key_template\": \"{symbol}.moved\"}", 201));
	/* The answer came after the swap: the very next batch is routed by the rule. */
	m = publish_batch(&pub, "src", 10, 10, 2);
	assert_int_equal(m->body_case, FANOUT__V1__SERVER_MESSAGE__BODY_PUBLISH_ACK);
	client_free_msg(m);
	expect_events(&dst, "dst", 10);
	ping_pong(&src, 1);	/* nothing more for src */
	json_decref(api_expect(&s, "POST", "/api/v1/rules/move/disable", NULL, 200));
	m = publish_batch(&pub, "src", 20, 5, 3);
	client_free_msg(m);
	expect_events(&src, "src", 5);
	ping_pong(&dst, 2);
	client_close(&src);
	client_close(&dst);
	client_close(&pub);
	assert_int_equal(WEXITSTATUS(server_stop(&s, SIGTERM)), 0);
	server_teardown(&s);
}

static void disabled_topic_refuses_publishes(void **state)
{
	struct server s;
	struct client pub;
	Fanout__V1__ServerMessage *m;

	(void)state;
	start(&s, true);
	json_decref(api_expect(&s, "POST", "/api/v1/topics", "{\"topic_name\": \"paused\", "
			       "\"enabled\": false}", 201));
	server_connect(&s, &pub);
	m = publish_batch(&pub, "paused", 0, 3, 1);
	assert_int_equal(m->body_case, FANOUT__V1__SERVER_MESSAGE__BODY_ERROR);
	assert_int_equal(m->error->code, FANOUT__V1__ERROR_CODE__ERROR_CODE_UNKNOWN_TOPIC);
	assert_non_null(strstr(m->error->message, "disabled"));
	client_free_msg(m);
	json_decref(api_expect(&s, "PATCH", "/api/v1/topics/paused", "{\"enabled\": true}", 200));
	m = publish_batch(&pub, "paused", 0, 3, 2);
	assert_int_equal(m->body_case, FANOUT__V1__SERVER_MESSAGE__BODY_PUBLISH_ACK);
	client_free_msg(m);
	client_close(&pub);
	assert_int_equal(WEXITSTATUS(server_stop(&s, SIGTERM)), 0);
	server_teardown(&s);
}

/* A deleted topic with subscribers and a publisher: the subscribers hear why, and the
 * name can be used again (a new, empty topic) once the old one is reclaimed. */
static void deleted_topic_starts_afresh(void **state)
{
	struct server s;
	struct client sub, pub;
	Fanout__V1__ServerMessage *m;
	uint64_t seq = 1;
	int tries = 0;

	(void)state;
	start(&s, true);
	subscribe(&s, &sub, "gone", LATEST);
	server_connect(&s, &pub);
	publish_range(&pub, "gone", 0, 500, 10, NULL);
	expect_events(&sub, "gone", 500);
	json_decref(api_expect(&s, "DELETE", "/api/v1/topics/gone?force=true", NULL, 200));
	m = expect_error(&sub, FANOUT__V1__ERROR_CODE__ERROR_CODE_SUBSCRIPTION_ENDED);
	assert_non_null(strstr(m->error->message, "deleted"));
	client_free_msg(m);
	for (;; tries++) {	/* "being deleted" until every reactor let go */
		m = publish_batch(&pub, "gone", 0, 1, seq++);
		if (m->body_case == FANOUT__V1__SERVER_MESSAGE__BODY_PUBLISH_ACK)
			break;
		assert_int_equal(m->error->code, FANOUT__V1__ERROR_CODE__ERROR_CODE_UNKNOWN_TOPIC);
		assert_true(tries < 100);
		client_free_msg(m);
		admin_sleep_ms(20);
	}
	assert_int_equal(m->publish_ack->offsets[0], 0);	/* a new log */
	client_free_msg(m);
	client_close(&sub);
	client_close(&pub);
	assert_int_equal(WEXITSTATUS(server_stop(&s, SIGTERM)), 0);
	server_teardown(&s);
}

/* A topic deleted while a connection still has a send of its frames in flight — from a
 * subscription the client ended itself just before — is freed only after that send:
 * the client reads every event it was sent, intact and in order, then its
 * UnsubscribeResult. (The drop once waited only for connections still subscribed: the
 * topic's memory was unmapped under the blocked send, which the kernel then retried.) */
static void drop_waits_for_sends_of_ended_subscriptions(void **state)
{
	Fanout__V1__ClientMessage cm = FANOUT__V1__CLIENT_MESSAGE__INIT;
	Fanout__V1__Unsubscribe un = FANOUT__V1__UNSUBSCRIBE__INIT;
	struct server s;
	struct client sub, pub;
	uint64_t next[8] = { 0 };
	uint32_t events = 0;
	int small = 64 << 10;
	json_t *r;

	(void)state;
	start(&s, true);
	subscribe(&s, &sub, "held", LATEST);
	/* A small receive buffer, never read for now: the server's sends block. */
	assert_int_equal(setsockopt(sub.fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small)), 0);
	server_connect(&s, &pub);
	publish_range(&pub, "held", 0, 60000, 100, NULL);	/* ~9 MB for the subscriber */
	admin_sleep_ms(300);
	un.subscription_id = 1;
	cm.body_case = FANOUT__V1__CLIENT_MESSAGE__BODY_UNSUBSCRIBE;
	cm.unsubscribe = &un;
	assert_int_equal(client_send(&sub, &cm), 0);
	admin_sleep_ms(300);
	r = api_expect(&s, "DELETE", "/api/v1/topics/held", NULL, 200);	/* nobody subscribed */
	json_decref(r);
	admin_sleep_ms(1500);	/* the drop's grace periods; new mappings may take its place */
	publish_range(&pub, "other", 0, 20000, 100, NULL);
	for (;;) {
		Fanout__V1__ServerMessage *m = recv_msg(&sub, 10000);	/* fails on a cut */
		const Fanout__V1__Distribution *d;

		if (m->body_case == FANOUT__V1__SERVER_MESSAGE__BODY_UNSUBSCRIBED) {
			client_free_msg(m);
			break;
		}
		if (m->body_case != FANOUT__V1__SERVER_MESSAGE__BODY_EVENT)
			fail_msg("after %u events: message case %d", events, m->body_case);
		d = m->event->distribution;
		assert_string_equal(d->topic, "held");
		assert_true(d->partition < 8);
		assert_true(d->offset >= next[d->partition]);
		next[d->partition] = d->offset + 1;
		events++;
		client_free_msg(m);
	}
	printf("# %u events of the deleted topic read after its deletion, then the "
	       "UnsubscribeResult\n", events);
	assert_true(events > 0);
	client_close(&sub);
	client_close(&pub);
	assert_int_equal(WEXITSTATUS(server_stop(&s, SIGTERM)), 0);
	server_teardown(&s);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(rest_topic_is_live_and_survives_a_restart),
		cmocka_unit_test(rest_rule_reroutes_the_next_batch),
		cmocka_unit_test(disabled_topic_refuses_publishes),
		cmocka_unit_test(deleted_topic_starts_afresh),
		cmocka_unit_test(drop_waits_for_sends_of_ended_subscriptions),
	};

	return admin_test_main(&g_mode, argc, argv, tests, sizeof(tests) / sizeof(tests[0]));
}
