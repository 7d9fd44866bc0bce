/* tests/integration/routing_test.c — content filters and snapshots through a real
 * fanoutd: filtered subscriptions get exactly the events whose index fields pass (an
 * execution's portfolio among them); a snapshot delivers the newest event of each
 * matching key before the live stream, also after a restart (the last-value table is
 * rebuilt from the index). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/integration/harness.h"

static int g_argc;
static char **g_argv;

#define SYMBOLS 50u

/* Sends a Subscribe with an optional filter and snapshot flag; returns the answer. */
static Fanout__V1__ServerMessage *subscribe_with(struct client *c, uint32_t id, const char *topic,
						 const char *pattern, Fanout__V1__Filter *filter,
						 bool snapshot)
{
	Fanout__V1__ClientMessage m = FANOUT__V1__CLIENT_MESSAGE__INIT;
	Fanout__V1__Subscribe sub = FANOUT__V1__SUBSCRIBE__INIT;
	char *pats[1] = { (char *)pattern };

	sub.subscription_id = id;
	sub.topic = (char *)topic;
	sub.n_patterns = pattern ? 1 : 0;
	sub.patterns = pats;
	sub.filter = filter;
	sub.snapshot = snapshot;
	m.body_case = FANOUT__V1__CLIENT_MESSAGE__BODY_SUBSCRIBE;
	m.subscribe = &sub;
	assert_int_equal(client_send(c, &m), 0);
	return recv_msg(c, 5000);
}

/* make_event's fields for sequence number seq (see harness.c). */
static const char *exchange_of(uint32_t seq)
{
	static const char *const ex[] = { "NASDAQ", "NYSE", "ARCA", "BATS" };

	return ex[(seq % SYMBOLS) % 4];
}

static void filters_select_by_index_fields(void **state)
{
	struct server srv;
	struct client pub, sub;
	Fanout__V1__Filter f = FANOUT__V1__FILTER__INIT;
	Fanout__V1__Bound min_price = FANOUT__V1__BOUND__INIT;
	char *symbols[] = { "S00003", "S00007", "S00041" };
	char *exchanges[] = { "NYSE", "ARCA" };
	Fanout__V1__ServerMessage *m;
	const uint32_t total = 5000;
	uint32_t want = 0;

	(void)state;
	/* S00003 is on BATS, S00007 on BATS, S00041 on NYSE; price = 100 + symbol. */
	f.n_symbols = 3;
	f.symbols = symbols;
	f.n_exchanges = 2;
	f.exchanges = exchanges;
	min_price.value = 140.0;	/* S00041 (price 141) passes, the others fail anyway */
	f.min_price = &min_price;
	for (uint32_t seq = 0; seq < total; seq++) {
		uint32_t sym = seq % SYMBOLS;

		want += (sym == 3 || sym == 7 || sym == 41) &&
			(!strcmp(exchange_of(seq), "NYSE") || !strcmp(exchange_of(seq), "ARCA")) &&
			100.0 + sym >= 140.0;
	}
	assert_int_equal(want, total / SYMBOLS);	/* exactly S00041's events */
	server_setup(&srv, g_argc, g_argv);
	server_start(&srv, NULL);
	server_connect(&srv, &sub);
	m = subscribe_with(&sub, 1, "f", NULL, &f, false);
	assert_int_equal(m->body_case, FANOUT__V1__SERVER_MESSAGE__BODY_SUBSCRIBED);
	client_free_msg(m);
	server_connect(&srv, &pub);
	publish_range(&pub, "f", 0, total, SYMBOLS, NULL);
	for (uint32_t i = 0; i < want; i++) {
		m = recv_msg(&sub, 5000);
		assert_int_equal(m->body_case, FANOUT__V1__SERVER_MESSAGE__BODY_EVENT);
		assert_string_equal(m->event->market_data->symbol, "S00041");
		client_free_msg(m);
	}
	/* Nothing else arrives: a ping is answered next. */
	{
		Fanout__V1__ClientMessage pm = FANOUT__V1__CLIENT_MESSAGE__INIT;
		Fanout__V1__Ping ping = FANOUT__V1__PING__INIT;

		ping.nonce = 77;
		pm.body_case = FANOUT__V1__CLIENT_MESSAGE__BODY_PING;
		pm.ping = &ping;
		assert_int_equal(client_send(&sub, &pm), 0);
		m = recv_msg(&sub, 5000);
		assert_int_equal(m->body_case, FANOUT__V1__SERVER_MESSAGE__BODY_PONG);
		client_free_msg(m);
	}
	client_close(&sub);
	client_close(&pub);
	server_teardown(&srv);
}

