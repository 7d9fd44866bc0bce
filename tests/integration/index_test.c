/* tests/integration/index_test.c — routed subscriptions through a real fanoutd. Pattern
 * subscriptions are not scanned: the exact-key table (exact keys) or the route cache
 * (wildcards) hands each one the offsets of its keys. Each must still get exactly its
 * events, per key in order, when many share a server, when it starts from the earliest
 * offset and goes live, when it falls more than a ring behind (it catches up from its
 * cursors), when wildcard subscriptions come and go after keys were cached, and nothing
 * after it unsubscribes. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "net/subscriber.h"
#include "tests/integration/harness.h"

static int g_argc;
static char **g_argv;

/* make_event's routing key for a symbol (see harness.c). */
static void key_of(uint32_t sym, char *out, size_t cap)
{
	static const char *const ex[] = { "NASDAQ", "NYSE", "ARCA", "BATS" };

	snprintf(out, cap, "S%05u.%s.trade", sym, ex[sym % 4]);
}

static uint32_t seq_of(const Fanout__V1__Event *e)
{
	return (uint32_t)strtoul(e->event_id + 3, NULL, 10);	/* "ev-<seq>" */
}

/* Subscribes c to the keys of syms[0..n) from start: exact keys, or with wild the
 * patterns "S<sym>.*.trade" (the same keys, routed as wildcards). */
static void subscribe_syms(struct client *c, uint32_t id, const char *topic,
			   const uint32_t *syms, size_t n, Fanout__V1__StartPosition start,
			   bool wild)
{
	char keys[8][64];
	const char *pats[8];
	Fanout__V1__ServerMessage *m = NULL;

	assert_true(n <= 8);
	for (size_t i = 0; i < n; i++) {
		if (wild)
			snprintf(keys[i], sizeof(keys[i]), "S%05u.*.trade", syms[i]);
		else
			key_of(syms[i], keys[i], sizeof(keys[i]));
		pats[i] = keys[i];
	}
	assert_int_equal(client_subscribe(c, id, topic, pats, n, start, 0, &m), 0);
	client_free_msg(m);
}

static void subscribe_keys(struct client *c, uint32_t id, const char *topic,
			   const uint32_t *syms, size_t n, Fanout__V1__StartPosition start)
{
	subscribe_syms(c, id, topic, syms, n, start, false);
}

/* Receives want events, each of one of syms[0..n) (with symbols in the feed), per symbol
 * in increasing sequence; returns how many each symbol got in got[]. */
static void expect_keys(struct client *c, const uint32_t *syms, size_t n, uint32_t symbols,
			uint32_t want, uint32_t *got)
{
	int64_t last[8];

	for (size_t i = 0; i < n; i++) {
		last[i] = -1;
		got[i] = 0;
	}
	for (uint32_t k = 0; k < want; k++) {
		Fanout__V1__ServerMessage *m = recv_msg(c, 10000);
		uint32_t seq;
		size_t i;

		assert_int_equal(m->body_case, FANOUT__V1__SERVER_MESSAGE__BODY_EVENT);
		seq = seq_of(m->event);
		for (i = 0; i < n && syms[i] != seq % symbols; i++)
			;
		if (i == n)
			fail_msg("event %u (key %s) is not for this subscription", seq,
				 m->event->distribution->routing_key);
		if ((int64_t)seq <= last[i])
			fail_msg("symbol %u: event %u after %lld", syms[i], seq, (long long)last[i]);
		last[i] = seq;
		got[i]++;
		client_free_msg(m);
	}
}

/* 200 subscribers of 5 keys each over 4 partitions (exact keys, or wildcard patterns for
 * the same keys), beside a wildcard one and an everything one (scanned): everyone gets
 * exactly theirs. */
