/* tests/integration/named_test.c — named (durable) subscriptions through a real server:
 * a consumer that reconnects resumes after its last Ack and is sent again, marked, what
 * it was sent and did not ack (delivery counts exact); the same after the server is
 * SIGKILLed and restarted; EXCLUSIVE refuses a second consumer on any connection until
 * the first leaves; AT_MOST_ONCE never sends twice; bad names, types and options are
 * refused naming the field; and consumers in separate processes, SIGKILLed at random
 * moments, between them get every event at least once, each in offset order, with the
 * server's delivery counts never below what they received. */
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
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "tests/integration/admin_util.h"

#define TOPIC "orders"
#define PARTS 2u
#define MAXEV 8192u	/* offsets per partition a test tracks */

static int g_argc;
static char **g_argv;
static struct server g_srv;
static const char *const g_args[] = { "--topic", TOPIC ":2", "--reactors", "2", "--no-http",
				      NULL };

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

static Fanout__V1__ServerMessage *sub_named(struct client *c, uint32_t id, const char *name,
					    int type, int delivery, int start)
{
	Fanout__V1__Subscribe sb = FANOUT__V1__SUBSCRIBE__INIT;
	Fanout__V1__ServerMessage *m = NULL;
	int rc;

	sb.subscription_id = id;
	sb.topic = TOPIC;
	sb.subscription_name = (char *)name;
	sb.subscription_type = type;
	sb.delivery = delivery;
	sb.start = start;
	rc = client_subscribe_msg(c, &sb, &m);
	if (!m)
		fail_msg("subscribe %s: no answer (%s)", name, strerror(-rc));
	return m;
}

/* A named subscription that must be accepted; returns its SubscribeResult message. */
static Fanout__V1__ServerMessage *sub_ok(struct client *c, uint32_t id, const char *name,
					 int delivery, int start)
{
	Fanout__V1__ServerMessage *m = sub_named(c, id, name, 0, delivery, start);

	if (m->body_case == FANOUT__V1__SERVER_MESSAGE__BODY_ERROR)
		fail_msg("subscribe %s: error %d: %s", name, m->error->code, m->error->message);
	assert_int_equal(m->body_case, FANOUT__V1__SERVER_MESSAGE__BODY_SUBSCRIBED);
	return m;
}

/* sub_ok for a consumer that follows one just gone: until the server has seen the old
 * connection close, the name may still be busy (bounded). */
static Fanout__V1__ServerMessage *sub_resume(struct client *c, uint32_t id, const char *name,
					     int delivery, int start)
{
	for (int i = 0; i < 100; i++) {
		Fanout__V1__ServerMessage *m = sub_named(c, id, name, 0, delivery, start);

		if (m->body_case != FANOUT__V1__SERVER_MESSAGE__BODY_ERROR ||
		    m->error->code != FANOUT__V1__ERROR_CODE__ERROR_CODE_SUBSCRIPTION_BUSY) {
			if (m->body_case == FANOUT__V1__SERVER_MESSAGE__BODY_ERROR)
				fail_msg("subscribe %s: error %d: %s", name, m->error->code,
					 m->error->message);
			return m;
		}
		client_free_msg(m);
		usleep(50000);
	}
	fail_msg("subscription %s stayed busy", name);
	return NULL;
}

static void send_ack(struct client *c, uint32_t id, uint32_t p, uint64_t offset)
{
	assert_int_equal(client_ack(c, id, p, offset), 0);
}

/* What one consumer received: per partition, offsets in arrival order. */
struct got {
	uint64_t n[PARTS];
	uint64_t off[PARTS][MAXEV];
};

/* Receives total events (fails on anything else or a timeout), each partition's in
 * strictly rising offsets. */
static void recv_events(struct client *c, struct got *g, uint64_t total)
{
	for (uint64_t i = 0; i < total; i++) {
		Fanout__V1__ServerMessage *m = recv_msg(c, 10000);
		uint32_t p;
		uint64_t o;

		if (m->body_case != FANOUT__V1__SERVER_MESSAGE__BODY_EVENT)
			fail_msg("event %llu of %llu: got body %d", (unsigned long long)i,
				 (unsigned long long)total, m->body_case);
		p = m->event->distribution->partition;
		o = m->event->distribution->offset;
		assert_true(p < PARTS && g->n[p] < MAXEV);
		if (g->n[p])
			assert_true(o > g->off[p][g->n[p] - 1]);	/* per-partition order */
		g->off[p][g->n[p]++] = o;
		client_free_msg(m);
	}
}

/* A resume after acks through half[p] - 1 of what a received: each partition from
 * half[p], the rest of what a got announced as second deliveries. */
static void expect_resumed_at(const Fanout__V1__SubscribeResult *r, const uint64_t *half,
			      const struct got *a)
{
	assert_true(r->n_positions >= PARTS && r->n_redeliveries == PARTS);
	for (uint32_t p = 0; p < PARTS; p++) {
		assert_int_equal(r->positions[p]->next_offset, half[p]);
		assert_int_equal(r->redeliveries[p]->partition, p);
		assert_int_equal(r->redeliveries[p]->first_offset, half[p]);
		assert_int_equal(r->redeliveries[p]->end_offset, a->n[p]);
		assert_int_equal(r->redeliveries[p]->delivery_count, 2);
	}
}

