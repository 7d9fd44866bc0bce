/* tests/integration/heartbeat_test.c — liveness through a real fanoutd: a client that asks
 * for heartbeats gets them on a quiet line, stays connected while it pings, and is cut with
 * HEARTBEAT_TIMEOUT once it falls silent; a client that asked for none gets none. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "core/clock.h"
#include "tests/integration/harness.h"

static struct server g_srv;
static int g_argc;
static char **g_argv;

/* Sends Hello asking for heartbeat_ms; returns the interval the server granted. */
static uint32_t hello(struct client *c, uint32_t heartbeat_ms)
{
	Fanout__V1__ClientMessage m = FANOUT__V1__CLIENT_MESSAGE__INIT;
	Fanout__V1__Hello h = FANOUT__V1__HELLO__INIT;
	Fanout__V1__ServerMessage *r;
	uint32_t granted;

	h.protocol_version = 1;
	h.client_name = "heartbeat-test";
	h.heartbeat_ms = heartbeat_ms;
	m.body_case = FANOUT__V1__CLIENT_MESSAGE__BODY_HELLO;
	m.hello = &h;
	assert_int_equal(client_send(c, &m), 0);
	r = recv_msg(c, 5000);
	assert_int_equal(r->body_case, FANOUT__V1__SERVER_MESSAGE__BODY_HELLO);
	granted = r->hello->heartbeat_ms;
	client_free_msg(r);
	return granted;
}

static void quiet_line_gets_heartbeats_and_silence_is_cut(void **state)
{
	struct client c;
	Fanout__V1__ServerMessage *m = NULL;
	int64_t start, silent_from;
	int beats = 0, rc;

	(void)state;
	server_connect(&g_srv, &c);
	assert_int_equal(hello(&c, 200), 200);
	/* 1.2 s of pings every 100 ms: heartbeats may arrive meanwhile, no cut. */
	start = clock_monotonic_ns();
	for (uint64_t i = 0; clock_monotonic_ns() - start < 1200 * 1000000ll; i++) {
		Fanout__V1__ClientMessage cm = FANOUT__V1__CLIENT_MESSAGE__INIT;
		Fanout__V1__Ping p = FANOUT__V1__PING__INIT;

		usleep(100 * 1000);
		p.nonce = i;
		cm.body_case = FANOUT__V1__CLIENT_MESSAGE__BODY_PING;
		cm.ping = &p;
		assert_int_equal(client_send(&c, &cm), 0);
		for (;;) {	/* heartbeats may come first */
			m = recv_msg(&c, 2000);
			if (m->body_case == FANOUT__V1__SERVER_MESSAGE__BODY_PONG)
				break;
			assert_int_equal(m->body_case, FANOUT__V1__SERVER_MESSAGE__BODY_HEARTBEAT);
			client_free_msg(m);
		}
		assert_int_equal(m->pong->nonce, i);
		client_free_msg(m);
	}
	/* Silent now: heartbeats every ~200 ms, then the cut after ~600 ms of silence. */
	silent_from = clock_monotonic_ns();
	while ((rc = client_recv(&c, &m, 3000)) == 0 &&
	       m->body_case == FANOUT__V1__SERVER_MESSAGE__BODY_HEARTBEAT) {
		assert_true(m->heartbeat->server_time_ns > 0);
		beats++;
		client_free_msg(m);
	}
	assert_int_equal(rc, 0);
	assert_int_equal(m->body_case, FANOUT__V1__SERVER_MESSAGE__BODY_ERROR);
	assert_int_equal(m->error->code, FANOUT__V1__ERROR_CODE__ERROR_CODE_HEARTBEAT_TIMEOUT);
	assert_true(m->error->closing);
	client_free_msg(m);
	printf("# %d heartbeats, then cut %lld ms into the silence\n", beats,
	       (long long)((clock_monotonic_ns() - silent_from) / 1000000));
	assert_true(beats >= 1);
	assert_true(clock_monotonic_ns() - silent_from >= 500 * 1000000ll);
	assert_int_equal(client_recv(&c, &m, 3000), -ECONNRESET);
	client_close(&c);
}

static void no_heartbeats_unless_asked(void **state)
{
	struct client c, tiny;

	(void)state;
	server_connect(&g_srv, &c);
	assert_int_equal(hello(&c, 0), 0);
	usleep(800 * 1000);	/* several police passes */
	ping_pong(&c, 7);	/* nothing was queued before the Pong, no cut */
	server_connect(&g_srv, &tiny);
	assert_int_equal(hello(&tiny, 1), 100);	/* clamped to the server's granularity */
	client_close(&tiny);
	client_close(&c);
}

static int setup(void **state)
{
	(void)state;
	server_setup(&g_srv, g_argc, g_argv);
	server_start(&g_srv, NULL);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	server_teardown(&g_srv);
	return 0;
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(quiet_line_gets_heartbeats_and_silence_is_cut),
		cmocka_unit_test(no_heartbeats_unless_asked),
	};

	g_argc = argc;
	g_argv = argv;
	return cmocka_run_group_tests(tests, setup, teardown);
}
