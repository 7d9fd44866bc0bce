/* tests/integration/errors_test.c — bad input through a real fanoutd: each gets a clear
 * Error, and other clients (and the offending one, where the stream can resynchronise)
 * carry on. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/frame.h"
#include "net/session.h"
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

/* Topic creation is bounded (--max-topics) and a rejected batch creates nothing: with one
 * declared topic and a limit of 2, a batch naming "fresh" that is rejected for another
 * event must leave room for exactly one more topic. */
static void topic_limit_and_rejected_batches_create_nothing(void **state)
{
	struct server capped;
	struct client c;
	Fanout__V1__ServerMessage *m = NULL;
	Fanout__V1__Event ev[2], *ptrs[2] = { &ev[0], &ev[1] };
	Fanout__V1__Distribution d[2];
	Fanout__V1__MarketData md[2];
	char bufs[2][256];
	const char *none[1] = { NULL };
	uint64_t off[1];

	(void)state;
	server_setup(&capped, g_argc, g_argv);
	server_start(&capped, (const char *const[]){ "--topic", "known", "--max-topics", "2",
						     NULL });
	server_connect(&capped, &c);
	make_event(&ev[0], &d[0], &md[0], bufs[0], "fresh", 0, 10);
	make_event(&ev[1], &d[1], &md[1], bufs[1], "fresh", 1, 10);
	md[1].symbol = "";
	assert_int_equal(client_publish(&c, 7, ptrs, 2), 0);
	client_free_msg(expect_error(&c, FANOUT__V1__ERROR_CODE__ERROR_CODE_INVALID_EVENT));
	publish_range(&c, "second", 0, 1, 10, off);	/* the one free place */
	assert_int_equal(off[0], 0);
	make_event(&ev[0], &d[0], &md[0], bufs[0], "third", 0, 10);
	assert_int_equal(client_publish(&c, 8, ptrs, 1), 0);
	m = expect_error(&c, FANOUT__V1__ERROR_CODE__ERROR_CODE_UNKNOWN_TOPIC);
	assert_non_null(strstr(m->error->message, "limit of 2 topics"));
	client_free_msg(m);
	m = NULL;
	assert_int_equal(client_subscribe(&c, 1, "fourth", none, 0,
					  FANOUT__V1__START_POSITION__START_POSITION_LATEST, 0, &m), -EPROTO);
	assert_int_equal(m->error->code, FANOUT__V1__ERROR_CODE__ERROR_CODE_UNKNOWN_TOPIC);
	client_free_msg(m);
	publish_range(&c, "known", 0, 1, 10, off);	/* existing topics work on */
	client_close(&c);
	server_teardown(&capped);
}

/* CPU seconds (user + system) a process has used. */
static double cpu_seconds(pid_t pid)
{
	char path[64], buf[1024], *p;
	unsigned long ut = 0, st = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	f = fopen(path, "r");
	assert_non_null(f);
	assert_non_null(fgets(buf, sizeof(buf), f));
	fclose(f);
	p = strrchr(buf, ')');	/* the command name may hold spaces */
	assert_non_null(p);
	assert_int_equal(sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu",
				&ut, &st), 2);
	return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

/* Out of file descriptors, the server neither spins on accept nor loses the connections
 * waiting in the backlog: they are served once descriptors are free again. */
static void out_of_descriptors_waits_without_spinning(void **state)
{
	enum { CLIENTS = 48 };
	static struct client c[CLIENTS];
	struct server srv;
	double cpu;
	int served = 0;

	(void)state;
	server_setup(&srv, g_argc, g_argv);
	srv.nofile = 40;	/* before the start: io_uring's accept reads it when armed */
	server_start(&srv, NULL);
	for (int i = 0; i < CLIENTS; i++)
		server_connect(&srv, &c[i]);	/* the backlog takes what the server cannot */
	usleep(200 * 1000);
	cpu = cpu_seconds(srv.pid);
	usleep(1000 * 1000);
	cpu = cpu_seconds(srv.pid) - cpu;
	printf("# out of descriptors: server used %.2f s of CPU in 1 s\n", cpu);
	assert_true(cpu < 0.2);	/* a spinning accept burns most of the second */
	for (int i = 0; i < CLIENTS / 2; i++) {	/* free descriptors: the rest get in */
		client_close(&c[i]);
		served++;
	}
	for (int i = CLIENTS / 2; i < CLIENTS; i++) {
		ping_pong(&c[i], (uint64_t)i);
		client_close(&c[i]);
		served++;
	}
	assert_int_equal(served, CLIENTS);
	server_teardown(&srv);
}