/* Receives what a got from half[p] on (sent again to a resumed consumer) into b: each
 * partition's offsets in order from half[p]. */
static void recv_resent(struct client *c, struct got *b, const struct got *a,
			const uint64_t *half)
{
	recv_events(c, b, (a->n[0] - half[0]) + (a->n[1] - half[1]));
	for (uint32_t p = 0; p < PARTS; p++)
		for (uint64_t i = 0; i < b->n[p]; i++)
			assert_int_equal(b->off[p][i], half[p] + i);
}

/* A consumer acks half of each partition, leaves; the next one resumes after the acks
 * and is sent the rest again, marked as second deliveries; acked through the end, the
 * third is sent nothing old. */
static void test_resume_after_ack(void **state)
{
	static struct got a, b, c3;
	struct client pub, ca, cb, cc;
	Fanout__V1__ServerMessage *m;
	uint64_t half[PARTS];

	(void)state;
	server_connect(&g_srv, &pub);
	publish_range(&pub, TOPIC, 0, 200, 20, NULL);
	server_connect(&g_srv, &ca);
	m = sub_ok(&ca, 1, "workflow-a", 0, FANOUT__V1__START_POSITION__START_POSITION_EARLIEST);
	assert_false(m->subscribed->resumed);
	assert_int_equal(m->subscribed->n_redeliveries, 0);
	client_free_msg(m);
	recv_events(&ca, &a, 200);
	for (uint32_t p = 0; p < PARTS; p++) {
		assert_true(a.n[p] >= 10);	/* 20 symbols over 2 partitions */
		half[p] = a.n[p] / 2;	/* offsets 0..half-1 acked */
		send_ack(&ca, 1, p, half[p] - 1);
	}
	ping_pong(&ca, 7);	/* the acks are in */
	client_close(&ca);

	server_connect(&g_srv, &cb);
	m = sub_resume(&cb, 5, "workflow-a", 0, FANOUT__V1__START_POSITION__START_POSITION_LATEST);
	assert_true(m->subscribed->resumed);
	assert_int_equal(m->subscribed->n_positions, PARTS);
	assert_int_equal(m->subscribed->n_redeliveries, PARTS);
	expect_resumed_at(m->subscribed, half, &a);
	client_free_msg(m);
	recv_resent(&cb, &b, &a, half);
	publish_range(&pub, TOPIC, 200, 20, 20, NULL);	/* new ones follow */
	recv_events(&cb, &b, 20);
	for (uint32_t p = 0; p < PARTS; p++)
		send_ack(&cb, 5, p, b.off[p][b.n[p] - 1]);
	ping_pong(&cb, 8);
	client_close(&cb);

	server_connect(&g_srv, &cc);
	m = sub_resume(&cc, 9, "workflow-a", 0, 0);
	assert_true(m->subscribed->resumed);
	assert_int_equal(m->subscribed->n_redeliveries, 0);
	client_free_msg(m);
	publish_range(&pub, TOPIC, 220, 10, 20, NULL);
	recv_events(&cc, &c3, 10);
	ping_pong(&cc, 9);	/* nothing old came after them */
	for (uint32_t p = 0; p < PARTS; p++)
		if (c3.n[p])
			assert_true(c3.off[p][0] == b.off[p][b.n[p] - 1] + 1);
	client_close(&cc);
	client_close(&pub);
}

/* EXCLUSIVE: a second consumer (another connection, maybe another reactor) is refused
 * while the first has it, and takes it once the first unsubscribes. */
static void test_exclusive(void **state)
{
	struct client c1, c2;
	Fanout__V1__ServerMessage *m;

	(void)state;
	server_connect(&g_srv, &c1);
	client_free_msg(sub_ok(&c1, 1, "solo", 0, 0));
	for (int i = 0; i < 4; i++) {	/* several connections: both reactors */
		server_connect(&g_srv, &c2);
		m = sub_named(&c2, 2, "solo", FANOUT__V1__SUBSCRIPTION_TYPE__SUBSCRIPTION_TYPE_EXCLUSIVE,
			      0, 0);
		assert_int_equal(m->body_case, FANOUT__V1__SERVER_MESSAGE__BODY_ERROR);
		assert_int_equal(m->error->code, FANOUT__V1__ERROR_CODE__ERROR_CODE_SUBSCRIPTION_BUSY);
		assert_non_null(strstr(m->error->message, "solo"));
		client_free_msg(m);
		ping_pong(&c2, 1);	/* the connection goes on */
		client_close(&c2);
	}
	/* The same connection may not take it twice either. */
	m = sub_named(&c1, 3, "solo", 0, 0, 0);
	assert_int_equal(m->error->code, FANOUT__V1__ERROR_CODE__ERROR_CODE_SUBSCRIPTION_BUSY);
	client_free_msg(m);
	{
		Fanout__V1__ClientMessage cm = FANOUT__V1__CLIENT_MESSAGE__INIT;
		Fanout__V1__Unsubscribe u = FANOUT__V1__UNSUBSCRIBE__INIT;

		u.subscription_id = 1;
		cm.body_case = FANOUT__V1__CLIENT_MESSAGE__BODY_UNSUBSCRIBE;
		cm.unsubscribe = &u;
		assert_int_equal(client_send(&c1, &cm), 0);
		m = recv_msg(&c1, 5000);
		assert_int_equal(m->body_case, FANOUT__V1__SERVER_MESSAGE__BODY_UNSUBSCRIBED);
		client_free_msg(m);
	}
	server_connect(&g_srv, &c2);
	m = sub_ok(&c2, 2, "solo", 0, 0);	/* unsubscribed: answered after it let go */
	assert_true(m->subscribed->resumed);
	client_free_msg(m);
	client_close(&c2);
	/* A consumer that vanishes lets go too. */
	server_connect(&g_srv, &c2);
	m = sub_resume(&c2, 2, "solo", 0, 0);
	client_free_msg(m);
	client_close(&c1);
	client_close(&c2);
}

