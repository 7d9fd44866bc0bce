/* tests/integration/errors_test.c — bad input through a real fanoutd: each gets a clear
 * Error, and other clients (and the offending one, where the stream can resynchronise)
 * carry on. */
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

#include "core/frame.h"
#include "tests/integration/harness.h"

static int g_argc;
static char **g_argv;
static struct server g_srv;

static int start_default(void **state)
{
	(void)state;
	server_setup(&g_srv, g_argc, g_argv);
	server_start(&g_srv, (const char *const[]){ "--max-subscriptions", "2",
						      "--max-frame-bytes", "65536", NULL });
	return 0;
}

static int stop_server(void **state)
{
	(void)state;
	server_teardown(&g_srv);
	return 0;
}

static void ping_pong(struct client *c, uint64_t nonce)
{
	Fanout__V1__ClientMessage m = FANOUT__V1__CLIENT_MESSAGE__INIT;
	Fanout__V1__Ping p = FANOUT__V1__PING__INIT;
	Fanout__V1__ServerMessage *r;

	p.nonce = nonce;
	m.body_case = FANOUT__V1__CLIENT_MESSAGE__BODY_PING;
	m.ping = &p;
	assert_int_equal(client_send(c, &m), 0);
	r = recv_msg(c, 5000);
	assert_int_equal(r->body_case, FANOUT__V1__SERVER_MESSAGE__BODY_PONG);
	assert_int_equal(r->pong->nonce, nonce);
	client_free_msg(r);
}

/* The peer closes: the next receive ends the stream. */
static void expect_closed(struct client *c)
{
	Fanout__V1__ServerMessage *m = NULL;
	int rc = client_recv(c, &m, 5000);

	if (rc != -ECONNRESET)
		fail_msg("expected the server to close, got rc %d", rc);
}

static void garbage_gets_error_while_subscriber_keeps_receiving(void **state)
{
	struct client sub, pub, bad;
	Fanout__V1__ServerMessage *m;
	const uint8_t garbage[] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x42, 0x42 };
	const char *none[1] = { NULL };

	(void)state;
	server_connect(&g_srv, &sub);
	assert_int_equal(client_subscribe(&sub, 1, "garbage", none, 0,
					  FANOUT__V1__START_POSITION__START_POSITION_LATEST, 0, &m), 0);
	client_free_msg(m);
	server_connect(&g_srv, &pub);
	publish_range(&pub, "garbage", 0, 500, 10, NULL);
	server_connect(&g_srv, &bad);
	assert_int_equal(client_send_raw(&bad, garbage, sizeof(garbage)), 0);
	m = expect_error(&bad, FANOUT__V1__ERROR_CODE__ERROR_CODE_MALFORMED_FRAME);
	assert_true(m->error->closing);
	client_free_msg(m);
	expect_closed(&bad);
	client_close(&bad);
	publish_range(&pub, "garbage", 500, 500, 10, NULL);
	for (uint32_t i = 0; i < 1000; i++) {
		m = recv_msg(&sub, 5000);
		assert_int_equal(m->body_case, FANOUT__V1__SERVER_MESSAGE__BODY_EVENT);
		assert_int_equal(m->event->distribution->offset, i);
		client_free_msg(m);
	}
	client_close(&sub);
	client_close(&pub);
}

static void oversize_frame_is_refused_and_closed(void **state)
{
	struct client bad, other;
	Fanout__V1__ServerMessage *m;
	uint8_t prefix[FRAME_PREFIX_MAX];
	size_t n = frame_varint_put(prefix, 65537);

	(void)state;
	server_connect(&g_srv, &other);
	server_connect(&g_srv, &bad);
	assert_int_equal(client_send_raw(&bad, prefix, n), 0);
	m = expect_error(&bad, FANOUT__V1__ERROR_CODE__ERROR_CODE_FRAME_TOO_LARGE);
	assert_true(m->error->closing);
	assert_non_null(strstr(m->error->message, "65536"));
	client_free_msg(m);
	expect_closed(&bad);
	client_close(&bad);
	ping_pong(&other, 9);
	client_close(&other);
}