/* Packs count pings (nonces first..) into buf; returns the bytes. */
static size_t pack_pings(uint8_t *buf, uint64_t first, uint32_t count)
{
	Fanout__V1__ClientMessage m = FANOUT__V1__CLIENT_MESSAGE__INIT;
	Fanout__V1__Ping p = FANOUT__V1__PING__INIT;
	size_t n = 0;

	m.body_case = FANOUT__V1__CLIENT_MESSAGE__BODY_PING;
	m.ping = &p;
	for (uint32_t i = 0; i < count; i++) {
		p.nonce = first + i;
		n += frame_pack(&m.base, buf + n);
	}
	return n;
}

/* A client may pipeline far more requests in one write than one answer buffer holds:
 * every answer arrives, in order. */
static void deep_pipeline_gets_every_answer(void **state)
{
	enum { PINGS = 40000 };
	uint8_t *buf = malloc((size_t)PINGS * 16);
	struct client c;
	size_t n;

	(void)state;
	assert_non_null(buf);
	n = pack_pings(buf, 1, PINGS);
	server_connect(&g_srv, &c);
	assert_int_equal(client_send_raw(&c, buf, n), 0);
	for (uint64_t i = 1; i <= PINGS; i++) {
		Fanout__V1__ServerMessage *r = recv_msg(&c, 5000);

		assert_int_equal(r->body_case, FANOUT__V1__SERVER_MESSAGE__BODY_PONG);
		assert_int_equal(r->pong->nonce, i);
		client_free_msg(r);
	}
	client_close(&c);
	free(buf);
}

/* A client that sends requests and never reads the answers is cut off once the answers
 * it leaves unread pass the server's bound; everyone else goes on. */