/* The server SIGKILLed and restarted: the cursor and the delivery counts are still
 * there. */
static void test_restart_resumes(void **state)
{
	static struct got a, b;
	struct client pub, ca, cb;
	Fanout__V1__ServerMessage *m;
	uint64_t half[PARTS];

	(void)state;
	server_connect(&g_srv, &pub);
	publish_range(&pub, TOPIC, 0, 100, 20, NULL);
	client_close(&pub);
	server_connect(&g_srv, &ca);
	client_free_msg(sub_ok(&ca, 1, "durable", 0,
			       FANOUT__V1__START_POSITION__START_POSITION_EARLIEST));
	recv_events(&ca, &a, 100);
	for (uint32_t p = 0; p < PARTS; p++) {
		half[p] = a.n[p] / 2;
		send_ack(&ca, 1, p, half[p] - 1);
	}
	ping_pong(&ca, 3);
	server_stop(&g_srv, SIGKILL);
	client_close(&ca);
	server_start(&g_srv, g_args);
	server_connect(&g_srv, &cb);
	m = sub_resume(&cb, 1, "durable", 0, 0);
	assert_true(m->subscribed->resumed);
	assert_int_equal(m->subscribed->n_redeliveries, PARTS);
	expect_resumed_at(m->subscribed, half, &a);
	client_free_msg(m);
	recv_events(&cb, &b, (a.n[0] - half[0]) + (a.n[1] - half[1]));
	ping_pong(&cb, 4);
	client_close(&cb);
}

/* AT_MOST_ONCE: nothing is sent twice, acks or not. */
static void test_at_most_once(void **state)
{
	static struct got a, b;
	struct client pub, ca, cb;
	Fanout__V1__ServerMessage *m;
	const int amo = FANOUT__V1__DELIVERY_GUARANTEE__DELIVERY_GUARANTEE_AT_MOST_ONCE;

	(void)state;
	server_connect(&g_srv, &pub);
	publish_range(&pub, TOPIC, 0, 60, 20, NULL);
	server_connect(&g_srv, &ca);
	client_free_msg(sub_ok(&ca, 1, "fire-and-forget", amo,
			       FANOUT__V1__START_POSITION__START_POSITION_EARLIEST));
	recv_events(&ca, &a, 60);
	ping_pong(&ca, 1);
	client_close(&ca);
	server_connect(&g_srv, &cb);
	m = sub_resume(&cb, 1, "fire-and-forget", 0, 0);
	assert_true(m->subscribed->resumed);
	assert_int_equal(m->subscribed->n_redeliveries, 0);
	for (uint32_t p = 0; p < PARTS; p++)
		assert_int_equal(m->subscribed->positions[p]->next_offset, a.n[p]);
	client_free_msg(m);
	publish_range(&pub, TOPIC, 60, 10, 20, NULL);
	recv_events(&cb, &b, 10);
	ping_pong(&cb, 2);
	/* Its guarantee is fixed when it is made. */
	m = sub_named(&cb, 2, "fire-and-forget", 0,
		      FANOUT__V1__DELIVERY_GUARANTEE__DELIVERY_GUARANTEE_AT_LEAST_ONCE, 0);
	assert_int_equal(m->error->code, FANOUT__V1__ERROR_CODE__ERROR_CODE_SUBSCRIPTION_BUSY);
	client_free_msg(m);
	client_close(&cb);
	server_connect(&g_srv, &ca);
	for (int i = 0; i < 100; i++) {	/* busy until the server saw cb go */
		m = sub_named(&ca, 3, "fire-and-forget", 0,
			      FANOUT__V1__DELIVERY_GUARANTEE__DELIVERY_GUARANTEE_AT_LEAST_ONCE, 0);
		assert_int_equal(m->body_case, FANOUT__V1__SERVER_MESSAGE__BODY_ERROR);
		if (m->error->code != FANOUT__V1__ERROR_CODE__ERROR_CODE_SUBSCRIPTION_BUSY)
			break;
		client_free_msg(m);
		usleep(50000);
	}
	assert_int_equal(m->error->code, FANOUT__V1__ERROR_CODE__ERROR_CODE_BAD_SUBSCRIPTION);
	assert_non_null(strstr(m->error->message, "AT_MOST_ONCE"));
	client_free_msg(m);
	client_close(&ca);
	client_close(&pub);
}