static void bad_filters_are_refused(void **state)
{
	struct server srv;
	struct client c;
	Fanout__V1__Filter f = FANOUT__V1__FILTER__INIT;
	Fanout__V1__Bound lo = FANOUT__V1__BOUND__INIT, hi = FANOUT__V1__BOUND__INIT;
	char *empty[] = { "" };
	Fanout__V1__ServerMessage *m;

	(void)state;
	server_setup(&srv, g_argc, g_argv);
	server_start(&srv, NULL);
	server_connect(&srv, &c);
	lo.value = 10;
	hi.value = 5;
	f.min_price = &lo;
	f.max_price = &hi;
	m = subscribe_with(&c, 1, "f", NULL, &f, false);
	assert_int_equal(m->body_case, FANOUT__V1__SERVER_MESSAGE__BODY_ERROR);
	assert_int_equal(m->error->code, FANOUT__V1__ERROR_CODE__ERROR_CODE_BAD_FILTER);
	assert_non_null(strstr(m->error->message, "price"));
	client_free_msg(m);
	fanout__v1__filter__init(&f);
	f.n_symbols = 1;
	f.symbols = empty;
	m = subscribe_with(&c, 2, "f", NULL, &f, false);
	assert_int_equal(m->body_case, FANOUT__V1__SERVER_MESSAGE__BODY_ERROR);
	assert_int_equal(m->error->code, FANOUT__V1__ERROR_CODE__ERROR_CODE_BAD_FILTER);
	client_free_msg(m);
	fanout__v1__filter__init(&f);
	f.n_portfolio_ids = 1;
	f.portfolio_ids = empty;
	m = subscribe_with(&c, 3, "f", NULL, &f, false);
	assert_int_equal(m->body_case, FANOUT__V1__SERVER_MESSAGE__BODY_ERROR);
	assert_int_equal(m->error->code, FANOUT__V1__ERROR_CODE__ERROR_CODE_BAD_FILTER);
	assert_non_null(strstr(m->error->message, "portfolio_ids"));
	client_free_msg(m);
	client_close(&c);
	server_teardown(&srv);
}

#define PF_EVENTS 41u	/* i % 4: execution of P1, of P2, of no portfolio, market data */

/* Event i of the portfolio test, one routing key (one partition: one order); strings in
 * buf (>= 32 bytes). The last (i = 40) is P1's, so a wrongly sent event of another would
 * arrive before it. */
static void make_pf_event(Fanout__V1__Event *e, Fanout__V1__Distribution *d,
			  Fanout__V1__ExecutionData *ex, Fanout__V1__MarketData *md, char *buf,
			  uint32_t i)
{
	static char *const portfolios[] = { "P1", "P2", NULL };

	fanout__v1__event__init(e);
	fanout__v1__distribution__init(d);
	snprintf(buf, 32, "pf-%u", i);
	e->event_id = buf;
	e->distribution = d;
	d->topic = "pf";
	d->routing_key = "ACME.exec";
	if (i % 4 == 3) {
		fanout__v1__market_data__init(md);
		md->symbol = "ACME";
		md->kind = "trade";
		e->payload_case = FANOUT__V1__EVENT__PAYLOAD_MARKET_DATA;
		e->market_data = md;
		return;
	}
	fanout__v1__execution_data__init(ex);
	ex->order_id = buf;
	ex->instrument_id = "ACME";
	ex->portfolio_id = portfolios[i % 4];
	e->payload_case = FANOUT__V1__EVENT__PAYLOAD_EXECUTION;
	e->execution = ex;
}

/* Executions of portfolios P1, P2 and none, and market data between them: a subscription
 * filtered on portfolio_ids [P1] receives exactly P1's executions, in order, with their
 * portfolio_id as published; an unfiltered one receives everything, each portfolio_id
 * unchanged. */