static void malformed_body_keeps_the_connection(void **state)
{
	struct client c;
	Fanout__V1__ServerMessage *m;
	const uint8_t frame[] = { 3, 0x0a, 0x64, 0x01 };	/* a prefix and a broken body */
	const uint8_t empty[] = { 0 };	/* a ClientMessage with no body */

	(void)state;
	server_connect(&g_srv, &c);
	assert_int_equal(client_send_raw(&c, frame, sizeof(frame)), 0);
	m = expect_error(&c, FANOUT__V1__ERROR_CODE__ERROR_CODE_MALFORMED_FRAME);
	assert_false(m->error->closing);
	client_free_msg(m);
	assert_int_equal(client_send_raw(&c, empty, sizeof(empty)), 0);
	client_free_msg(expect_error(&c, FANOUT__V1__ERROR_CODE__ERROR_CODE_UNKNOWN_MESSAGE));
	ping_pong(&c, 1);
	client_close(&c);
}

static void invalid_events_are_rejected_whole(void **state)
{
	Fanout__V1__Event ev[2], *ptrs[2] = { &ev[0], &ev[1] };
	Fanout__V1__Distribution d[2];
	Fanout__V1__MarketData md[2];
	char bufs[2][256];
	struct client c;
	Fanout__V1__ServerMessage *m;
	uint64_t off[1];

	(void)state;
	server_connect(&g_srv, &c);
	for (int i = 0; i < 2; i++)
		make_event(&ev[i], &d[i], &md[i], bufs[i], "strict", (uint32_t)i, 10);
	md[1].symbol = "";	/* the second event lacks its symbol */
	assert_int_equal(client_publish(&c, 41, ptrs, 2), 0);
	m = expect_error(&c, FANOUT__V1__ERROR_CODE__ERROR_CODE_INVALID_EVENT);
	assert_int_equal(m->error->sequence, 41);
	assert_non_null(strstr(m->error->message, "events[1].market_data.symbol"));
	client_free_msg(m);
	d[0].routing_key = "AAPL.*";	/* wildcards are not keys */
	md[1].symbol = "S1";
	assert_int_equal(client_publish(&c, 42, ptrs, 2), 0);
	m = expect_error(&c, FANOUT__V1__ERROR_CODE__ERROR_CODE_INVALID_EVENT);
	assert_non_null(strstr(m->error->message, "routing_key"));
	client_free_msg(m);
	d[0].topic = "bad topic!";
	assert_int_equal(client_publish(&c, 43, ptrs, 1), 0);
	client_free_msg(expect_error(&c, FANOUT__V1__ERROR_CODE__ERROR_CODE_INVALID_TOPIC));
	/* Nothing of the rejected batches was appended: the next event gets offset 0. */
	publish_range(&c, "strict", 0, 1, 10, off);
	assert_int_equal(off[0], 0);
	client_close(&c);
}

static void subscription_errors(void **state)
{
	struct client c;
	Fanout__V1__ServerMessage *m = NULL;
	const char *bad[1] = { "AAPL.>.trade" }, *none[1] = { NULL };

	(void)state;
	server_connect(&g_srv, &c);
	assert_int_equal(client_subscribe(&c, 1, "s", bad, 1,
					  FANOUT__V1__START_POSITION__START_POSITION_LATEST, 0, &m), -EPROTO);
	assert_int_equal(m->error->code, FANOUT__V1__ERROR_CODE__ERROR_CODE_BAD_PATTERN);
	assert_int_equal(m->error->subscription_id, 1);
	client_free_msg(m);
	assert_int_equal(client_subscribe(&c, 1, "s", none, 0,
					  FANOUT__V1__START_POSITION__START_POSITION_LATEST, 0, &m), 0);
	client_free_msg(m);
	assert_int_equal(client_subscribe(&c, 1, "s", none, 0,
					  FANOUT__V1__START_POSITION__START_POSITION_LATEST, 0, &m), -EPROTO);
	assert_int_equal(m->error->code, FANOUT__V1__ERROR_CODE__ERROR_CODE_DUPLICATE_SUBSCRIPTION);
	client_free_msg(m);
	assert_int_equal(client_subscribe(&c, 2, "s", none, 0,
					  FANOUT__V1__START_POSITION__START_POSITION_LATEST, 0, &m), 0);
	client_free_msg(m);
	assert_int_equal(client_subscribe(&c, 3, "s", none, 0,
					  FANOUT__V1__START_POSITION__START_POSITION_LATEST, 0, &m), -EPROTO);
	assert_int_equal(m->error->code, FANOUT__V1__ERROR_CODE__ERROR_CODE_TOO_MANY_SUBSCRIPTIONS);
	client_free_msg(m);
	ping_pong(&c, 2);
	client_close(&c);
	server_connect(&g_srv, &c);
	assert_int_equal(client_subscribe(&c, 4, "..", none, 0,
					  FANOUT__V1__START_POSITION__START_POSITION_LATEST, 0, &m), -EPROTO);
	assert_int_equal(m->error->code, FANOUT__V1__ERROR_CODE__ERROR_CODE_INVALID_TOPIC);
	client_free_msg(m);
	client_close(&c);
}