/* Bad requests: an Error naming what is wrong; the connection goes on. */
static void test_bad_requests(void **state)
{
	static const struct {
		const char *name;
		int type, delivery;
		bool snapshot;
		const char *says;
	} cases[] = {
		{ "a/b", 0, 0, false, "A-Z a-z 0-9" },
		{ "..", 0, 0, false, "not . or .." },
		{ "", FANOUT__V1__SUBSCRIPTION_TYPE__SUBSCRIPTION_TYPE_EXCLUSIVE, 0, false,
		  "give subscription_name" },
		{ "", 0, FANOUT__V1__DELIVERY_GUARANTEE__DELIVERY_GUARANTEE_AT_MOST_ONCE, false,
		  "give subscription_name" },
		{ "s", 9, 0, false, "unknown subscription_type" },
		{ "s", 0, FANOUT__V1__DELIVERY_GUARANTEE__DELIVERY_GUARANTEE_EXACTLY_ONCE, false,
		  "EXACTLY_ONCE is not served yet" },
		{ "s", 0, 0, true, "snapshot" },
	};
	char longname[200];
	struct client c;

	(void)state;
	server_connect(&g_srv, &c);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		Fanout__V1__Subscribe sb = FANOUT__V1__SUBSCRIBE__INIT;
		Fanout__V1__ServerMessage *m = NULL;

		sb.subscription_id = 10 + (uint32_t)i;
		sb.topic = TOPIC;
		sb.subscription_name = (char *)cases[i].name;
		sb.subscription_type = cases[i].type;
		sb.delivery = cases[i].delivery;
		sb.snapshot = cases[i].snapshot;
		(void)client_subscribe_msg(&c, &sb, &m);
		assert_non_null(m);
		assert_int_equal(m->body_case, FANOUT__V1__SERVER_MESSAGE__BODY_ERROR);
		assert_int_equal(m->error->code, FANOUT__V1__ERROR_CODE__ERROR_CODE_BAD_SUBSCRIPTION);
		if (!strstr(m->error->message, cases[i].says))
			fail_msg("case %zu: '%s' does not say '%s'", i, m->error->message,
				 cases[i].says);
		client_free_msg(m);
	}
	memset(longname, 'x', 129);
	longname[129] = '\0';
	{
		Fanout__V1__ServerMessage *m = sub_named(&c, 99, longname, 0, 0, 0);

		assert_int_equal(m->error->code, FANOUT__V1__ERROR_CODE__ERROR_CODE_BAD_SUBSCRIPTION);
		client_free_msg(m);
	}
	ping_pong(&c, 5);
	client_close(&c);
}

/* The admin API shows a named subscription as durable; deleting its topic forgets it (a
 * topic made again by that name starts it afresh). */
static void test_stats_and_topic_delete(void **state)
{
	static const char *const args[] = { "--topic", TOPIC ":2", "--reactors", "2", NULL };
	struct client c;
	Fanout__V1__ServerMessage *m;
	json_t *j, *subs;
	bool found = false;
	size_t i;
	json_t *v;

	(void)state;
	server_stop(&g_srv, SIGTERM);
	server_start(&g_srv, args);	/* with the admin API this time */
	server_connect(&g_srv, &c);
	client_free_msg(sub_ok(&c, 1, "audited-flow", 0, 0));
	client_free_msg(sub_named(&c, 2, "", 0, 0, 0));	/* an anonymous one beside it */
	for (int tries = 0; tries < 50 && !found; tries++) {
		j = api_expect(&g_srv, "GET", "/api/v1/subscriptions", NULL, 200);
		subs = json_object_get(j, "subscriptions");
		json_array_foreach(subs, i, v) {
			const char *name = json_string_value(json_object_get(v, "subscriptionName"));

			if (json_integer_value(json_object_get(v, "subscriptionId")) == 1) {
				assert_non_null(name);
				assert_string_equal(name, "audited-flow");
				assert_true(json_is_true(json_object_get(v, "durable")));
				assert_string_equal(json_string_value(json_object_get(v, "delivery")),
						    "at_least_once");
				found = true;
			} else {
				assert_null(name);
				assert_true(json_is_false(json_object_get(v, "durable")));
			}
		}
		json_decref(j);
		if (!found)
			admin_sleep_ms(100);
	}
	assert_true(found);
	json_decref(api_expect(&g_srv, "DELETE", "/api/v1/topics/" TOPIC "?force=true", NULL, 200));
	m = recv_msg(&c, 5000);	/* both subscriptions end */
	assert_int_equal(m->error->code, FANOUT__V1__ERROR_CODE__ERROR_CODE_SUBSCRIPTION_ENDED);
	client_free_msg(m);
	m = recv_msg(&c, 5000);
	assert_int_equal(m->error->code, FANOUT__V1__ERROR_CODE__ERROR_CODE_SUBSCRIPTION_ENDED);
	client_free_msg(m);
	/* The topic comes back on first use (auto-create) once its files are gone. */
	for (int tries = 0; tries < 50; tries++) {
		m = sub_named(&c, 3, "audited-flow", 0, 0, 0);
		if (m->body_case == FANOUT__V1__SERVER_MESSAGE__BODY_SUBSCRIBED)
			break;
		client_free_msg(m);
		m = NULL;
		admin_sleep_ms(100);
	}
	assert_non_null(m);
	assert_false(m->subscribed->resumed);
	client_free_msg(m);
	client_close(&c);
}