static void many_subscribers_get_exactly_their_keys(bool wild)
{
	enum { SUBS = 200, KEYS = 5, SYMBOLS = 1000, TOTAL = 20000 };
	static struct client subs[SUBS];
	struct client pub, wsub, all;
	struct server srv;
	const char *wild_pat[1] = { "S00003.*.trade" };
	Fanout__V1__ServerMessage *m = NULL;
	uint32_t got[KEYS], wild_sym[1] = { 3 };

	server_setup(&srv, g_argc, g_argv);
	server_start(&srv, (const char *const[]){ "--partitions", "4", NULL });
	for (uint32_t i = 0; i < SUBS; i++) {
		uint32_t syms[KEYS];

		for (uint32_t k = 0; k < KEYS; k++)
			syms[k] = i * KEYS + k;
		server_connect(&srv, &subs[i]);
		subscribe_syms(&subs[i], 1, "md", syms, KEYS,
			       FANOUT__V1__START_POSITION__START_POSITION_LATEST, wild);
	}
	server_connect(&srv, &wsub);
	assert_int_equal(client_subscribe(&wsub, 1, "md", wild_pat, 1,
					  FANOUT__V1__START_POSITION__START_POSITION_LATEST, 0, &m), 0);
	client_free_msg(m);
	server_connect(&srv, &all);
	assert_int_equal(client_subscribe(&all, 1, "md", NULL, 0,
					  FANOUT__V1__START_POSITION__START_POSITION_LATEST, 0, &m), 0);
	client_free_msg(m);
	server_connect(&srv, &pub);
	publish_range(&pub, "md", 0, TOTAL, SYMBOLS, NULL);
	for (uint32_t i = 0; i < SUBS; i++) {
		uint32_t syms[KEYS];

		for (uint32_t k = 0; k < KEYS; k++)
			syms[k] = i * KEYS + k;
		expect_keys(&subs[i], syms, KEYS, SYMBOLS, KEYS * TOTAL / SYMBOLS, got);
		for (uint32_t k = 0; k < KEYS; k++)
			assert_int_equal(got[k], TOTAL / SYMBOLS);
		ping_pong(&subs[i], i);
		client_close(&subs[i]);
	}
	expect_keys(&wsub, wild_sym, 1, SYMBOLS, TOTAL / SYMBOLS, got);
	ping_pong(&wsub, 1);
	for (uint32_t k = 0; k < TOTAL; k++)
		client_free_msg(recv_msg(&all, 10000));
	ping_pong(&all, 2);
	client_close(&wsub);
	client_close(&all);
	client_close(&pub);
	server_teardown(&srv);
}

static void many_exact_subscribers_get_exactly_their_keys(void **state)
{
	(void)state;
	many_subscribers_get_exactly_their_keys(false);
}

static void many_wildcard_subscribers_get_exactly_their_keys(void **state)
{
	(void)state;
	many_subscribers_get_exactly_their_keys(true);
}

/* Wildcard routes are cached per key: a wildcard subscription that arrives after its keys
 * were routed (and cached without it), and one that leaves, change what the next events
 * reach. */
static void wildcard_subscriptions_come_and_go(void **state)
{
	enum { SYMBOLS = 10 };
	const uint32_t a_syms[1] = { 4 }, b_syms[2] = { 4, 6 };
	struct client pub, a, b;
	struct server srv;
	uint32_t got[2];

	(void)state;
	server_setup(&srv, g_argc, g_argv);
	server_start(&srv, NULL);
	server_connect(&srv, &pub);
	server_connect(&srv, &a);
	server_connect(&srv, &b);
	subscribe_syms(&a, 1, "md", a_syms, 1, FANOUT__V1__START_POSITION__START_POSITION_LATEST,
		       true);
	publish_range(&pub, "md", 0, 100, SYMBOLS, NULL);	/* every key routed, cached */
	expect_keys(&a, a_syms, 1, SYMBOLS, 10, got);
	subscribe_syms(&b, 1, "md", b_syms, 2, FANOUT__V1__START_POSITION__START_POSITION_LATEST,
		       true);
	publish_range(&pub, "md", 100, 100, SYMBOLS, NULL);
	expect_keys(&a, a_syms, 1, SYMBOLS, 10, got);
	expect_keys(&b, b_syms, 2, SYMBOLS, 20, got);	/* the cache did not hide it */
	assert_int_equal(got[0], 10);
	assert_int_equal(got[1], 10);
	client_close(&a);	/* its cached routes must not be used again */
	publish_range(&pub, "md", 200, 100, SYMBOLS, NULL);
	expect_keys(&b, b_syms, 2, SYMBOLS, 20, got);
	ping_pong(&b, 1);
	client_close(&b);
	client_close(&pub);
	server_teardown(&srv);
}

/* From the earliest offset: the history first (scanned), then the live stream (indexed),
 * with no gap or repeat where one hands over to the other. */
static void earliest_history_then_live(void **state)
{
	enum { SYMBOLS = 10, HALF = 1000 };
	const uint32_t syms[2] = { 2, 5 };
	struct client pub, sub;
	struct server srv;
	uint32_t got[2];

	(void)state;
	server_setup(&srv, g_argc, g_argv);
	server_start(&srv, NULL);
	server_connect(&srv, &pub);
	server_connect(&srv, &sub);
	publish_range(&pub, "md", 0, HALF, SYMBOLS, NULL);
	subscribe_keys(&sub, 1, "md", syms, 2,
		       FANOUT__V1__START_POSITION__START_POSITION_EARLIEST);
	expect_keys(&sub, syms, 2, SYMBOLS, 2 * HALF / SYMBOLS, got);
	publish_range(&pub, "md", HALF, HALF, SYMBOLS, NULL);
	expect_keys(&sub, syms, 2, SYMBOLS, 2 * HALF / SYMBOLS, got);
	assert_int_equal(got[0], HALF / SYMBOLS);
	assert_int_equal(got[1], HALF / SYMBOLS);
	ping_pong(&sub, 1);
	client_close(&pub);
	client_close(&sub);
	server_teardown(&srv);
}

