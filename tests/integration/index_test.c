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
#include <unistd.h>

#include "core/frame.h"
#include "net/session.h"
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

/* Publishes one batch of n events, all of symbol sym (of symbols), seqs first, first+symbols, ... */
static void publish_one_key_batch(struct client *pub, uint32_t first, uint32_t n, uint32_t symbols)
{
	static Fanout__V1__Event ev[4096];
	static Fanout__V1__Distribution d[4096];
	static Fanout__V1__MarketData md[4096];
	static char bufs[4096][256];
	static Fanout__V1__Event *ptrs[4096];
	Fanout__V1__ServerMessage *m;

	assert_true(n <= 4096);
	for (uint32_t i = 0; i < n; i++) {
		make_event(&ev[i], &d[i], &md[i], bufs[i], "md", first + i * symbols, symbols);
		ptrs[i] = &ev[i];
	}
	assert_int_equal(client_publish(pub, 1, ptrs, n), 0);
	m = recv_msg(pub, 10000);
	assert_int_equal(m->body_case, FANOUT__V1__SERVER_MESSAGE__BODY_PUBLISH_ACK);
	assert_int_equal(m->publish_ack->n_offsets, n);
	client_free_msg(m);
}

/* A subscriber whose ring overflows in one batch, after 200k frames of other keys, gets
 * every event of its key and is not cut by a 100k-event lag bound. (Whether the resumed
 * scan starts at what it is owed or at a stale cursor is not visible here once scans are
 * fast: tests/unit/net/subscriber_test.c checks the resume point.) */
static void overflow_after_other_keys_is_not_lag(void **state)
{
	const uint32_t syms[1] = { 1 };
	struct client pub, sub;
	struct server srv;
	uint32_t got[1];

	(void)state;
	server_setup(&srv, g_argc, g_argv);
	server_start(&srv, (const char *const[]){ "--max-lag-events", "100000", NULL });
	server_connect(&srv, &pub);
	server_connect(&srv, &sub);
	subscribe_keys(&sub, 1, "md", syms, 1, FANOUT__V1__START_POSITION__START_POSITION_LATEST);
	publish_range(&pub, "md", 0, 200000, 1, NULL);	/* all S00000: not its key */
	publish_one_key_batch(&pub, 200001, 3 * SUB_RING, 2);	/* all S00001: a ring and more */
	usleep(300 * 1000);	/* lag passes run every 100 ms */
	expect_keys(&sub, syms, 1, 2, 3 * SUB_RING, got);	/* an Error here fails the test */
	assert_int_equal(got[0], 3 * SUB_RING);
	ping_pong(&sub, 1);
	client_close(&pub);
	client_close(&sub);
	server_teardown(&srv);
}

/* A catch-up scan that stops at its per-gather bound exactly at the tails, having found
 * nothing, must still hand the subscription to its ring: later events of its key arrive. */
static void scan_ending_at_its_bound_goes_live(void **state)
{
	const uint32_t syms[1] = { 1 };
	struct client pub, sub;
	struct server srv;
	uint32_t got[1];

	(void)state;
	server_setup(&srv, g_argc, g_argv);
	server_start(&srv, NULL);
	server_connect(&srv, &pub);
	server_connect(&srv, &sub);
	publish_range(&pub, "md", 0, 2 * SUB_SCAN_MAX, 1, NULL);	/* all S00000 */
	subscribe_keys(&sub, 1, "md", syms, 1, FANOUT__V1__START_POSITION__START_POSITION_EARLIEST);
	usleep(300 * 1000);	/* the scans run (no request of ours may wake the session) */
	publish_one_key_batch(&pub, 2 * SUB_SCAN_MAX + 1, 10, 2);	/* ten S00001 */
	expect_keys(&sub, syms, 1, 2, 10, got);
	assert_int_equal(got[0], 10);
	ping_pong(&sub, 1);
	client_close(&pub);
	client_close(&sub);
	server_teardown(&srv);
}

/* Answers that nearly fill the answer buffer, then a Subscribe from the earliest offset,
 * all in one write: the SubscribeResult still comes before the subscription's events. */
static void subscribe_result_precedes_events_when_answers_pile_up(void **state)
{
	Fanout__V1__ClientMessage cm = FANOUT__V1__CLIENT_MESSAGE__INIT;
	Fanout__V1__ServerMessage pong_msg = FANOUT__V1__SERVER_MESSAGE__INIT;
	Fanout__V1__Ping ping = FANOUT__V1__PING__INIT;
	Fanout__V1__Pong pong = FANOUT__V1__PONG__INIT;
	Fanout__V1__Subscribe sub_req = FANOUT__V1__SUBSCRIBE__INIT;
	struct client pub, c;
	struct server srv;
	uint8_t *buf;
	size_t n = 0, pongs;

	(void)state;
	server_setup(&srv, g_argc, g_argv);
	server_start(&srv, NULL);
	server_connect(&srv, &pub);
	publish_range(&pub, "md", 0, 100, 10, NULL);
	/* As many Pongs as fit in the first answer buffer, leaving less than a Pong. */
	ping.nonce = pong.nonce = 1;
	pong_msg.body_case = FANOUT__V1__SERVER_MESSAGE__BODY_PONG;
	pong_msg.pong = &pong;
	pongs = SESSION_CTL_MIN / frame_packed_size(&pong_msg.base);
	buf = malloc(pongs * 16 + 256);
	assert_non_null(buf);
	cm.body_case = FANOUT__V1__CLIENT_MESSAGE__BODY_PING;
	cm.ping = &ping;
	for (size_t i = 0; i < pongs; i++)
		n += frame_pack(&cm.base, buf + n);
	sub_req.subscription_id = 1;
	sub_req.topic = "md";
	sub_req.start = FANOUT__V1__START_POSITION__START_POSITION_EARLIEST;
	cm.body_case = FANOUT__V1__CLIENT_MESSAGE__BODY_SUBSCRIBE;
	cm.subscribe = &sub_req;
	n += frame_pack(&cm.base, buf + n);
	server_connect(&srv, &c);
	assert_int_equal(client_send_raw(&c, buf, n), 0);
	for (size_t i = 0; i < pongs; i++) {
		Fanout__V1__ServerMessage *m = recv_msg(&c, 5000);

		if (m->body_case != FANOUT__V1__SERVER_MESSAGE__BODY_PONG)
			fail_msg("answer %zu of %zu is case %d, not a Pong", i, pongs, m->body_case);
		client_free_msg(m);
	}
	{
		Fanout__V1__ServerMessage *m = recv_msg(&c, 5000);

		if (m->body_case != FANOUT__V1__SERVER_MESSAGE__BODY_SUBSCRIBED)
			fail_msg("after the Pongs came case %d, not the SubscribeResult", m->body_case);
		client_free_msg(m);
	}
	for (int i = 0; i < 100; i++)
		client_free_msg(recv_msg(&c, 5000));
	ping_pong(&c, 2);
	free(buf);
	client_close(&c);
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
		cmocka_unit_test(overflow_after_other_keys_is_not_lag),
		cmocka_unit_test(scan_ending_at_its_bound_goes_live),
		cmocka_unit_test(subscribe_result_precedes_events_when_answers_pile_up),
	};

	g_argc = argc;
	g_argv = argv;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