/* A first Subscribe that fails after the name was taken (a bad pattern) leaves nothing:
 * the next one makes it afresh, at its own start and with its own delivery. */
static void test_failed_first_subscribe(void **state)
{
	Fanout__V1__Subscribe sb = FANOUT__V1__SUBSCRIBE__INIT;
	Fanout__V1__ServerMessage *m = NULL;
	char *bad[] = { "A..B" };
	struct client pub, c;
	static struct got g;

	(void)state;
	server_connect(&g_srv, &pub);
	publish_range(&pub, TOPIC, 0, 50, 20, NULL);
	server_connect(&g_srv, &c);
	sb.subscription_id = 1;
	sb.topic = TOPIC;
	sb.subscription_name = "fresh";
	sb.delivery = FANOUT__V1__DELIVERY_GUARANTEE__DELIVERY_GUARANTEE_AT_MOST_ONCE;
	sb.patterns = bad;
	sb.n_patterns = 1;
	sb.start = FANOUT__V1__START_POSITION__START_POSITION_EARLIEST;
	(void)client_subscribe_msg(&c, &sb, &m);
	assert_int_equal(m->error->code, FANOUT__V1__ERROR_CODE__ERROR_CODE_BAD_PATTERN);
	client_free_msg(m);
	m = sub_ok(&c, 2, "fresh", 0, FANOUT__V1__START_POSITION__START_POSITION_LATEST);
	assert_false(m->subscribed->resumed);
	for (uint32_t p = 0; p < PARTS; p++)	/* LATEST: past the 50, not from 0 */
		assert_true(m->subscribed->positions[p]->next_offset > 0);
	client_free_msg(m);
	publish_range(&pub, TOPIC, 50, 10, 20, NULL);
	recv_events(&c, &g, 10);
	ping_pong(&c, 1);
	client_close(&c);
	server_connect(&g_srv, &c);	/* made AT_LEAST_ONCE: the unacked 10 come again */
	m = sub_resume(&c, 3, "fresh", 0, 0);
	assert_true(m->subscribed->resumed);
	assert_true(m->subscribed->n_redeliveries >= 1);
	client_free_msg(m);
	client_close(&c);
	client_close(&pub);
}

/* Named subscriptions with patterns (an exact key, routed by the key index; a wildcard,
 * by the route cache) resume after their acks and are sent again exactly the matching
 * events they had not acked. */
static void test_patterns_resume(void **state)
{
	static const char *const pats[2] = { "S00003.BATS.trade", "*.NASDAQ.trade" };
	static const char *const names[2] = { "exact-key", "wildcard" };
	struct client pub;

	(void)state;
	server_connect(&g_srv, &pub);
	publish_range(&pub, TOPIC, 0, 400, 20, NULL);
	for (int k = 0; k < 2; k++) {
		static struct got a, b;
		Fanout__V1__Subscribe sb = FANOUT__V1__SUBSCRIBE__INIT;
		Fanout__V1__ServerMessage *m = NULL;
		char *pat[1] = { (char *)pats[k] };
		uint64_t half[PARTS], total = 0, want = 0;
		struct client c;

		memset(&a, 0, sizeof(a));
		memset(&b, 0, sizeof(b));
		server_connect(&g_srv, &c);
		sb.subscription_id = 1;
		sb.topic = TOPIC;
		sb.subscription_name = (char *)names[k];
		sb.patterns = pat;
		sb.n_patterns = 1;
		sb.start = FANOUT__V1__START_POSITION__START_POSITION_EARLIEST;
		(void)client_subscribe_msg(&c, &sb, &m);
		assert_int_equal(m->body_case, FANOUT__V1__SERVER_MESSAGE__BODY_SUBSCRIBED);
		client_free_msg(m);
		recv_events(&c, &a, k == 0 ? 20 : 100);	/* 1 key of 20; 5 keys of 20 */
		ping_pong(&c, 1);	/* and no more */
		for (uint32_t p = 0; p < PARTS; p++) {
			half[p] = a.n[p] / 2;
			if (half[p])
				send_ack(&c, 1, p, a.off[p][half[p] - 1]);
			want += a.n[p] - half[p];
			total += a.n[p];
		}
		ping_pong(&c, 2);
		client_close(&c);
		server_connect(&g_srv, &c);
		sb.subscription_id = 2;
		for (int i = 0;; i++) {
			(void)client_subscribe_msg(&c, &sb, &m);
			if (m->body_case == FANOUT__V1__SERVER_MESSAGE__BODY_SUBSCRIBED || i == 100)
				break;
			client_free_msg(m);
			usleep(50000);
		}
		assert_int_equal(m->body_case, FANOUT__V1__SERVER_MESSAGE__BODY_SUBSCRIBED);
		assert_true(m->subscribed->resumed);
		for (size_t i = 0; i < m->subscribed->n_redeliveries; i++)
			assert_int_equal(m->subscribed->redeliveries[i]->delivery_count, 2);
		client_free_msg(m);
		recv_events(&c, &b, want);
		ping_pong(&c, 3);	/* exactly those */
		for (uint32_t p = 0; p < PARTS; p++)
			for (uint64_t i = 0; i < b.n[p]; i++)
				assert_int_equal(b.off[p][i], a.off[p][half[p] + i]);
		print_message("%s: %llu events, %llu sent again\n", names[k],
			      (unsigned long long)total, (unsigned long long)want);
		client_close(&c);
	}
	client_close(&pub);
}