static void client_that_never_reads_answers_is_cut(void **state)
{
	enum { CHUNK = 4096 };
	uint8_t *buf = malloc((size_t)CHUNK * 16);
	struct client flood, other;
	size_t n, sent = 0;
	int64_t deadline = clock_monotonic_ns() + 60 * 1000000000ll;
	bool cut = false;

	(void)state;
	assert_non_null(buf);
	server_connect(&g_srv, &flood);
	server_connect(&g_srv, &other);
	n = pack_pings(buf, 1, CHUNK);
	while (!cut && sent < (256u << 20) && clock_monotonic_ns() < deadline) {
		struct pollfd pfd = { .fd = flood.fd, .events = POLLOUT };
		ssize_t w;

		if (poll(&pfd, 1, 1000) <= 0)
			continue;
		w = send(flood.fd, buf, n, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (w < 0 && errno != EAGAIN)
			cut = true;	/* EPIPE or ECONNRESET: the server closed it */
		else if (w > 0)
			sent += (size_t)w;	/* frames may straddle writes: the stream stays valid */
	}
	printf("# the server cut a non-reading client after %zu bytes of requests\n", sent);
	assert_true(cut);
	assert_true(sent > SESSION_CTL_MAX / 4);	/* not before its answers piled up */
	ping_pong(&other, 77);
	client_close(&flood);
	client_close(&other);
	free(buf);
}

/* The last byte of a length prefix can complete a frame (a zero-length body, written
 * with a redundant two-byte prefix): it is answered at once, not when more bytes come. */
static void frame_completed_by_its_prefix_is_answered(void **state)
{
	const uint8_t first = 0x80, last = 0x00;
	Fanout__V1__ServerMessage *m = NULL;
	struct client c;

	(void)state;
	server_connect(&g_srv, &c);
	assert_int_equal(client_send_raw(&c, &first, 1), 0);
	usleep(50 * 1000);	/* separate receives on the server */
	assert_int_equal(client_send_raw(&c, &last, 1), 0);
	assert_int_equal(client_recv(&c, &m, 2000), 0);
	assert_int_equal(m->body_case, FANOUT__V1__SERVER_MESSAGE__BODY_ERROR);
	client_free_msg(m);
	client_close(&c);
}


/* A length prefix of 2^32 - 1 is readable, just far too large: FRAME_TOO_LARGE. */
static void huge_prefix_is_too_large_not_malformed(void **state)
{
	const uint8_t prefix[] = { 0xff, 0xff, 0xff, 0xff, 0x0f };
	Fanout__V1__ServerMessage *m;
	struct client c;

	(void)state;
	server_connect(&g_srv, &c);
	assert_int_equal(client_send_raw(&c, prefix, sizeof(prefix)), 0);
	m = expect_error(&c, FANOUT__V1__ERROR_CODE__ERROR_CODE_FRAME_TOO_LARGE);
	assert_true(m->error->closing);
	client_free_msg(m);
	expect_closed(&c);
	client_close(&c);
}

/* Packs m as a frame into buf and replaces the first byte `from` after the prefix with
 * `to` (a NUL, an invalid UTF-8 byte). Returns the frame's length. */
static size_t frame_patched(const ProtobufCMessage *m, uint8_t *buf, char from, uint8_t to)
{
	size_t n = frame_pack(m, buf);
	uint8_t *x = memchr(buf + 1, from, n - 1);

	assert_non_null(x);
	*x = to;
	return n;
}

/* A NUL or invalid UTF-8 anywhere in a string is refused by field, never cut short. */
static void strings_with_nul_or_bad_utf8_are_refused(void **state)
{
	Fanout__V1__ClientMessage cm = FANOUT__V1__CLIENT_MESSAGE__INIT;
	Fanout__V1__Subscribe sub = FANOUT__V1__SUBSCRIBE__INIT;
	Fanout__V1__PublishBatch pb = FANOUT__V1__PUBLISH_BATCH__INIT;
	Fanout__V1__Event ev, *ptrs[1] = { &ev };
	Fanout__V1__Distribution d;
	Fanout__V1__MarketData md;
	Fanout__V1__ServerMessage *m;
	char buf[256], *pats[1] = { "A.~.c" };
	uint8_t frame[1024];
	struct client c;
	size_t n;

	(void)state;
	server_connect(&g_srv, &c);
	sub.subscription_id = 5;
	sub.topic = "nul~topic";
	cm.body_case = FANOUT__V1__CLIENT_MESSAGE__BODY_SUBSCRIBE;
	cm.subscribe = &sub;
	n = frame_patched(&cm.base, frame, '~', 0);	/* "nul\0topic" */
	assert_int_equal(client_send_raw(&c, frame, n), 0);
	m = expect_error(&c, FANOUT__V1__ERROR_CODE__ERROR_CODE_INVALID_TOPIC);
	assert_int_equal(m->error->subscription_id, 5);
	assert_non_null(strstr(m->error->message, "subscribe.topic: contains a NUL byte"));
	client_free_msg(m);
	sub.topic = "ok";
	sub.n_patterns = 1;
	sub.patterns = pats;
	n = frame_patched(&cm.base, frame, '~', 0xc3);	/* a lone lead byte */
	assert_int_equal(client_send_raw(&c, frame, n), 0);
	m = expect_error(&c, FANOUT__V1__ERROR_CODE__ERROR_CODE_BAD_PATTERN);
	assert_non_null(strstr(m->error->message, "subscribe.patterns[0]: is not valid UTF-8"));
	client_free_msg(m);
	/* An event's routing key with a NUL: the batch is refused naming the field. */
	make_event(&ev, &d, &md, buf, "strict-nul", 0, 10);
	d.routing_key = "S1.~.trade";
	pb.sequence = 77;
	pb.n_events = 1;
	pb.events = ptrs;
	cm.body_case = FANOUT__V1__CLIENT_MESSAGE__BODY_PUBLISH;
	cm.publish = &pb;
	n = frame_patched(&cm.base, frame, '~', 0);
	assert_int_equal(client_send_raw(&c, frame, n), 0);
	m = expect_error(&c, FANOUT__V1__ERROR_CODE__ERROR_CODE_INVALID_EVENT);
	assert_int_equal(m->error->sequence, 77);
	assert_non_null(strstr(m->error->message,
			       "events[0].distribution.routing_key: contains a NUL byte"));
	client_free_msg(m);
	ping_pong(&c, 3);	/* nothing else was answered, and the connection goes on */
	client_close(&c);
}

/* Doubles come back bit for bit: -0.0 stays -0.0, and a long symbol names the limit. */
static void negative_zero_round_trips_and_limits_are_named(void **state)
{
	Fanout__V1__ClientMessage cm = FANOUT__V1__CLIENT_MESSAGE__INIT;
	Fanout__V1__PublishBatch pb = FANOUT__V1__PUBLISH_BATCH__INIT;
	Fanout__V1__Event ev, *ptrs[1] = { &ev };
	Fanout__V1__Distribution d;
	Fanout__V1__MarketData md;
	Fanout__V1__ServerMessage *m;
	const char *none[1] = { NULL };
	char buf[256], sym[130];
	uint8_t frame[1024];
	struct client c, s;
	size_t n;

	(void)state;
	server_connect(&g_srv, &s);
	assert_int_equal(client_subscribe(&s, 1, "negzero", none, 0,
					  FANOUT__V1__START_POSITION__START_POSITION_LATEST, 0, &m), 0);
	client_free_msg(m);
	server_connect(&g_srv, &c);
	make_event(&ev, &d, &md, buf, "negzero", 0, 10);
	md.price = 1.5;	/* patched to -0.0 below: protobuf-c would not send a zero */
	pb.n_events = 1;
	pb.events = ptrs;
	pb.sequence = 5;
	cm.body_case = FANOUT__V1__CLIENT_MESSAGE__BODY_PUBLISH;
	cm.publish = &pb;
	n = frame_pack(&cm.base, frame);
	{
		const uint8_t want[9] = { 0x21, 0, 0, 0, 0, 0, 0, 0xf8, 0x3f };	/* price 1.5 */
		uint8_t *x = memmem(frame, n, want, sizeof(want));

		assert_non_null(x);
		memset(x + 1, 0, 8);
		x[8] = 0x80;	/* -0.0 */
	}
	assert_int_equal(client_send_raw(&c, frame, n), 0);
	m = recv_msg(&c, 5000);
	assert_int_equal(m->body_case, FANOUT__V1__SERVER_MESSAGE__BODY_PUBLISH_ACK);
	client_free_msg(m);
	m = recv_msg(&s, 5000);
	assert_int_equal(m->body_case, FANOUT__V1__SERVER_MESSAGE__BODY_EVENT);
	assert_true(m->event->market_data->price == 0.0 && signbit(m->event->market_data->price));
	client_free_msg(m);
	memset(sym, 'S', 129);
	sym[129] = '\0';
	md.symbol = sym;
	assert_int_equal(client_publish(&c, 6, ptrs, 1), 0);
	m = expect_error(&c, FANOUT__V1__ERROR_CODE__ERROR_CODE_INVALID_EVENT);
	assert_non_null(strstr(m->error->message, "market_data.symbol: 129 bytes, over the "
			       "limit of 128"));
	client_free_msg(m);
	client_close(&c);
	client_close(&s);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(garbage_gets_error_while_subscriber_keeps_receiving),
		cmocka_unit_test(oversize_frame_is_refused_and_closed),
		cmocka_unit_test(huge_prefix_is_too_large_not_malformed),
		cmocka_unit_test(strings_with_nul_or_bad_utf8_are_refused),
		cmocka_unit_test(negative_zero_round_trips_and_limits_are_named),
		cmocka_unit_test(malformed_body_keeps_the_connection),
		cmocka_unit_test(invalid_events_are_rejected_whole),
		cmocka_unit_test(subscription_errors),
		cmocka_unit_test(frames_split_into_single_bytes_and_pipelined),
		cmocka_unit_test(deep_pipeline_gets_every_answer),
		cmocka_unit_test(client_that_never_reads_answers_is_cut),
		cmocka_unit_test(frame_completed_by_its_prefix_is_answered),
		cmocka_unit_test(unknown_topic_without_auto_create),
		cmocka_unit_test(topic_limit_and_rejected_batches_create_nothing),
		cmocka_unit_test(out_of_descriptors_waits_without_spinning),
	};

	g_argc = argc;
	g_argv = argv;
	return cmocka_run_group_tests(tests, start_default, stop_server);
}