static void portfolio_ids_select_executions(void **state)
{
	static Fanout__V1__Event ev[PF_EVENTS];
	static Fanout__V1__Distribution dist[PF_EVENTS];
	static Fanout__V1__ExecutionData ex[PF_EVENTS];
	static Fanout__V1__MarketData md[PF_EVENTS];
	static char bufs[PF_EVENTS][32];
	Fanout__V1__Event *ptrs[PF_EVENTS];
	Fanout__V1__Filter f = FANOUT__V1__FILTER__INIT;
	char *portfolios[] = { "P1" };
	struct client pub, sub, all;
	Fanout__V1__ServerMessage *m;
	struct server srv;
	uint64_t last = 0;

	(void)state;
	f.n_portfolio_ids = 1;
	f.portfolio_ids = portfolios;
	server_setup(&srv, g_argc, g_argv);
	server_start(&srv, NULL);
	server_connect(&srv, &sub);
	m = subscribe_with(&sub, 1, "pf", NULL, &f, false);
	assert_int_equal(m->body_case, FANOUT__V1__SERVER_MESSAGE__BODY_SUBSCRIBED);
	client_free_msg(m);
	server_connect(&srv, &all);
	m = subscribe_with(&all, 1, "pf", NULL, NULL, false);
	assert_int_equal(m->body_case, FANOUT__V1__SERVER_MESSAGE__BODY_SUBSCRIBED);
	client_free_msg(m);
	for (uint32_t i = 0; i < PF_EVENTS; i++) {
		make_pf_event(&ev[i], &dist[i], &ex[i], &md[i], bufs[i], i);
		ptrs[i] = &ev[i];
	}
	server_connect(&srv, &pub);
	assert_int_equal(client_publish(&pub, 1, ptrs, PF_EVENTS), 0);
	m = recv_msg(&pub, 5000);
	if (m->body_case == FANOUT__V1__SERVER_MESSAGE__BODY_ERROR)
		fail_msg("publish: %s", m->error->message);
	assert_int_equal(m->body_case, FANOUT__V1__SERVER_MESSAGE__BODY_PUBLISH_ACK);
	assert_int_equal(m->publish_ack->n_offsets, PF_EVENTS);
	client_free_msg(m);
	for (uint32_t i = 0; i < PF_EVENTS; i += 4) {
		m = recv_msg(&sub, 5000);
		assert_int_equal(m->body_case, FANOUT__V1__SERVER_MESSAGE__BODY_EVENT);
		assert_string_equal(m->event->event_id, bufs[i]);
		assert_int_equal(m->event->payload_case, FANOUT__V1__EVENT__PAYLOAD_EXECUTION);
		assert_string_equal(m->event->execution->portfolio_id, "P1");
		if (i > 0)
			assert_true(m->event->distribution->offset > last);
		last = m->event->distribution->offset;
		client_free_msg(m);
	}
	ping_pong(&sub, 5);	/* and nothing else */
	for (uint32_t i = 0; i < PF_EVENTS; i++) {
		const char *want = i % 4 == 3 ? NULL : ex[i].portfolio_id ? ex[i].portfolio_id : "";

		m = recv_msg(&all, 5000);
		assert_int_equal(m->body_case, FANOUT__V1__SERVER_MESSAGE__BODY_EVENT);
		assert_string_equal(m->event->event_id, bufs[i]);
		if (want)
			assert_string_equal(m->event->execution->portfolio_id, want);
		else
			assert_string_equal(m->event->market_data->kind, "trade");
		client_free_msg(m);
	}
	client_close(&all);
	client_close(&sub);
	client_close(&pub);
	server_teardown(&srv);
}

/* Subscribes with a snapshot and checks it holds the newest event of each matching key,
 * in offset order, all below the live start. Returns the live start offset. */
static uint64_t expect_snapshot(struct server *srv, struct client *sub, const char *pattern,
				uint32_t total, uint32_t keys)
{
	Fanout__V1__ServerMessage *m = subscribe_with(sub, 1, "snap", pattern, NULL, true);
	uint64_t live, last = 0;

	(void)srv;
	assert_int_equal(m->body_case, FANOUT__V1__SERVER_MESSAGE__BODY_SUBSCRIBED);
	live = m->subscribed->positions[0]->next_offset;
	assert_int_equal(live, total);
	client_free_msg(m);
	for (uint32_t i = 0; i < keys; i++) {
		uint32_t seq;

		m = recv_msg(sub, 5000);
		assert_int_equal(m->body_case, FANOUT__V1__SERVER_MESSAGE__BODY_EVENT);
		assert_true(m->event->distribution->offset < live);
		if (i > 0)
			assert_true(m->event->distribution->offset > last);
		last = m->event->distribution->offset;
		/* The newest event of its key: the last round of sequence numbers. */
		seq = (uint32_t)atoi(m->event->event_id + 3);
		assert_true(seq >= total - SYMBOLS);
		if (pattern)
			assert_string_equal(m->event->market_data->exchange, "NYSE");
		client_free_msg(m);
	}
	return live;
}

static void snapshot_then_live_and_after_restart(void **state)
{
	struct server srv;
	struct client pub, sub;
	Fanout__V1__ServerMessage *m;
	const uint32_t total = 2000;

	(void)state;
	server_setup(&srv, g_argc, g_argv);
	server_start(&srv, NULL);
	server_connect(&srv, &pub);
	publish_range(&pub, "snap", 0, total, SYMBOLS, NULL);
	server_connect(&srv, &sub);
	expect_snapshot(&srv, &sub, NULL, total, SYMBOLS);
	publish_range(&pub, "snap", total, 5, SYMBOLS, NULL);	/* then the live stream */
	for (uint32_t i = 0; i < 5; i++) {
		m = recv_msg(&sub, 5000);
		assert_int_equal(m->body_case, FANOUT__V1__SERVER_MESSAGE__BODY_EVENT);
		assert_int_equal(m->event->distribution->offset, total + i);
		client_free_msg(m);
	}
	client_close(&sub);
	client_close(&pub);
	server_stop(&srv, SIGTERM);
	server_start(&srv, NULL);
	server_connect(&srv, &sub);
	/* After the restart, from the rebuilt table, and only NYSE keys (S..1, 5, 9, ...). */
	expect_snapshot(&srv, &sub, "*.NYSE.trade", total + 5, SYMBOLS / 4 + (SYMBOLS % 4 > 1));
	client_close(&sub);
	server_teardown(&srv);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(filters_select_by_index_fields),
		cmocka_unit_test(bad_filters_are_refused),
		cmocka_unit_test(portfolio_ids_select_executions),
		cmocka_unit_test(snapshot_then_live_and_after_restart),
	};

	g_argc = argc;
	g_argv = argv;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