/* The reactor serving a connection (HelloResult.reactor). */
static uint32_t reactor_of(struct client *c)
{
	Fanout__V1__ServerMessage *m = NULL;
	uint32_t r;

	assert_int_equal(client_hello(c, "named-test", 5000, &m), 0);
	r = m->hello->reactor;
	client_free_msg(m);
	return r;
}

/* FAILOVER: the first consumer is active, a second stands by (sent nothing); an
 * EXCLUSIVE one is refused; when the active one goes, the standby is told (a second
 * SubscribeResult) and takes over from the last Ack, unacked events marked. */
static void test_failover_takes_over(void **state)
{
	const int fo = FANOUT__V1__SUBSCRIPTION_TYPE__SUBSCRIPTION_TYPE_FAILOVER;
	static struct got a, b;
	struct client pub, c1, c2, c3;
	Fanout__V1__ServerMessage *m;
	uint64_t half[PARTS];
	uint32_t r1, r2 = 0;

	(void)state;
	server_connect(&g_srv, &pub);
	publish_range(&pub, TOPIC, 0, 100, 20, NULL);
	server_connect(&g_srv, &c1);
	r1 = reactor_of(&c1);	/* before events flow to it */
	m = sub_named(&c1, 1, "fo", fo, 0, FANOUT__V1__START_POSITION__START_POSITION_EARLIEST);
	assert_int_equal(m->body_case, FANOUT__V1__SERVER_MESSAGE__BODY_SUBSCRIBED);
	assert_false(m->subscribed->standby);
	client_free_msg(m);
	for (int i = 0; i < 20; i++) {	/* the standby on the other reactor: woken across */
		server_connect(&g_srv, &c2);
		if ((r2 = reactor_of(&c2)) != r1)
			break;
		client_close(&c2);
	}
	m = sub_named(&c2, 7, "fo", fo, 0, 0);
	assert_int_equal(m->body_case, FANOUT__V1__SERVER_MESSAGE__BODY_SUBSCRIBED);
	assert_true(m->subscribed->standby);
	assert_false(m->subscribed->resumed);
	assert_int_equal(m->subscribed->n_positions, 0);
	client_free_msg(m);
	server_connect(&g_srv, &c3);
	m = sub_named(&c3, 1, "fo", 0, 0, 0);	/* EXCLUSIVE beside FAILOVER consumers */
	assert_int_equal(m->error->code, FANOUT__V1__ERROR_CODE__ERROR_CODE_SUBSCRIPTION_BUSY);
	assert_non_null(strstr(m->error->message, "FAILOVER"));
	client_free_msg(m);
	client_close(&c3);
	recv_events(&c1, &a, 100);
	ping_pong(&c2, 1);	/* the standby was sent nothing */
	for (uint32_t p = 0; p < PARTS; p++) {
		half[p] = a.n[p] / 2;
		send_ack(&c1, 1, p, half[p] - 1);
	}
	ping_pong(&c1, 2);
	client_close(&c1);	/* the active one goes */
	m = recv_msg(&c2, 10000);
	assert_int_equal(m->body_case, FANOUT__V1__SERVER_MESSAGE__BODY_SUBSCRIBED);
	assert_int_equal(m->subscribed->subscription_id, 7);
	assert_false(m->subscribed->standby);
	assert_true(m->subscribed->resumed);
	assert_int_equal(m->subscribed->n_redeliveries, PARTS);
	expect_resumed_at(m->subscribed, half, &a);
	client_free_msg(m);
	recv_resent(&c2, &b, &a, half);
	publish_range(&pub, TOPIC, 100, 10, 20, NULL);
	recv_events(&c2, &b, 10);
	ping_pong(&c2, 3);
	/* A standby on the other reactor while the server stops: a clean stop. */
	for (int i = 0; i < 20; i++) {
		server_connect(&g_srv, &c3);
		if (reactor_of(&c3) != r2)
			break;
		client_close(&c3);
	}
	m = sub_named(&c3, 1, "fo", fo, 0, 0);
	assert_true(m->subscribed->standby);
	client_free_msg(m);
	{
		int status = server_stop(&g_srv, SIGTERM);

		assert_true(WIFEXITED(status));
		assert_int_equal(WEXITSTATUS(status), 0);
	}
	client_close(&c3);
	client_close(&c2);
	client_close(&pub);
}

/* ---- consumers SIGKILLed at random moments ---------------------------------------- */

#define LOOP_EVENTS 3000u
#define LOOP_ROUNDS 8

struct shared {
	uint32_t recv[PARTS][MAXEV];	/* times each event was received by any consumer */
	uint32_t disorder;		/* a consumer saw a partition's offsets not rising */
};

/* A consumer: records each event, then acks every 7th (so some received ones are never
 * acked before it dies). Runs until killed. */