/* A subscriber that does not read while far more than a ring of its events arrives: the
 * socket fills, the ring overflows, and it catches up from its cursor with every event. */
static void overflowed_ring_catches_up(bool wild)
{
	enum { SYMBOLS = 2, TOTAL = 120000 };	/* 60,000 matching events, ~8 MB */
	const uint32_t syms[1] = { 1 };
	struct client pub, sub;
	struct server srv;
	uint32_t got[1];

	assert_true(TOTAL / SYMBOLS > 8 * SUB_RING);
	server_setup(&srv, g_argc, g_argv);
	server_start(&srv, NULL);
	server_connect(&srv, &pub);
	server_connect(&srv, &sub);
	subscribe_syms(&sub, 1, "md", syms, 1, FANOUT__V1__START_POSITION__START_POSITION_LATEST,
		       wild);
	publish_range(&pub, "md", 0, TOTAL, SYMBOLS, NULL);	/* sub reads nothing meanwhile */
	expect_keys(&sub, syms, 1, SYMBOLS, TOTAL / SYMBOLS, got);
	assert_int_equal(got[0], TOTAL / SYMBOLS);
	publish_range(&pub, "md", TOTAL, 100, SYMBOLS, NULL);	/* and it is live again */
	expect_keys(&sub, syms, 1, SYMBOLS, 50, got);
	ping_pong(&sub, 1);
	client_close(&pub);
	client_close(&sub);
	server_teardown(&srv);
}

static void overflowed_ring_catches_up_without_gaps(void **state)
{
	(void)state;
	overflowed_ring_catches_up(false);
}

static void overflowed_wildcard_ring_catches_up_without_gaps(void **state)
{
	(void)state;
	overflowed_ring_catches_up(true);
}

/* Two subscriptions of one key on one connection get it twice; after one unsubscribes,
 * once. */
static void unsubscribed_keys_stop(void **state)
{
	enum { SYMBOLS = 10 };
	const uint32_t syms[1] = { 3 };
	Fanout__V1__ClientMessage m = FANOUT__V1__CLIENT_MESSAGE__INIT;
	Fanout__V1__Unsubscribe u = FANOUT__V1__UNSUBSCRIBE__INIT;
	Fanout__V1__ServerMessage *r;
	struct client pub, sub;
	struct server srv;
	uint32_t got[1];

	(void)state;
	server_setup(&srv, g_argc, g_argv);
	server_start(&srv, NULL);
	server_connect(&srv, &pub);
	server_connect(&srv, &sub);
	subscribe_keys(&sub, 1, "md", syms, 1, FANOUT__V1__START_POSITION__START_POSITION_LATEST);
	subscribe_keys(&sub, 2, "md", syms, 1, FANOUT__V1__START_POSITION__START_POSITION_LATEST);
	publish_range(&pub, "md", 0, 100, SYMBOLS, NULL);
	for (int i = 0; i < 20; i++)	/* each event twice */
		client_free_msg(recv_msg(&sub, 5000));
	ping_pong(&sub, 1);
	u.subscription_id = 1;
	m.body_case = FANOUT__V1__CLIENT_MESSAGE__BODY_UNSUBSCRIBE;
	m.unsubscribe = &u;
	assert_int_equal(client_send(&sub, &m), 0);
	r = recv_msg(&sub, 5000);
	assert_int_equal(r->body_case, FANOUT__V1__SERVER_MESSAGE__BODY_UNSUBSCRIBED);
	client_free_msg(r);
	publish_range(&pub, "md", 100, 100, SYMBOLS, NULL);
	expect_keys(&sub, syms, 1, SYMBOLS, 10, got);
	ping_pong(&sub, 2);
	client_close(&sub);	/* closing with an indexed subscription unregisters it too */
	publish_range(&pub, "md", 200, 100, SYMBOLS, NULL);
	client_close(&pub);
	server_teardown(&srv);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(many_exact_subscribers_get_exactly_their_keys),
		cmocka_unit_test(many_wildcard_subscribers_get_exactly_their_keys),
		cmocka_unit_test(wildcard_subscriptions_come_and_go),
		cmocka_unit_test(earliest_history_then_live),
		cmocka_unit_test(overflowed_ring_catches_up_without_gaps),
		cmocka_unit_test(overflowed_wildcard_ring_catches_up_without_gaps),
		cmocka_unit_test(unsubscribed_keys_stop),
	};

	g_argc = argc;
	g_argv = argv;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