static void frames_split_into_single_bytes_and_pipelined(void **state)
{
	Fanout__V1__ClientMessage m = FANOUT__V1__CLIENT_MESSAGE__INIT;
	Fanout__V1__Ping p = FANOUT__V1__PING__INIT;
	uint8_t buf[64 * 16];
	size_t n = 0;
	struct client c;

	(void)state;
	server_connect(&g_srv, &c);
	m.body_case = FANOUT__V1__CLIENT_MESSAGE__BODY_PING;
	m.ping = &p;
	for (uint64_t i = 0; i < 16; i++) {
		p.nonce = 100 + i;
		n += frame_pack(&m.base, buf + n);
	}
	/* Half the frames one byte per write, the rest in a single write. */
	for (size_t i = 0; i < n / 2; i++)
		assert_int_equal(client_send_raw(&c, buf + i, 1), 0);
	assert_int_equal(client_send_raw(&c, buf + n / 2, n - n / 2), 0);
	for (uint64_t i = 0; i < 16; i++) {
		Fanout__V1__ServerMessage *r = recv_msg(&c, 5000);

		assert_int_equal(r->body_case, FANOUT__V1__SERVER_MESSAGE__BODY_PONG);
		assert_int_equal(r->pong->nonce, 100 + i);
		client_free_msg(r);
	}
	client_close(&c);
}

static void unknown_topic_without_auto_create(void **state)
{
	struct server strict;
	struct client c;
	Fanout__V1__ServerMessage *m = NULL;
	Fanout__V1__Event ev, *ptrs[1] = { &ev };
	Fanout__V1__Distribution d;
	Fanout__V1__MarketData md;
	char buf[256];
	const char *none[1] = { NULL };
	uint64_t off[1];

	(void)state;
	server_setup(&strict, g_argc, g_argv);
	server_start(&strict, (const char *const[]){ "--no-auto-create", "--topic", "known:2", NULL });
	server_connect(&strict, &c);
	assert_int_equal(client_subscribe(&c, 1, "unknown", none, 0,
					  FANOUT__V1__START_POSITION__START_POSITION_LATEST, 0, &m), -EPROTO);
	assert_int_equal(m->error->code, FANOUT__V1__ERROR_CODE__ERROR_CODE_UNKNOWN_TOPIC);
	client_free_msg(m);
	make_event(&ev, &d, &md, buf, "unknown", 0, 10);
	assert_int_equal(client_publish(&c, 5, ptrs, 1), 0);
	m = expect_error(&c, FANOUT__V1__ERROR_CODE__ERROR_CODE_UNKNOWN_TOPIC);
	assert_non_null(strstr(m->error->message, "unknown"));
	client_free_msg(m);
	publish_range(&c, "known", 0, 1, 10, off);
	assert_int_equal(client_subscribe(&c, 2, "known", none, 0,
					  FANOUT__V1__START_POSITION__START_POSITION_EARLIEST, 0, &m), 0);
	assert_int_equal(m->subscribed->partitions, 2);
	client_free_msg(m);
	client_close(&c);
	server_teardown(&strict);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(garbage_gets_error_while_subscriber_keeps_receiving),
		cmocka_unit_test(oversize_frame_is_refused_and_closed),
		cmocka_unit_test(malformed_body_keeps_the_connection),
		cmocka_unit_test(invalid_events_are_rejected_whole),
		cmocka_unit_test(subscription_errors),
		cmocka_unit_test(frames_split_into_single_bytes_and_pipelined),
		cmocka_unit_test(unknown_topic_without_auto_create),
	};

	g_argc = argc;
	g_argv = argv;
	return cmocka_run_group_tests(tests, start_default, stop_server);
}