static void loop_consumer(struct shared *sh, int type)
{
	struct client c;
	Fanout__V1__ServerMessage *m = NULL;
	uint64_t last[PARTS] = { UINT64_MAX, UINT64_MAX }, n = 0;

	if (client_connect(&c, g_srv.addr, 5000) < 0)
		_exit(2);
	for (int i = 0;; i++) {	/* the one killed before may not be seen gone yet */
		m = sub_named(&c, 1, type ? "loop-failover" : "loop", type, 0,
			      FANOUT__V1__START_POSITION__START_POSITION_EARLIEST);
		if (m->body_case == FANOUT__V1__SERVER_MESSAGE__BODY_SUBSCRIBED)
			break;
		if (i == 100 || m->error->code != FANOUT__V1__ERROR_CODE__ERROR_CODE_SUBSCRIPTION_BUSY)
			_exit(3);
		client_free_msg(m);
		usleep(50000);
	}
	client_free_msg(m);
	for (;;) {
		uint32_t p;
		uint64_t o;

		if (client_recv(&c, &m, 60000) < 0)
			_exit(4);
		if (m->body_case != FANOUT__V1__SERVER_MESSAGE__BODY_EVENT) {
			client_free_msg(m);
			continue;
		}
		p = m->event->distribution->partition;
		o = m->event->distribution->offset;
		client_free_msg(m);
		if (p >= PARTS || o >= MAXEV)
			_exit(5);
		if (last[p] != UINT64_MAX && o <= last[p])
			__atomic_add_fetch(&sh->disorder, 1, __ATOMIC_SEQ_CST);
		last[p] = o;
		__atomic_add_fetch(&sh->recv[p][o], 1, __ATOMIC_SEQ_CST);
		if (++n % 7 == 0)
			send_ack(&c, 1, p, o);
	}
}

/* Events received by some consumer at least once (offsets are dense from 0). */
static uint64_t distinct(struct shared *sh)
{
	uint64_t n = 0;

	for (uint32_t p = 0; p < PARTS; p++)
		for (uint64_t o = 0; o < MAXEV &&
		     __atomic_load_n(&sh->recv[p][o], __ATOMIC_SEQ_CST); o++)
			n++;
	return n;
}

/* Receives until a Ping's Pong comes with nothing before it, counting each event in
 * sh; with order, also checks each partition's offsets rise and records them there. */
static void drain(struct client *c, struct shared *sh, struct got *order)
{
	for (;;) {
		Fanout__V1__ClientMessage cm = FANOUT__V1__CLIENT_MESSAGE__INIT;
		Fanout__V1__Ping ping = FANOUT__V1__PING__INIT;
		Fanout__V1__ServerMessage *m;
		bool more = false;

		ping.nonce = 42;
		cm.body_case = FANOUT__V1__CLIENT_MESSAGE__BODY_PING;
		cm.ping = &ping;
		assert_int_equal(client_send(c, &cm), 0);
		while ((m = recv_msg(c, 10000))->body_case != FANOUT__V1__SERVER_MESSAGE__BODY_PONG) {
			uint32_t p;
			uint64_t o;

			assert_int_equal(m->body_case, FANOUT__V1__SERVER_MESSAGE__BODY_EVENT);
			p = m->event->distribution->partition;
			o = m->event->distribution->offset;
			if (order) {
				if (order->n[p])
					assert_true(o > order->off[p][order->n[p] - 1]);
				order->off[p][order->n[p]++] = o;
			}
			sh->recv[p][o]++;
			more = true;
			client_free_msg(m);
		}
		client_free_msg(m);
		if (!more)
			return;
	}
}

static void test_consumers_killed(void **state)
{
	struct shared *sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE,
				 MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	struct client pub, last;
	Fanout__V1__ServerMessage *m;
	uint64_t published = 0;
	static struct got fin;
	uint32_t seed = (uint32_t)time(NULL);

	(void)state;
	assert_true(sh != MAP_FAILED);
	print_message("seed %u\n", seed);
	srand(seed);
	server_connect(&g_srv, &pub);
	for (int round = 0; round < LOOP_ROUNDS; round++) {
		pid_t pid;
		int status;

		publish_range(&pub, TOPIC, (uint32_t)published, LOOP_EVENTS / LOOP_ROUNDS, 20, NULL);
		published += LOOP_EVENTS / LOOP_ROUNDS;
		pid = fork();
		assert_true(pid >= 0);
		if (pid == 0)
			loop_consumer(sh, 0);
		usleep(20000 + (useconds_t)(rand() % 200) * 1000);	/* 20..220 ms */
		kill(pid, SIGKILL);
		assert_int_equal(waitpid(pid, &status, 0), pid);
		assert_true(WIFSIGNALED(status));	/* killed, not failed */
	}
	assert_int_equal(sh->disorder, 0);
	/* The last consumer: told what it is sent again, then gets the rest. */
	server_connect(&g_srv, &last);
	m = sub_resume(&last, 1, "loop", 0, 0);
	assert_true(m->subscribed->resumed);
	for (size_t i = 0; i < m->subscribed->n_redeliveries; i++) {
		const Fanout__V1__Redelivery *r = m->subscribed->redeliveries[i];

		assert_true(r->partition < PARTS && r->delivery_count >= 2);
		for (uint64_t o = r->first_offset; o < r->end_offset; o++)
			/* Sent delivery_count - 1 times before: received at most that often. */
			assert_true(sh->recv[r->partition][o] <= r->delivery_count - 1);
	}
	for (uint32_t p = 0; p < PARTS; p++) {
		uint64_t from = m->subscribed->positions[p]->next_offset;

		/* Everything before the resume point was received (acked means received). */
		for (uint64_t o = 0; o < from; o++)
			assert_true(sh->recv[p][o] >= 1);
	}
	client_free_msg(m);
	drain(&last, sh, &fin);
	/* Every event was received at least once, by someone. */
	{
		uint64_t seen = 0, twice = 0;

		for (uint32_t p = 0; p < PARTS; p++)
			for (uint64_t o = 0; o < MAXEV && sh->recv[p][o]; o++) {
				seen++;
				twice += sh->recv[p][o] > 1;
			}
		print_message("%llu events, %llu received more than once\n",
			      (unsigned long long)seen, (unsigned long long)twice);
		assert_int_equal(seen, published);
	}
	client_close(&last);
	client_close(&pub);
	munmap(sh, sizeof(*sh));
}

/* FAILOVER consumers in three processes; at random moments one of them (active or not)
 * is SIGKILLed and another started: every other round all events so far reach a
 * consumer within 10 s (a standby took over), every event at least once, each
 * consumer's partitions in offset order. */
static void test_failover_consumers_killed(void **state)
{
	struct shared *sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE,
				 MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	const int fo = FANOUT__V1__SUBSCRIPTION_TYPE__SUBSCRIPTION_TYPE_FAILOVER;
	struct client pub, last;
	Fanout__V1__ServerMessage *m;
	uint64_t published = 0, seen = 0;
	pid_t kids[3];
	uint32_t seed = (uint32_t)time(NULL);

	(void)state;
	assert_true(sh != MAP_FAILED);
	print_message("seed %u\n", seed);
	srand(seed);
	server_connect(&g_srv, &pub);
	for (int k = 0; k < 3; k++) {
		kids[k] = fork();
		assert_true(kids[k] >= 0);
		if (kids[k] == 0)
			loop_consumer(sh, fo);
	}
	for (int round = 0; round < LOOP_ROUNDS; round++) {
		int k = rand() % 3, status;

		publish_range(&pub, TOPIC, (uint32_t)published, LOOP_EVENTS / LOOP_ROUNDS, 20, NULL);
		published += LOOP_EVENTS / LOOP_ROUNDS;
		if (round % 2) {	/* someone took over: everything so far arrives */
			uint64_t got = 0;

			for (int i = 0; i < 200 && (got = distinct(sh)) < published; i++)
				usleep(50000);
			if (got < published)
				fail_msg("round %d: %llu of %llu events reached a consumer", round,
					 (unsigned long long)got, (unsigned long long)published);
		}
		usleep(20000 + (useconds_t)(rand() % 200) * 1000);
		kill(kids[k], SIGKILL);
		assert_int_equal(waitpid(kids[k], &status, 0), kids[k]);
		assert_true(WIFSIGNALED(status));
		kids[k] = fork();
		assert_true(kids[k] >= 0);
		if (kids[k] == 0)
			loop_consumer(sh, fo);
	}
	usleep(300000);	/* the last ones catch up */
	for (int k = 0; k < 3; k++) {
		int status;

		kill(kids[k], SIGKILL);
		assert_int_equal(waitpid(kids[k], &status, 0), kids[k]);
		assert_true(WIFSIGNALED(status));
	}
	assert_int_equal(sh->disorder, 0);
	server_connect(&g_srv, &last);
	for (int i = 0;; i++) {	/* until the server saw the killed ones go */
		m = sub_named(&last, 1, "loop-failover", fo, 0, 0);
		if (m->body_case == FANOUT__V1__SERVER_MESSAGE__BODY_SUBSCRIBED &&
		    !m->subscribed->standby)
			break;
		assert_true(i < 100);
		if (m->body_case == FANOUT__V1__SERVER_MESSAGE__BODY_SUBSCRIBED) {
			/* a standby behind one not yet seen gone: it takes over in time */
			client_free_msg(m);
			m = recv_msg(&last, 10000);
			assert_int_equal(m->body_case, FANOUT__V1__SERVER_MESSAGE__BODY_SUBSCRIBED);
			break;
		}
		client_free_msg(m);
		usleep(50000);
	}
	client_free_msg(m);
	drain(&last, sh, NULL);
	seen = distinct(sh);
	print_message("%llu of %llu events received\n", (unsigned long long)seen,
		      (unsigned long long)published);
	assert_int_equal(seen, published);
	client_close(&last);
	client_close(&pub);
	munmap(sh, sizeof(*sh));
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_resume_after_ack, setup, teardown),
		cmocka_unit_test_setup_teardown(test_exclusive, setup, teardown),
		cmocka_unit_test_setup_teardown(test_restart_resumes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_at_most_once, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_requests, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stats_and_topic_delete, setup, teardown),
		cmocka_unit_test_setup_teardown(test_failed_first_subscribe, setup, teardown),
		cmocka_unit_test_setup_teardown(test_patterns_resume, setup, teardown),
		cmocka_unit_test_setup_teardown(test_consumers_killed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_failover_takes_over, setup, teardown),
		cmocka_unit_test_setup_teardown(test_failover_consumers_killed, setup, teardown),
	};

	g_argc = argc;
	g_argv = argv;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
